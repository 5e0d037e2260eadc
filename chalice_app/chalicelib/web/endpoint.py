"""One mechanism for every route: parse, authorise, idempotency, audit, envelope.

A route in app.py declares what it needs (``@endpoint(...)``) and holds one service call.
Everything a route must not forget is done here, once:

* the body and query string are validated into pydantic models (exact ``code``/``param``);
* which key types may call the route (the authorizer reads ``allowed_routes``);
* ``Idempotency-Key`` claim, replay and completion;
* one audit record for every request to a state-changing route;
* the success or error envelope, and the writes the request collected, committed together.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalice import AuthRoute, Chalice, Response

from chalicelib.container import Container, get_container
from chalicelib.errors import ApiError
from chalicelib.ids import iso, now_utc
from chalicelib.models import RequestModel, ResponseModel
from chalicelib.web import context
from chalicelib.web.envelope import error_body, respond, success_body
from chalicelib.web.validation import parse_json_object, validate

if TYPE_CHECKING:
    from chalicelib.adapters.dynamo import UnitOfWork

log = logging.getLogger("platform.endpoint")

SECRET_KEY = frozenset({"secret"})
ANY_KEY = frozenset({"secret", "publishable"})


@dataclass(frozen=True)
class RoutePolicy:
    path: str
    method: str
    key_types: frozenset[str]


_POLICIES: list[RoutePolicy] = []


@dataclass(frozen=True)
class RouteSpec:
    """A route as declared, for readers of the route table (the API document)."""

    path: str
    method: str
    key_types: frozenset[str] | None  # None: no authentication
    body: type[RequestModel] | None
    query: type[RequestModel] | None
    idempotent: bool
    view: Callable[..., Any]  # the route's own function (docstring, ``route_doc.describe``)


# Every route ``endpoint`` registered, in declaration order.
ROUTES: list[RouteSpec] = []


def allowed_routes(key_type: str) -> list[AuthRoute]:
    """The routes a key of ``key_type`` may call, for the authorizer's policy.

    Path parameters become ``*``: the policy is matched against the concrete request ARN.
    """
    return [
        AuthRoute(re.sub(r"\{[^}]+\}", "*", p.path), [p.method])
        for p in _POLICIES
        if key_type in p.key_types
    ]


@dataclass
class Call:
    """What a route's function receives."""

    merchant_id: str
    uow: UnitOfWork
    services: Container
    body: Any = None
    query: Any = None
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    status: int
    data: ResponseModel


@dataclass(frozen=True)
class _Spec:
    app: Chalice
    path: str
    method: str
    body: type[RequestModel] | None
    query: type[RequestModel] | None
    idempotent: bool
    audit: str | None


def endpoint(
    app: Chalice,
    path: str,
    method: str,
    *,
    authorizer: Any = None,
    keys: frozenset[str] = SECRET_KEY,
    body: type[RequestModel] | None = None,
    query: type[RequestModel] | None = None,
    idempotent: bool = False,
    audit: str | None = None,
) -> Callable[[Callable[[Call], Result]], Callable[..., Response]]:
    """Register ``fn`` as the route ``method path`` with the mechanisms above."""
    spec = _Spec(app, path, method, body, query, idempotent, audit)
    if authorizer is not None:
        _POLICIES.append(RoutePolicy(path, method, keys))

    def decorator(fn: Callable[[Call], Result]) -> Callable[..., Response]:
        auth = keys if authorizer is not None else None
        ROUTES.append(RouteSpec(path, method, auth, body, query, idempotent, fn))

        def view(**params: str) -> Response:
            return _serve(spec, fn, params)

        view.__name__ = fn.__name__
        view.__doc__ = fn.__doc__
        app.route(
            path, methods=[method], authorizer=authorizer, content_types=["application/json"]
        )(view)
        return view

    return decorator


def _idempotency_key(request: Any) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not all(" " <= ch <= "~" for ch in key):
        raise ApiError("invalid_idempotency_key")
    return key


