"""Authorize now, capture later: every charge state x every operation, and what each final
state answers the request that made it."""

from __future__ import annotations

import pytest

from chalicelib.domain import lifecycle
from chalicelib.domain.refunds import refusal

STATES = ("pending", "authorized", "succeeded", "failed", "voided")
NOW = "2026-12-07T00:00:00.000Z"
LATER = "2026-12-08T00:00:00.000Z"
EARLIER = "2026-12-06T00:00:00.000Z"


def test_the_states_and_their_transitions() -> None:
    assert set(STATES) == {
        lifecycle.PENDING,
        lifecycle.AUTHORIZED,
        lifecycle.SUCCEEDED,
        lifecycle.FAILED,
        lifecycle.VOIDED,
    }
    allowed = {(a, b) for a in STATES for b in STATES if lifecycle.can_transition(a, b)}
    assert allowed == {
        ("pending", "succeeded"),
        ("pending", "failed"),
        ("pending", "authorized"),
        ("pending", "voided"),
        ("authorized", "pending"),  # a capture or void with the bank
    }


@pytest.mark.parametrize("status", STATES)
@pytest.mark.parametrize("operation", ["capture", "void", "refund"])
def test_every_state_x_every_operation(status: str, operation: str) -> None:
    """Only an authorized charge is captured or voided, only a succeeded one refunded."""
    if operation == "refund":
        code = refusal(status, 2500, 0, 2500 if status == "succeeded" else 0, 0, None)
        assert code == (None if status == "succeeded" else "charge_not_refundable")
        return
    code = lifecycle.operation_refusal(
        status, operation, amount=2500, requested=None, capture_before=LATER, now=NOW
    )
    if status == "authorized":
        assert code is None
    else:
        assert code == f"charge_not_{'capturable' if operation == 'capture' else 'voidable'}"


@pytest.mark.parametrize(
    ("requested", "capture_before", "expected"),
    [
        (None, LATER, None),
        (2500, LATER, None),
        (1, LATER, None),
        (2501, LATER, "amount_too_large"),
        (None, EARLIER, "charge_not_capturable"),  # the window is over
        (None, NOW, "charge_not_capturable"),
        (2501, EARLIER, "charge_not_capturable"),  # the state is judged first
        (None, None, "charge_not_capturable"),
    ],
)
def test_capture_window_and_amount(
    requested: int | None, capture_before: str | None, expected: str | None
) -> None:
    code = lifecycle.operation_refusal(
        "authorized",
        "capture",
        amount=2500,
        requested=requested,
        capture_before=capture_before,
        now=NOW,
    )
    assert code == expected


def test_an_expired_hold_may_still_be_voided() -> None:
    code = lifecycle.operation_refusal(
        "authorized", "void", amount=2500, requested=None, capture_before=EARLIER, now=NOW
    )
    assert code is None


@pytest.mark.parametrize(
    ("operation", "captures", "decided", "expected"),
    [
        ("authorize", True, "succeeded", "succeeded"),
        ("authorize", False, "succeeded", "authorized"),
        ("authorize", False, "failed", "failed"),
        ("authorize", True, "failed", "failed"),
        ("capture", False, "succeeded", "succeeded"),
        ("capture", False, "failed", "failed"),
        ("capture", False, "authorized", "authorized"),  # never reached the bank
        ("void", False, "failed", "voided"),  # the reversal was accepted
    ],
)
def test_final_status_by_operation(
    operation: str, captures: bool, decided: str, expected: str
) -> None:
    assert lifecycle.final_status(operation, captures, decided) == expected


def test_only_a_capture_waits_for_the_ledger_on_an_unknown_answer() -> None:
    assert lifecycle.reverses_at_once("authorize")
    assert lifecycle.reverses_at_once("void")
    assert not lifecycle.reverses_at_once("capture")


@pytest.mark.parametrize(
    ("status", "failure_code", "operation", "expected"),
    [
        ("authorized", None, "authorize", (201, None)),
        ("pending", None, "capture", (202, None)),
        ("pending", None, "void", (202, None)),
        ("succeeded", None, "capture", (201, None)),
        ("failed", "capture_declined", "capture", (402, "capture_failed")),
        ("failed", "processing_error", "capture", (502, "bank_unavailable")),
        ("authorized", None, "capture", (502, "bank_unavailable")),
        ("voided", None, "void", (200, None)),
    ],
)
def test_what_a_capture_or_void_answers(
    status: str, failure_code: str | None, operation: str, expected: tuple[int, str | None]
) -> None:
    answer = lifecycle.charge_answer(status, failure_code, operation)
    assert (answer.status, answer.error_code) == expected
