"""Use case: refund all or part of a charge, never more than it is worth."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.charge_repository import refund_sk
from chalicelib.adapters.dynamo import WriteConflict
from chalicelib.domain.refunds import refusal
from chalicelib.errors import ApiError
from chalicelib.ids import iso, new_id, now_utc
from chalicelib.models import Refund, RefundRequest
from chalicelib.resources import refund_resource

# A reservation that loses a race is re-evaluated against the charge's new state; each
# retry follows another refund's success, so a handful is plenty.
_RESERVE_ATTEMPTS = 3


class RefundService:
    """Reserves the amount on the charge, asks the bank, then commits or releases it."""

    def __init__(self, charges: Any, bank: Any) -> None:
        self._charges = charges
        self._bank = bank

    def create(self, merchant_id: str, request: RefundRequest, uow: Any) -> Refund:
        """Refund ``request.amount`` (default: all that remains); an ApiError otherwise."""
        refund = self.reserve(merchant_id, request, uow)
        outcome = self._bank.refund(refund["refund_id"], refund["charge_id"], refund["amount"])
        if outcome.kind == "unknown":
            # The bank may have acted: the reservation stays until the sweep asks it.
            raise ApiError(
                "bank_unavailable",
                extra={"refund": refund["refund_id"], "charge": refund["charge_id"]},
            )
        succeeded = outcome.kind == "approved"
        failure_code = None if succeeded else (outcome.decline_code or "processing_error")
        uow.add(
            *self._charges.settle_refund_entries(
                refund, succeeded=succeeded, updated_at=iso(now_utc()), failure_code=failure_code
            ),
            settled_elsewhere=True,
        )
        if succeeded:
            return refund_resource({**refund, "status": "succeeded"})
        extra = {"refund": refund["refund_id"], "charge": refund["charge_id"]}
        if outcome.kind == "declined":
            raise ApiError("refund_failed", extra={**extra, "decline_code": failure_code})
        raise ApiError("bank_unavailable", extra=extra)

    def reserve(self, merchant_id: str, request: RefundRequest, uow: Any) -> dict[str, Any]:
        """Step 1, committed at once: reserve the amount and write the refund ``pending``."""
        for _ in range(_RESERVE_ATTEMPTS):
            charge = self._charges.get_charge(request.charge_id)
            if charge is None or charge["merchant_id"] != merchant_id:
                raise ApiError("resource_missing", param="charge_id")
            code = refusal(
                charge["status"],
                charge["amount"],
                charge.get("amount_refunded", 0),
                charge.get("refundable", 0),
                request.amount,
            )
            if code is not None:
                raise ApiError(code, param="amount" if code == "amount_too_large" else "charge_id")
            created_at = iso(now_utc())
            refund = {
                "refund_id": new_id("re"),
                "charge_id": charge["charge_id"],
                "merchant_id": merchant_id,
                "amount": request.amount or charge["refundable"],
                "currency": charge["currency"],
                "status": "pending",
                "reason": request.reason,
                "created_at": created_at,
                "updated_at": created_at,
            }
            refund["sk"] = refund_sk(created_at, refund["refund_id"])
            uow.add(
                self._charges.reserve_refund_entry(
                    charge["charge_id"], merchant_id, refund["amount"], created_at
                ),
                self._charges.put_pending_refund_entry(refund),
            )
            try:
                uow.commit()
            except WriteConflict:
                continue  # another refund moved the charge first: judge again on fresh state
            return refund
        raise ApiError("amount_too_large", param="amount")
