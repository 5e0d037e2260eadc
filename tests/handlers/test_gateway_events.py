"""The app as deployed receives it: API Gateway proxy events with ``multiValueHeaders``.

Chalice's test client cannot send a header twice, so these tests hand the Lambda handler
the event API Gateway builds (the authorizer's context included) and read its answer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest


def proxy_event(
    merchant: Any, method: str, resource: str, multi: dict[str, list[str]], body: Any = None
) -> dict[str, Any]:
    return {
        "resource": resource,
        "path": resource,
        "httpMethod": method,
        # API Gateway keeps the last value of a repeated header in ``headers``.
        "headers": {name: values[-1] for name, values in multi.items()},
        "multiValueHeaders": multi,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/api{resource}",
            "identity": {"sourceIp": "203.0.113.9", "userAgent": "test"},
            "authorizer": {
                "merchant_id": merchant.merchant_id,
                "key_id": "key_test",
                "key_type": "secret",
                "principalId": merchant.merchant_id,
            },
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def invoke(chalice_app: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = chalice_app(event, None)
    return response["statusCode"], json.loads(response["body"])


def test_a_single_header_of_each_is_served(chalice_app: Any, merchant: Any) -> None:
    multi = {"Authorization": [f"Bearer {merchant.secret_key}"]}
    status, body = invoke(chalice_app, proxy_event(merchant, "GET", "/charges", multi))
    assert status == 200, body


@pytest.mark.parametrize("second", ["Bearer sk_test_other000000000000000000000000", None])
def test_two_authorization_headers_are_401(
    chalice_app: Any, merchant: Any, second: str | None
) -> None:
    first = f"Bearer {merchant.secret_key}"
    multi = {"Authorization": [first, second or first]}
    status, body = invoke(chalice_app, proxy_event(merchant, "GET", "/charges", multi))
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")
    assert merchant.secret_key not in json.dumps(body)


def test_two_idempotency_keys_are_400_on_an_idempotent_route(
    chalice_app: Any, merchant: Any
) -> None:
    multi = {
        "Authorization": [f"Bearer {merchant.secret_key}"],
        "Content-Type": ["application/json"],
        "Idempotency-Key": ["a", "b"],
    }
    event = proxy_event(merchant, "POST", "/charge", multi, {"token": "tok_x", "amount": 1})
    status, body = invoke(chalice_app, event)
    assert (status, body["error"]["code"]) == (400, "invalid_idempotency_key")


def test_an_idempotency_key_is_ignored_where_it_means_nothing(
    chalice_app: Any, merchant: Any
) -> None:
    multi = {"Authorization": [f"Bearer {merchant.secret_key}"], "Idempotency-Key": ["a", "b"]}
    status, body = invoke(chalice_app, proxy_event(merchant, "GET", "/charges", multi))
    assert status == 200, body
