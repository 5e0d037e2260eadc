"""The API's public contract as an OpenAPI 3.1 document, built from the code it describes.

Nothing here restates a rule: paths, methods, keys and idempotency come from the route table
(``endpoint.ROUTES``), fields from the pydantic models, statuses and error codes from
``errors.CATALOGUE`` (the routes' own codes from ``@describe``, the models' from their
``code_for``). Imported only by ``GET /openapi.json`` and the tools, never on other routes'
cold start.
"""

from __future__ import annotations

import inspect
import json
from functools import lru_cache
from typing import Any

from pydantic.json_schema import models_json_schema

from chalicelib.errors import CATALOGUE, error_code
from chalicelib.models import RequestModel, ResponseModel
from chalicelib.web import endpoint
from chalicelib.web.envelope import REQUEST_ID_HEADER
from chalicelib.web.route_doc import doc_of

REF = "#/components/schemas/{model}"
# Exp. year of the test-card examples: a fixed year keeps the committed document stable.
EXAMPLE_EXP_YEAR = 2040

# The mock bank's behaviour by card number (mountebank/bank.js implements it):
# number, brand, charge outcome, refund outcome.
TEST_CARDS: tuple[tuple[str, str, str, str], ...] = (
    ("4242424242424242", "visa", "approved (201)", "approved"),
    ("4111111111111111", "visa", "approved (201)", "approved"),
    ("5555555555554444", "mastercard", "approved (201)", "approved"),
    ("378282246310005", "amex", "approved (201); 4-digit CVV", "approved"),
    ("6011111111111117", "discover", "approved (201)", "approved"),
    ("4000000000000002", "visa", "402 `card_declined`, `generic_decline`", "-"),
    ("4000000000009995", "visa", "402 `card_declined`, `insufficient_funds`", "-"),
    ("4000000000009987", "visa", "402 `card_declined`, `lost_card`", "-"),
    ("4000000000009979", "visa", "402 `card_declined`, `stolen_card`", "-"),
    ("4000000000000069", "visa", "402 `card_declined`, `expired_card`", "-"),
    ("4000000000000127", "visa", "402 `card_declined`, `incorrect_cvc`", "-"),
    (
        "4000000000000119",
        "visa",
        "bank answers HTTP 500: the platform reverses the reference, 502 `bank_unavailable`",
        "-",
    ),
    (
        "4000000000001000",
        "visa",
        "bank approves but answers after 8 s: the platform reverses it, 502 "
        "`bank_unavailable`; with no time left to reverse, 202 `pending` (a later GET shows "
        "`succeeded`)",
        "approved",
    ),
    ("4000000000005126", "visa", "approved (201)", "402 `refund_failed`"),
    (
        "4000000000000341",
        "visa",
        "approved (201); with `capture: false` authorized, and its capture is declined: 402 "
        "`capture_failed`, `capture_declined`",
        "approved",
    ),
    (
        "4000000000007726",
        "visa",
        "approved (201)",
        "approved, but every answer about it comes after 8 s: 202 `pending`, settles later",
    ),
    (
        "4000000000005423",
        "visa",
        "approved (201)",
        "bank answers HTTP 500 without acting: reversed, 502 `bank_unavailable`",
    ),
)

# Codes every route can answer, and those of authenticated routes (401 from the
# authorizer; 429 from the per-merchant rate limit).
_ANY_ROUTE = ("request_too_large", "internal_error")
_AUTHENTICATED = ("invalid_api_key", "rate_limited", "secret_key_in_browser")
_SECRET_ONLY = ("secret_key_required",)
_WITH_BODY = ("invalid_json", "unknown_parameter", "missing_parameter", "unsupported_media_type")
_WITH_QUERY = ("unknown_parameter",)
_IDEMPOTENT = ("invalid_idempotency_key", "idempotency_key_reused", "request_in_progress")
# Answered by API Gateway when deployed: they may lack X-Request-Id.
_GATEWAY_STATUSES = {401, 403, 429}
# Fields an error object adds beside code/message/param (ApiError ``extra``).
_ERROR_EXTRAS = {
    "decline_code": "the bank's reason, on 402",
    "charge": "the charge created, on 402 and 502 of POST /charge and POST /refund",
    "refund": "the refund created, on 402 and 502 of POST /refund",
}


