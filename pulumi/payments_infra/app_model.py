"""The Chalice app as the deployment sees it: which function serves what, and its API body.

Routes, the authorizer and the schedule are declared only in ``chalice_app/app.py``; this
module maps them to functions (``FUNCTIONS``, one row per function) and builds the Swagger
2.0 body with each route's integration pointing at its own function. Every function runs
the same ``chalice package`` artifact; only the handler, role and environment differ.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from chalice.app import Chalice
from chalice.deploy.swagger import SwaggerGenerator

from chalicelib import errors

from . import CHALICE_DIR, PROJECT_ROOT

DEFAULT_LAMBDA_PACKAGE = PROJECT_ROOT / "build" / "chalice" / "deployment.zip"

RUNTIME = "python3.11"
# `chalice package` bundles manylinux x86_64 wheels (cryptography, pydantic-core), so the
# functions run on x86_64; arm64 would need the artifact built for aarch64.
ARCHITECTURE = "x86_64"
API_HANDLER = "app.app"
API_KEY_SECURITY = "api_key"
RECONCILER = "reconciler"  # the function whose sweep reports the pending-age metric
DELIVERY = "delivery"  # the function the Events stream feeds (first webhook attempts)
PUBLIC = "public"  # the routes served without an API key

Route = tuple[str, str]  # (METHOD, path as declared in app.py)


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function: what it serves and how it is sized (``why`` says why)."""

    key: str
    description: str
    memory_mb: int
    timeout_s: int
    why: str
    routes: tuple[Route, ...] = ()  # API routes served by the app's handler
    authorizer: str | None = None  # name of the @app.authorizer it runs
    schedule: str | None = None  # name of the @app.schedule function it runs
    stream: str | None = None  # name of the @app.on_dynamodb_record function it runs
    stream_table: str | None = None  # logical name of the table whose stream feeds it

    @property
    def serves_api(self) -> bool:
        return bool(self.routes)


