"""Payment platform API: routes only. Each route parses, calls one service, and returns.

The envelope, validation, authorisation by key type, idempotency and audit are declared
with ``@api.endpoint`` (chalicelib/web/endpoint.py); business rules live in
chalicelib/services. Every entrypoint here takes what it needs from the one composition root
(``get_container()``): routes get the use cases (``call.services``), nothing else.
"""

from __future__ import annotations

from typing import Any

from chalice import AuthResponse, Chalice, Rate, Response
from chalice.app import AuthRequest

from chalicelib import logs
from chalicelib.container import get_container
from chalicelib.models import (
    CaptureRequest,
    Charge,
    ChargeList,
    ChargePath,
    ChargeRequest,
    Event,
    EventList,
    EventPath,
    Health,
    ListChargesQuery,
    ListEventsQuery,
    NewWebhookEndpoint,
    Refund,
    RefundRequest,
    RollSecretRequest,
    Token,
    TokenRequest,
    VoidRequest,
    WebhookEndpoint,
    WebhookEndpointList,
    WebhookEndpointPath,
    WebhookEndpointRequest,
)
from chalicelib.settings import get_settings
from chalicelib.web import authorizer, checkout, middleware
from chalicelib.web.endpoint import ANY_KEY, SECRET_KEY, Api, Call, Result
from chalicelib.web.pipeline import Replayed
from chalicelib.web.route_doc import describe

app = Chalice(app_name="payments")
api = Api(app, get_container)
logs.configure(get_settings().log_level)


# API Gateway caches the authorizer's answer per key for this long: the bound on how long a
# revoked key still reads (the contract: 5 s). Writes judge the key themselves, at once.
@app.authorizer(ttl_seconds=5)
def api_key_authorizer(auth_request: AuthRequest) -> AuthResponse:
    """API key -> merchant; rejected keys get 401, wrong key type 403 (see endpoint keys)."""
    return authorizer.authorize(auth_request, get_container().pipeline_deps)


@app.middleware("http")
def envelope(event: Any, get_response: Any) -> Any:
    return middleware.handle(event, get_response)


@api.endpoint("/health", "GET")
@describe(responses={200: Health})
def health(call: Call) -> Result:
    """Liveness check; needs no key."""
    return Result(200, Health())


@api.endpoint(
    "/token",
    "POST",
    authorizer=api_key_authorizer,
    keys=ANY_KEY,
    body=TokenRequest,
    audit="token.create",
    browser=True,
)
@describe(responses={201: Token}, errors=("origin_not_allowed",))
def create_token(call: Call[TokenRequest]) -> Result:
    """Tokenize a card (secret or publishable key). Single use, valid 15 minutes."""
    return call.services.tokens.create(call.merchant_id, call.body, call.record)


@app.route("/token", methods=["OPTIONS"])
def token_preflight() -> Response:
    """A browser's CORS preflight of POST /token (answered for any origin)."""
    return checkout.preflight()