# Where the API is served. The local stack's default port is payments_admin.stack's (the
# contract's); a deployed stage's URL is the Pulumi output ``api_url``.
SERVERS = [
    {
        "url": "http://127.0.0.1:8000",
        "description": "The local stack (`make run`; PAYMENTS_API_PORT changes the port).",
    },
    {
        "url": "https://{api_id}.execute-api.{region}.amazonaws.com/{stage}",
        "description": "A deployed stage: the Pulumi stack output `api_url`.",
        "variables": {
            "api_id": {"default": "api_id", "description": "The REST API's id."},
            "region": {"default": "us-east-1", "description": "The stack's AWS region."},
            "stage": {"default": "api", "description": "Pulumi config `apiStageName`."},
        },
    },
]
CONTACT = {"name": "Payment Platform API team"}

# Groups of operations, in reading order (a generated client makes one module of each).
TAGS = (
    ("Tokens", "A card exchanged for a single-use token; the card never leaves the platform."),
    ("Charges", "Charging a token, reading charges, listing them newest first."),
    ("Refunds", "Giving back all or part of a succeeded charge."),
    ("Events", "What happened to charges and refunds, kept 30 days."),
    ("Webhook endpoints", "URLs that receive the events, signed with the endpoint's secret."),
    ("Platform", "Liveness and this document."),
)
# The tag of an operation, by the first segment of its path: a new resource gets its tag
# here, or the document does not build.
_TAG_OF_SEGMENT = {
    "token": "Tokens",
    "charge": "Charges",
    "charges": "Charges",
    "refund": "Refunds",
    "events": "Events",
    "webhook_endpoints": "Webhook endpoints",
    "health": "Platform",
    "openapi.json": "Platform",
}


def _operation_id(spec: endpoint.RouteSpec) -> str:
    return spec.view.__name__


def route_codes(spec: endpoint.RouteSpec) -> set[str]:
    """Every error code ``spec``'s route can answer."""
    doc = doc_of(spec.view)
    codes = {*_ANY_ROUTE, *doc.errors}
    if spec.key_types is not None:
        codes.update(_AUTHENTICATED)
        if "publishable" not in spec.key_types:
            codes.update(_SECRET_ONLY)
    if spec.body is not None:
        codes.update(_WITH_BODY, spec.body.codes())
    if spec.query is not None:
        codes.update(_WITH_QUERY, spec.query.codes())
    if doc.path is not None:
        codes.update(doc.path.codes())
    if spec.idempotent:
        codes.update(_IDEMPOTENT)
    return codes


def _error_object() -> dict[str, Any]:
    """The ``error`` of the envelope, every field it may carry (components/schemas/Error)."""
    properties: dict[str, Any] = {
        "type": {"type": "string", "enum": sorted({s.type for s in CATALOGUE.values()})},
        "code": {"type": "string", "enum": sorted(CATALOGUE)},
        "message": {"type": "string"},
        "param": {"type": "string", "description": "the input field at fault"},
    }
    for name, meaning in _ERROR_EXTRAS.items():
        properties[name] = {"type": "string", "description": meaning}
    return {
        "type": "object",
        "required": ["type", "code", "message"],
        "additionalProperties": False,
        "properties": properties,
    }


def _error_envelope() -> dict[str, Any]:
    """Every error answer's body (components/schemas/ErrorEnvelope): one type for clients."""
    return {
        "type": "object",
        "description": "The envelope of every error answer; `error.code` says what failed.",
        "required": ["error", "request_id"],
        "additionalProperties": False,
        "properties": {
            "error": {"$ref": REF.format(model="Error")},
            "request_id": {"type": "string", "description": "This request's id."},
        },
    }


def _envelope_name(model: type[ResponseModel]) -> str:
    return f"{model.__name__}Envelope"


def _success_envelope(model: type[ResponseModel]) -> dict[str, Any]:
    """The envelope of every success answer whose ``data`` is a ``model``."""
    return {
        "type": "object",
        "description": f"A success answer: `data` is the {model.__name__}.",
        "required": ["data", "request_id"],
        "additionalProperties": False,
        "properties": {
            "data": {"$ref": REF.format(model=model.__name__)},
            "request_id": {"type": "string", "description": "This request's id."},
        },
    }


