"""Use case: refund all or part of a charge, never more than it is worth."""

from __future__ import annotations

import random
import time
from typing import Any

from chalicelib.adapters.charge_repository import refund_sk
from chalicelib.adapters.dynamo import Contention, WriteConflict
from chalicelib.domain.lifecycle import PENDING
from chalicelib.domain.refunds import refusal
from chalicelib.errors import ApiError, RetryLater, error_code
from chalicelib.ids import iso, new_id, now_utc
from chalicelib.models import RefundRequest
from chalicelib.services.recording import Record, Reply
from chalicelib.services.settlement import SettlementService, call_bank_before

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
        charges: Any,
        bank: Any,
        settlement: SettlementService,
        bank_call_deadline_seconds: float,
    ) -> None:
        self._charges = charges
        self._bank = bank
        self._settlement = settlement
        self._call_deadline = bank_call_deadline_seconds

    # ---- POST /refund (an idempotent command: first_read, create, resume) ----------------

    def first_read(self, merchant_id: str, request: RefundRequest) -> tuple[str, dict[str, Any]]:
        return self._charges.table, self._charges.charge_key(merchant_id, request.charge_id)

    def create(
        self,
        merchant_id: str,
        request: RefundRequest,
        record: Record,
        charge: dict[str, Any] | None,
    ) -> Reply:
        """Refund ``request.amount`` (default: all that remains): 201, 202, 402 or 502.

        1. write ahead, in one transaction: reserve the amount on the charge, the refund
           ``pending`` and the request's recovery point;
        2. ask the bank, with the refund id as the reference;
        3. commit or release the reservation with the stored response and audit (an unknown
           answer: reversed at once, or the refund stays pending with its amount reserved).
        """
        refund, deadline = self._reserve(merchant_id, request, record, charge)
        outcome = call_bank_before(
            deadline,
            lambda: self._bank.refund(refund["refund_id"], refund["charge_id"], refund["amount"]),
        )
        # An unknown answer is reversed at once while the deadline allows: 502 once the bank
        # accepted the reversal, else 202 pending (the amount stays reserved until it settles).
        return self._settlement.conclude(refund, outcome, record, deadline)

    def resume(self, merchant_id: str, object_key: tuple[str, str], record: Record) -> Reply:
        return self._settlement.resume(object_key, record)

    def _reserve(
        self,
        merchant_id: str,
        request: RefundRequest,
        record: Record,
        charge: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], float]:
        """Write ahead; the refund and the monotonic deadline for its bank call."""
        give_up = time.monotonic() + _RESERVE_BUDGET_SECONDS
        attempt = 0
        while True:
            if charge is None:
                raise ApiError("resource_missing", param="charge_id")
            code = refusal(
                charge["status"],
                # refunds apply to captured money only (a partial capture: less than amount)
                charge.get("amount_captured") or charge["amount"],
                charge.get("amount_refunded", 0),
                charge.get("refundable", 0),
                charge.get("refund_count", 0),
                request.amount,
            )
            if code is not None:
                raise ApiError(
                    error_code(code),
                    param="amount" if code == "amount_too_large" else "charge_id",
                )
            stamp = iso(now_utc())
            refund_id = new_id("re")
            refund = {
                "pk": charge["pk"],
                "sk": refund_sk(refund_id),
                "refund_id": refund_id,
                "charge_id": charge["charge_id"],
                "merchant_id": merchant_id,
                "amount": request.amount or charge["refundable"],
                "currency": charge["currency"],
                "status": PENDING,
                "reason": request.reason,
                "created_at": stamp,
                "updated_at": stamp,
                "bank_requested_at": stamp,
            }
            deadline = time.monotonic() + self._call_deadline
            try:
                record.write_ahead(
                    [
                        self._charges.reserve_refund_entry(charge, refund["amount"], stamp),
                        self._charges.put_pending_refund_entry(refund),
                    ],
                    (refund["pk"], refund["sk"]),
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
                charge = self._charges.get(charge["pk"])
                continue
            return refund, deadline
