"""Use cases: charge a token, read a charge, list charges."""

from __future__ import annotations

import time
from typing import Any

from chalicelib.adapters.bank_client import CardDetails
from chalicelib.adapters.card_vault import aad_for
from chalicelib.adapters.dynamo import WriteConflict
from chalicelib.domain.declines import final_charge_fields
from chalicelib.errors import ApiError
from chalicelib.ids import iso, new_id, now_utc
from chalicelib.models import Charge, ChargeList, ChargeRequest, ListChargesQuery
from chalicelib.resources import charge_resource


class ChargeService:
    """Charges a token through the bank, writing ahead of every bank call."""

    def __init__(self, tokens: Any, charges: Any, vault: Any, bank: Any, settlement: Any) -> None:
        self._tokens = tokens
        self._charges = charges
        self._vault = vault
        self._bank = bank
        self._settlement = settlement

    def create(self, merchant_id: str, request: ChargeRequest, uow: Any) -> tuple[int, Charge]:
        """Charge ``request.token``: (201, succeeded) or (202, pending), else an ApiError.

        1. read the token and open its card data;
        2. one transaction: consume the token (destroying its ciphertexts) and write the
           charge ``pending`` - the write-ahead record a crash leaves for reconciliation;
        3. ask the bank, with the charge id as the reference;
        4. queue the final state on ``uow`` (committed with the idempotency record and audit).
        """
        now = now_utc()
        token = self._tokens.get(request.token)
        if (
            token is None
            or token["merchant_id"] != merchant_id
            or token["expires_epoch"] <= int(time.time())
        ):
            raise ApiError("invalid_token", param="token")
        if token["used"]:
            raise ApiError("token_already_used", param="token")
        card = self._open_card(token)
        charge = {
            "charge_id": new_id("ch"),
            "merchant_id": merchant_id,
            "status": "pending",
            "amount": request.amount,
            "currency": request.currency,
            "amount_refunded": 0,
            "amount_reserved": 0,
            "refundable": 0,
            "card": {k: token[k] for k in ("brand", "last4", "exp_month", "exp_year")},
            "description": request.description,
            "metadata": request.metadata or {},
            "token_id": token["token_id"],
            "created_at": iso(now),
            "updated_at": iso(now),
        }
        uow.add(
            self._tokens.consume_entry(token["token_id"], merchant_id, int(time.time())),
            self._charges.put_pending_charge_entry(charge),
        )
        try:
            uow.commit()
        except WriteConflict:
            # Another request consumed the token between our read and write.
            raise ApiError("token_already_used", param="token") from None

        outcome = self._bank.authorize(charge["charge_id"], request.amount, request.currency, card)
        if outcome.kind == "unknown":
            # No answer in time: the charge stays pending and is settled by status query.
            return 202, charge_resource(charge, [])
        final = final_charge_fields(outcome.kind, outcome.authorization_code, outcome.decline_code)
        updated_at = iso(now_utc())
        uow.add(
            self._charges.finalize_charge_entry(
                charge["charge_id"], amount=request.amount, updated_at=updated_at, **final
            ),
            settled_elsewhere=True,
        )
        charge.update(final, updated_at=updated_at)
        if outcome.kind == "approved":
            return 201, charge_resource(charge, [])
        if outcome.kind == "declined":
            raise ApiError(
                "card_declined",
                extra={"decline_code": final["failure_code"], "charge": charge["charge_id"]},
            )
        raise ApiError("bank_unavailable", extra={"charge": charge["charge_id"]})

    def _open_card(self, token: dict[str, Any]) -> CardDetails:
        merchant, token_id = token["merchant_id"], token["token_id"]
        number = self._vault.open(
            token["card_number_ct"], aad_for(merchant, token_id, "card_number")
        ).decode()
        cvv = self._vault.open(token["cvv_ct"], aad_for(merchant, token_id, "cvv")).decode()
        return CardDetails(number, token["exp_month"], token["exp_year"], cvv)

    def get(self, merchant_id: str, charge_id: str) -> Charge:
        """The charge with its refunds; pending items are first settled with the bank."""
        charge, refunds = self._charges.get_with_refunds(charge_id)
        if charge is None or charge["merchant_id"] != merchant_id:
            raise ApiError("resource_missing", param="id")
        pending = [i for i in [charge, *refunds] if i["status"] == "pending"]
        if pending and any([self._settlement.settle(item) for item in pending]):
            charge, refunds = self._charges.get_with_refunds(charge_id)
        return charge_resource(charge, refunds)

    def list(self, merchant_id: str, query: ListChargesQuery) -> ChargeList:
        """A page of the merchant's charges, newest first (refunds not expanded)."""
        cursor = None
        if query.starting_after is not None:
            anchor = self._charges.get_charge(query.starting_after)
            if anchor is None or anchor["merchant_id"] != merchant_id:
                raise ApiError("invalid_starting_after", param="starting_after")
            cursor = f"{anchor['created_at']}#{anchor['charge_id']}"
        items, has_more = self._charges.list_for_merchant(merchant_id, query.page_size, cursor)
        return ChargeList(items=[charge_resource(i, []) for i in items], has_more=has_more)
