"""ApiKeys table: API keys stored only as SHA-256 hashes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from chalicelib.adapters.dynamo import (
    Item,
    ItemKey,
    WriteEntry,
    from_item,
    optional_str,
    required_str,
    to_item,
    to_values,
)
from chalicelib.domain.keys import ApiKey, KeyStatus, KeyType
from chalicelib.tables import API_KEYS_MERCHANT_INDEX

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_KEY_TYPES: dict[str, KeyType] = {"secret": "secret", "publishable": "publishable"}
_STATUSES: dict[str, KeyStatus] = {"active": "active", "revoked": "revoked"}


def api_key_to_item(key: ApiKey) -> Item:
    """The key record as a DynamoDB item (absent optional fields are not written)."""
    return to_item(
        {
            "key_hash": key.key_hash,
            "key_id": key.key_id,
            "merchant_id": key.merchant_id,
            "merchant_name": key.merchant_name,
            "key_type": key.key_type,
            "status": key.status,
            "created_at": key.created_at,
            "last4": key.last4,
            "rolled_from": key.rolled_from,
            "rolled_to": key.rolled_to,
            "expires_at": key.expires_at,
            "revoked_at": key.revoked_at,
        }
    )


def api_key_from_item(values: Mapping[str, object]) -> ApiKey:
    """A key record from an item's values as ``dynamo.from_item`` decodes them."""
    return ApiKey(
        key_hash=required_str(values, "key_hash"),
        key_id=required_str(values, "key_id"),
        merchant_id=required_str(values, "merchant_id"),
        merchant_name=optional_str(values, "merchant_name") or "",
        key_type=_KEY_TYPES[required_str(values, "key_type")],
        status=_STATUSES[required_str(values, "status")],
        created_at=required_str(values, "created_at"),
        last4=optional_str(values, "last4"),
        rolled_from=optional_str(values, "rolled_from"),
        rolled_to=optional_str(values, "rolled_to"),
        expires_at=optional_str(values, "expires_at"),
        revoked_at=optional_str(values, "revoked_at"),
    )


class ApiKeyRepository:
    """Reads and writes key records; never sees or stores a key in plain text."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self.table = table_name

    @staticmethod
    def key(key_hash: str) -> ItemKey:
        return ItemKey({"key_hash": {"S": key_hash}})

    @staticmethod
    def parse(values: Mapping[str, object] | None) -> ApiKey | None:
        """The record a batch read (``dynamo.get_many``) found, or None."""
        return api_key_from_item(values) if values is not None else None

    def get(self, key_hash: str) -> ApiKey | None:
        """The record for a key hash, or None."""
        response = self._client.get_item(
            TableName=self.table, Key=self.key(key_hash), ConsistentRead=True
        )
        item = response.get("Item")
        return api_key_from_item(from_item(item)) if item else None

    def still_valid_entry(
        self, key_hash: str, merchant_id: str, key_type: str, now: str
    ) -> WriteEntry:
        """A transaction item that holds only if the key is still active for its merchant:
        what ``authentication.key_state`` and ``judge`` require, as a condition."""
        return WriteEntry(
            {
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
        )

    def put_entry(self, key: ApiKey) -> WriteEntry:
        """A write entry that creates a key record (refusing to overwrite one)."""
        return WriteEntry(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": api_key_to_item(key),
                    "ConditionExpression": "attribute_not_exists(key_hash)",
                }
            }
        )

    def list_for_merchant(self, merchant_id: str) -> list[ApiKey]:
        """Every key record of a merchant, oldest first (an operator's read, paginated)."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table,
            IndexName=API_KEYS_MERCHANT_INDEX.name,
            KeyConditionExpression="merchant_id = :m",
            ExpressionAttributeValues=to_values({":m": merchant_id}),
        )
        return [api_key_from_item(from_item(item)) for page in pages for item in page["Items"]]

    def merchant_ids(self) -> list[str]:
        """Every merchant that has a key record, sorted (an operator's full read)."""
        pages = self._client.get_paginator("scan").paginate(
            TableName=self.table,
            IndexName=API_KEYS_MERCHANT_INDEX.name,
            ProjectionExpression="merchant_id",
        )
        return sorted({item["merchant_id"]["S"] for page in pages for item in page["Items"]})

    def revoke_entry(self, key_hash: str, revoked_at: str) -> WriteEntry:
        """A write entry revoking a key that is still ``active``."""
        return self._update_entry(
            key_hash,
            "SET #s = :revoked, revoked_at = :at",
            "#s = :active",
            {":revoked": "revoked", ":at": revoked_at, ":active": "active"},
        )

    def roll_entry(
        self, key_hash: str, status: KeyStatus, rolled_to: str, expires_at: str | None
    ) -> WriteEntry:
        """A write entry marking a key as replaced by ``rolled_to`` (once only).

        ``expires_at`` ends an active key's grace period; a revoked key needs none. The
        condition refuses a key rolled or revoked meanwhile by another operator.
        """
        values: dict[str, object] = {":to": rolled_to, ":status": status}
        update = "SET rolled_to = :to"
        if expires_at is not None:
            update += ", expires_at = :exp"
            values[":exp"] = expires_at
        return self._update_entry(
            key_hash, update, "attribute_not_exists(rolled_to) AND #s = :status", values
        )

    def _update_entry(
        self, key_hash: str, update: str, condition: str, values: dict[str, object]
    ) -> WriteEntry:
        return WriteEntry(
            {
                "Update": {
                    "TableName": self.table,
                    "Key": {"key_hash": {"S": key_hash}},
                    "UpdateExpression": update,
                    "ConditionExpression": f"attribute_exists(key_hash) AND {condition}",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": to_values(values),
                }
            }
        )
