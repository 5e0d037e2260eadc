"""Pure rules: refund refusals in the contract's order, money, error catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chalicelib.domain import money
from chalicelib.domain.refunds import refusal
from chalicelib.errors import CATALOGUE, ApiError


@pytest.mark.parametrize(
    ("status", "refunded", "refundable", "requested", "expected"),
    [
        ("failed", 0, 0, None, "charge_not_refundable"),
        ("pending", 0, 0, 5, "charge_not_refundable"),
        ("succeeded", 1000, 0, 1, "charge_already_refunded"),
        ("succeeded", 1000, 0, 99999, "charge_already_refunded"),
        ("succeeded", 400, 600, 601, "amount_too_large"),
        ("succeeded", 0, 0, None, "amount_too_large"),  # everything reserved by refunds in flight
        ("succeeded", 400, 600, 600, None),
        ("succeeded", 0, 1000, None, None),
    ],
)
def test_refund_refusal(
    status: str, refunded: int, refundable: int, requested: int | None, expected: str | None
) -> None:
    assert refusal(status, 1000, refunded, refundable, requested) == expected


def test_currencies() -> None:
    assert money.normalize_currency("jpy") == "JPY"
    assert money.normalize_currency("XXX") is None
    assert {"USD", "EUR", "GBP", "PEN", "COP", "MXN", "CLP", "BRL", "JPY"} <= (
        money.SUPPORTED_CURRENCIES
    )


def test_error_types_match_their_statuses() -> None:
    allowed = {
        "invalid_request_error": {400, 404, 405, 413, 415},
        "authentication_error": {401},
        "permission_error": {403},
        "card_error": {402},
        "rate_limit_error": {429},
        "idempotency_error": {409, 422},
        "api_error": {500, 502, 503},
    }
    for spec in CATALOGUE.values():
        if spec.type == "invalid_request_error" and spec.status == 409:
            continue  # the contract's 409 refund refusals are invalid_request_error
        assert spec.status in allowed[spec.type], spec.code


def test_error_body_keeps_fixed_messages() -> None:
    error = ApiError("card_declined", extra={"decline_code": "lost_card", "charge": "ch_1"})
    assert error.body() == {
        "type": "card_error",
        "code": "card_declined",
        "message": "The card was declined.",
        "decline_code": "lost_card",
        "charge": "ch_1",
    }


# Codes only API Gateway itself can produce (deployed), never the local app.
_GATEWAY_ONLY = {"invalid_request", "rate_limited"}


def test_every_error_code_has_a_test_that_provokes_it() -> None:
    """A guard, not a substitute: each code must appear in an assertion of some test."""
    tests_dir = Path(__file__).resolve().parent.parent
    text = "\n".join(
        p.read_text() for p in tests_dir.rglob("test_*.py") if p.name != Path(__file__).name
    )
    missing = [
        code
        for code in CATALOGUE
        if code not in _GATEWAY_ONLY and not re.search(rf'"{code}"', text)
    ]
    assert not missing, f"no test names these codes: {missing}"


def test_final_charge_fields() -> None:
    from chalicelib.domain.declines import final_charge_fields

    assert final_charge_fields("approved", "A1B2C3") == {
        "status": "succeeded",
        "authorization_code": "A1B2C3",
    }
    declined = final_charge_fields("declined", decline_code="stolen_card")
    assert (declined["status"], declined["failure_code"]) == ("failed", "stolen_card")
    assert declined["failure_message"]
    for kind in ("error", "not_found"):
        assert final_charge_fields(kind)["failure_code"] == "processing_error"
