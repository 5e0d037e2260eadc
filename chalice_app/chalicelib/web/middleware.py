"""The HTTP middleware around every request: request id, size limit, log line, envelope."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from chalice import Response

from chalicelib.errors import ApiError
from chalicelib.settings import get_settings
from chalicelib.web import context
from chalicelib.web.envelope import REQUEST_ID_HEADER, error_response, is_ours, rewrite_foreign
from chalicelib.web.header_rules import is_json_utf8, repeated_header_error

access_log = logging.getLogger("platform.access")


def handle(request: Any, get_response: Callable[[Any], Response]) -> Response:
    """Serve one request inside a fresh ``RequestContext``."""
    ctx = context.RequestContext.from_request(request)
    token = context.open_context(ctx)
    started = time.perf_counter()
    try:
        response = _respond(request, get_response, ctx)
    finally:
        context.close_context(token)
    _log_line(ctx, response.status_code, started)
    return response


def _respond(
    request: Any, get_response: Callable[[Any], Response], ctx: context.RequestContext
) -> Response:
    # Checked before anything reads the body: neither API Gateway nor chalice local caps it.
    if len(request.raw_body or b"") > get_settings().max_body_bytes:
        error = ApiError("request_too_large")
        ctx.error_code = error.code
        return error_response(error, ctx.request_id)
    if request.raw_body and not is_json_utf8((request.headers or {}).get("content-type")):
        error = ApiError("unsupported_media_type")
        ctx.error_code = error.code
        return error_response(error, ctx.request_id)
    repeated = repeated_header_error(request, ctx)
    if repeated is not None:
        ctx.error_code = repeated.code
        return error_response(repeated, ctx.request_id)
    try:
        response = get_response(request)
    except Exception:
        access_log.exception("unhandled error", extra={"request_id": ctx.request_id})
        response = Response(body="", status_code=500)
    if is_ours(response):
        return response
    if response.status_code >= 400:
        rewritten = rewrite_foreign(response, ctx.request_id)
        ctx.error_code = json.loads(rewritten.body)["error"]["code"]
        return rewritten
    response.headers[REQUEST_ID_HEADER] = ctx.request_id
    return response


def _log_line(ctx: context.RequestContext, status: int, started: float) -> None:
    access_log.info(
        json.dumps(
            {
                "request_id": ctx.request_id,
                "merchant_id": ctx.merchant_id,
                "method": ctx.method,
                "route": ctx.route,
                "status": status,
                "error_code": ctx.error_code,
                "latency_ms": round((time.perf_counter() - started) * 1000, 1),
            },
            separators=(",", ":"),
        )
    )
