"""Use cases: charge a token, read a charge, list charges."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from chalicelib.adapters.bank_client import CardDetails
from chalicelib.adapters.card_vault import aad_for
from chalicelib.adapters.charge_repository import CHARGE_SK, charge_pk
from chalicelib.adapters.dynamo import WriteConflict
from chalicelib.domain.lifecycle import PENDING
from chalicelib.errors import ApiError
from chalicelib.ids import iso, new_id, now_utc
from chalicelib.models import Charge, ChargeList, ChargeRequest, ListChargesQuery
from chalicelib.resources import charge_resource
from chalicelib.services.recording import Record, Reply
from chalicelib.services.settlement import (
    RECHECK_SECONDS,
    SettlementService,
    call_bank_before,
)

# A status read asks the bank about at most this many pending items, each at most once per
# RECHECK_SECONDS whoever reads: reads cannot turn into a polling storm against the bank.
_MAX_BANK_CHECKS_PER_READ = 3


class ChargeService:
    """Charges a token through the bank, writing ahead of every bank call."""

    def __init__(
        self,
        tokens: Any,
        charges: Any,
        vault: Any,
        bank: Any,
        settlement: SettlementService,
        bank_call_deadline_seconds: float,
        capture_window_seconds: float,
    ) -> None:
        self._tokens = tokens
        self._capture_window = timedelta(seconds=capture_window_seconds)
        self._charges = charges
        self._vault = vault
        self._bank = bank
        self._settlement = settlement
        self._call_deadline = bank_call_deadline_seconds

    # ---- POST /charge (an idempotent command: first_read, create, resume) ----------------

    def first_read(self, merchant_id: str, request: ChargeRequest) -> tuple[str, dict[str, Any]]:
        """The item ``create`` starts from (read with the idempotency record, one round trip)."""
        return self._tokens.table, self._tokens.key(request.token)

    def create(
        self,
        merchant_id: str,
        request: ChargeRequest,
        record: Record,
        token: dict[str, Any] | None,
    ) -> Reply:
        """Charge ``request.token``: 201, 202, 402 or 502 with the charge, else an ApiError.

        1. check the token and open its card data;
        2. write ahead, in one transaction: consume the token (destroying its ciphertexts),
           the charge ``pending`` and the request's recovery point;
        3. ask the bank, with the charge id as the reference;
        4. record the outcome with the stored response and audit (``settlement``).
        """
        if (
            token is None
            or token["merchant_id"] != merchant_id
            or token["expires_epoch"] <= int(time.time())
        ):
            raise ApiError("invalid_token", param="token")
        if token["used"]:
            raise ApiError("token_already_used", param="token")
        card = self._open_card(token)
        now = now_utc()
        stamp = iso(now)
        # Without capture the bank only holds the money, until ``capture_before``.
        capture_before = None if request.captures else iso(now + self._capture_window)
        charge_id = new_id("ch")
        charge = {
            "pk": charge_pk(merchant_id, charge_id),
            "sk": CHARGE_SK,
            "charge_id": charge_id,
            "merchant_id": merchant_id,
            "status": PENDING,
            "amount": request.amount,
            "currency": request.currency,
            "captures": request.captures,
            "capture_before": capture_before,
            "amount_captured": 0,
            "amount_refunded": 0,
            "amount_reserved": 0,
            "refundable": 0,
            "refund_count": 0,
            "card": {k: token[k] for k in ("brand", "last4", "exp_month", "exp_year")},
            "description": request.description,
            "metadata": request.metadata or {},
            "token_id": token["token_id"],
            "created_at": stamp,
            "updated_at": stamp,
            "bank_requested_at": stamp,
        }
        deadline = time.monotonic() + self._call_deadline
        try:
            record.write_ahead(
                [
                    self._tokens.consume_entry(token, int(time.time())),
                    self._charges.put_pending_charge_entry(charge),
                ],
                (charge["pk"], CHARGE_SK),
            )
        except WriteConflict:
            # Another request consumed the token between our read and our write.
            raise ApiError("token_already_used", param="token") from None

        outcome = call_bank_before(
            deadline,
            lambda: self._bank.authorize(
                charge_id, request.amount, request.currency, card, capture_before
            ),
        )
        # An unknown answer is reversed at once while the deadline allows: 502 once the bank
        # accepted the reversal, else 202 pending, settled later from the bank's record.
        return self._settlement.conclude(charge, outcome, record, deadline)

    def resume(self, merchant_id: str, object_key: tuple[str, str], record: Record) -> Reply:
        return self._settlement.resume(object_key, record)

    def _open_card(self, token: dict[str, Any]) -> CardDetails:
        merchant, token_id = token["merchant_id"], token["token_id"]
        number = self._vault.open(
            token["card_number_ct"], aad_for(merchant, token_id, "card_number")
        ).decode()
        cvv = self._vault.open(token["cvv_ct"], aad_for(merchant, token_id, "cvv")).decode()
        return CardDetails(number, token["exp_month"], token["exp_year"], cvv)

    # ---- reads ---------------------------------------------------------------------------

    def get(self, merchant_id: str, charge_id: str) -> Charge:
        """The charge with its refunds; pending items are first settled with the bank."""
        charge, refunds = self._charges.get_with_refunds(merchant_id, charge_id)
        if charge is None:
            raise ApiError("resource_missing", param="id")
        pending = [i for i in [charge, *refunds] if i["status"] == PENDING]
        if pending and self._settle_some(pending[:_MAX_BANK_CHECKS_PER_READ]):
            charge, refunds = self._charges.get_with_refunds(merchant_id, charge_id)
        return charge_resource(charge, refunds)

    def _settle_some(self, pending: list[dict[str, Any]]) -> bool:
        now = now_utc()
        since = iso(now - timedelta(seconds=RECHECK_SECONDS))
        settled = False
        for item in pending:
            if self._charges.claim_bank_check(item, iso(now), since):
                settled = self._settlement.settle(item) is not None or settled
        return settled

    def list(self, merchant_id: str, query: ListChargesQuery) -> ChargeList:
        """A page of the merchant's charges, newest first (refunds not expanded)."""
        cursor = None
        if query.starting_after is not None:
            anchor = self._charges.get_charge(merchant_id, query.starting_after)
            if anchor is None:
                raise ApiError("invalid_starting_after", param="starting_after")
            cursor = f"{anchor['created_at']}#{anchor['charge_id']}"
        items, has_more = self._charges.list_for_merchant(merchant_id, query.page_size, cursor)
        return ChargeList(items=[charge_resource(i, []) for i in items], has_more=has_more)