def _fingerprint(method: str, path: str, payload: dict[str, Any] | None) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def _serve(spec: _Spec, fn: Callable[[Call], Result], params: dict[str, str]) -> Response:
    ctx = context.current()
    request = spec.app.current_request
    services = get_container()
    uow = services.unit_of_work()
    idem_key: str | None = None
    fingerprint = ""
    claimed = False
    object_id: str | None = None
    try:
        if spec.idempotent:
            idem_key = _idempotency_key(request)
        payload = parse_json_object(request.raw_body) if spec.body else None
        call = Call(
            merchant_id=ctx.merchant_id or "",
            uow=uow,
            services=services,
            body=validate(spec.body, payload or {}) if spec.body else None,
            query=validate(spec.query, dict(request.query_params or {})) if spec.query else None,
            params=params,
        )
        if idem_key is not None:
            fingerprint = _fingerprint(spec.method, request.path, payload)
            claim = services.idempotency.claim(
                call.merchant_id, idem_key, fingerprint, ctx.request_id, int(time.time())
            )
            if claim.replay is not None:
                _audit_now(services, spec, ctx, claim.replay.status)
                return respond(
                    claim.replay.status,
                    claim.replay.body,
                    ctx.request_id,
                    {
                        "Idempotent-Replayed": "true",
                        "Original-Request-Id": claim.replay.request_id,
                    },
                )
            if claim.reused_with_other_request:
                raise ApiError("idempotency_key_reused")
            if claim.in_progress:
                raise ApiError("request_in_progress")
            claimed = True
        result = fn(call)
        status = result.status
        body = success_body(result.data.model_dump(mode="json"), ctx.request_id)
        object_id = getattr(result.data, "id", None)
    except ApiError as error:
        status, body = error.status, error_body(error, ctx.request_id)
        ctx.error_code = error.code
        object_id = error.extra.get("refund") or error.extra.get("charge")
    except Exception:
        return _internal_error(services, spec, ctx, uow, idem_key if claimed else None)

    if claimed and idem_key is not None:
        uow.add(
            services.idempotency.complete_entry(
                call.merchant_id,
                idem_key,
                fingerprint,
                ctx.request_id,
                status,
                body,
                int(time.time()),
            )
        )
    if spec.audit:
        uow.add(services.audit_log.entry(_audit_record(spec, ctx, status, object_id)))
    try:
        uow.commit()
    except Exception:
        return _internal_error(services, spec, ctx, uow, idem_key if claimed else None)
    return respond(status, body, ctx.request_id)


def _internal_error(
    services: Container,
    spec: _Spec,
    ctx: context.RequestContext,
    uow: UnitOfWork,
    claimed_key: str | None,
) -> Response:
    # The traceback names the failing line; no message of this project holds card data.
    log.exception("unhandled error", extra={"request_id": ctx.request_id})
    uow.discard()
    error = ApiError("internal_error")
    ctx.error_code = error.code
    try:
        if claimed_key is not None:
            services.idempotency.release(ctx.merchant_id or "", claimed_key, ctx.request_id)
        _audit_now(services, spec, ctx, error.status)
    except Exception:
        log.exception(
            "cleanup after an internal error failed", extra={"request_id": ctx.request_id}
        )
    return respond(error.status, error_body(error, ctx.request_id), ctx.request_id)


def _audit_record(
    spec: _Spec, ctx: context.RequestContext, status: int, object_id: str | None
) -> dict[str, Any]:
    return {
        "at": iso(now_utc()),
        "request_id": ctx.request_id,
        "merchant_id": ctx.merchant_id,
        "key_id": ctx.key_id,
        "action": spec.audit,
        "route": f"{spec.method} {spec.path}",
        "object_id": object_id,
        "status": status,
        "error_code": ctx.error_code,
        "source_ip": ctx.source_ip,
        "user_agent": ctx.user_agent,
    }


def _audit_now(services: Container, spec: _Spec, ctx: context.RequestContext, status: int) -> None:
    """Audit a request that has no unit of work to ride on (a replay, an internal error)."""
    if spec.audit:
        services.audit_log.append(_audit_record(spec, ctx, status, None))
