"""ApiKeys table: API keys stored only as SHA-256 hashes."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamo import from_item, to_item, to_values
from chalicelib.tables import API_KEYS_MERCHANT_INDEX


class ApiKeyRepository:
    """Reads and writes key records; never sees or stores a key in plain text."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table = table_name

    @staticmethod
    def key(key_hash: str) -> dict[str, Any]:
        return {"key_hash": {"S": key_hash}}

    def get(self, key_hash: str) -> dict[str, Any] | None:
        """The record for a key hash, or None."""
        response = self._client.get_item(
            TableName=self.table, Key=self.key(key_hash), ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def still_valid_entry(
        self, key_hash: str, merchant_id: str, key_type: str, now: str
    ) -> dict[str, Any]:
        """A transaction item that holds only if the key is still active for its merchant:
        what ``authentication.key_state`` and ``judge`` require, as a condition."""
        return {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": self.key(key_hash),
                "ConditionExpression": "merchant_id = :m AND key_type = :t AND #s = :active "
                "AND (attribute_not_exists(expires_at) OR expires_at > :now)",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": to_values(
                    {":m": merchant_id, ":t": key_type, ":active": "active", ":now": now}
                ),
            }
        }

    def put_entry(self, record: dict[str, Any]) -> dict[str, Any]:
        """A write entry that creates a key record (refusing to overwrite one)."""
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_item(record),
                "ConditionExpression": "attribute_not_exists(key_hash)",
            }
        }

    def list_for_merchant(self, merchant_id: str) -> list[dict[str, Any]]:
        """Every key record of a merchant, oldest first (an operator's read, paginated)."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table,
            IndexName=API_KEYS_MERCHANT_INDEX.name,
            KeyConditionExpression="merchant_id = :m",
            ExpressionAttributeValues=to_values({":m": merchant_id}),
        )
        return [from_item(item) for page in pages for item in page["Items"]]

    def merchant_ids(self) -> list[str]:
        """Every merchant that has a key record, sorted (an operator's full read)."""
        pages = self._client.get_paginator("scan").paginate(
            TableName=self.table,
            IndexName=API_KEYS_MERCHANT_INDEX.name,
            ProjectionExpression="merchant_id",
        )
        return sorted({item["merchant_id"]["S"] for page in pages for item in page["Items"]})

    def revoke_entry(self, key_hash: str, revoked_at: str) -> dict[str, Any]:
        """A write entry revoking a key that is still ``active``."""
        return self._update_entry(
            key_hash,
            "SET #s = :revoked, revoked_at = :at",
            "#s = :active",
            {":revoked": "revoked", ":at": revoked_at, ":active": "active"},
        )

    def roll_entry(
        self, key_hash: str, status: str, rolled_to: str, expires_at: str | None
    ) -> dict[str, Any]:
        """A write entry marking a key as replaced by ``rolled_to`` (once only).

        ``expires_at`` ends an active key's grace period; a revoked key needs none. The
        condition refuses a key rolled or revoked meanwhile by another operator.
        """
        values: dict[str, Any] = {":to": rolled_to, ":status": status}
        update = "SET rolled_to = :to"
        if expires_at is not None:
            update += ", expires_at = :exp"
            values[":exp"] = expires_at
        return self._update_entry(
            key_hash, update, "attribute_not_exists(rolled_to) AND #s = :status", values
        )

    def _update_entry(
        self, key_hash: str, update: str, condition: str, values: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.table,
                "Key": {"key_hash": {"S": key_hash}},
                "UpdateExpression": update,
                "ConditionExpression": f"attribute_exists(key_hash) AND {condition}",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": to_values(values),
            }
        }
