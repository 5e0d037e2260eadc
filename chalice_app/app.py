"""Payment platform API: routes only. Each route parses, calls one service, and returns.

The envelope, validation, authorisation by key type, idempotency and audit are declared
with ``@endpoint`` (chalicelib/web/endpoint.py); business rules live in chalicelib/services.
"""

from __future__ import annotations

from typing import Any

from chalice import AuthResponse, Chalice, Rate, Response
from chalice.app import AuthRequest

from chalicelib import logs
from chalicelib.models import (
    Charge,
    ChargeList,
    ChargePath,
    ChargeRequest,
    Health,
    ListChargesQuery,
    Refund,
    RefundRequest,
    Token,
    TokenRequest,
)
from chalicelib.settings import get_settings
from chalicelib.web import authorizer, middleware
from chalicelib.web.endpoint import ANY_KEY, SECRET_KEY, Call, Replayed, Result, endpoint
from chalicelib.web.route_doc import describe

app = Chalice(app_name="payments")
logs.configure(get_settings().log_level)


@app.authorizer(ttl_seconds=60)
def api_key_authorizer(auth_request: AuthRequest) -> AuthResponse:
    """API key -> merchant; rejected keys get 401, wrong key type 403 (see endpoint keys)."""
    return authorizer.authorize(auth_request)


@app.middleware("http")
def envelope(event: Any, get_response: Any) -> Any:
    return middleware.handle(event, get_response)


@endpoint(app, "/health", "GET")
@describe(responses={200: Health})
def health(call: Call) -> Result:
    """Liveness check; needs no key."""
    return Result(200, Health())


@endpoint(
    app,
    "/token",
    "POST",
    authorizer=api_key_authorizer,
    keys=ANY_KEY,
    body=TokenRequest,
    audit="token.create",
)
@describe(responses={201: Token})
def create_token(call: Call) -> Result:
    """Tokenize a card (secret or publishable key). Single use, valid 15 minutes."""
    return call.services.token_service.create(call.merchant_id, call.body, call.record)


@endpoint(
    app,
    "/charge",
    "POST",
    authorizer=api_key_authorizer,
    keys=SECRET_KEY,
    body=ChargeRequest,
    idempotent=True,
    audit="charge.create",
)
@describe(
    responses={201: Charge, 202: Charge},
    errors=("token_already_used", "card_declined", "bank_unavailable"),
)
def create_charge(call: Call) -> Result | Replayed:
    """Charge a token: 201 succeeded, 202 pending (bank too slow), 402 declined, 502."""
    return call.run(call.services.charge_service)


@endpoint(app, "/charge/{charge_id}", "GET", authorizer=api_key_authorizer, keys=SECRET_KEY)
@describe(responses={200: Charge}, path=ChargePath)
def get_charge(call: Call, path: ChargePath) -> Result:
    """A charge with its refunds, oldest first; a pending one is first re-checked."""
    return Result(200, call.services.charge_service.get(call.merchant_id, path.charge_id))


@endpoint(
    app, "/charges", "GET", authorizer=api_key_authorizer, keys=SECRET_KEY, query=ListChargesQuery
)
@describe(responses={200: ChargeList})
def list_charges(call: Call) -> Result:
    """The merchant's charges, newest first (refunds not expanded)."""
    return Result(200, call.services.charge_service.list(call.merchant_id, call.query))


@endpoint(
    app,
    "/refund",
    "POST",
    authorizer=api_key_authorizer,
    keys=SECRET_KEY,
    body=RefundRequest,
    idempotent=True,
    audit="refund.create",
)
@describe(
    responses={201: Refund},
    errors=(
        "charge_not_refundable",
        "charge_already_refunded",
        "too_many_refunds",
        "amount_too_large",
        "refund_failed",
        "bank_unavailable",
    ),
)
def create_refund(call: Call) -> Result | Replayed:
    """Refund all (no amount) or part of a succeeded charge."""
    return call.run(call.services.refund_service)


@app.route("/openapi.json", methods=["GET"])
def openapi_document() -> Response:
    """The API document (OpenAPI 3.1), built from the route table on first request."""
    from chalicelib.web.openapi import document_text

    return Response(body=document_text(), headers={"Content-Type": "application/json"})


@app.schedule(Rate(5, unit=Rate.MINUTES))
def reconcile_pending(event: Any) -> dict[str, float]:
    """Settle charges and refunds left pending by a timeout or a crash, while time remains."""
    from chalicelib import metrics
    from chalicelib.container import get_container

    remaining_ms = event.context.get_remaining_time_in_millis() if event.context else None
    report = get_container().settlement.sweep(
        remaining_ms / 1000 if remaining_ms is not None else None
    )
    metrics.emit_sweep(report, get_settings().stage)
    return vars(report)
