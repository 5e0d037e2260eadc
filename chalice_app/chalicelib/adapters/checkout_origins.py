"""CheckoutOrigins table: each merchant's registered checkout origins, one item each.

The list is rewritten whole with a condition on its version, so two operators changing it
at once cannot lose each other's change (the loser re-reads and tries again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.dynamo import from_item, to_item, to_values


@dataclass(frozen=True)
class OriginList:
    """A merchant's origins as stored, and the version a rewrite must find."""

    origins: tuple[str, ...]
    version: int  # 0: no item yet


class CheckoutOriginRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table = table_name

    def get(self, merchant_id: str) -> OriginList:
        response = self._client.get_item(
            TableName=self.table,
            Key={"merchant_id": {"S": merchant_id}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return OriginList((), 0)
        record = from_item(item)
        return OriginList(tuple(record.get("origins") or ()), int(record.get("version", 0)))

    def put_entry(
        self, merchant_id: str, origins: tuple[str, ...], expected: OriginList, at: str
    ) -> dict[str, Any]:
        """A write entry replacing the list, if it is still at ``expected.version``."""
        condition = "attribute_not_exists(merchant_id)" if expected.version == 0 else "version = :v"
        entry: dict[str, Any] = {
            "Put": {
                "TableName": self.table,
                "Item": to_item(
                    {
                        "merchant_id": merchant_id,
                        "origins": list(origins),
                        "version": expected.version + 1,
                        "updated_at": at,
                    }
                ),
                "ConditionExpression": condition,
            }
        }
        if expected.version:
            entry["Put"]["ExpressionAttributeValues"] = to_values({":v": expected.version})
        return entry
