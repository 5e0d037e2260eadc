"""In-memory stand-ins for the world outside the domain, for tests only (never shipped).

``FakeBank`` is a ``ports.Bank`` that answers as the real ``BankClient`` does against the
mock bank (``mountebank/bank.js``; ``tests/contract/test_bank_contract.py`` runs one suite
against both): the same test cards give the same classified outcomes, a reference makes a
repeat the same operation, holds end by one capture, a reversal or expiry, and a reversal
makes the bank refuse its reference for good.

Beyond the mock bank, a test scripts faults per operation (``fail_next``): the next call
answers ``not_sent`` (nothing reached the bank), ``unknown`` after the bank acted (the money
moved, the answer was lost) or ``unknown`` without it acting (the bank failed before acting).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from chalicelib.adapters.bank_client import BankOutcome, CardDetails

if TYPE_CHECKING:
    from chalicelib.ports import Bank

Operation = Literal[
    "authorize",
    "capture",
    "capture_status",
    "refund",
    "authorization_status",
    "refund_status",
    "reverse_authorization",
    "reverse_refund",
]
Fault = Literal["not_sent", "unknown_after_acting", "unknown_without_acting"]

# The mock bank's test cards (mountebank/README.md): behaviour depends on the number only.
CARD_DECLINES = {
    "4000000000000002": "generic_decline",
    "4000000000009995": "insufficient_funds",
    "4000000000009987": "lost_card",
    "4000000000009979": "stolen_card",
    "4000000000000069": "expired_card",
    "4000000000000127": "incorrect_cvc",
}
CARD_ERROR = "4000000000000119"  # HTTP 500, nothing recorded
CARD_SLOW = "4000000000001000"  # recorded, answered after the client's read timeout
CARD_REFUNDS_DECLINED = "4000000000005126"
CARD_REFUNDS_SLOW = "4000000000007726"  # refunds (and their reversals) answered too late
CARD_REFUNDS_ERROR = "4000000000005423"  # refunds answered HTTP 500, nothing recorded
CARD_CAPTURE_DECLINED = "4000000000000341"
RefundBehaviour = Literal["slow", "error"]
REFUND_BEHAVIOURS: dict[str, RefundBehaviour] = {
    CARD_REFUNDS_SLOW: "slow",
    CARD_REFUNDS_ERROR: "error",
}

# A hold is released by the bank itself this long after its ``hold_until`` (a grace for a
# capture sent just in time); without a readable ``hold_until`` it lasts 7 days.
HOLD_GRACE = timedelta(seconds=60)
DEFAULT_HOLD = timedelta(days=7)

# What the ledger records of an operation.
Status = Literal["approved", "declined", "reversed"]
APPROVED: Status = "approved"
DECLINED: Status = "declined"
REVERSED: Status = "reversed"
UNKNOWN = BankOutcome("unknown")
NOT_FOUND = BankOutcome("not_found")
REFUSED = BankOutcome("reversed")  # what the bank answers about a reversed reference


def _declined(code: str) -> BankOutcome:
    return BankOutcome("declined", decline_code=code)


@dataclass
class LedgerAuthorization:
    """What the bank keeps of one authorization reference (a tests' window on its ledger)."""

    status: Status
    answer: BankOutcome  # what a repeat of the authorization is answered
    amount: int = 0
    authorization_code: str | None = None
    decline_code: str | None = None
    amount_refunded: int = 0
    amount_captured: int = 0
    hold: Literal["held", "captured", "released"] | None = None
    hold_until: datetime | None = None
    capture_answer: BankOutcome | None = None  # the one capture's answer, replayed
    capture_declined: bool = False
    refunds_declined: bool = False
    refund_behaviour: RefundBehaviour | None = None
    voided: bool = False


@dataclass
class LedgerRefund:
    """What the bank keeps of one refund reference."""

    status: Status
    answer: BankOutcome
    authorization_reference: str | None = None
    amount: int = 0
    slow: bool = False
    voided: bool = False


class FakeBank:
    """The mock bank's ledger in memory, behind the ``ports.Bank`` operations."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.clock = clock
        self.authorizations: dict[str, LedgerAuthorization] = {}
        self.refunds: dict[str, LedgerRefund] = {}
        # Every call received, scripted faults included: (operation, reference).
        self.calls: list[tuple[Operation, str]] = []
        self._faults: dict[Operation, deque[Fault]] = {}
        self._lock = threading.Lock()
        self._codes = 0

    def fail_next(self, operation: Operation, fault: Fault, times: int = 1) -> None:
        """Make the next ``times`` calls of ``operation`` end with ``fault``."""
        self._faults.setdefault(operation, deque()).extend([fault] * times)

    def received(self, operation: Operation, reference: str) -> int:
        return self.calls.count((operation, reference))

    def _exchange(
        self, operation: Operation, reference: str, act: Callable[[], BankOutcome]
    ) -> BankOutcome:
        with self._lock:
            self.calls.append((operation, reference))
            pending = self._faults.get(operation)
            fault = pending.popleft() if pending else None
            if fault == "not_sent":
                return BankOutcome("not_sent")
            if fault == "unknown_without_acting":
                return UNKNOWN
            outcome = act()
            return UNKNOWN if fault == "unknown_after_acting" else outcome

    # ---- authorizations and holds --------------------------------------------------------

    def authorize(
        self,
        reference: str,
        amount: int,
        currency: str,
        card: CardDetails,
        hold_until: str | None = None,
    ) -> BankOutcome:
        def act() -> BankOutcome:
            known = self.authorizations.get(reference)
            if known is not None:
                return known.answer
            number = card.number.replace(" ", "").replace("-", "")
            if number == CARD_ERROR:
                return UNKNOWN
            auth = self._new_authorization(number, amount, hold_until)
            self.authorizations[reference] = auth
            return UNKNOWN if number == CARD_SLOW else auth.answer

        return self._exchange("authorize", reference, act)

    def _new_authorization(
        self, number: str, amount: int, hold_until: str | None
    ) -> LedgerAuthorization:
        decline = CARD_DECLINES.get(number)
        if decline is not None:
            return LedgerAuthorization(DECLINED, _declined(decline), amount, decline_code=decline)
        self._codes += 1
        code = f"F{self._codes:05d}"
        held = hold_until is not None
        return LedgerAuthorization(
            APPROVED,
            BankOutcome("approved", authorization_code=code),
            amount,
            authorization_code=code,
            amount_captured=0 if held else amount,
            hold="held" if held else None,
            hold_until=self._hold_end(hold_until) if held else None,
            capture_declined=number == CARD_CAPTURE_DECLINED,
            refunds_declined=number == CARD_REFUNDS_DECLINED,
            refund_behaviour=REFUND_BEHAVIOURS.get(number),
        )

    def _hold_end(self, hold_until: str | None) -> datetime:
        try:
            end = datetime.fromisoformat(hold_until or "")
        except ValueError:
            return self.clock() + DEFAULT_HOLD
        return end if end.tzinfo is not None else end.replace(tzinfo=UTC)

    def _release_if_expired(self, auth: LedgerAuthorization) -> None:
        if auth.hold == "held" and auth.hold_until and self.clock() > auth.hold_until + HOLD_GRACE:
            auth.hold = "released"

    def authorization_status(self, reference: str) -> BankOutcome:
        def act() -> BankOutcome:
            auth = self.authorizations.get(reference)
            if auth is None:
                return NOT_FOUND
            self._release_if_expired(auth)
            if auth.status == APPROVED:
                return BankOutcome("approved", authorization_code=auth.authorization_code)
            if auth.status == REVERSED:
                return REFUSED
            return _declined(auth.decline_code or "generic_decline")

        return self._exchange("authorization_status", reference, act)

    def capture(self, reference: str, amount: int) -> BankOutcome:
        def act() -> BankOutcome:
            if amount < 1:
                return UNKNOWN  # the bank answers 400: not a classified answer
            auth = self.authorizations.get(reference)
            if auth is None:
                return _declined("authorization_not_found")
            if auth.capture_answer is not None:
                return auth.capture_answer
            code = self._capture_refusal(auth, amount)
            if code == REVERSED:
                return REFUSED  # (not recorded: nothing is ever captured from it)
            if code is None or code == "capture_declined":
                # Either way the hold ends: captured (the rest released) or released.
                auth.hold = "released" if code else "captured"
                auth.amount_captured = 0 if code else amount
            auth.capture_answer = (
                _declined(code)
                if code
                else BankOutcome("approved", authorization_code=auth.authorization_code)
            )
            return auth.capture_answer

        return self._exchange("capture", reference, act)

    def _capture_refusal(self, auth: LedgerAuthorization, amount: int) -> str | None:
        """Why the bank declines a capture, in the mock bank's order; None: it captures."""
        if auth.status == REVERSED:
            return REVERSED
        if auth.status != APPROVED or auth.hold is None:
            return "not_capturable"
        self._release_if_expired(auth)
        if auth.hold != "held":
            return "authorization_expired"
        if amount > auth.amount:
            return "amount_exceeds_authorization"
        if auth.capture_declined:
            return "capture_declined"
        return None

    def capture_status(self, reference: str) -> BankOutcome:
        def act() -> BankOutcome:
            auth = self.authorizations.get(reference)
            if auth is not None and auth.status == REVERSED:
                return REFUSED
            if auth is None or auth.capture_answer is None:
                return NOT_FOUND
            return auth.capture_answer

        return self._exchange("capture_status", reference, act)

    def reverse_authorization(self, reference: str) -> BankOutcome:
        def act() -> BankOutcome:
            auth = self.authorizations.setdefault(reference, LedgerAuthorization(REVERSED, REFUSED))
            if auth.status == APPROVED:
                auth.voided = True
                if auth.hold is not None:
                    # A hold is released; a capture of it is undone.
                    auth.hold, auth.amount_captured = "released", 0
            auth.status, auth.answer = REVERSED, REFUSED
            return REFUSED

        return self._exchange("reverse_authorization", reference, act)

    # ---- refunds -------------------------------------------------------------------------

    def refund(self, reference: str, authorization_reference: str, amount: int) -> BankOutcome:
        def act() -> BankOutcome:
            known = self.refunds.get(reference)
            if known is not None:
                return known.answer
            auth = self.authorizations.get(authorization_reference)
            if auth is not None and auth.status == APPROVED and auth.refund_behaviour == "error":
                return UNKNOWN
            code = self._refund_refusal(auth, amount)
            if auth is not None and code is None:
                auth.amount_refunded += amount
                answer = BankOutcome("approved")
            else:
                answer = _declined(code or "")
            slow = code is None and auth is not None and auth.refund_behaviour == "slow"
            self.refunds[reference] = LedgerRefund(
                APPROVED if code is None else DECLINED,
                answer,
                authorization_reference,
                amount,
                slow=slow,
            )
            return UNKNOWN if slow else answer

        return self._exchange("refund", reference, act)

    @staticmethod
    def _refund_refusal(auth: LedgerAuthorization | None, amount: int) -> str | None:
        if auth is None:
            return "authorization_not_found"
        if auth.status != APPROVED:
            return "authorization_not_approved"
        if auth.refunds_declined:
            return "refund_declined"
        if amount > auth.amount_captured - auth.amount_refunded:
            return "amount_exceeds_authorization"
        return None

    def refund_status(self, reference: str) -> BankOutcome:
        def act() -> BankOutcome:
            known = self.refunds.get(reference)
            if known is None:
                return NOT_FOUND
            return REFUSED if known.status == REVERSED else known.answer

        return self._exchange("refund_status", reference, act)

    def reverse_refund(self, reference: str) -> BankOutcome:
        def act() -> BankOutcome:
            known = self.refunds.setdefault(reference, LedgerRefund(REVERSED, REFUSED))
            if known.status == APPROVED:
                known.voided = True
                auth = self.authorizations.get(known.authorization_reference or "")
                if auth is not None:
                    auth.amount_refunded -= known.amount  # the money goes back
            known.status, known.answer = REVERSED, REFUSED
            # The mock bank answers about a slow card's refund late, its reversal included.
            return UNKNOWN if known.slow else REFUSED

        return self._exchange("reverse_refund", reference, act)


if TYPE_CHECKING:
    # mypy (``make lint``) holds the fake to the port the services depend on.
    _conforms: Bank = FakeBank()
