"""One mechanism for every route: parse, authorise, idempotency, audit, envelope.

A route in app.py declares what it needs (``@endpoint(...)``) and holds one service call.
Everything a route must not forget is done here, once:

* the body and query string are validated into pydantic models (exact ``code``/``param``);
* which key types may call the route (the authorizer reads ``allowed_routes``);
* ``Idempotency-Key`` parsing and the request's fingerprint (the pipeline in pipeline.py
  claims, replays, resumes and completes);
* one audit record for every request to a state-changing route, committed with its effects;
* the success or error envelope.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalice import AuthRoute, Chalice, Response

from chalicelib.container import Container, get_container
from chalicelib.errors import ApiError
from chalicelib.ids import iso, now_utc
from chalicelib.models import RequestModel
from chalicelib.services.authentication import Rejection, presented_hash
from chalicelib.services.recording import Reply
from chalicelib.web import checkout, context, pipeline, rejections
from chalicelib.web.envelope import error_body, respond, success_body
from chalicelib.web.pipeline import Command, KeyRefused, Replayed, RequestRecord
from chalicelib.web.validation import parse_json_object, validate

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
    Built once per key type (and route count: routes register at import), not per request.
    """
    known = (key_type, len(_POLICIES))
    if known not in _ALLOWED:
        _ALLOWED[known] = [
            AuthRoute(_policy_path(p.path), [p.method])
            for p in _POLICIES
            if key_type in p.key_types
        ]
    return list(_ALLOWED[known])


_ALLOWED: dict[tuple[str, int], list[AuthRoute]] = {}

# Routes (``METHOD /path`` with parameters as ``*``, as ``authorizer.route_of`` names them)
# that judge the key again themselves, before or with their first write: the state-changing
# (audited) ones. The authorizer may reuse a record it read recently for these (see
# ``Authenticator``); reads always get a fresh one.
KEY_CONFIRMING_ROUTES: set[str] = set()


def _policy_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "*", path)


@dataclass
class Call:
    """What a route's function receives."""

    merchant_id: str
    services: Container
    record: RequestRecord
    body: Any = None
    query: Any = None
    params: dict[str, str] = field(default_factory=dict)

    def run(self, command: Command) -> Reply | Replayed:
        """Serve an idempotent command (POST /charge, POST /refund) through the pipeline."""
        return pipeline.run(command, self.merchant_id, self.body, self.record, self.services)


# A route returns a Reply; a read route's reply is simply its status and resource.
Result = Reply


@dataclass(frozen=True)
class _Spec:
    app: Chalice
    path: str
    method: str
    body: type[RequestModel] | None
    query: type[RequestModel] | None
    idempotent: bool
    audit: str | None
    browser: bool = False


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
    browser: bool = False,
) -> Callable[[Callable[[Call], Any]], Callable[..., Response]]:
    """Register ``fn`` as the route ``method path`` with the mechanisms above.

    ``browser``: browsers may call it (CORS) from the merchant's registered origins.
    """
    spec = _Spec(app, path, method, body, query, idempotent, audit, browser)
    if authorizer is not None:
        _POLICIES.append(RoutePolicy(path, method, keys))
        if idempotent or audit:
            KEY_CONFIRMING_ROUTES.add(_route_name(spec))

    def decorator(fn: Callable[[Call], Reply | Replayed]) -> Callable[..., Response]:
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
    key: str | None = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not all(" " <= ch <= "~" for ch in key):
        raise ApiError("invalid_idempotency_key")
    return key


def _serve(spec: _Spec, fn: Callable[[Call], Reply | Replayed], params: dict[str, str]) -> Response:
    """Serve the route; a browser route's answers carry its CORS headers."""
    allowed: list[str | None] = [None]
    response = _answer(spec, fn, params, allowed)
    if spec.browser:
        response.headers.update(checkout.cors_headers(allowed[0]))
    return response


