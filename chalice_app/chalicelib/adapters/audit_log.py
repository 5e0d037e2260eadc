"""The audit trail: AuditLog (one append-only record per state-changing request or key
event) and AuthRejections (rejected authentications, counted per minute).

Neither table has a TTL: audit records are kept at least one year (PCI DSS 10.5.1).
"""

from __future__ import annotations

import hashlib
from typing import Any

from chalicelib.adapters.dynamo import to_item, to_values

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
    "expires_at",
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

    def __init__(self, client: Any, table_name: str) -> None:
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
