"""The audit trail: AuditLog (one append-only record per state-changing request or key
event) and AuthRejections (rejected authentications, counted per minute).

Neither table has a TTL: audit records are kept at least one year (PCI DSS 10.5.1). An
audit record holds only ``AuditEntry``'s fields, so no caller can put a body, a key or card
data into the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from chalicelib.adapters.dynamo import (
    Item,
    WriteEntry,
    optional_str,
    required_int,
    required_str,
    to_item,
    to_values,
)
from chalicelib.domain.keys import AuditEntry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def audit_to_item(entry: AuditEntry) -> Item:
    """The audit record as a DynamoDB item, under its merchant's (or ``unauthenticated``)
    partition of the day; absent optional fields are not written."""
    owner = entry.merchant_id or "unauthenticated"
    return to_item(
        {
            "partition": f"{owner}#{entry.at[:10]}",
            "sort": f"{entry.at}#{entry.request_id}",
            "at": entry.at,
            "request_id": entry.request_id,
            "merchant_id": entry.merchant_id,
            "key_id": entry.key_id,
            "action": entry.action,
            "route": entry.route,
            "object_id": entry.object_id,
            "status": entry.status,
            "error_code": entry.error_code,
            "source_ip": entry.source_ip,
            "user_agent": entry.user_agent,
            "reason": entry.reason,
            "key_hash_prefix": entry.key_hash_prefix,
            "expires_at": entry.expires_at,
        }
    )


def audit_from_item(values: Mapping[str, object]) -> AuditEntry:
    """An audit record from an item's values as ``dynamo.from_item`` decodes them."""
    return AuditEntry(
        at=required_str(values, "at"),
        request_id=required_str(values, "request_id"),
        action=required_str(values, "action"),
        status=required_int(values, "status"),
        merchant_id=optional_str(values, "merchant_id"),
        key_id=optional_str(values, "key_id"),
        route=optional_str(values, "route"),
        object_id=optional_str(values, "object_id"),
        error_code=optional_str(values, "error_code"),
        source_ip=optional_str(values, "source_ip"),
        user_agent=optional_str(values, "user_agent"),
        reason=optional_str(values, "reason"),
        key_hash_prefix=optional_str(values, "key_hash_prefix"),
        expires_at=optional_str(values, "expires_at"),
    )


class AuditLog:
    """Builds and appends audit records; records are never updated or deleted."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def entry(self, record: AuditEntry) -> WriteEntry:
        """A write entry appending ``record``; its condition refuses any overwrite."""
        return WriteEntry(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": audit_to_item(record),
                    "ConditionExpression": "attribute_not_exists(#p)",
                    "ExpressionAttributeNames": {"#p": "partition"},
                }
            }
        )

    def append(self, record: AuditEntry) -> None:
        """Write one record now (used where there is no unit of work, e.g. the authorizer)."""
        self._client.put_item(**self.entry(record)["Put"])


# Partitions per minute for rejected authentications: a flood of bad keys spreads over
# this many partition keys instead of one hot one (DynamoDB takes ~1,000 writes/s each).
REJECTION_SHARDS = 16


class RejectedAuthLog:
    """Rejected authentications, aggregated: one item per minute, source and key-hash prefix.

    ``source`` is what the authorizer knows of where a request came from. A TOKEN
    authorizer sees no IP address, only the token and the method ARN, so the source is the
    route (``POST /charge``); deployed, API Gateway's access log has the IP and user agent
    of every request. Each rejection adds 1 to its item's ``count`` in one ``UpdateItem``,
    so the number of items is bounded by minutes x routes x reasons x prefixes, whatever
    the number of requests, and the count stays exact.
    """

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    @staticmethod
    def key_of(
        minute: str, source: str, reason: str, key_hash_prefix: str | None
    ) -> dict[str, str]:
        """The item a rejection is counted in; ``minute`` is ``YYYY-MM-DDTHH:MM``."""
        sort = f"{source}#{reason}#{key_hash_prefix or '-'}"
        shard = int(hashlib.sha256(sort.encode()).hexdigest()[:4], 16) % REJECTION_SHARDS
        return {"partition": f"{minute}#{shard:02d}", "sort": sort}

    def record(
        self,
        *,
        at: str,
        request_id: str,
        source: str,
        reason: str,
        key_hash_prefix: str | None,
        key_id: str | None = None,
        merchant_id: str | None = None,
    ) -> None:
        """Count one rejection: one UpdateItem, exact under concurrency (``ADD``)."""
        key = self.key_of(at[:16], source, reason, key_hash_prefix)
        # The same for every rejection counted in this item, so a plain SET is idempotent.
        fixed = {
            "minute": at[:16],
            "route": source,
            "reason": reason,
            "key_hash_prefix": key_hash_prefix,
            "key_id": key_id,
            "merchant_id": merchant_id,
        }
        fixed = {k: v for k, v in fixed.items() if v is not None}
        names = {f"#f{i}": name for i, name in enumerate(fixed)}
        values = {f":f{i}": value for i, value in enumerate(fixed.values())}
        sets = ", ".join(f"#f{i} = :f{i}" for i in range(len(fixed)))
        self._client.update_item(
            TableName=self._table,
            Key=to_item(key),
            UpdateExpression=(
                f"SET {sets}, first_at = if_not_exists(first_at, :at), "
                "first_request_id = if_not_exists(first_request_id, :rid), "
                "last_at = :at, last_request_id = :rid ADD #c :one"
            ),
            ExpressionAttributeNames={**names, "#c": "count"},
            ExpressionAttributeValues=to_values(
                {**values, ":at": at, ":rid": request_id, ":one": 1}
            ),
        )
