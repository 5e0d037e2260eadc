"""Use case: tokenize a card."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING

from chalicelib.adapters.card_vault import aad_for
from chalicelib.domain import cards
from chalicelib.domain.charges import Token, TokenId
from chalicelib.ids import iso, new_id, now_utc
from chalicelib.models import Token as TokenResource
from chalicelib.models import TokenCard, TokenRequest
from chalicelib.services.recording import Record, Reply

if TYPE_CHECKING:  # the Protocols are for the type checker: nothing to import at run time
    from chalicelib.ports import CardFingerprinter, CardVault, TokenRepository


class TokenService:
    """Encrypts the card, stores a single-use token and describes it."""

    def __init__(
        self,
        tokens: TokenRepository,
        vault: CardVault,
        fingerprinter: CardFingerprinter,
        ttl_seconds: int,
    ) -> None:
        self._tokens = tokens
        self._vault = vault
        self._fingerprinter = fingerprinter
        self._ttl = ttl_seconds

    def create(self, merchant_id: str, request: TokenRequest, record: Record) -> Reply:
        """Seal the card under a KMS data key; the token is written with the request's audit."""
        token_id = TokenId(new_id("tok"))
        created = now_utc()
        expires = created + timedelta(seconds=self._ttl)
        number = request.card_number
        token = Token(
            id=token_id,
            merchant_id=merchant_id,
            brand=request.brand,
            last4=cards.last4(number),
            exp_month=request.exp_month,
            exp_year=request.exp_year,
            fingerprint=self._fingerprinter.fingerprint(merchant_id, number),
            used=False,
            created_at=iso(created),
            expires_at=iso(expires),
            expires_epoch=int(expires.timestamp()),
            card_number_ct=self._vault.seal(
                number.encode(), aad_for(merchant_id, token_id, "card_number")
            ),
            cvv_ct=self._vault.seal(request.cvv.encode(), aad_for(merchant_id, token_id, "cvv")),
            # Cardholder data too: sealed like the number, not needed in clear by anything.
            holder_ct=self._seal_holder(merchant_id, token_id, request),
        )
        resource = TokenResource(
            id=token_id,
            card=TokenCard(
                brand=token.brand,
                last4=token.last4,
                exp_month=token.exp_month,
                exp_year=token.exp_year,
                fingerprint=token.fingerprint,
            ),
            created_at=token.created_at,
            expires_at=token.expires_at,
            used=False,
        )
        reply = Reply(201, data=resource, object_id=token_id)
        record.finish(reply, [self._tokens.put_entry(token)])
        return reply

    def _seal_holder(self, merchant_id: str, token_id: str, request: TokenRequest) -> bytes | None:
        if request.cardholder_name is None and request.email is None:
            return None
        holder = json.dumps({"name": request.cardholder_name, "email": request.email})
        return self._vault.seal(holder.encode(), aad_for(merchant_id, token_id, "holder"))
