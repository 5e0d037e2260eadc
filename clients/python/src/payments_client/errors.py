"""Exceptions by the error ``type`` of the API's envelope, each with the request's id and status.

``error_from_response`` is the one map from an answer to an exception class: by the envelope's
``type`` when the body is the API's envelope, by HTTP status otherwise (a gateway's or a
proxy's answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional


class PaymentsError(Exception):
    """Base of every error this client raises."""

    def __init__(
        self,
        message: str,
        *,
        http_status: Optional[int] = None,
        request_id: Optional[str] = None,
        type: Optional[str] = None,  # noqa: A002 - the envelope's own name
        code: Optional[str] = None,
        param: Optional[str] = None,
        json_body: Optional[dict[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        idempotency_key: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.request_id = request_id
        self.type = type
        self.code = code
        self.param = param
        self.json_body = json_body
        self.headers = dict(headers or {})
        # The key the request was sent (and retried) with: retry with it to stay safe.
        self.idempotency_key = idempotency_key

    @property
    def error(self) -> dict[str, Any]:
        """The envelope's ``error`` object as received (empty if the body was not one)."""
        body = self.json_body or {}
        error = body.get("error")
        return error if isinstance(error, dict) else {}

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"code={self.code}")
        if self.param:
            parts.append(f"param={self.param}")
        if self.http_status is not None:
            parts.append(f"http_status={self.http_status}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, http_status={self.http_status!r}, "
            f"code={self.code!r}, request_id={self.request_id!r})"
        )


class InvalidRequestError(PaymentsError):
    """400, 404, 405, 409 refusals, 413, 415: the request cannot succeed as sent.

    ``param`` names the input field at fault, when one is.
    """


class AuthenticationError(PaymentsError):
    """401: missing, malformed, unknown, revoked or expired API key."""


class PermissionDeniedError(PaymentsError):
    """403: this key may not call this route (a publishable key on a secret-key route)."""


class CardError(PaymentsError):
    """402: the bank declined. ``charge`` (and ``refund``) name the object kept as failed."""

    @property
    def decline_code(self) -> Optional[str]:
        return self.error.get("decline_code")

    @property
    def charge(self) -> Optional[str]:
        return self.error.get("charge")

    @property
    def refund(self) -> Optional[str]:
        return self.error.get("refund")


class IdempotencyError(PaymentsError):
    """409 ``request_in_progress`` (retried by the client) or 422 ``idempotency_key_reused``."""


class RateLimitError(PaymentsError):
    """429: too many requests (``rate_limited``) or too much contention (``lock_timeout``)."""

    @property
    def retry_after(self) -> Optional[float]:
        return parse_retry_after(self.headers.get("retry-after"))


class APIError(PaymentsError):
    """5xx: the platform (500, 503) or the bank (502 ``bank_unavailable``) failed.

    A 502 ``bank_unavailable`` is final: the charge or refund it names is ``failed`` and no
    money moved. After a 500 or 503 that the client's retries did not clear, the outcome is
    unknown: retry later with the same ``idempotency_key``.
    """

    @property
    def charge(self) -> Optional[str]:
        return self.error.get("charge")

    @property
    def refund(self) -> Optional[str]:
        return self.error.get("refund")


class APIConnectionError(PaymentsError):
    """No answer: the connection failed, was cut, or timed out (after the client's retries).

    If it was a POST that moves money, the operation may have happened: retry with the same
    ``idempotency_key`` to learn its outcome without doing it twice.
    """


class SignatureError(PaymentsError):
    """A webhook delivery whose ``Payments-Signature`` does not verify (or is too old)."""

    def __init__(self, message: str, sig_header: Optional[str] = None) -> None:
        super().__init__(message)
        self.sig_header = sig_header


# The envelope's error ``type`` -> the exception raised for it.
ERROR_TYPES: dict[str, type[PaymentsError]] = {
    "invalid_request_error": InvalidRequestError,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "card_error": CardError,
    "idempotency_error": IdempotencyError,
    "rate_limit_error": RateLimitError,
    "api_error": APIError,
}

# For answers that are not the API's envelope (a gateway or a proxy in the way).
_BY_STATUS: dict[int, type[PaymentsError]] = {
    401: AuthenticationError,
    402: CardError,
    403: PermissionDeniedError,
    409: IdempotencyError,
    422: IdempotencyError,
    429: RateLimitError,
}


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` in seconds (the API sends delta-seconds); None if absent or not a number."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds < 0:  # NaN or negative: not a usable delay
        return None
    return seconds


def envelope_error(body: Any) -> Optional[dict[str, Any]]:
    """The ``error`` object of an API envelope, or None when ``body`` is not one."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("type"), str):
        return error
    return None


def error_from_response(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    idempotency_key: Optional[str] = None,
) -> PaymentsError:
    """The exception for an error answer (``body`` is the parsed JSON, or None)."""
    error = envelope_error(body)
    request_id = None
    if isinstance(body, dict) and isinstance(body.get("request_id"), str):
        request_id = body["request_id"]
    request_id = request_id or headers.get("x-request-id")
    if error is not None:
        cls = ERROR_TYPES.get(error["type"], APIError)
        message = error.get("message") if isinstance(error.get("message"), str) else None
        return cls(
            message or f"HTTP {status}",
            http_status=status,
            request_id=request_id,
            type=error["type"],
            code=error.get("code"),
            param=error.get("param"),
            json_body=body,
            headers=headers,
            idempotency_key=idempotency_key,
        )
    if status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif 400 <= status < 500:
        cls = InvalidRequestError
    else:
        cls = APIError
    return cls(
        f"HTTP {status} without the API's error envelope",
        http_status=status,
        request_id=request_id,
        json_body=body if isinstance(body, dict) else None,
        headers=headers,
        idempotency_key=idempotency_key,
    )