@api.endpoint(
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
def create_charge(call: Call[ChargeRequest]) -> Result | Replayed:
    """Charge a token: 201 succeeded, 202 pending (outcome unknown), 402 declined, 502."""
    return call.run(call.services.charges)


@api.endpoint("/charge/{charge_id}", "GET", authorizer=api_key_authorizer, keys=SECRET_KEY)
@describe(responses={200: Charge}, path=ChargePath)
def get_charge(call: Call, path: ChargePath) -> Result:
    """A charge with its refunds, oldest first; a pending one is first re-checked."""
    return Result(200, call.services.charges.get(call.merchant_id, path.charge_id))


@api.endpoint(
    "/charge/{charge_id}/capture",
    "POST",
    authorizer=api_key_authorizer,
    keys=SECRET_KEY,
    body=CaptureRequest,
    idempotent=True,
    audit="charge.capture",
)
@describe(
    responses={201: Charge, 202: Charge},
    errors=("charge_not_capturable", "amount_too_large", "capture_failed", "bank_unavailable"),
    path=ChargePath,
)
def capture_charge(call: Call[CaptureRequest], path: ChargePath) -> Result | Replayed:
    """Capture an authorized charge (all, or ``amount``; the rest of the hold is released):
    201 succeeded, 202 pending (outcome unknown), 402 declined, 502."""
    return call.run(call.services.holds.capture(path.charge_id))


@api.endpoint(
    "/charge/{charge_id}/void",
    "POST",
    authorizer=api_key_authorizer,
    keys=SECRET_KEY,
    body=VoidRequest,
    idempotent=True,
    audit="charge.void",
)
@describe(
    responses={200: Charge, 202: Charge},
    errors=("charge_not_voidable", "bank_unavailable"),
    path=ChargePath,
)
def void_charge(call: Call[VoidRequest], path: ChargePath) -> Result | Replayed:
    """Release an authorized charge's hold: 200 voided, 202 pending (outcome unknown)."""
    return call.run(call.services.holds.void(path.charge_id))


@api.endpoint(
    "/charges", "GET", authorizer=api_key_authorizer, keys=SECRET_KEY, query=ListChargesQuery
)
@describe(responses={200: ChargeList})
def list_charges(call: Call[None, ListChargesQuery]) -> Result:
    """The merchant's charges, newest first (refunds not expanded)."""
    return Result(200, call.services.charges.list(call.merchant_id, call.query))


@api.endpoint(
    "/refund",
    "POST",
    authorizer=api_key_authorizer,
    keys=SECRET_KEY,
    body=RefundRequest,
    idempotent=True,
    audit="refund.create",
)
@describe(
    responses={201: Refund, 202: Refund},
    errors=(
        "charge_not_refundable",
        "charge_already_refunded",
        "too_many_refunds",
        "amount_too_large",
        "refund_failed",
        "bank_unavailable",
        "lock_timeout",
    ),
)
def create_refund(call: Call[RefundRequest]) -> Result | Replayed:
    """Refund all (no amount) or part of a succeeded charge: 201, 202 pending, 402, 502."""
    return call.run(call.services.refunds)


@api.endpoint(
    "/events", "GET", authorizer=api_key_authorizer, keys=SECRET_KEY, query=ListEventsQuery
)
@describe(responses={200: EventList})
def list_events(call: Call[None, ListEventsQuery]) -> Result:
    """The merchant's events, newest first (kept 30 days); optionally of one type."""
    return Result(200, call.services.events.list(call.merchant_id, call.query))


@api.endpoint("/events/{event_id}", "GET", authorizer=api_key_authorizer, keys=SECRET_KEY)
@describe(responses={200: Event}, path=EventPath)
def get_event(call: Call, path: EventPath) -> Result:
    """One event: what happened to which charge or refund, as it was then."""
    return Result(200, call.services.events.get(call.merchant_id, path.event_id))


@api.endpoint(
    "/webhook_endpoints",
    "POST",
    authorizer=api_key_authorizer,
    keys=SECRET_KEY,
    body=WebhookEndpointRequest,
    idempotent=True,
    audit="webhook_endpoint.create",
)
@describe(
    responses={201: NewWebhookEndpoint}, errors=("too_many_webhook_endpoints", "lock_timeout")
)
def create_webhook_endpoint(call: Call[WebhookEndpointRequest]) -> Result | Replayed:
    """Receive events at a URL; the answer holds its signing secret, shown this once.

    A replay (same Idempotency-Key and body) answers the same endpoint with `secret: null`:
    roll the secret to get a new one."""
    return call.run(call.services.events.endpoint_creation)


@api.endpoint("/webhook_endpoints", "GET", authorizer=api_key_authorizer, keys=SECRET_KEY)
@describe(responses={200: WebhookEndpointList})
def list_webhook_endpoints(call: Call) -> Result:
    """The merchant's webhook endpoints (never their secrets)."""
    return Result(200, call.services.events.list_endpoints(call.merchant_id))


@api.endpoint(
    "/webhook_endpoints/{endpoint_id}",
    "DELETE",
    authorizer=api_key_authorizer,
    keys=SECRET_KEY,
    audit="webhook_endpoint.delete",
)
@describe(responses={200: WebhookEndpoint}, path=WebhookEndpointPath, errors=("lock_timeout",))
def delete_webhook_endpoint(call: Call, path: WebhookEndpointPath) -> Result:
    """Stop delivering to an endpoint; its secret is destroyed."""
    return call.services.events.delete_endpoint(call.merchant_id, path.endpoint_id, call.record)


@api.endpoint(
    "/webhook_endpoints/{endpoint_id}/roll_secret",
    "POST",
    authorizer=api_key_authorizer,
    keys=SECRET_KEY,
    body=RollSecretRequest,
    audit="webhook_endpoint.roll_secret",
)
@describe(responses={200: NewWebhookEndpoint}, path=WebhookEndpointPath)
def roll_webhook_secret(call: Call[RollSecretRequest], path: WebhookEndpointPath) -> Result:
    """A new signing secret, shown this once; the old one also signs until it expires.

    Until then every delivery carries both signatures (`t=...,v1=<new>,v1=<old>`)."""
    return call.services.events.roll_secret(
        call.merchant_id, path.endpoint_id, call.body, call.record
    )


@api.endpoint(
    "/webhook_endpoints/{endpoint_id}/test",
    "POST",
    authorizer=api_key_authorizer,
    keys=SECRET_KEY,
    audit="webhook_endpoint.test",
)
@describe(responses={202: Event}, path=WebhookEndpointPath)
def test_webhook_endpoint(call: Call, path: WebhookEndpointPath) -> Result:
    """Send a `test.ping` event (about the endpoint, without its secret) to it alone.

    Delivered, signed and retried like any event; not listed by `GET /events`."""
    return call.services.events.send_test(call.merchant_id, path.endpoint_id, call.record)


@app.route("/openapi.json", methods=["GET"])
def openapi_document() -> Response:
    """The API document (OpenAPI 3.1), built from the route table on first request."""
    from chalicelib.web.openapi import document_text

    return Response(body=document_text(), headers={"Content-Type": "application/json"})


@app.route("/js/v1/payments.js", methods=["GET"])
def payments_js() -> Response:
    """The browser library as a classic script (defines ``Payments``); cached for a year."""
    return checkout.library(module=False)


@app.route("/js/v1/payments.mjs", methods=["GET"])
def payments_module() -> Response:
    """The browser library as an ES module (``export { Payments }``)."""
    return checkout.library(module=True)


@app.route("/elements/card", methods=["GET"])
def card_fields() -> Response:
    """The hosted card fields (``?key=pk_...&origin=...``), framed by registered origins."""
    container = get_container()
    return checkout.card_page(app, container.services, container.pipeline_deps)


@app.schedule(Rate(5, unit=Rate.MINUTES))
def reconcile_pending(event: Any) -> dict[str, float]:
    """Settle charges and refunds left pending by a timeout or a crash, while time remains."""
    from chalicelib import metrics
    from chalicelib.services import jobs

    container = get_container()
    report = jobs.run_alone(container.leases, jobs.SWEEP, event.context, container.settlement.sweep)
    if report is None:
        return {"skipped": 1}  # the previous sweep is still running
    metrics.emit_sweep(report, get_settings().stage)
    return vars(report)


# Deployed, Pulumi connects the Events table's stream to this function (an event source
# mapping with a dead-letter queue); the ARN below is used only by `chalice deploy`, which
# this project does not use. Locally, payments_admin.delivery_worker feeds it moto's stream.
@app.on_dynamodb_record(
    stream_arn="arn:aws:dynamodb:us-east-1:000000000000:table/payments-Events/stream/pulumi",
    batch_size=10,
    starting_position="TRIM_HORIZON",
)
def deliver_events(event: Any) -> dict[str, Any]:
    """Deliver new events to their subscribed webhook endpoints (first attempts)."""
    failed = get_container().delivery.handle_records(record.to_dict() for record in event)
    # Partial batch response: the stream hands these records (and only these) over again.
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}


@app.schedule(Rate(1, unit=Rate.MINUTES))
def redrive_deliveries(event: Any) -> dict[str, int]:
    """Retry due webhook deliveries, looking again every few seconds while time remains."""
    from chalicelib.services import jobs

    container = get_container()

    def redrive(remaining: float | None) -> Any:
        # Stop well before the function's timeout: an attempt may take its whole timeout.
        budget = None
        if remaining is not None:
            budget = min(remaining, 60) - get_settings().webhook_timeout_seconds - 5
        return container.delivery.redrive(budget)

    report = jobs.run_alone(container.leases, jobs.REDRIVE, event.context, redrive)
    if report is None:
        return {"skipped": 1}  # the previous run is still polling
    return {"attempted": report.attempted, "delivered": report.delivered, "failed": report.failed}