def _error_response(status: int, codes: list[str], idempotent: bool) -> dict[str, Any]:
    # The body is the shared ErrorEnvelope; the codes this route answers with this status
    # are named in the description and, for tools, in ``x-error-codes``.
    return {
        "description": ", ".join(codes),
        "headers": _headers(status, idempotent),
        "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorEnvelope")}}},
        "x-error-codes": codes,
    }


def _headers(status: int, idempotent: bool) -> dict[str, Any]:
    request_id = "GatewayRequestId" if status in _GATEWAY_STATUSES else "RequestId"
    headers: dict[str, Any] = {REQUEST_ID_HEADER: {"$ref": f"#/components/headers/{request_id}"}}
    if idempotent:
        headers["Idempotent-Replayed"] = {"$ref": "#/components/headers/IdempotentReplayed"}
        headers["Original-Request-Id"] = {"$ref": "#/components/headers/OriginalRequestId"}
    if status == 429 or (status == 409 and idempotent):  # rate_limited, request_in_progress
        headers["Retry-After"] = {"$ref": "#/components/headers/RetryAfter"}
    return headers


def _parameters(model: type[RequestModel], where: str) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema["properties"].items():
        # ``X | None`` means "may be left out" for a parameter: drop the null branch.
        options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
        params.append(
            {
                "name": name,
                "in": where,
                "required": name in required or where == "path",
                "schema": options[0] if len(options) == 1 else {"anyOf": options},
            }
        )
    return params


def _token_examples() -> dict[str, Any]:
    examples = {}
    for number, brand, charge, refund in TEST_CARDS:
        examples[f"card_{number}"] = {
            "summary": f"{brand}: charge {charge}; refund {refund}",
            "value": {
                "card_number": number,
                "exp_month": 12,
                "exp_year": EXAMPLE_EXP_YEAR,
                "cvv": "1234" if brand == "amex" else "123",
            },
        }
    return examples


def _tag(path: str) -> str:
    return _TAG_OF_SEGMENT[path.strip("/").split("/")[0]]


def _description(spec: endpoint.RouteSpec, details: str) -> str:
    """What a reader or a generated client needs beside the summary, from the route's facts."""
    doc = doc_of(spec.view)
    parts = [details] if details else []
    if spec.key_types is None:
        parts.append("Needs no API key.")
    elif "publishable" in spec.key_types:
        parts.append("Takes the secret or the publishable key.")
    else:
        parts.append("Takes the secret key only.")
    if spec.idempotent:
        parts.append(
            "Retry it with the same `Idempotency-Key` after a timeout, a dropped connection, "
            "a 409 `request_in_progress`, a 429 or a 500: the first answer is replayed or "
            "the first request resumed, and the bank is asked at most once."
        )
    by_model: dict[str, list[str]] = {}
    for status, model in sorted(doc.responses.items()):
        by_model.setdefault(model.__name__, []).append(str(status))
    successes = "; ".join(f"{' and '.join(s)} with a {m}" for m, s in by_model.items())
    parts.append(
        f"Answers {successes} in `data`; every error is the ErrorEnvelope, its codes listed "
        "under each status."
    )
    return " ".join(parts)


def _operation(spec: endpoint.RouteSpec) -> dict[str, Any]:
    doc = doc_of(spec.view)
    summary, _, details = inspect.cleandoc(spec.view.__doc__ or "").partition("\n")
    operation: dict[str, Any] = {
        "operationId": _operation_id(spec),
        "tags": [_tag(spec.path)],
        "summary": summary,
        "description": _description(spec, details.strip()),
    }
    if spec.key_types is None:
        operation["security"] = []
    else:
        schemes = ["secretKey"] + (["publishableKey"] if "publishable" in spec.key_types else [])
        operation["security"] = [{name: []} for name in schemes]
    parameters = []
    if doc.path is not None:
        parameters += _parameters(doc.path, "path")
    if spec.query is not None:
        parameters += _parameters(spec.query, "query")
    if spec.idempotent:
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    if parameters:
        operation["parameters"] = parameters
    if spec.body is not None:
        media: dict[str, Any] = {"schema": {"$ref": REF.format(model=spec.body.__name__)}}
        if spec.path == "/token":
            media["examples"] = _token_examples()
        # A body whose fields are all optional may be left out (capture, void).
        required = any(f.is_required() for f in spec.body.model_fields.values())
        operation["requestBody"] = {"required": required, "content": {"application/json": media}}

    responses: dict[str, Any] = {}
    for status, model in sorted(doc.responses.items()):
        responses[str(status)] = {
            "description": f"{model.__name__} in the success envelope",
            "headers": _headers(status, spec.idempotent),
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=_envelope_name(model))}}
            },
        }
    responses.update(_error_responses(route_codes(spec), spec.idempotent))
    operation["responses"] = responses
    return operation


