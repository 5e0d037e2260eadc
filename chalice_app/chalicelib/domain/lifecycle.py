"""What may happen to a charge or a refund, and what each recorded state answers.

The rules live here; ``ChargeRepository`` only turns them into conditional writes, and the
services only apply them. Nothing here knows DynamoDB, HTTP or the bank's wire format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from chalicelib.domain.declines import PROCESSING_ERROR, failure_message

# Every status a charge may have; a refund has the first three (``RefundStatus``).
Status = Literal["pending", "succeeded", "failed", "authorized", "voided"]
RefundStatus = Literal["pending", "succeeded", "failed"]
# What a bank answer decides for a pending item (``authorized``: a capture that never
# reached the bank leaves its hold as it was).
Decided = Literal["succeeded", "failed", "authorized"]

PENDING: Final = "pending"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
# A charge made with ``capture: false``: the bank holds the money until a capture or a void.
AUTHORIZED: Final = "authorized"
VOIDED: Final = "voided"

# What a pending charge is waiting for the bank about (its ``operation``): its authorization,
# the capture of its hold, or the release of its hold. A refund is always its own send.
Operation = Literal["authorize", "capture", "void"]
AUTHORIZE: Final = "authorize"
CAPTURE: Final = "capture"
VOID: Final = "void"

# The transitions the platform makes: a pending item becomes final exactly once; an
# authorized charge becomes pending again, once, while its capture or void is with the bank.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    PENDING: frozenset({SUCCEEDED, FAILED, AUTHORIZED, VOIDED}),
    AUTHORIZED: frozenset({PENDING}),
}

# What one bank exchange was, as ``adapters.bank_client`` classifies it.
APPROVED, DECLINED, REVERSED, NOT_FOUND = "approved", "declined", "reversed", "not_found"
# Nothing reached the bank / the bank may have acted: no answer from it either way.
NOT_SENT, UNKNOWN = "not_sent", "unknown"
KINDS = (APPROVED, DECLINED, REVERSED, NOT_FOUND, NOT_SENT, UNKNOWN)

# The bank operations about one reference: the operation itself (an authorization or a
# refund: sent once, by the request), a status query, and a reversal.
SEND, STATUS, REVERSAL = "send", "status", "reversal"
OPERATIONS = (SEND, STATUS, REVERSAL)


def can_transition(current: Status, new: Status) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


@dataclass(frozen=True)
class Decision:
    """The final state a bank answer gives an item."""

    status: Decided
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


def final_status(charge_operation: Operation, captures: bool, decided: Decided) -> Status:
    """The charge status a decision gives a pending charge, by what it waited for.

    A decision says what the bank did with the reference: ``succeeded`` (it approved) or
    ``failed`` (it declined, or a reversal voided the reference). An approved authorization
    without capture is a hold (``authorized``); an accepted reversal of a hold being released
    is the release itself (``voided``); a capture ends as the charge's final state.
    """
    if charge_operation == AUTHORIZE and decided == SUCCEEDED and not captures:
        return AUTHORIZED
    if charge_operation == VOID:
        return VOIDED if decided == FAILED else decided
    return decided  # (a capture that never reached the bank: back to AUTHORIZED)


def reverses_at_once(charge_operation: Operation) -> bool:
    """Whether an unknown answer to this send is reversed at once by the request.

    An authorization or a refund is: a 502 is better than money in doubt. A capture is not:
    reversing it would void the whole hold; it stays pending until the bank's ledger says
    whether it captured (and is reversed only once the bank has no record of it, as any
    pending item). A void is itself a reversal: sending it again is the same release.
    """
    return charge_operation != CAPTURE


def operation_refusal(
    status: Status,
    operation: Operation,
    *,
    amount: int,
    requested: int | None,
    capture_before: str | None,
    now: str,
) -> str | None:
    """The error code refusing a capture or a void of a charge in this state, or None.

    Only an ``authorized`` charge may be captured (before ``capture_before``; ISO strings
    in UTC compare in time order) or voided; a capture takes at most the authorized amount.
    """
    if operation == CAPTURE:
        if status != AUTHORIZED or capture_before is None or capture_before <= now:
            return "charge_not_capturable"
        if requested is not None and requested > amount:
            return "amount_too_large"
        return None
    if status != AUTHORIZED:
        return "charge_not_voidable"
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


def charge_answer(
    status: Status, failure_code: str | None, operation: Operation = AUTHORIZE
) -> Answer:
    """What a charge, capture or void request answers for a charge in this state (first try
    or resumed); ``operation`` is the one the request made."""
    if status == PENDING:
        return Answer(202)
    if status == VOIDED:
        return Answer(200)  # only a void ends a hold as voided
    if status == AUTHORIZED and operation == CAPTURE:
        return Answer(502, "bank_unavailable")  # the capture never reached the bank
    if status in (SUCCEEDED, AUTHORIZED):
        return Answer(201)
    if failure_code == PROCESSING_ERROR:
        return Answer(502, "bank_unavailable")
    return Answer(402, "capture_failed" if operation == CAPTURE else "card_declined")


def refund_answer(status: RefundStatus, failure_code: str | None) -> Answer:
    """What a refund request answers for a refund in this state (first try or resumed)."""
    if status == SUCCEEDED:
        return Answer(201)
    if status == PENDING:
        return Answer(202)
    if failure_code != PROCESSING_ERROR:
        return Answer(402, "refund_failed")
    return Answer(502, "bank_unavailable")
