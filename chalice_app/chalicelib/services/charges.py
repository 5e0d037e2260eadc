"""Use cases: charge a token, read a charge, list charges."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING

from chalicelib.adapters.bank_client import CardDetails
from chalicelib.adapters.card_vault import aad_for
from chalicelib.adapters.dynamo import FirstRead, WriteConflict
from chalicelib.domain.charges import Charge, ChargeId, ObjectRef, Pending, Token
from chalicelib.domain.lifecycle import PENDING
from chalicelib.errors import ApiError
from chalicelib.ids import iso, new_id, now_utc
from chalicelib.models import Charge as ChargeResource
from chalicelib.models import ChargeList, ChargeRequest, ListChargesQuery
from chalicelib.resources import charge_resource
from chalicelib.services.recording import Record, Reply
from chalicelib.services.settlement import RECHECK_SECONDS, SettlementService

if TYPE_CHECKING:  # the Protocols are for the type checker: nothing to import at run time
    from chalicelib.ports import Bank, CardVault, ChargeRepository, TokenRepository

# A status read asks the bank about at most this many pending items, each at most once per
# RECHECK_SECONDS whoever reads: reads cannot turn into a polling storm against the bank.
_MAX_BANK_CHECKS_PER_READ = 3


class ChargeService:
    """Charges a token through the bank, writing ahead of every bank call."""

    def __init__(
        self,
        tokens: TokenRepository,
        charges: ChargeRepository,
        vault: CardVault,
        bank: Bank,
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

    def first_read(self, merchant_id: str, request: ChargeRequest) -> FirstRead[Token]:
        """The token ``create`` starts from (read with the idempotency record, one round trip)."""
        return self._tokens.token_read(request.token)

    def create(
        self,
        merchant_id: str,
        request: ChargeRequest,
        record: Record,
        token: Token | None,
    ) -> Reply:
        """Charge ``request.token``: 201, 202, 402 or 502 with the charge, else an ApiError.

        1. check the token and open its card data;
        2. write ahead, in one transaction: consume the token (destroying its ciphertexts),
           the charge ``pending`` and the request's recovery point;
        3. ask the bank, with the charge id as the reference;
        4. record the outcome with the stored response and audit (``settlement``).
        """
        if token is None or not token.usable_by(merchant_id, int(time.time())):
            raise ApiError("invalid_token", param="token")
        if token.used:
            raise ApiError("token_already_used", param="token")
        card = self._open_card(token)
        now = now_utc()
        stamp = iso(now)
        # Without capture the bank only holds the money, until ``capture_before``.
        capture_before = None if request.captures else iso(now + self._capture_window)
        charge = Charge(
            id=ChargeId(new_id("ch")),
            merchant_id=merchant_id,
            status=PENDING,
            amount=request.amount,
            currency=request.currency,
            captures=request.captures,
            capture_before=capture_before,
            card=token.card,
            description=request.description,
            metadata=request.metadata or {},
            token_id=token.id,
            created_at=stamp,
            updated_at=stamp,
            bank_requested_at=stamp,
        )
        deadline = time.monotonic() + self._call_deadline
        try:
            self._settlement.write_ahead(
                charge, record, effects=[self._tokens.consume_entry(token, int(time.time()))]
            )
        except WriteConflict:
            # Another request consumed the token between our read and our write.
            raise ApiError("token_already_used", param="token") from None
        # An unknown answer is reversed at once while the deadline allows: 502 once the bank
        # accepted the reversal, else 202 pending, settled later from the bank's record.
        return self._settlement.send(
            charge,
            lambda: self._bank.authorize(
                charge.id, request.amount, request.currency, card, capture_before
            ),
            record,
            deadline,
        )

    def resume(self, merchant_id: str, ref: ObjectRef, record: Record) -> Reply:
        return self._settlement.resume(ref, record)

    def _open_card(self, token: Token) -> CardDetails:
        if token.card_number_ct is None or token.cvv_ct is None:
            raise ApiError("token_already_used", param="token")  # (its card data is gone)
        merchant, token_id = token.merchant_id, token.id
        number = self._vault.open(
            token.card_number_ct, aad_for(merchant, token_id, "card_number")
        ).decode()
        cvv = self._vault.open(token.cvv_ct, aad_for(merchant, token_id, "cvv")).decode()
        return CardDetails(number, token.exp_month, token.exp_year, cvv)

    # ---- reads ---------------------------------------------------------------------------

    def get(self, merchant_id: str, charge_id: str) -> ChargeResource:
        """The charge with its refunds; pending items are first settled with the bank."""
        charge, refunds = self._charges.get_with_refunds(merchant_id, charge_id)
        if charge is None:
            raise ApiError("resource_missing", param="id")
        items: list[Pending] = [charge, *refunds]
        pending = [i for i in items if i.status == PENDING]
        if pending and self._settle_some(pending[:_MAX_BANK_CHECKS_PER_READ]):
            settled, refunds = self._charges.get_with_refunds(merchant_id, charge_id)
            charge = settled or charge  # (charges are never deleted)
        return charge_resource(charge, refunds)

    def _settle_some(self, pending: list[Pending]) -> bool:
        now = now_utc()
        since = iso(now - timedelta(seconds=RECHECK_SECONDS))
        settled = False
        for item in pending:
            if self._charges.claim_bank_check(item, iso(now), since):
                settled = self._settlement.settle(item) is not None or settled
        return settled

    def list(self, merchant_id: str, query: ListChargesQuery) -> ChargeList:
        """A page of the merchant's charges, newest first (refunds not expanded)."""
        anchor = None
        if query.starting_after is not None:
            anchor = self._charges.get_charge(merchant_id, query.starting_after)
            if anchor is None:
                raise ApiError("invalid_starting_after", param="starting_after")
        items, has_more = self._charges.list_for_merchant(merchant_id, query.page_size, anchor)
        return ChargeList(items=[charge_resource(i, []) for i in items], has_more=has_more)
