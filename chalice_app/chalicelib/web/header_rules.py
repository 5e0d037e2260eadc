"""Headers that must not be sent twice.

API Gateway passes every value of a repeated header in ``multiValueHeaders`` (and keeps the
last in ``headers``); the local gateway emulation passes them the same way. Two
``Authorization`` headers or two ``Idempotency-Key`` headers say two different things, and
which one "wins" differs between gateway and server, so the request is refused.
"""

from __future__ import annotations

from typing import Any

from chalicelib.errors import ApiError
from chalicelib.web import context, endpoint


def _counts(request: Any) -> dict[str, int]:
    event = request.to_original_event() if hasattr(request, "to_original_event") else {}
    multi = (event or {}).get("multiValueHeaders") or {}
    return {name.lower(): len(values or ()) for name, values in multi.items()}


def _idempotent(ctx: context.RequestContext) -> bool:
    return any(
        r.idempotent and r.path == ctx.route and r.method == ctx.method for r in endpoint.ROUTES
    )


def repeated_header_error(request: Any, ctx: context.RequestContext) -> ApiError | None:
    """The refusal a request with a repeated ``Authorization``/``Idempotency-Key`` gets."""
    counts = _counts(request)
    if counts.get("authorization", 0) > 1:
        return ApiError("invalid_api_key")
    if counts.get("idempotency-key", 0) > 1 and _idempotent(ctx):
        return ApiError("invalid_idempotency_key")
    return None


def is_json_utf8(content_type: str | None) -> bool:
    """Whether a body's ``Content-Type`` is ``application/json`` in UTF-8.

    JSON is UTF-8 (RFC 8259): a ``charset`` parameter, if any, must say so; any other
    parameter, media type or a missing header is refused (415).
    """
    if not content_type:
        return False
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    if media_type.lower() != "application/json":
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "charset" or value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return False
    return True
