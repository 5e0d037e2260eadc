"""Tokens table: one item per card token, card data only as ciphertext."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamo import from_item, to_item, to_values

# Sealed card data, destroyed as soon as the token is used.
CARD_CIPHERTEXTS = frozenset({"card_number_ct", "cvv_ct", "holder_ct"})


class TokenRepository:
    """Stores tokens and consumes them with one conditional write."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table = table_name

    def put_entry(self, token: dict[str, Any]) -> dict[str, Any]:
        """A write entry creating ``token`` (ids are random; the condition is a safety net)."""
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_item(token),
                "ConditionExpression": "attribute_not_exists(token_id)",
            }
        }

    @staticmethod
    def key(token_id: str) -> dict[str, Any]:
        return {"token_id": {"S": token_id}}

    def get(self, token_id: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self.table, Key={"token_id": {"S": token_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def consume_entry(self, token: dict[str, Any], now_epoch: int) -> dict[str, Any]:
        """A write entry marking ``token`` used, its card ciphertexts destroyed.

        The token is written whole, as read, without them (a Put costs the local stack far
        less than an update expression, and the same deployed); its condition is the token
        rule itself: this merchant's, unused, unexpired.
        """
        used = {k: v for k, v in token.items() if k not in CARD_CIPHERTEXTS}
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_item({**used, "used": True}),
                "ConditionExpression": (
                    "merchant_id = :merchant AND used = :false AND expires_epoch > :now"
                ),
                "ExpressionAttributeValues": to_values(
                    {":false": False, ":merchant": token["merchant_id"], ":now": now_epoch}
                ),
            }
        }
