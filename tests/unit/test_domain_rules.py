"""Pure rules: refund refusals in the contract's order, money, error catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chalicelib.domain import lifecycle, money
from chalicelib.domain.refunds import refusal
from chalicelib.errors import CATALOGUE, ApiError


@pytest.mark.parametrize(
    ("status", "refunded", "refundable", "count", "requested", "expected"),
    [
        ("failed", 0, 0, 0, None, "charge_not_refundable"),
        ("pending", 0, 0, 0, 5, "charge_not_refundable"),
        ("succeeded", 1000, 0, 100, 1, "charge_already_refunded"),
        ("succeeded", 1000, 0, 3, 99999, "charge_already_refunded"),
        ("succeeded", 10, 990, 100, 1, "too_many_refunds"),
        ("succeeded", 10, 990, 100, 99999, "too_many_refunds"),
        ("succeeded", 400, 600, 99, 601, "amount_too_large"),
        ("succeeded", 0, 0, 1, None, "amount_too_large"),  # all reserved by refunds in flight
        ("succeeded", 400, 600, 99, 600, None),
        ("succeeded", 0, 1000, 0, None, None),
    ],
)
def test_refund_refusal(
    status: str,
    refunded: int,
    refundable: int,
    count: int,
    requested: int | None,
    expected: str | None,
) -> None:
    assert refusal(status, 1000, refunded, refundable, count, requested) == expected


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


@pytest.mark.parametrize(
    ("kind", "decline_code", "expected"),
    [
        ("approved", None, ("succeeded", None)),
        ("declined", "stolen_card", ("failed", "stolen_card")),
        ("declined", None, ("failed", "generic_decline")),
        ("error", None, ("failed", "processing_error")),
        ("reversed", None, ("failed", "processing_error")),
    ],
)
def test_a_bank_answer_decides_the_final_state(
    kind: str, decline_code: str | None, expected: tuple[str, str | None]
) -> None:
    decision = lifecycle.decide(kind, "A1B2C3" if kind == "approved" else None, decline_code)
    assert decision is not None
    assert (decision.status, decision.failure_code) == expected
    assert (decision.failure_message is None) == (kind == "approved")
    assert decision.authorization_code == ("A1B2C3" if kind == "approved" else None)


@pytest.mark.parametrize("kind", ["unknown", "not_found"])
def test_no_answer_leaves_an_item_pending(kind: str) -> None:
    assert lifecycle.decide(kind) is None


def test_only_pending_items_change_state() -> None:
    assert lifecycle.can_transition("pending", "succeeded")
    assert lifecycle.can_transition("pending", "failed")
    for final in ("succeeded", "failed"):
        for new in ("pending", "succeeded", "failed"):
            assert not lifecycle.can_transition(final, new)


@pytest.mark.parametrize(
    ("status", "failure_code", "charge", "refund"),
    [
        ("succeeded", None, (201, None), (201, None)),
        ("pending", None, (202, None), (502, "bank_unavailable")),
        ("failed", "processing_error", (502, "bank_unavailable"), (502, "bank_unavailable")),
        ("failed", "lost_card", (402, "card_declined"), (402, "refund_failed")),
    ],
)
def test_a_recorded_state_answers_as_the_first_request_would(
    status: str,
    failure_code: str | None,
    charge: tuple[int, str | None],
    refund: tuple[int, str | None],
) -> None:
    answer = lifecycle.charge_answer(status, failure_code)
    assert (answer.status, answer.error_code) == charge
    answer = lifecycle.refund_answer(status, failure_code)
    assert (answer.status, answer.error_code) == refund