def _error_responses(codes: set[str], idempotent: bool) -> dict[str, Any]:
    by_status: dict[int, list[str]] = {}
    for code in sorted(codes):
        by_status.setdefault(CATALOGUE[error_code(code)].status, []).append(code)
    return {
        str(status): _error_response(status, status_codes, idempotent)
        for status, status_codes in sorted(by_status.items())
    }


def _document_operation() -> dict[str, Any]:
    """``GET /openapi.json`` (a plain Chalice route: not in the route table)."""
    return {
        "operationId": "openapi_document",
        "tags": [_tag("/openapi.json")],
        "summary": "This document.",
        "description": "The OpenAPI 3.1 document of the API, as committed in "
        "docs/openapi.json. Needs no API key.",
        "security": [],
        "responses": {
            "200": {
                "description": "The OpenAPI document",
                "headers": _headers(200, False),
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            **_error_responses(set(_ANY_ROUTE), False),
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route in ``endpoint.ROUTES``."""
    routes = list(endpoint.ROUTES)
    requests = {m for r in routes if (m := r.body) is not None}
    responses = {m for r in routes for m in doc_of(r.view).responses.values()}
    _, defs = models_json_schema(
        [(m, "validation") for m in sorted(requests, key=lambda m: m.__name__)]
        + [(m, "serialization") for m in sorted(responses, key=lambda m: m.__name__)],
        ref_template=REF,
    )
    envelopes = {
        _envelope_name(m): _success_envelope(m) for m in sorted(responses, key=lambda m: m.__name__)
    }
    paths: dict[str, Any] = {}
    for spec in routes:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    paths["/openapi.json"] = {"get": _document_operation()}
    used_tags = {op["tags"][0] for methods in paths.values() for op in methods.values()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Payment Platform API",
            "version": "1",
            "contact": CONTACT,
            "description": (
                "Tokenize a card, charge the token, query and refund the charge. Every "
                'response is the envelope `{"data": ...}` or `{"error": {...}}` with '
                "`request_id`, and carries the same id in `X-Request-Id`. Amounts are "
                "integers in the currency's minor unit. The merchant guide is docs/api.md."
            ),
        },
        "servers": SERVERS,
        "tags": [{"name": name, "description": text} for name, text in TAGS if name in used_tags],
        "paths": paths,
        "components": {
            "schemas": {
                **defs["$defs"],
                **envelopes,
                "Error": _error_object(),
                "ErrorEnvelope": _error_envelope(),
            },
            "securitySchemes": {
                "secretKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Secret key `sk_test_...`: every route. Server-side only.",
                },
                "publishableKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Publishable key `pk_test_...`: `POST /token` only "
                    "(a browser checkout). Other routes answer 403.",
                },
            },
            "parameters": {
                "IdempotencyKey": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "1-255 printable ASCII characters, kept 24 hours per "
                    "merchant. The same key and the same (validated, normalised) request "
                    "replay the first answer; the bank is asked at most once per key. "
                    "Sent twice in one request: 400 invalid_idempotency_key.",
                    "schema": {"type": "string", "pattern": "^[ -~]{1,255}$"},
                }
            },
            "headers": {
                "RequestId": {
                    "description": "This request's id (also `request_id` in the body).",
                    "required": True,
                    "schema": {"type": "string"},
                },
                "GatewayRequestId": {
                    "description": "This request's id; absent when API Gateway answers.",
                    "schema": {"type": "string"},
                },
                "IdempotentReplayed": {
                    "description": "`true` on a replayed answer.",
                    "schema": {"type": "string", "enum": ["true"]},
                },
                "OriginalRequestId": {
                    "description": "On a replay: the id of the request first answered.",
                    "schema": {"type": "string"},
                },
                "RetryAfter": {
                    "description": "Seconds to wait before retrying.",
                    "schema": {"type": "string"},
                },
            },
        },
    }


@lru_cache(maxsize=1)
def document_text() -> str:
    """The document as committed in docs/openapi.json (stable order, trailing newline)."""
    return json.dumps(document(), indent=2, ensure_ascii=True) + "\n"
