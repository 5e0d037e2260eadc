"""One mechanism for every route: parse, authorise, idempotency, audit, envelope.

A route in app.py declares what it needs (``@api.endpoint(...)``) and holds one call of a
use case, reached through ``Call.services`` (use cases only: no adapter or client). Everything
a route must not forget is done here, once:

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
from typing import TYPE_CHECKING, Generic, Never, Protocol, cast

from chalice import AuthRoute, Chalice, Response
from chalice.app import ChaliceAuthorizer, Request
from typing_extensions import TypeVar

from chalicelib.errors import ApiError
from chalicelib.ids import iso, now_utc
from chalicelib.models import RequestModel
from chalicelib.services.authentication import Rejection, presented_hash
from chalicelib.services.recording import Reply
from chalicelib.web import checkout, context, pipeline, rejections
from chalicelib.web.envelope import error_body, respond, success_body
from chalicelib.web.pipeline import (
    Body,
    Command,
    First,
    KeyRefused,
    PipelineDeps,
    Replayed,
    RequestRecord,
)
from chalicelib.web.validation import parse_json_object, validate

if TYPE_CHECKING:
    from chalicelib.container import Services

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
    view: View  # the route's own function (docstring, ``route_doc.describe``)


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


class Wiring(Protocol):
    """What a request takes from the composition root (``container.Container``)."""

    @property
    def services(self) -> Services: ...

    @property
    def pipeline_deps(self) -> PipelineDeps: ...


BodyT = TypeVar("BodyT", bound=RequestModel | None, default=None, covariant=True)
QueryT = TypeVar("QueryT", bound=RequestModel | None, default=None, covariant=True)


@dataclass(frozen=True)
class Call(Generic[BodyT, QueryT]):
    """What a route's function receives: ``Call[ChargeRequest]``, ``Call[None, Query]``."""

    merchant_id: str
    services: Services
    record: RequestRecord
    # The pipeline's own dependencies, for ``run``: not the route's to use.
    _deps: PipelineDeps = field(repr=False)
    body: BodyT
    query: QueryT
    params: dict[str, str] = field(default_factory=dict)

    def run(self, command: Command[BodyT, First]) -> Reply | Replayed:
        """Serve an idempotent command (POST /charge, POST /refund) through the pipeline."""
        return pipeline.run(command, self.merchant_id, self.body, self.record, self._deps)


# A route returns a Reply; a read route's reply is simply its status and resource.
Result = Reply

# A route's function (``route_doc.describe`` passes its path model on). Its ``Call`` names
# the models the route declares (``Call[ChargeRequest]``): views accept the narrowest call,
# and ``_parse`` hands each the one its declared models parsed.
View = Callable[[Call[Never, Never]], Reply | Replayed]


class RouteView(Protocol):
    """What chalice registers for a route: path parameters in, the answer out."""

    def __call__(self, **params: str) -> Response: ...


@dataclass(frozen=True)
class _Spec:
    app: Chalice
    wiring: Callable[[], Wiring]
    path: str
    method: str
    body: type[RequestModel] | None
    query: type[RequestModel] | None
    idempotent: bool
    audit: str | None
    browser: bool = False


class Api:
    """Registers routes on ``app``; each request takes its use cases and the pipeline's
    dependencies from ``wiring()`` (app.py's composition root), when it is served."""

    def __init__(self, app: Chalice, wiring: Callable[[], Wiring]) -> None:
        self.app = app
        self._wiring = wiring

    def endpoint(
        self,
        path: str,
        method: str,
        *,
        authorizer: ChaliceAuthorizer | None = None,
        keys: frozenset[str] = SECRET_KEY,
        body: type[RequestModel] | None = None,
        query: type[RequestModel] | None = None,
        idempotent: bool = False,
        audit: str | None = None,
        browser: bool = False,
    ) -> Callable[[View], RouteView]:
        """Register ``fn`` as the route ``method path`` with the mechanisms above.

        ``browser``: browsers may call it (CORS) from the merchant's registered origins.
        """
        app = self.app
        spec = _Spec(app, self._wiring, path, method, body, query, idempotent, audit, browser)
        if authorizer is not None:
            _POLICIES.append(RoutePolicy(path, method, keys))
            if idempotent or audit:
                KEY_CONFIRMING_ROUTES.add(_route_name(spec))

        def decorator(fn: View) -> RouteView:
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


