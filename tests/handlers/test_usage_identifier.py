"""The authorizer names the merchant's usage-plan key (per-merchant limits when deployed)."""

from __future__ import annotations

from typing import Any

METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/api/GET/charges"


def _authorize(client: Any, key: str) -> dict[str, Any]:
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {key}", "methodArn": METHOD_ARN}
    return client.lambda_.invoke("api_key_authorizer", event).payload


def test_authorizer_returns_the_merchants_usage_identifier(client: Any, services: Any) -> None:
    first = services.merchant_service.create_merchant("First")
    second = services.merchant_service.create_merchant("Second")
    for merchant in (first, second):
        for key in (merchant.secret_key, merchant.publishable_key):
            result = _authorize(client, key)
            assert result["principalId"] == merchant.merchant_id
            assert result["usageIdentifierKey"] == merchant.merchant_id
    # API Gateway refuses API key values shorter than 20 characters.
    assert len(first.merchant_id) >= 20
