"""The request being served: its id, caller and outcome, shared by middleware and endpoint."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from chalice.app import Request

from chalicelib.ids import new_id


@dataclass
class RequestContext:
    """One request's identity and outcome, filled in as it is served."""

    request_id: str
    method: str
    route: str
    source_ip: str | None
    user_agent: str | None
    merchant_id: str | None = None
    key_id: str | None = None
    key_type: str | None = None
    error_code: str | None = None

    @classmethod
    def from_request(cls, request: Request) -> RequestContext:
        context = getattr(request, "context", None) or {}
        identity = context.get("identity") or {}
        authorizer = context.get("authorizer") or {}
        headers = getattr(request, "headers", None) or {}
        return cls(
            request_id=new_id("req"),
            method=getattr(request, "method", "") or "",
            route=context.get("resourcePath") or getattr(request, "path", "") or "",
            source_ip=identity.get("sourceIp"),
            user_agent=(headers.get("user-agent") or "")[:256] or None,
            merchant_id=authorizer.get("merchant_id"),
            key_id=authorizer.get("key_id"),
            key_type=authorizer.get("key_type"),
        )


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "request_context", default=None
)


def current() -> RequestContext:
    """The context the middleware opened for this request."""
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("no request context: the envelope middleware is not installed")
    return ctx


def open_context(ctx: RequestContext) -> contextvars.Token[RequestContext | None]:
    return _current.set(ctx)


def close_context(token: contextvars.Token[RequestContext | None]) -> None:
    _current.reset(token)
