"""Use case: tokenize a card."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from chalicelib.adapters.card_vault import CardVault, aad_for
from chalicelib.domain import cards
from chalicelib.ids import iso, new_id, now_utc
from chalicelib.models import Token, TokenCard, TokenRequest
from chalicelib.services.recording import Record, Reply


class TokenService:
    """Encrypts the card, stores a single-use token and describes it."""

    def __init__(self, tokens: Any, vault: CardVault, fingerprinter: Any, ttl_seconds: int) -> None:
        self._tokens = tokens
        self._vault = vault
        self._fingerprinter = fingerprinter
        self._ttl = ttl_seconds

    def create(self, merchant_id: str, request: TokenRequest, record: Record) -> Reply:
        """Seal the card under a KMS data key; the token is written with the request's audit."""
        token_id = new_id("tok")
        created = now_utc()
        expires = created + timedelta(seconds=self._ttl)
        number = request.card_number
        card = TokenCard(
            brand=request.brand,
            last4=cards.last4(number),
            exp_month=request.exp_month,
            exp_year=request.exp_year,
            fingerprint=self._fingerprinter.fingerprint(merchant_id, number),
        )
        item = {
            "token_id": token_id,
            "merchant_id": merchant_id,
            "card_number_ct": self._vault.seal(
                number.encode(), aad_for(merchant_id, token_id, "card_number")
            ),
            "cvv_ct": self._vault.seal(request.cvv.encode(), aad_for(merchant_id, token_id, "cvv")),
            **card.model_dump(),
            # Cardholder data too: sealed like the number, not needed in clear by anything.
            "holder_ct": self._seal_holder(merchant_id, token_id, request),
            "used": False,
            "created_at": iso(created),
            "expires_at": iso(expires),
            "expires_epoch": int(expires.timestamp()),
            # DynamoDB deletes expired items lazily; every read also checks expires_epoch.
            "ttl": int(expires.timestamp()),
        }
        token = Token(
            id=token_id,
            card=card,
            created_at=item["created_at"],
            expires_at=item["expires_at"],
            used=False,
        )
        reply = Reply(201, data=token, object_id=token_id)
        record.finish(reply, [self._tokens.put_entry(item)])
        return reply

    def _seal_holder(self, merchant_id: str, token_id: str, request: TokenRequest) -> bytes | None:
        if request.cardholder_name is None and request.email is None:
            return None
        holder = json.dumps({"name": request.cardholder_name, "email": request.email})
        return self._vault.seal(holder.encode(), aad_for(merchant_id, token_id, "holder"))
