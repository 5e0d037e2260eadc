"""Tokens table: one item per card token, card data only as ciphertext."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamo import from_item, to_item, to_values


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

    def consume_entry(self, token_id: str, merchant_id: str, now_epoch: int) -> dict[str, Any]:
        """A write entry marking the token used and destroying its card ciphertexts.

        Its condition is the token rule itself: this merchant's, unused, unexpired.
        """
        return {
            "Update": {
                "TableName": self.table,
                "Key": {"token_id": {"S": token_id}},
                "UpdateExpression": "SET used = :true REMOVE cvv_ct, card_number_ct, holder_ct",
                "ConditionExpression": (
                    "merchant_id = :merchant AND used = :false AND expires_epoch > :now"
                ),
                "ExpressionAttributeValues": to_values(
                    {":true": True, ":false": False, ":merchant": merchant_id, ":now": now_epoch}
                ),
            }
        }
