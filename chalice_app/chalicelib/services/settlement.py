"""Use case: settle pending charges and refunds by asking the bank what it recorded.

Used by GET /charge/{id}, the scheduled reconcile Lambda and ``payments-admin reconcile``.
Every settlement is a conditional write from ``pending``, so concurrent settlers agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib.adapters.dynamo import UnitOfWork, WriteConflict
from chalicelib.domain.declines import PROCESSING_ERROR, final_charge_fields
from chalicelib.ids import iso, now_utc, parse_iso


@dataclass
class SweepReport:
    examined: int = 0
    settled: int = 0
    still_pending: int = 0
    oldest_pending_age_seconds: float = 0.0


class SettlementService:
    """Finalizes pending items from the bank's own record of them."""

    def __init__(self, charges: Any, bank: Any, settle_after_seconds: int, client: Any) -> None:
        self._charges = charges
        self._bank = bank
        self._settle_after = timedelta(seconds=settle_after_seconds)
        self._client = client

    def _old_enough(self, item: dict[str, Any]) -> bool:
        # A young pending item may still have its request in flight: if the bank has no
        # record of it yet, that is not proof the bank will never have one.
        return now_utc() - parse_iso(item["created_at"]) >= self._settle_after

    def _commit(self, *entries: dict[str, Any]) -> bool:
        uow = UnitOfWork(self._client)
        uow.add(*entries)
        try:
            uow.commit()
        except WriteConflict:
            return False  # another settler was first; its outcome is the bank's too
        return True

    def settle_charge(self, charge: dict[str, Any]) -> bool:
        """Finalize a pending charge if the bank's answer is final. True if it changed."""
        outcome = self._bank.authorization_status(charge["charge_id"])
        if outcome.kind not in ("approved", "declined") and not (
            outcome.kind == "not_found" and self._old_enough(charge)
        ):
            return False  # no final answer yet (bank unreachable, or the request may be in flight)
        fields = final_charge_fields(outcome.kind, outcome.authorization_code, outcome.decline_code)
        entry = self._charges.finalize_charge_entry(
            charge["charge_id"], amount=charge["amount"], updated_at=iso(now_utc()), **fields
        )
        return self._commit(entry)

    def settle_refund(self, refund: dict[str, Any]) -> bool:
        """Commit or release a pending refund's reservation. True if it changed."""
        outcome = self._bank.refund_status(refund["refund_id"])
        if outcome.kind == "approved":
            succeeded, code = True, None
        elif outcome.kind == "declined":
            succeeded, code = False, outcome.decline_code
        elif outcome.kind == "not_found" and self._old_enough(refund):
            succeeded, code = False, PROCESSING_ERROR
        else:
            return False
        entries = self._charges.settle_refund_entries(
            refund, succeeded=succeeded, updated_at=iso(now_utc()), failure_code=code
        )
        return self._commit(*entries)

    def settle(self, item: dict[str, Any]) -> bool:
        """Settle a pending charge or refund item."""
        if "refund_id" in item:
            return self.settle_refund(item)
        return self.settle_charge(item)

    def sweep(self, limit: int = 100) -> SweepReport:
        """Settle pending items older than the threshold (the reconcile job)."""
        report = SweepReport()
        cutoff = iso(now_utc() - self._settle_after)
        for item in self._charges.pending_before(cutoff, limit):
            report.examined += 1
            if self.settle(item):
                report.settled += 1
            else:
                report.still_pending += 1
        return report
