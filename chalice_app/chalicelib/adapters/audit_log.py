"""AuditLog table: append-only records of state-changing requests and rejected logins."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamo import to_item

# Attributes an audit record may hold. Anything else (a body, a key) is dropped, so a
# careless caller cannot put card data or keys into the log.
AUDIT_FIELDS = (
    "at",
    "request_id",
    "merchant_id",
    "key_id",
    "action",
    "route",
    "object_id",
    "status",
    "error_code",
    "source_ip",
    "user_agent",
    "reason",
    "key_hash_prefix",
)


class AuditLog:
    """Builds and appends audit records; records are never updated or deleted."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def entry(self, record: dict[str, Any]) -> dict[str, Any]:
        """A write entry appending ``record``; its condition refuses any overwrite."""
        values = {k: record.get(k) for k in AUDIT_FIELDS}
        owner = values.get("merchant_id") or "unauthenticated"
        values["partition"] = f"{owner}#{str(values['at'])[:10]}"
        values["sort"] = f"{values['at']}#{values['request_id']}"
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(values),
                "ConditionExpression": "attribute_not_exists(#p)",
                "ExpressionAttributeNames": {"#p": "partition"},
            }
        }

    def append(self, record: dict[str, Any]) -> None:
        """Write one record now (used where there is no unit of work, e.g. the authorizer)."""
        self._client.put_item(**self.entry(record)["Put"])
