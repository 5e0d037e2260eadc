"""Payment platform API: routes only. Each route parses, calls one service, and returns.

The envelope, validation, authorisation by key type, idempotency and audit are declared
with ``@endpoint`` (chalicelib/web/endpoint.py); business rules live in chalicelib/services.
"""

from __future__ import annotations

from typing import Any

from chalice import AuthResponse, Chalice, Rate
from chalice.app import AuthRequest

from chalicelib import logs
from chalicelib.models import (
    ChargeRequest,
    Health,
    ListChargesQuery,
    RefundRequest,
    TokenRequest,
)
from chalicelib.settings import get_settings
from chalicelib.web import authorizer, middleware
from chalicelib.web.endpoint import ANY_KEY, SECRET_KEY, Call, Replayed, Result, endpoint

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
def health(call: Call) -> Result:
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
def create_token(call: Call) -> Result:
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
def create_charge(call: Call) -> Result | Replayed:
    return call.run(call.services.charge_service)


@endpoint(app, "/charge/{charge_id}", "GET", authorizer=api_key_authorizer, keys=SECRET_KEY)
def get_charge(call: Call) -> Result:
    return Result(200, call.services.charge_service.get(call.merchant_id, call.params["charge_id"]))


@endpoint(
    app, "/charges", "GET", authorizer=api_key_authorizer, keys=SECRET_KEY, query=ListChargesQuery
)
def list_charges(call: Call) -> Result:
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
def create_refund(call: Call) -> Result | Replayed:
    return call.run(call.services.refund_service)


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