# The route -> function table: one row per function. A new route group (e.g. events and
# webhook endpoints) is one row here and one in grants.GRANTS.
# Sizing from `make bench` (docs/benchmarks.md, "Lambda sizing"): memory buys CPU on
# Lambda; the API functions get 1,024 MB (cold start about half of 512 MB's for ~+28 % cost
# per charge), the authorizer (one GetItem) and the reconciler 256 MB; timeouts follow the
# calls each makes (bank: 1 s connect + 3 s read). The longest bank-calling API timeout is
# also every bank caller's PAYMENTS_FUNCTION_TIMEOUT_SECONDS (functions.settle_window_seconds):
# the idempotency lease, the bank-call deadline and the settle window derive from it.
FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "token",
        "POST /token: tokenize a card (KMS data key, fingerprint); GET /elements/card, the "
        "browser checkout's card fields",
        memory_mb=1024,
        timeout_s=10,
        why="KMS GenerateDataKey + GenerateMac + one DynamoDB write; no bank call. The card "
        "fields page needs no API key but reads one (its publishable key) and the merchant's "
        "origins: it runs here, beside the tokenization it leads to, not in the public function",
        routes=(
            ("POST", "/token"),
            ("GET", "/elements/card"),
        ),
    ),
    FunctionSpec(
        "charge",
        "POST /charge: charge a token (decrypts the card, calls the bank)",
        memory_mb=1024,
        timeout_s=15,
        why="KMS Decrypt + bank authorization (<= 4 s) + transactions, retried once",
        routes=(("POST", "/charge"),),
    ),
    FunctionSpec(
        "refund",
        "POST /refund: refund a charge (calls the bank)",
        memory_mb=1024,
        timeout_s=15,
        why="bank refund (<= 4 s) + transactions; same bound as charge",
        routes=(("POST", "/refund"),),
    ),
    FunctionSpec(
        "holds",
        "POST /charge/{id}/capture, POST /charge/{id}/void: move or release a held charge",
        memory_mb=1024,
        timeout_s=15,
        why="bank capture or reversal (<= 4 s) + transactions; same bound as charge",
        routes=(
            ("POST", "/charge/{charge_id}/capture"),
            ("POST", "/charge/{charge_id}/void"),
        ),
    ),
    FunctionSpec(
        "reads",
        "GET /charge/{id}, GET /charges (re-checks pending charges with the bank)",
        memory_mb=1024,
        timeout_s=15,
        why="a pending charge is re-checked with the bank (<= 4 s); lists serialize 100 items",
        routes=(
            ("GET", "/charge/{charge_id}"),
            ("GET", "/charges"),
        ),
    ),
    FunctionSpec(
        PUBLIC,
        "Routes without a key: GET /health, GET /openapi.json, the checkout's payments.js "
        "and the preflight of POST /token (no data, no keys)",
        memory_mb=512,
        timeout_s=10,
        why="anyone may call these: a function with no grant at all, so nothing reachable "
        "without a key can touch data, KMS keys or the bank URL; the first /openapi.json of "
        "a container builds the document (CPU)",
        routes=(
            ("GET", "/health"),
            ("GET", "/openapi.json"),
            ("OPTIONS", "/token"),
            ("GET", "/js/v1/payments.js"),
            ("GET", "/js/v1/payments.mjs"),
        ),
    ),
    FunctionSpec(
        "authorizer",
        "API key authorizer (ApiKeys read, rejected keys audited)",
        memory_mb=256,
        timeout_s=5,
        why="on the path of every uncached request: cold start matters most; one GetItem",
        authorizer="api_key_authorizer",
    ),
    FunctionSpec(
        RECONCILER,
        "Scheduled sweep of pending charges and refunds",
        memory_mb=256,
        timeout_s=240,
        why="up to 100 bank status calls of <= 4 s in the worst case, below the 5 min "
        "schedule; one sweep at a time (a DynamoDB lease, chalicelib.adapters.leases)",
        schedule="reconcile_pending",
    ),
    FunctionSpec(
        "events",
        "GET /events, GET /events/{id}, POST/GET/DELETE /webhook_endpoints, roll_secret, test",
        memory_mb=1024,
        timeout_s=10,
        why="one or two DynamoDB round trips; creating an endpoint resolves its URL's name "
        "(DNS) to refuse internal addresses; no bank, no card data",
        routes=(
            ("GET", "/events"),
            ("GET", "/events/{event_id}"),
            ("POST", "/webhook_endpoints"),
            ("GET", "/webhook_endpoints"),
            ("DELETE", "/webhook_endpoints/{endpoint_id}"),
            ("POST", "/webhook_endpoints/{endpoint_id}/roll_secret"),
            ("POST", "/webhook_endpoints/{endpoint_id}/test"),
        ),
    ),
    FunctionSpec(
        DELIVERY,
        "First webhook attempts of new events (the Events table's stream)",
        memory_mb=256,
        timeout_s=120,
        why="a batch of 10 events to their endpoints, 8 POSTs of <= 10 s at a time; a batch "
        "cut short by the timeout is handed over again and skips what it already started",
        stream="deliver_events",
        stream_table="Events",
    ),
    FunctionSpec(
        "redriver",
        "Webhook retries: due deliveries, looked for every few seconds for most of a minute",
        memory_mb=256,
        timeout_s=75,
        why="runs each minute, polls for ~45 s then lets its last attempts (<= 10 s) end "
        "before the next run; one run at a time (a DynamoDB lease)",
        schedule="redrive_deliveries",
    ),
)

FUNCTIONS_BY_KEY: dict[str, FunctionSpec] = {spec.key: spec for spec in FUNCTIONS}


# ---- the Chalice app -------------------------------------------------------------------


