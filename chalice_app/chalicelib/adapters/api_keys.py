"""ApiKeys table: API keys stored only as SHA-256 hashes."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamo import from_item, is_condition_failure, to_item, to_values


class ApiKeyRepository:
    """Reads and writes key records; never sees or stores a key in plain text."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, key_hash: str) -> dict[str, Any] | None:
        """The record for a key hash, or None."""
        response = self._client.get_item(
            TableName=self._table, Key={"key_hash": {"S": key_hash}}, ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def put_entry(self, record: dict[str, Any]) -> dict[str, Any]:
        """A write entry that creates a key record (refusing to overwrite one)."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(record),
                "ConditionExpression": "attribute_not_exists(key_hash)",
            }
        }

    def revoke(self, key_hash: str, revoked_at: str) -> dict[str, Any] | None:
        """Mark a key revoked; returns its record, or None if there is no such key."""
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"key_hash": {"S": key_hash}},
                UpdateExpression="SET #s = :revoked, revoked_at = :at",
                ConditionExpression="attribute_exists(key_hash)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_values({":revoked": "revoked", ":at": revoked_at}),
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if is_condition_failure(exc):
                return None
            raise
        return from_item(response["Attributes"])
