"""Use cases: capture or void the hold of a charge made with ``capture: false``.

Each is an idempotent command of the same pipeline as POST /charge (``web.pipeline``), and
moves money exactly like one: ``SettlementService.start_operation`` writes ahead (the charge
``pending`` with its operation, bound to the Idempotency-Key), makes the one bank call and
commits the final state with the stored response, the audit record and the event. Pending
captures and voids are settled by the same settlers as charges (a GET, the sweep, a resumed
retry). Three DynamoDB round trips: the first read, the write-ahead, the final commit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.adapters.dynamo import Contention, FirstRead, WriteConflict
from chalicelib.domain.charges import Charge, ObjectRef
from chalicelib.domain.lifecycle import CAPTURE, VOID, Operation, operation_refusal
from chalicelib.errors import ApiError, RetryLater, error_code
from chalicelib.ids import iso, now_utc
from chalicelib.models import CaptureRequest, VoidRequest
from chalicelib.services.recording import Record, Reply
from chalicelib.services.settlement import SettlementService

if TYPE_CHECKING:  # the Protocols are for the type checker: nothing to import at run time
    from chalicelib.ports import ChargeRepository

# A write-ahead refused although the charge then reads authorized (a transaction conflict
# with a settler's check): judged again on a fresh read this many times.
_ATTEMPTS = 3

HoldBody = CaptureRequest | VoidRequest


class HoldService:
    """Captures and voids of authorized charges."""

    def __init__(
        self,
        charges: ChargeRepository,
        settlement: SettlementService,
        bank_call_deadline_seconds: float,
    ) -> None:
        self._charges = charges
        self._settlement = settlement
        self._call_deadline = bank_call_deadline_seconds

    def capture(self, charge_id: str) -> HoldCommand:
        return HoldCommand(self, CAPTURE, charge_id)

    def void(self, charge_id: str) -> HoldCommand:
        return HoldCommand(self, VOID, charge_id)

    def first_read(self, merchant_id: str, charge_id: str) -> FirstRead[Charge]:
        return self._charges.charge_read(merchant_id, charge_id)

    def start(
        self,
        operation: Operation,
        request: CaptureRequest | None,
        record: Record,
        charge: Charge | None,
    ) -> Reply:
        """Capture (201, 202, 402, 502) or void (200, 202) the hold, else an ApiError.

        A capture or void that loses the race for the charge is judged again on what the
        winner wrote: 409 ``charge_not_capturable`` / ``charge_not_voidable``.
        """
        requested = request.amount if request is not None else None
        for _ in range(_ATTEMPTS):
            if charge is None:
                raise ApiError("resource_missing", param="id")
            code = operation_refusal(
                charge.status,
                operation,
                amount=charge.amount,
                requested=requested,
                capture_before=charge.capture_before,
                now=iso(now_utc()),
            )
            if code is not None:
                raise ApiError(
                    error_code(code), param="amount" if code == "amount_too_large" else None
                )
            amount = (requested or charge.amount) if operation == CAPTURE else 0
            deadline = time.monotonic() + self._call_deadline
            try:
                return self._settlement.start_operation(charge, operation, amount, record, deadline)
            except (WriteConflict, Contention):
                charge = self._charges.get_charge(charge.merchant_id, charge.id)
        raise RetryLater("lock_timeout", 1)  # never a refusal without a definitive read

    def resume(self, ref: ObjectRef, record: Record) -> Reply:
        return self._settlement.resume(ref, record)


@dataclass(frozen=True)
class HoldCommand:
    """One capture or void of one charge, as the idempotent pipeline runs it (either body
    may be left out: None)."""

    service: HoldService
    operation: Operation
    charge_id: str

    def first_read(self, merchant_id: str, request: HoldBody | None) -> FirstRead[Charge]:
        return self.service.first_read(merchant_id, self.charge_id)

    def create(
        self,
        merchant_id: str,
        request: HoldBody | None,
        record: Record,
        charge: Charge | None,
    ) -> Reply:
        capture = request if isinstance(request, CaptureRequest) else None
        return self.service.start(self.operation, capture, record, charge)

    def resume(self, merchant_id: str, ref: ObjectRef, record: Record) -> Reply:
        return self.service.resume(ref, record)
