"""The money records: charges, refunds, card tokens, and the reference naming one of them.

Plain values without storage keys: ``adapters.charge_repository`` and
``adapters.token_repository`` alone know how they are stored. Timestamps are the
contract's ISO strings in UTC (``ids.iso``), which compare in time order. Amounts are
integers in minor units.

The refund bookkeeping of a charge is a rule on the record: of what it captured, each
unit is refundable, reserved by a refund in flight, or refunded, and ``reserve`` /
``settle_refund`` move amounts between the three. The repository turns each move into a
relative conditional update that keeps the same invariant under concurrency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import NewType

from chalicelib.domain.lifecycle import (
    AUTHORIZE,
    CAPTURE,
    FAILED,
    PENDING,
    SUCCEEDED,
    VOIDED,
    Decision,
    Operation,
    RefundStatus,
    Status,
    can_transition,
    final_status,
)
from chalicelib.domain.refunds import refusal

ChargeId = NewType("ChargeId", str)
RefundId = NewType("RefundId", str)
TokenId = NewType("TokenId", str)


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectRef:
    """Names a charge, or one of its refunds: what an Idempotency-Key is bound to."""

    merchant_id: str
    charge_id: ChargeId
    refund_id: RefundId | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CardSummary:
    """All of a card a charge keeps: never its number or security code."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int


class BookkeepingError(ValueError):
    """A move of refund money the charge's amounts cannot make."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Charge:
    id: ChargeId
    merchant_id: str
    status: Status
    amount: int
    currency: str
    card: CardSummary
    token_id: TokenId
    created_at: str
    updated_at: str
    # When the last bank operation was written ahead (a settler's clock starts there).
    bank_requested_at: str
    # False: the bank only holds the money (``authorized``) until a capture or a void.
    captures: bool = True
    capture_before: str | None = None
    # What a pending charge waits for the bank about; a capture's amount while it does.
    operation: Operation = AUTHORIZE
    capture_amount: int | None = None
    amount_captured: int = 0
    amount_refunded: int = 0
    amount_reserved: int = 0
    # Captured money neither refunded nor reserved by a refund in flight.
    refundable: int = 0
    # Refund objects made against the charge (any status).
    refund_count: int = 0
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    authorization_code: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    # When a settler last asked the bank, and when a reversal of the reference was begun.
    checked_at: str | None = None
    reversing_at: str | None = None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(merchant_id=self.merchant_id, charge_id=self.id)

    @property
    def captured(self) -> int:
        """What refunds may take back: the captured money (a partial capture: less than
        ``amount``); a charge captured at once captured its amount."""
        return self.amount_captured or self.amount

    @property
    def fully_refunded(self) -> bool:
        return self.amount_refunded >= self.captured

    def refund_refusal(self, requested: int | None) -> str | None:
        """The error code refusing a refund of ``requested`` (None: all that remains)."""
        return refusal(
            self.status,
            self.captured,
            self.amount_refunded,
            self.refundable,
            self.refund_count,
            requested,
        )

    def reserve(self, amount: int, at: str) -> Charge:
        """``amount`` moved from refundable to reserved, for one more refund object."""
        if not 0 < amount <= self.refundable:
            raise BookkeepingError("a reservation takes 1 to refundable")
        return replace(
            self,
            refundable=self.refundable - amount,
            amount_reserved=self.amount_reserved + amount,
            refund_count=self.refund_count + 1,
            updated_at=at,
        )

    def settle_refund(self, amount: int, refunded: bool, at: str) -> Charge:
        """A reservation of ``amount`` ended: refunded, or released back to refundable."""
        if not 0 < amount <= self.amount_reserved:
            raise BookkeepingError("a settlement takes 1 to the reserved amount")
        return replace(
            self,
            amount_reserved=self.amount_reserved - amount,
            amount_refunded=self.amount_refunded + (amount if refunded else 0),
            refundable=self.refundable + (0 if refunded else amount),
            updated_at=at,
        )

    def begin(self, operation: Operation, amount: int, at: str) -> Charge:
        """authorized -> pending while a capture or a void of the hold is with the bank.

        A void carries the reversal's mark from the start: it is a reversal of the
        authorization, so no settler may read the hold's approval as final.
        """
        assert operation != AUTHORIZE and can_transition(self.status, PENDING)
        return replace(
            self,
            status=PENDING,
            operation=operation,
            capture_amount=amount,
            bank_requested_at=at,
            updated_at=at,
            checked_at=None,
            reversing_at=at if operation != CAPTURE else self.reversing_at,
        )

    def finalized(self, decision: Decision, at: str) -> Charge:
        """The final charge a decision makes of this pending one, by what it waited for."""
        status = final_status(self.operation, self.captures, decision.status)
        assert can_transition(PENDING, status)
        authorization_code = self.authorization_code
        failure_code, failure_message = self.failure_code, self.failure_message
        if self.operation == AUTHORIZE:
            authorization_code = decision.authorization_code
            failure_code, failure_message = decision.failure_code, decision.failure_message
        elif status != VOIDED and decision.status != SUCCEEDED:
            # A capture the bank declined, or whose reversal it accepted: the hold is gone.
            failure_code, failure_message = decision.failure_code, decision.failure_message
        captured = 0
        if status == SUCCEEDED:
            captured = self.amount
            if self.operation == CAPTURE and self.capture_amount is not None:
                captured = self.capture_amount
        return replace(
            self,
            status=status,
            updated_at=at,
            authorization_code=authorization_code,
            failure_code=failure_code,
            failure_message=failure_message,
            amount_captured=captured,
            refundable=captured,
            checked_at=None,
            reversing_at=None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Refund:
    id: RefundId
    charge_id: ChargeId
    merchant_id: str
    status: RefundStatus
    amount: int
    currency: str
    created_at: str
    updated_at: str
    bank_requested_at: str
    reason: str | None = None
    failure_code: str | None = None
    checked_at: str | None = None
    reversing_at: str | None = None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(merchant_id=self.merchant_id, charge_id=self.charge_id, refund_id=self.id)

    def finalized(self, decision: Decision, at: str) -> Refund:
        assert decision.status in (SUCCEEDED, FAILED)
        status: RefundStatus = SUCCEEDED if decision.status == SUCCEEDED else FAILED
        return replace(
            self,
            status=status,
            failure_code=decision.failure_code,
            updated_at=at,
            checked_at=None,
            reversing_at=None,
        )


# A charge or a refund: what a settler settles.
Pending = Charge | Refund


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """A single-use card token: the card sealed (``adapters.card_vault``) until its use."""

    id: TokenId
    merchant_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str
    used: bool
    created_at: str
    expires_at: str
    # Epoch seconds of ``expires_at``: what every read of the token checks.
    expires_epoch: int
    # Sealed card data, destroyed as soon as the token is used.
    card_number_ct: bytes | None = field(default=None, repr=False)
    cvv_ct: bytes | None = field(default=None, repr=False)
    holder_ct: bytes | None = field(default=None, repr=False)

    @property
    def card(self) -> CardSummary:
        return CardSummary(
            brand=self.brand, last4=self.last4, exp_month=self.exp_month, exp_year=self.exp_year
        )

    def usable_by(self, merchant_id: str, now_epoch: int) -> bool:
        """This merchant's, and not expired (whether used is a separate refusal)."""
        return self.merchant_id == merchant_id and self.expires_epoch > now_epoch

    def consumed(self) -> Token:
        """The token once used: its card data destroyed."""
        return replace(self, used=True, card_number_ct=None, cvv_ct=None, holder_ct=None)
