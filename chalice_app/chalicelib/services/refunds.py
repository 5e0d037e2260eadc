"""Use case: refund all or part of a charge, never more than it is worth."""

from __future__ import annotations

import random
import time
from functools import partial
from typing import TYPE_CHECKING

from chalicelib.adapters.dynamo import Contention, FirstRead, WriteConflict
from chalicelib.domain.charges import Charge, ObjectRef, Refund, RefundId
from chalicelib.domain.lifecycle import PENDING
from chalicelib.errors import ApiError, RetryLater, error_code
from chalicelib.ids import iso, new_id, now_utc
from chalicelib.models import RefundRequest
from chalicelib.services.recording import Record, Reply
from chalicelib.services.settlement import SettlementService

if TYPE_CHECKING:  # the Protocols are for the type checker: nothing to import at run time
    from chalicelib.ports import Bank, ChargeRepository

# A reservation that loses a race is judged again on the charge's new state, after a jittered
# backoff, for at most this long; then 429 lock_timeout. Contention is never a refusal: a
# refusal comes only from a definitive read. The rest of the function's time is left for the
# bank call and, if its answer is lost, the reversal.
_RESERVE_BUDGET_SECONDS = 2.0
_BACKOFF_BASE_SECONDS = 0.01
_BACKOFF_CAP_SECONDS = 0.2
_RETRY_AFTER_SECONDS = 1


class RefundService:
    """Reserves the amount on the charge, asks the bank, then commits or releases it."""

    def __init__(
        self,
        charges: ChargeRepository,
        bank: Bank,
        settlement: SettlementService,
        bank_call_deadline_seconds: float,
    ) -> None:
        self._charges = charges
        self._bank = bank
        self._settlement = settlement
        self._call_deadline = bank_call_deadline_seconds

    # ---- POST /refund (an idempotent command: first_read, create, resume) ----------------

    def first_read(self, merchant_id: str, request: RefundRequest) -> FirstRead[Charge]:
        return self._charges.charge_read(merchant_id, request.charge_id)

    def create(
        self,
        merchant_id: str,
        request: RefundRequest,
        record: Record,
        charge: Charge | None,
    ) -> Reply:
        """Refund ``request.amount`` (default: all that remains): 201, 202, 402 or 502.

        1. write ahead, in one transaction: reserve the amount on the charge, the refund
           ``pending`` and the request's recovery point;
        2. ask the bank, with the refund id as the reference;
        3. commit or release the reservation with the stored response and audit (an unknown
           answer: reversed at once, or the refund stays pending with its amount reserved).

        A reservation that loses a race for the charge is judged again on its new state.
        """
        give_up = time.monotonic() + _RESERVE_BUDGET_SECONDS
        attempt = 0
        while True:
            if charge is None:
                raise ApiError("resource_missing", param="charge_id")
            code = charge.refund_refusal(request.amount)
            if code is not None:
                raise ApiError(
                    error_code(code),
                    param="amount" if code == "amount_too_large" else "charge_id",
                )
            stamp = iso(now_utc())
            refund = Refund(
                id=RefundId(new_id("re")),
                charge_id=charge.id,
                merchant_id=merchant_id,
                amount=request.amount or charge.refundable,
                currency=charge.currency,
                status=PENDING,
                reason=request.reason,
                created_at=stamp,
                updated_at=stamp,
                bank_requested_at=stamp,
            )
            deadline = time.monotonic() + self._call_deadline
            try:
                self._settlement.write_ahead(
                    refund,
                    record,
                    effects=[self._charges.reserve_refund_entry(charge, refund.amount, stamp)],
                )
            except (WriteConflict, Contention):
                # Another refund moved the charge first: judge again on its new state.
                attempt += 1
                pause = random.uniform(
                    0, min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2**attempt)
                )
                if time.monotonic() + pause >= give_up:
                    raise RetryLater("lock_timeout", _RETRY_AFTER_SECONDS) from None
                time.sleep(pause)
                charge = self._charges.get_charge(merchant_id, charge.id)
                continue
            # An unknown answer is reversed at once while the deadline allows: 502 once the
            # bank accepted the reversal, else 202 pending (the amount stays reserved until
            # it settles).
            return self._settlement.send(
                refund,
                partial(self._bank.refund, refund.id, refund.charge_id, refund.amount),
                record,
                deadline,
            )

    def resume(self, merchant_id: str, ref: ObjectRef, record: Record) -> Reply:
        return self._settlement.resume(ref, record)
