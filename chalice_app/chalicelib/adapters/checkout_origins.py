"""CheckoutOrigins table: each merchant's registered checkout origins, one item each.

The list is rewritten whole with a condition on its version, so two operators changing it
at once cannot lose each other's change (the loser re-reads and tries again).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from chalicelib.adapters.dynamo import (
    Item,
    WriteEntry,
    from_item,
    optional_str,
    required_int,
    required_str,
    str_tuple,
    to_item,
    to_values,
)
from chalicelib.domain.origins import CheckoutOrigins

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def origins_to_item(record: CheckoutOrigins) -> Item:
    return to_item(
        {
            "merchant_id": record.merchant_id,
            "origins": list(record.origins),
            "version": record.version,
            "updated_at": record.updated_at,
        }
    )


def origins_from_item(values: Mapping[str, object]) -> CheckoutOrigins:
    """The record from an item's values as ``dynamo.from_item`` decodes them."""
    return CheckoutOrigins(
        merchant_id=required_str(values, "merchant_id"),
        origins=str_tuple(values, "origins"),
        version=required_int(values, "version"),
        updated_at=optional_str(values, "updated_at"),
    )


class CheckoutOriginRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self.table = table_name

    def get(self, merchant_id: str) -> CheckoutOrigins:
        """The merchant's origins (none, at version 0, if it never registered one)."""
        response = self._client.get_item(
            TableName=self.table,
            Key={"merchant_id": {"S": merchant_id}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return CheckoutOrigins(merchant_id=merchant_id)
        return origins_from_item(from_item(item))

    def put_entry(
        self, merchant_id: str, origins: tuple[str, ...], expected: CheckoutOrigins, at: str
    ) -> WriteEntry:
        """A write entry replacing the list, if it is still at ``expected.version``."""
        condition = "attribute_not_exists(merchant_id)" if expected.version == 0 else "version = :v"
        record = CheckoutOrigins(
            merchant_id=merchant_id, origins=origins, version=expected.version + 1, updated_at=at
        )
        put: dict[str, object] = {
            "TableName": self.table,
            "Item": origins_to_item(record),
            "ConditionExpression": condition,
        }
        if expected.version:
            put["ExpressionAttributeValues"] = to_values({":v": expected.version})
        return WriteEntry({"Put": put})