def load_chalice_app(app_file: Path | str = CHALICE_DIR / "app.py") -> Chalice:
    """Import the Chalice ``app.py`` by path as module ``app`` (its directory on sys.path)."""
    app_file = Path(app_file).resolve()
    if str(app_file.parent) not in sys.path:
        sys.path.insert(0, str(app_file.parent))
    loaded = sys.modules.get("app")
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == app_file:
        # Already imported (e.g. by the handler tests): executing app.py twice would
        # register its routes twice.
        module: ModuleType = loaded
    else:
        spec = importlib.util.spec_from_file_location("app", app_file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load a Chalice app from {app_file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules["app"] = module  # pydantic / dataclasses resolve through it
        spec.loader.exec_module(module)
    app = getattr(module, "app", None)
    if not isinstance(app, Chalice):
        raise TypeError(f"{app_file} defines no `app = Chalice(...)`")
    return app


def app_routes(app: Chalice) -> set[Route]:
    return {(method, path) for path, methods in app.routes.items() for method in methods}


def route_table(app: Chalice, functions: tuple[FunctionSpec, ...] = FUNCTIONS) -> dict[Route, str]:
    """Every route of ``app`` -> the key of the one function serving it.

    Fails when a route of the app has no function, or a function names a route the app
    does not declare: a deployment must never drop a route or serve it from a default.
    """
    table: dict[Route, str] = {}
    for spec in functions:
        for route in spec.routes:
            if route in table:
                raise ValueError(f"{route} is served by both {table[route]} and {spec.key}")
            table[route] = spec.key
    declared = app_routes(app)
    unmapped = sorted(declared - set(table))
    unknown = sorted(set(table) - declared)
    if unmapped or unknown:
        raise LookupError(
            f"route table out of date: app routes with no function {unmapped}, "
            f"mapped routes the app does not declare {unknown}"
        )
    return table


def handler_of(app: Chalice, spec: FunctionSpec) -> str:
    """The Lambda handler string of ``spec`` in ``app``."""
    if spec.serves_api:
        return API_HANDLER
    if spec.authorizer:
        for config in app.builtin_auth_handlers:
            if config.name == spec.authorizer:
                return config.handler_string
        raise LookupError(f"the Chalice app has no @app.authorizer() named {spec.authorizer!r}")
    if spec.schedule:
        return schedule_of(app, spec.schedule)[0]
    if spec.stream:
        for source in app.event_sources:
            if source.name == spec.stream and hasattr(source, "stream_arn"):
                return str(source.handler_string)
        raise LookupError(f"the Chalice app has no @app.on_dynamodb_record {spec.stream!r}")
    raise ValueError(f"function {spec.key!r} serves nothing")


def schedule_of(app: Chalice, name: str) -> tuple[str, str]:
    """(handler string, schedule expression) of the app's ``@app.schedule`` ``name``."""
    for source in app.event_sources:
        if source.name == name and hasattr(source, "schedule_expression"):
            expression = source.schedule_expression
            if not isinstance(expression, str):
                expression = expression.to_string()
            return source.handler_string, expression
    raise LookupError(f"the Chalice app has no @app.schedule(...) function named {name!r}")


# ---- the API body ----------------------------------------------------------------------


class _PlaceholderSwaggerGenerator(SwaggerGenerator):
    """Chalice's generator; integration URIs are filled in per route afterwards."""

    def __init__(self, authorizer_invoke_arns: dict[str, str]) -> None:
        # The base class wants a region and a deployed-resources map; we use neither.
        self._authorizer_invoke_arns = authorizer_invoke_arns

    def _uri(self, lambda_arn: str | None = None) -> str:
        return ""

    def _auth_uri(self, authorizer: Any) -> str:
        try:
            return self._authorizer_invoke_arns[authorizer.name]
        except KeyError:
            raise LookupError(
                f"no Lambda is deployed for the authorizer {authorizer.name!r}"
            ) from None


def build_openapi(
    app: Chalice,
    invoke_arns: dict[str, str],
    *,
    authorizer_ttl_seconds: int | None = None,
    gateway_responses: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The Swagger 2.0 body of ``app``: each route integrated with its own function.

    ``invoke_arns`` maps function keys (``FUNCTIONS``) to Lambda invoke ARNs. Every route
    behind an authorizer also requires a usage-plan API key, which the authorizer supplies
    (API key source ``AUTHORIZER``): that is what meters each merchant separately.
    """
    authorizers = {spec.authorizer: invoke_arns[spec.key] for spec in FUNCTIONS if spec.authorizer}
    doc = _PlaceholderSwaggerGenerator(authorizers).generate_swagger(app)
    routes = route_table(app)
    metered = False
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            integration = operation["x-amazon-apigateway-integration"]
            integration["uri"] = invoke_arns[routes[(method.upper(), path)]]
            security = operation.get("security")
            if security and {API_KEY_SECURITY: []} not in security:
                security.append({API_KEY_SECURITY: []})
                metered = True
    if metered:
        doc["securityDefinitions"][API_KEY_SECURITY] = {
            "type": "apiKey",
            "name": "x-api-key",
            "in": "header",
        }
        doc["x-amazon-apigateway-api-key-source"] = "AUTHORIZER"
    if authorizer_ttl_seconds is not None:
        for definition in doc.get("securityDefinitions", {}).values():
            authorizer = definition.get("x-amazon-apigateway-authorizer")
            if authorizer is not None:
                authorizer["authorizerResultTtlInSeconds"] = authorizer_ttl_seconds
    if gateway_responses:
        doc["x-amazon-apigateway-gateway-responses"] = gateway_responses
    return doc


# ---- gateway responses -----------------------------------------------------------------

RETRY_AFTER_SECONDS = 1


def _envelope(code: errors.ErrorCode, message: str | None = None) -> str:
    """The API's error envelope (``chalicelib.errors``) for a response API Gateway makes."""
    spec = errors.CATALOGUE[code]
    body = {
        "error": {"type": spec.type, "code": spec.code, "message": message or spec.message},
        "request_id": "$context.requestId",
    }
    return json.dumps(body)


def gateway_responses() -> dict[str, dict[str, Any]]:
    """Response type -> {statusCode, responseParameters, responseTemplates}.

    Defined only in the API body: an overwrite PUT of the body resets every gateway
    response it does not define, so separate Response resources would drift from it.
    Every response carries ``X-Request-Id`` (the contract's rule for every response).
    """
    headers = {
        "gatewayresponse.header.Content-Type": "'application/json'",
        "gatewayresponse.header.X-Request-Id": "context.requestId",
    }

    def response(status: int | None, template: str, **extra: str) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "responseParameters": {**headers, **extra},
            "responseTemplates": {"application/json": template},
        }
        if status is not None:
            spec["statusCode"] = str(status)
        return spec

    generic_4xx = json.dumps(
        {
            "error": {
                "type": errors.INVALID_REQUEST,
                "code": "invalid_request",
                "message": "__MESSAGE__",
            },
            "request_id": "$context.requestId",
        }
    ).replace('"__MESSAGE__"', "$context.error.messageString")
    rate_limited = _envelope("rate_limited")
    retry_after = {"gatewayresponse.header.Retry-After": f"'{RETRY_AFTER_SECONDS}'"}
    return {
        "UNAUTHORIZED": response(401, _envelope("invalid_api_key")),
        "ACCESS_DENIED": response(403, _envelope("secret_key_required")),
        "MISSING_AUTHENTICATION_TOKEN": response(
            404, _envelope("resource_missing", message="Unrecognized request URL.")
        ),
        "REQUEST_TOO_LARGE": response(413, _envelope("request_too_large")),
        # Stage throttling and the merchant's usage plan both answer THROTTLED.
        "THROTTLED": response(429, rate_limited, **retry_after),
        "QUOTA_EXCEEDED": response(429, rate_limited, **retry_after),
        "UNSUPPORTED_MEDIA_TYPE": response(415, _envelope("unsupported_media_type")),
        # The DEFAULT_* types keep API Gateway's own status code (none is set).
        "DEFAULT_4XX": response(None, generic_4xx),
        "DEFAULT_5XX": response(None, _envelope("internal_error")),
    }


ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "path": "$context.path",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "merchantId": "$context.authorizer.merchant_id",
        "errorType": "$context.error.responseType",
        "authorizerRequestId": "$context.authorizer.requestId",
        "authorizerStatus": "$context.authorizer.status",
    },
    separators=(",", ":"),
)