def _idempotency_key(request: Request) -> str | None:
    key: str | None = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not all(" " <= ch <= "~" for ch in key):
        raise ApiError("invalid_idempotency_key")
    return key


def _serve(spec: _Spec, fn: View, params: dict[str, str]) -> Response:
    """Serve the route; a browser route's answers carry its CORS headers."""
    allowed: list[str | None] = [None]
    response = _answer(spec, fn, params, allowed)
    if spec.browser:
        response.headers.update(checkout.cors_headers(allowed[0]))
    return response


def _answer(
    spec: _Spec,
    fn: View,
    params: dict[str, str],
    allowed_origin: list[str | None],
) -> Response:
    """Parse, run the route, answer; every outcome of a state-changing route is recorded."""
    ctx = context.current()
    request = spec.app.current_request
    assert request is not None  # chalice sets it before calling a view
    wiring = spec.wiring()
    services, deps = wiring.services, wiring.pipeline_deps

    rendered: dict[int, Body] = {}

    def render(reply: Reply) -> Body:
        # Once per reply: the stored response and the one sent are the same body.
        if id(reply) not in rendered:
            rendered[id(reply)] = (
                error_body(reply.error, ctx.request_id)
                if reply.error is not None
                else success_body(reply.data_json(), ctx.request_id)
            )
        return rendered[id(reply)]

    audit = (
        pipeline.audit_record(spec.audit, f"{spec.method} {spec.path}", ctx) if spec.audit else None
    )
    record = RequestRecord(deps, ctx.merchant_id or "", ctx.request_id, render, audit)
    try:
        # Before anything else: a refused origin creates nothing.
        allowed_origin[0] = checkout.browser_origin(
            request, ctx, services, browser_route=spec.browser
        )
        _judge_key_again(spec, request, record, deps, ctx)
        call = _parse(spec, request, params, ctx, services, deps, record)
        reply = fn(call)
    except KeyRefused as refused:
        return _refuse_key(spec, refused, deps, ctx)
    except ApiError as error:
        late = record.judge_key_now()
        if late is not None:
            return _refuse_key(spec, late, deps, ctx)
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
        return _refuse_key(spec, refused, deps, ctx)
    except Exception:
        return _internal_error(record, ctx)
    return respond(reply.status, render(reply), ctx.request_id)


def _parse(
    spec: _Spec,
    request: Request,
    params: dict[str, str],
    ctx: context.RequestContext,
    services: Services,
    deps: PipelineDeps,
    record: RequestRecord,
) -> Call[Never, Never]:
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
    call = Call(ctx.merchant_id or "", services, record, deps, body, query, params)
    # Its body and query are instances of the route's declared models, which its view's
    # ``Call[...]`` names: known when the route is declared, not to the type checker.
    return cast("Call[Never, Never]", call)


def _payload(model: type[RequestModel], raw_body: str | bytes) -> dict[str, object]:
    """The body's JSON object; no body at all is ``{}`` where every field is optional
    (capture, void): leaving them all out needs nothing to be sent."""
    if not raw_body and not any(f.is_required() for f in model.model_fields.values()):
        return {}
    return parse_json_object(raw_body.encode() if isinstance(raw_body, str) else raw_body)


def _route_name(spec: _Spec) -> str:
    return f"{spec.method} {_policy_path(spec.path)}"


def _judge_key_again(
    spec: _Spec,
    request: Request,
    record: RequestRecord,
    deps: PipelineDeps,
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
    record.key_guard = deps.api_keys.still_valid_entry(
        key_hash, ctx.merchant_id, ctx.key_type, iso(now_utc())
    )


def _refuse_key(
    spec: _Spec, refused: KeyRefused, deps: PipelineDeps, ctx: context.RequestContext
) -> Response:
    """As the authorizer answers a refused key: a rejection record, no audit record."""
    ctx.error_code = refused.code
    rejections.record(deps, refused.rejection, _route_name(spec), ctx.request_id)
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