def _answer(
    spec: _Spec,
    fn: Callable[[Call], Reply | Replayed],
    params: dict[str, str],
    allowed_origin: list[str | None],
) -> Response:
    """Parse, run the route, answer; every outcome of a state-changing route is recorded."""
    ctx = context.current()
    request = spec.app.current_request
    services = get_container()

    rendered: dict[int, dict[str, Any]] = {}

    def render(reply: Reply) -> dict[str, Any]:
        # Once per reply: the stored response and the one sent are the same body.
        if id(reply) not in rendered:
            rendered[id(reply)] = (
                error_body(reply.error, ctx.request_id)
                if reply.error is not None
                else success_body(reply.data.model_dump(mode="json"), ctx.request_id)
            )
        return rendered[id(reply)]

    audit = (
        pipeline.audit_record(spec.audit, f"{spec.method} {spec.path}", ctx) if spec.audit else None
    )
    record = RequestRecord(services, ctx.merchant_id or "", ctx.request_id, render, audit)
    try:
        # Before anything else: a refused origin creates nothing.
        allowed_origin[0] = checkout.browser_origin(
            request, ctx, services, browser_route=spec.browser
        )
        _judge_key_again(spec, request, record, services, ctx)
        call = _parse(spec, request, params, ctx, services, record)
        reply = fn(call)
    except KeyRefused as refused:
        return _refuse_key(spec, refused, services, ctx)
    except ApiError as error:
        late = record.judge_key_now()
        if late is not None:
            return _refuse_key(spec, late, services, ctx)
        # Refused before acting (validation, 409, 422, 429): nothing written, nothing stored.
        ctx.error_code = error.code
        _audit_quietly(record, error.status, error.code)
        return respond(
            error.status, error_body(error, ctx.request_id), ctx.request_id, error.headers
        )
    except Exception:
        return _internal_error(record, ctx)
    if isinstance(reply, Replayed):
        _audit_quietly(record, reply.status, None)
        headers = {"Idempotent-Replayed": "true", "Original-Request-Id": reply.request_id}
        return respond(reply.status, reply.body, ctx.request_id, headers)
    if reply.error is not None:
        ctx.error_code = reply.error.code
    try:
        if spec.audit and not record.finished:
            record.finish(reply)
    except KeyRefused as refused:
        return _refuse_key(spec, refused, services, ctx)
    except Exception:
        return _internal_error(record, ctx)
    return respond(reply.status, render(reply), ctx.request_id)


def _parse(
    spec: _Spec,
    request: Any,
    params: dict[str, str],
    ctx: context.RequestContext,
    services: Container,
    record: RequestRecord,
) -> Call:
    """The validated call; a 400 for anything malformed (never stored for replay)."""
    key = _idempotency_key(request) if spec.idempotent else None
    payload = _payload(spec.body, request.raw_body) if spec.body else None
    body = validate(spec.body, payload or {}) if spec.body else None
    query = validate(spec.query, dict(request.query_params or {})) if spec.query else None
    if key is not None:
        record.key = key
        # The path as called: the same key and body for another charge is another request.
        called = spec.path.format(**params)
        record.request_fingerprint = pipeline.fingerprint(spec.method, called, body)
    return Call(ctx.merchant_id or "", services, record, body, query, params)


def _payload(model: type[RequestModel], raw_body: bytes) -> dict[str, Any]:
    """The body's JSON object; no body at all is ``{}`` where every field is optional
    (capture, void): leaving them all out needs nothing to be sent."""
    if not raw_body and not any(f.is_required() for f in model.model_fields.values()):
        return {}
    return parse_json_object(raw_body)


def _route_name(spec: _Spec) -> str:
    return f"{spec.method} {_policy_path(spec.path)}"


def _judge_key_again(
    spec: _Spec,
    request: Any,
    record: RequestRecord,
    services: Container,
    ctx: context.RequestContext,
) -> None:
    """Arrange for a key-confirming route to judge its key again (see ``Authenticator``):
    an idempotent command in its first read (``pipeline.run``), any other state-changing
    route in its commit, with a condition on the key's record (``RequestRecord.finish``)."""
    if _route_name(spec) not in KEY_CONFIRMING_ROUTES:
        return
    record.credential = request.headers.get("authorization")
    if spec.idempotent:
        return
    key_hash = presented_hash(record.credential)
    if key_hash is None or ctx.merchant_id is None or ctx.key_type is None:
        raise record.judge_key_now() or KeyRefused(Rejection("malformed", None))
    record.key_guard = services.api_keys.still_valid_entry(
        key_hash, ctx.merchant_id, ctx.key_type, iso(now_utc())
    )


def _refuse_key(
    spec: _Spec, refused: KeyRefused, services: Container, ctx: context.RequestContext
) -> Response:
    """As the authorizer answers a refused key: a rejection record, no audit record."""
    ctx.error_code = refused.code
    rejections.record(services, refused.rejection, _route_name(spec), ctx.request_id)
    return respond(refused.status, error_body(refused, ctx.request_id), ctx.request_id)


def _audit_quietly(record: RequestRecord, status: int, error_code: str | None) -> None:
    try:
        record.audit_now(status, error_code)
    except Exception:
        log.exception("audit write failed")


def _internal_error(record: RequestRecord, ctx: context.RequestContext) -> Response:
    # The traceback names the failing line; no message of this project holds card data.
    log.exception("unhandled error", extra={"request_id": ctx.request_id})
    error = ApiError("internal_error")
    ctx.error_code = error.code
    try:
        record.release()
    except Exception:
        log.exception("releasing the idempotency lease failed")
    _audit_quietly(record, error.status, error.code)
    return respond(error.status, error_body(error, ctx.request_id), ctx.request_id)
