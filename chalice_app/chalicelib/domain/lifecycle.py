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

# What one bank exchange was, as ``adapters.bank_client`` classifies it.
APPROVED, DECLINED, REVERSED, NOT_FOUND = "approved", "declined", "reversed", "not_found"
# Nothing reached the bank / the bank may have acted: no answer from it either way.
NOT_SENT, UNKNOWN = "not_sent", "unknown"
KINDS = (APPROVED, DECLINED, REVERSED, NOT_FOUND, NOT_SENT, UNKNOWN)

# The bank operations about one reference: the operation itself (an authorization or a
# refund: sent once, by the request), a status query, and a reversal.
SEND, STATUS, REVERSAL = "send", "status", "reversal"
OPERATIONS = (SEND, STATUS, REVERSAL)


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
    kind: str,
    operation: str,
    *,
    reversing: bool = False,
    authorization_code: str | None = None,
    decline_code: str | None = None,
) -> Decision | None:
    """The final state one bank exchange gives a pending item; None = it stays pending.

    Only a definitive answer decides: an approval (unless the item is marked ``reversing``:
    a reversal is on its way and may void it, so only the reversal's answer decides), a
    decline (with the bank's reason) and a reversal (a processing error: nothing moved).
    "Not sent" decides only the operation's own send, the one exchange whose absence proves
    the bank cannot have acted; a status query or a reversal that was not sent proves
    nothing. An unknown exchange and "no record (yet)" never decide.
    """
    if operation == REVERSAL:
        return Decision(FAILED, failure_code=PROCESSING_ERROR) if kind == REVERSED else None
    if kind == APPROVED:
        return None if reversing else Decision(SUCCEEDED, authorization_code=authorization_code)
    if kind == DECLINED:
        return Decision(FAILED, failure_code=decline_code or "generic_decline")
    if kind == REVERSED or (kind == NOT_SENT and operation == SEND):
        return Decision(FAILED, failure_code=PROCESSING_ERROR)
    return None


def must_reverse(kind: str, operation: str, *, reversing: bool, unreachable: bool) -> bool:
    """After an exchange that decided nothing: reverse the reference now?

    * the operation's own send is unknown: the request reverses at once (time permitting);
    * the bank has no record, and the request can no longer reach it (``unreachable``) or a
      reversal was already begun: the reversal makes it refuse the reference for good;
    * the bank approved an item marked ``reversing``: the reversal is finished, so that the
      money it voids (or will void) is never reported as moved.

    A status query or reversal that failed (unknown, not sent) leaves the item as it is.
    """
    if operation == SEND:
        return kind == UNKNOWN
    if operation == STATUS:
        return (kind == NOT_FOUND and (reversing or unreachable)) or (
            kind == APPROVED and reversing
        )
    return False


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
    """What a refund request answers for a refund in this state (first try or resumed)."""
    if status == SUCCEEDED:
        return Answer(201)
    if status == PENDING:
        return Answer(202)
    if failure_code != PROCESSING_ERROR:
        return Answer(402, "refund_failed")
    return Answer(502, "bank_unavailable")
