"""Pure rules: refund refusals in the contract's order, money, error catalogue."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from chalicelib.domain import lifecycle, money
from chalicelib.domain.refunds import refusal
from chalicelib.errors import CATALOGUE, ApiError, ErrorCode, error_code


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


def test_error_code_type_names_exactly_the_catalogue() -> None:
    codes = get_args(ErrorCode)
    assert len(codes) == len(set(codes))
    assert set(codes) == set(CATALOGUE)


def test_a_code_the_catalogue_lacks_is_refused() -> None:
    assert error_code("card_declined") == "card_declined"
    with pytest.raises(KeyError):
        error_code("card_refused")


def test_every_refusal_of_the_domain_is_a_catalogue_code() -> None:
    # Domain rules name codes as plain strings; each must be one the catalogue answers.
    codes = {
        refusal("failed", 10, 0, 10, 0, None),
        refusal("succeeded", 10, 10, 0, 0, None),
        refusal("succeeded", 10, 0, 10, 100, None),
        refusal("succeeded", 10, 0, 10, 0, 11),
    }
    assert len(codes) == 4 and codes <= set(CATALOGUE)


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


# Every bank exchange x operation x state (marked for reversal or not): the final state it
# gives (status, failure code), or None = the item stays pending.
_PE = ("failed", "processing_error")
_DECISIONS: dict[tuple[str, str, bool], tuple[str, str | None] | None] = {
    # the operation's own send (authorization or refund), by the request
    ("approved", "send", False): ("succeeded", None),
    ("declined", "send", False): ("failed", "stolen_card"),
    ("reversed", "send", False): _PE,  # the bank refuses the reference: reversed earlier
    ("not_found", "send", False): None,
    ("not_sent", "send", False): _PE,  # nothing reached the bank: the only "error" that decides
    ("unknown", "send", False): None,
    # a status query, by any settler
    ("approved", "status", False): ("succeeded", None),
    ("approved", "status", True): None,  # a reversal is on its way: only its answer decides
    ("declined", "status", False): ("failed", "stolen_card"),
    ("declined", "status", True): ("failed", "stolen_card"),
    ("reversed", "status", False): _PE,
    ("reversed", "status", True): _PE,
    ("not_found", "status", False): None,
    ("not_found", "status", True): None,
    ("not_sent", "status", False): None,
    ("not_sent", "status", True): None,
    ("unknown", "status", False): None,
    ("unknown", "status", True): None,
    # a reversal: only the bank's acceptance decides
    **{(kind, "reversal", marked): None for kind in lifecycle.KINDS for marked in (False, True)},
    ("reversed", "reversal", False): _PE,
    ("reversed", "reversal", True): _PE,
}
# A marked item: an approval of the send decides nothing either; the rest as unmarked.
_DECISIONS[("approved", "send", True)] = None
for _kind in lifecycle.KINDS:
    _DECISIONS.setdefault((_kind, "send", True), _DECISIONS[(_kind, "send", False)])


def test_the_decision_table_covers_every_exchange_operation_and_state() -> None:
    assert set(_DECISIONS) == {
        (kind, operation, marked)
        for kind in lifecycle.KINDS
        for operation in lifecycle.OPERATIONS
        for marked in (False, True)
    }


@pytest.mark.parametrize(("kind", "operation", "marked"), sorted(_DECISIONS))
def test_only_a_definitive_answer_decides(kind: str, operation: str, marked: bool) -> None:
    decision = lifecycle.decide(
        kind,
        operation,
        reversing=marked,
        authorization_code="A1B2C3" if kind == "approved" else None,
        decline_code="stolen_card" if kind == "declined" else None,
    )
    expected = _DECISIONS[(kind, operation, marked)]
    if expected is None:
        assert decision is None
        return
    assert decision is not None
    assert (decision.status, decision.failure_code) == expected
    assert decision.authorization_code == ("A1B2C3" if expected[0] == "succeeded" else None)
    assert (decision.failure_message is None) == (expected[0] == "succeeded")


def test_a_decline_without_a_reason_is_a_generic_decline() -> None:
    decision = lifecycle.decide("declined", "status")
    assert decision is not None and decision.failure_code == "generic_decline"


@pytest.mark.parametrize("kind", lifecycle.KINDS)
@pytest.mark.parametrize("operation", lifecycle.OPERATIONS)
@pytest.mark.parametrize("marked", [False, True])
@pytest.mark.parametrize("unreachable", [False, True])
def test_when_a_reference_is_reversed(
    kind: str, operation: str, marked: bool, unreachable: bool
) -> None:
    expected = (
        (operation == "send" and kind == "unknown")
        or (operation == "status" and kind == "not_found" and (marked or unreachable))
        or (operation == "status" and kind == "approved" and marked)
    )
    reverse = lifecycle.must_reverse(kind, operation, reversing=marked, unreachable=unreachable)
    assert reverse is expected
    # Never both: what decides is recorded, what is reversed was not decided.
    assert not (reverse and lifecycle.decide(kind, operation, reversing=marked) is not None)


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
        ("pending", None, (202, None), (202, None)),
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
