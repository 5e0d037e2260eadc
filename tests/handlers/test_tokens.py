"""POST /token (contract section 3): validation codes, brands, fingerprints, secrecy."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.helpers import FUTURE_YEAR, VISA, card

NOW = datetime.now(UTC)

BRAND_CARDS = [
    ("4111111111111111", "visa"),
    ("5555555555554444", "mastercard"),
    ("2223003122003222", "mastercard"),
    ("378282246310005", "amex"),
    ("6011111111111117", "discover"),
    ("30569309025904", "diners"),
    ("3566002020360505", "jcb"),
    ("6759649826438453", "unknown"),
]


def test_token_response(api: Any, merchant: Any) -> None:
    response = api.post("/token", card("4242 4242 4242 4242"), key=merchant.publishable_key)
    assert response.status == 201
    token = response.data
    assert token["id"].startswith("tok_") and len(token["id"]) >= 4 + 22
    assert token["object"] == "token"
    assert token["used"] is False
    assert token["card"] == {
        "brand": "visa",
        "last4": "4242",
        "exp_month": 12,
        "exp_year": FUTURE_YEAR,
        "fingerprint": token["card"]["fingerprint"],
    }
    created = datetime.strptime(token["created_at"], "%Y-%m-%dT%H:%M:%S.%f%z")
    expires = datetime.strptime(token["expires_at"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert (expires - created).total_seconds() == 900
    assert token["created_at"].endswith("Z") and len(token["created_at"]) == 24
    assert VISA not in response.text and '"123"' not in response.text


@pytest.mark.parametrize(("number", "brand"), BRAND_CARDS)
def test_each_brand_is_recognised(api: Any, merchant: Any, number: str, brand: str) -> None:
    response = api.post("/token", card(number), key=merchant.secret_key)
    assert response.status == 201, response.text
    assert response.data["card"]["brand"] == brand
    assert response.data["card"]["last4"] == number[-4:]


def test_fingerprint_is_per_card_and_per_merchant(api: Any, services: Any) -> None:
    one = services.merchant_service.create_merchant("One")
    two = services.merchant_service.create_merchant("Two")

    def fingerprint(merchant: Any, number: str) -> str:
        return api.post("/token", card(number), key=merchant.secret_key).data["card"]["fingerprint"]

    assert fingerprint(one, VISA) == fingerprint(one, VISA)
    assert fingerprint(one, VISA) != fingerprint(one, "4111111111111111")
    assert fingerprint(one, VISA) != fingerprint(two, VISA)


def _expired_year_month() -> tuple[int, int]:
    return (NOW.month - 1 or 12), (NOW.year if NOW.month > 1 else NOW.year - 1)


# One case per code and param: the exhaustive table is tests/unit/test_validation_tables.py.
@pytest.mark.parametrize(
    ("overrides", "code", "param"),
    [
        ({"card_number": "4242424242424241"}, "invalid_card_number", "card_number"),
        ({"exp_month": 13}, "invalid_expiry_month", "exp_month"),
        ({"exp_year": 31}, "invalid_expiry_year", "exp_year"),
        ({"exp_year": 2020}, "expired_card", "exp_year"),
        ({"card_number": "378282246310005", "cvv": "123"}, "invalid_cvv", "cvv"),
        ({"cardholder_name": "x" * 101}, "invalid_cardholder_name", "cardholder_name"),
        ({"email": "not-an-email"}, "invalid_email", "email"),
        ({"brand": "visa"}, "unknown_parameter", "brand"),
    ],
)
def test_validation(
    api: Any, merchant: Any, overrides: dict[str, Any], code: str, param: str
) -> None:
    response = api.post("/token", card(**overrides), key=merchant.secret_key)
    assert response.status == 400, response.text
    assert response.error == {
        "type": "invalid_request_error",
        "code": code,
        "param": param,
        "message": response.error["message"],
    }
    assert VISA not in response.text


def test_card_valid_through_the_end_of_its_month(api: Any, merchant: Any) -> None:
    body = card(exp_month=NOW.month, exp_year=NOW.year)
    assert api.post("/token", body, key=merchant.secret_key).status == 201
    month, year = _expired_year_month()
    response = api.post("/token", card(exp_month=month, exp_year=year), key=merchant.secret_key)
    assert response.error["code"] == "expired_card"


def test_optional_fields_are_accepted(api: Any, merchant: Any) -> None:
    body = card(cardholder_name="Ana Perez", email="ana@example.com")
    response = api.post("/token", body, key=merchant.secret_key)
    assert response.status == 201
    assert "Ana Perez" not in response.text
