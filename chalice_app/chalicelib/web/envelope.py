"""The contract's response envelope."""

from __future__ import annotations

import json
from typing import Any

from chalice import Response

from chalicelib.errors import ApiError, ErrorCode

REQUEST_ID_HEADER = "X-Request-Id"


def dumps(body: dict[str, Any]) -> str:
    # ASCII out: any stored string (even one no validator anticipated) encodes, in any
    # transport, and the body's bytes do not depend on the reader's charset handling.
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True)


def success_body(data: Any, request_id: str) -> dict[str, Any]:
    return {"data": data, "request_id": request_id}


def error_body(error: ApiError, request_id: str) -> dict[str, Any]:
    return {"error": error.body(), "request_id": request_id}


def respond(
    status: int, body: str | dict[str, Any], request_id: str, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response carrying this request's id in ``X-Request-Id``."""
    text = body if isinstance(body, str) else dumps(body)
    return Response(
        body=text,
        status_code=status,
        headers={
            "Content-Type": "application/json",
            REQUEST_ID_HEADER: request_id,
            **(headers or {}),
        },
    )


def error_response(error: ApiError, request_id: str) -> Response:
    return respond(error.status, error_body(error, request_id), request_id)


# Chalice answers some requests itself (wrong method, wrong content type, a crash outside
# an endpoint) with its own body; the middleware rewrites those into the envelope.
_CHALICE_STATUS_CODES: dict[int, ErrorCode] = {
    400: "invalid_json",
    404: "resource_missing",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def is_ours(response: Response) -> bool:
    return REQUEST_ID_HEADER in response.headers


def rewrite_foreign(response: Response, request_id: str) -> Response:
    """A response Chalice produced itself, in the envelope (unknown statuses become 500)."""
    code = _CHALICE_STATUS_CODES.get(response.status_code, "internal_error")
    rewritten = error_response(ApiError(code), request_id)
    allow = response.headers.get("Allow")
    if allow:
        rewritten.headers["Allow"] = allow
    return rewritten
