"""What may happen to a charge or a refund, and what each recorded state answers.

The rules live here; ``ChargeRepository`` only turns them into conditional writes, and the
services only apply them. Nothing here knows DynamoDB, HTTP or the bank's wire format.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.declines import PROCESSING_ERROR, failure_message

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"

# The only transitions the platform makes: a pending item becomes final exactly once.
TRANSITIONS: dict[str, frozenset[str]] = {PENDING: frozenset({SUCCEEDED, FAILED})}

# Bank answers that decide an item. ``reversed``: the bank accepted our reversal of the
# reference (or refuses it because of one), so it will never act on it.
APPROVED, DECLINED, ERROR, REVERSED = "approved", "declined", "error", "reversed"
# No decision: ``unknown`` (no answer in time) and ``not_found`` (no record of it yet).
UNDECIDED = frozenset({"unknown", "not_found"})


def can_transition(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


@dataclass(frozen=True)
class Decision:
    """The final state a bank answer gives an item."""

    status: str
    authorization_code: str | None = None
    failure_code: str | None = None

    @property
    def failure_message(self) -> str | None:
        return failure_message(self.failure_code) if self.failure_code else None


def decide(
    kind: str, authorization_code: str | None = None, decline_code: str | None = None
) -> Decision | None:
    """The final state of a charge or refund from the bank's answer; None = still pending.

    An error (the bank certainly did not act) and a reversal fail the item as a processing
    error; only a decline carries the bank's own reason.
    """
    if kind in UNDECIDED:
        return None
    if kind == APPROVED:
        return Decision(SUCCEEDED, authorization_code=authorization_code)
    if kind == DECLINED:
        return Decision(FAILED, failure_code=decline_code or "generic_decline")
    return Decision(FAILED, failure_code=PROCESSING_ERROR)


@dataclass(frozen=True)
class Answer:
    """How a recorded state is answered: HTTP status and, for an error, its catalogue code."""

    status: int
    error_code: str | None = None


def charge_answer(status: str, failure_code: str | None) -> Answer:
    """What a charge request answers for a charge in this state (first try or resumed)."""
    if status == SUCCEEDED:
        return Answer(201)
    if status == PENDING:
        return Answer(202)
    if failure_code == PROCESSING_ERROR:
        return Answer(502, "bank_unavailable")
    return Answer(402, "card_declined")


def refund_answer(status: str, failure_code: str | None) -> Answer:
    """What a refund request answers for a refund in this state; pending: the bank is late."""
    if status == SUCCEEDED:
        return Answer(201)
    if status == FAILED and failure_code != PROCESSING_ERROR:
        return Answer(402, "refund_failed")
    return Answer(502, "bank_unavailable")
