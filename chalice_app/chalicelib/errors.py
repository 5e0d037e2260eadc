"""Every error code of the API, written once.

Handlers raise ``ApiError(CODE)``; the envelope turns it into a response; tests and the
README's error table read ``CATALOGUE``. Messages are fixed text: they never echo input,
so no card number or key can leak through an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeGuard

# Every code the API answers with; a test holds it equal to CATALOGUE's keys.
ErrorCode = Literal[
    "invalid_json",
    "missing_parameter",
    "unknown_parameter",
    "resource_missing",
    "method_not_allowed",
    "request_too_large",
    "unsupported_media_type",
    "invalid_api_key",
    "secret_key_required",
    "origin_not_allowed",
    "secret_key_in_browser",
    "invalid_card_number",
    "invalid_expiry_month",
    "invalid_expiry_year",
    "expired_card",
    "invalid_cvv",
    "invalid_cardholder_name",
    "invalid_email",
    "invalid_idempotency_key",
    "invalid_token",
    "token_already_used",
    "invalid_amount",
    "invalid_currency",
    "invalid_description",
    "invalid_metadata",
    "invalid_capture",
    "card_declined",
    "bank_unavailable",
    "idempotency_key_reused",
    "request_in_progress",
    "invalid_charge_id",
    "invalid_reason",
    "charge_not_refundable",
    "charge_already_refunded",
    "too_many_refunds",
    "amount_too_large",
    "refund_failed",
    "charge_not_capturable",
    "charge_not_voidable",
    "capture_failed",
    "lock_timeout",
    "invalid_limit",
    "invalid_starting_after",
    "invalid_type",
    "invalid_url",
    "invalid_events",
    "invalid_expire_old_in_hours",
    "too_many_webhook_endpoints",
    "invalid_request",
    "rate_limited",
    "internal_error",
]


@dataclass(frozen=True)
class ErrorSpec:
    """How one error code is answered."""

    code: ErrorCode
    type: str
    status: int
    message: str


INVALID_REQUEST = "invalid_request_error"
AUTHENTICATION = "authentication_error"
PERMISSION = "permission_error"
CARD = "card_error"
IDEMPOTENCY = "idempotency_error"
RATE_LIMIT = "rate_limit_error"
API = "api_error"

_SPECS = [
    # Request shape (any route)
    ErrorSpec("invalid_json", INVALID_REQUEST, 400, "The request body must be a JSON object."),
    ErrorSpec("missing_parameter", INVALID_REQUEST, 400, "A required parameter is missing."),
    ErrorSpec("unknown_parameter", INVALID_REQUEST, 400, "The request has an unknown parameter."),
    ErrorSpec("resource_missing", INVALID_REQUEST, 404, "No such resource."),
    ErrorSpec("method_not_allowed", INVALID_REQUEST, 405, "This method is not allowed here."),
    ErrorSpec("request_too_large", INVALID_REQUEST, 413, "The request body exceeds 64 KiB."),
    ErrorSpec(
        "unsupported_media_type", INVALID_REQUEST, 415, "Content-Type must be application/json."
    ),
    # Authentication
    ErrorSpec("invalid_api_key", AUTHENTICATION, 401, "Missing, malformed or invalid API key."),
    ErrorSpec("secret_key_required", PERMISSION, 403, "This route requires a secret API key."),
    # Browser checkout (requests with an Origin header)
    ErrorSpec(
        "origin_not_allowed",
        PERMISSION,
        403,
        "This origin is not registered for the merchant's browser checkout.",
    ),
    ErrorSpec(
        "secret_key_in_browser",
        PERMISSION,
        403,
        "A secret API key must never be used from a browser; use the publishable key.",
    ),
    # POST /token
    ErrorSpec("invalid_card_number", INVALID_REQUEST, 400, "The card number is not valid."),
    ErrorSpec(
        "invalid_expiry_month", INVALID_REQUEST, 400, "exp_month must be an integer from 1 to 12."
    ),
    ErrorSpec(
        "invalid_expiry_year", INVALID_REQUEST, 400, "exp_year must be a four-digit integer."
    ),
    ErrorSpec("expired_card", INVALID_REQUEST, 400, "The card has expired."),
    ErrorSpec("invalid_cvv", INVALID_REQUEST, 400, "The CVV is not valid for this card."),
    ErrorSpec(
        "invalid_cardholder_name",
        INVALID_REQUEST,
        400,
        "cardholder_name must be a string of at most 100 characters.",
    ),
    ErrorSpec("invalid_email", INVALID_REQUEST, 400, "The email address is not valid."),
    # POST /charge
    ErrorSpec(
        "invalid_idempotency_key",
        INVALID_REQUEST,
        400,
        "Idempotency-Key must be 1 to 255 printable ASCII characters.",
    ),
    ErrorSpec("invalid_token", INVALID_REQUEST, 400, "No such token, or it has expired."),
    ErrorSpec("token_already_used", INVALID_REQUEST, 400, "This token has already been used."),
    ErrorSpec(
        "invalid_amount",
        INVALID_REQUEST,
        400,
        "amount must be a positive integer in minor units (a charge: at most 99999999).",
    ),
    ErrorSpec("invalid_currency", INVALID_REQUEST, 400, "The currency is not supported."),
    ErrorSpec(
        "invalid_description",
        INVALID_REQUEST,
        400,
        "description must be a string of at most 500 characters.",
    ),
    ErrorSpec(
        "invalid_metadata",
        INVALID_REQUEST,
        400,
        "metadata must be an object of at most 20 string values "
        "(keys up to 40, values up to 500 characters).",
    ),
    ErrorSpec("invalid_capture", INVALID_REQUEST, 400, "capture must be true or false."),
    ErrorSpec("card_declined", CARD, 402, "The card was declined."),
    ErrorSpec("bank_unavailable", API, 502, "The bank could not be reached. Try again later."),
    # Idempotency
    ErrorSpec(
        "idempotency_key_reused",
        IDEMPOTENCY,
        422,
        "This Idempotency-Key was used with a different request.",
    ),
    ErrorSpec(
        "request_in_progress",
        IDEMPOTENCY,
        409,
        "A request with this Idempotency-Key is still in progress.",
    ),
    # POST /refund
    ErrorSpec("invalid_charge_id", INVALID_REQUEST, 400, "charge_id must be a string."),
    ErrorSpec(
        "invalid_reason",
        INVALID_REQUEST,
        400,
        "reason must be requested_by_customer, duplicate or fraudulent.",
    ),
    ErrorSpec(
        "charge_not_refundable", INVALID_REQUEST, 409, "Only a succeeded charge can be refunded."
    ),
    ErrorSpec(
        "charge_already_refunded", INVALID_REQUEST, 409, "This charge is already fully refunded."
    ),
    ErrorSpec(
        "too_many_refunds",
        INVALID_REQUEST,
        409,
        "This charge already has the maximum of 100 refunds.",
    ),
    ErrorSpec(
        "amount_too_large",
        INVALID_REQUEST,
        400,
        "The amount exceeds what this charge allows (to refund, or to capture).",
    ),
    ErrorSpec("refund_failed", CARD, 402, "The bank declined the refund."),
    # POST /charge/{id}/capture, POST /charge/{id}/void
    ErrorSpec(
        "charge_not_capturable",
        INVALID_REQUEST,
        409,
        "Only an authorized charge can be captured, before its capture_before.",
    ),
    ErrorSpec(
        "charge_not_voidable", INVALID_REQUEST, 409, "Only an authorized charge can be voided."
    ),
    ErrorSpec("capture_failed", CARD, 402, "The bank declined the capture."),
    ErrorSpec(
        "lock_timeout",
        RATE_LIMIT,
        429,
        "Too many concurrent changes to commit in time; retry with the same Idempotency-Key.",
    ),
    # GET /charges
    ErrorSpec("invalid_limit", INVALID_REQUEST, 400, "limit must be an integer from 1 to 100."),
    ErrorSpec(
        "invalid_starting_after",
        INVALID_REQUEST,
        400,
        "starting_after must be the id of one of your objects of this list.",
    ),
    # GET /events
    ErrorSpec(
        "invalid_type",
        INVALID_REQUEST,
        400,
        "type must be charge.succeeded, charge.failed, charge.pending, refund.succeeded, "
        "refund.failed or refund.pending.",
    ),
    # POST /webhook_endpoints
    ErrorSpec(
        "invalid_url",
        INVALID_REQUEST,
        400,
        "url must be an https URL of at most 2048 characters whose host is public "
        "(no private, loopback, link-local or metadata address).",
    ),
    ErrorSpec(
        "invalid_events",
        INVALID_REQUEST,
        400,
        "events must be a non-empty list of distinct event types.",
    ),
    ErrorSpec(
        "invalid_expire_old_in_hours",
        INVALID_REQUEST,
        400,
        "expire_old_in_hours must be an integer from 0 to 168.",
    ),
    ErrorSpec(
        "too_many_webhook_endpoints",
        INVALID_REQUEST,
        409,
        "An account can have at most 16 webhook endpoints; delete one first.",
    ),
    # Answered by API Gateway itself when deployed (gateway responses: pulumi/payments_infra)
    ErrorSpec("invalid_request", INVALID_REQUEST, 400, "The request was refused."),
    ErrorSpec("rate_limited", RATE_LIMIT, 429, "Too many requests. Retry later."),
    # Faults
    ErrorSpec("internal_error", API, 500, "An internal error occurred."),
]

CATALOGUE: dict[ErrorCode, ErrorSpec] = {spec.code: spec for spec in _SPECS}


def is_error_code(value: str) -> TypeGuard[ErrorCode]:
    """Whether ``value`` (a code named outside this module, e.g. by a domain rule) is ours."""
    return value in CATALOGUE


def error_code(value: str) -> ErrorCode:
    """``value`` as a code of the catalogue; ``KeyError`` if it names none."""
    if not is_error_code(value):
        raise KeyError(value)
    return value


class ApiError(Exception):
    """An error answered to the client with the contract's envelope."""

    def __init__(
        self,
        code: ErrorCode,
        *,
        param: str | None = None,
        message: str | None = None,
        extra: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.spec = CATALOGUE[code]
        self.param = param
        self.message = message or self.spec.message
        # Fields beside code/message, e.g. decline_code and charge on a 402.
        self.extra = extra or {}
        # Response headers beside the envelope's (``Retry-After`` on a 409 or 429 to retry).
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(code)

    @property
    def code(self) -> ErrorCode:
        return self.spec.code

    @property
    def status(self) -> int:
        return self.spec.status

    def body(self) -> dict[str, object]:
        """The ``error`` object of the envelope."""
        error: dict[str, object] = {
            "type": self.spec.type,
            "code": self.spec.code,
            "message": self.message,
        }
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        return error


class RetryLater(ApiError):
    """Refused for now, not because of the request or the state it found: answered with
    ``Retry-After`` and never stored for replay, so a retry with the same key goes ahead."""

    def __init__(self, code: ErrorCode, retry_after_seconds: int) -> None:
        super().__init__(code)
        self.headers = {"Retry-After": str(retry_after_seconds)}
