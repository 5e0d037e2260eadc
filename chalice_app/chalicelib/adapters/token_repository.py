"""Tokens table: one item per card token, card data only as ciphertext."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.dynamo import (
    FirstRead,
    ItemKey,
    WriteEntry,
    from_item,
    to_item,
    to_values,
)
from chalicelib.domain.charges import Token, TokenId


def token_values(token: Token) -> dict[str, object]:
    """The stored attributes of a token (``None``: left out)."""
    return {
        "token_id": token.id,
        "merchant_id": token.merchant_id,
        "brand": token.brand,
        "last4": token.last4,
        "exp_month": token.exp_month,
        "exp_year": token.exp_year,
        "fingerprint": token.fingerprint,
        "used": token.used,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "expires_epoch": token.expires_epoch,
        # DynamoDB deletes expired items lazily; every read also checks expires_epoch.
        "ttl": token.expires_epoch,
        "card_number_ct": token.card_number_ct,
        "cvv_ct": token.cvv_ct,
        "holder_ct": token.holder_ct,
    }


def token_to_item(token: Token) -> dict[str, Any]:
    return to_item(token_values(token))


def token_of(values: Mapping[str, Any]) -> Token:
    """A token from its stored attributes (``from_item``'s plain values)."""
    return Token(
        id=TokenId(values["token_id"]),
        merchant_id=values["merchant_id"],
        brand=values["brand"],
        last4=values["last4"],
        exp_month=values["exp_month"],
        exp_year=values["exp_year"],
        fingerprint=values.get("fingerprint", ""),
        used=values["used"],
        created_at=values["created_at"],
        expires_at=values["expires_at"],
        expires_epoch=values["expires_epoch"],
        card_number_ct=values.get("card_number_ct"),
        cvv_ct=values.get("cvv_ct"),
        holder_ct=values.get("holder_ct"),
    )


class TokenRepository:
    """Stores tokens and consumes them with one conditional write."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table = table_name

    def put_entry(self, token: Token) -> WriteEntry:
        """A write entry creating ``token`` (ids are random; the condition is a safety net)."""
        return WriteEntry(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": token_to_item(token),
                    "ConditionExpression": "attribute_not_exists(token_id)",
                }
            }
        )

    @staticmethod
    def key(token_id: str) -> ItemKey:
        return ItemKey({"token_id": {"S": token_id}})

    def token_read(self, token_id: str) -> FirstRead[Token]:
        """The token, as a charge request's first read."""
        return FirstRead(self.table, self.key(token_id), token_of)

    def get(self, token_id: str) -> Token | None:
        response = self._client.get_item(
            TableName=self.table, Key=self.key(token_id), ConsistentRead=True
        )
        item = response.get("Item")
        return token_of(from_item(item)) if item else None

    def consume_entry(self, token: Token, now_epoch: int) -> WriteEntry:
        """A write entry marking ``token`` used, its card ciphertexts destroyed.

        The token is written whole, as read, without them (a Put costs the local stack far
        less than an update expression, and the same deployed); its condition is the token
        rule itself: this merchant's, unused, unexpired.
        """
        return WriteEntry(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": token_to_item(token.consumed()),
                    "ConditionExpression": (
                        "merchant_id = :merchant AND used = :false AND expires_epoch > :now"
                    ),
                    "ExpressionAttributeValues": to_values(
                        {":false": False, ":merchant": token.merchant_id, ":now": now_epoch}
                    ),
                }
            }
        )
