"""IdempotencyKeys table: one record per (merchant, Idempotency-Key).

A request claims its key with a conditional put (an in-flight lease), and completes it in
the same unit of work as its own writes, so a stored response and its effects land together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.dynamo import from_item, is_condition_failure, to_item, to_values


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str
    request_id: str


@dataclass(frozen=True)
class Claim:
    """What claiming a key found: ``acquired`` or one of the three refusals."""

    acquired: bool
    replay: StoredResponse | None = None
    reused_with_other_request: bool = False
    in_progress: bool = False


class IdempotencyStore:
    """Claims, completes and releases idempotency keys."""

    def __init__(self, client: Any, table_name: str, ttl_seconds: int, lease_seconds: int) -> None:
        self._client = client
        self._table = table_name
        self._ttl = ttl_seconds
        self._lease = lease_seconds

    @staticmethod
    def _key(merchant_id: str, key: str) -> dict[str, Any]:
        return {"idempotency_key": {"S": f"{merchant_id}#{key}"}}

    def claim(
        self, merchant_id: str, key: str, fingerprint: str, request_id: str, now: int
    ) -> Claim:
        """Take the key for this request, or say why not (one round trip either way)."""
        item = {
            "idempotency_key": f"{merchant_id}#{key}",
            "state": "in_progress",
            "fingerprint": fingerprint,
            "owner": request_id,
            "lease_expires_at": now + self._lease,
            "ttl": now + self._ttl,
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(item),
                # Free when absent, past its TTL (DynamoDB deletes lazily), or when a crashed
                # request's lease ran out on the same request.
                ConditionExpression=(
                    "attribute_not_exists(idempotency_key) OR #ttl < :now OR "
                    "(#state = :in_progress AND lease_expires_at < :now AND fingerprint = :fp)"
                ),
                ExpressionAttributeNames={"#ttl": "ttl", "#state": "state"},
                ExpressionAttributeValues=to_values(
                    {":now": now, ":in_progress": "in_progress", ":fp": fingerprint}
                ),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return Claim(acquired=True)
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
            old = from_item(exc.response.get("Item", {}))  # type: ignore[attr-defined]
        if old.get("fingerprint") != fingerprint:
            return Claim(acquired=False, reused_with_other_request=True)
        if old.get("state") == "completed":
            return Claim(
                acquired=False,
                replay=StoredResponse(old["status"], old["body"], old["request_id"]),
            )
        return Claim(acquired=False, in_progress=True)

    def complete_entry(
        self,
        merchant_id: str,
        key: str,
        fingerprint: str,
        request_id: str,
        status: int,
        body: dict[str, Any],
        now: int,
    ) -> dict[str, Any]:
        """A write entry storing the response, valid only while this request owns the key."""
        item = {
            "idempotency_key": f"{merchant_id}#{key}",
            "state": "completed",
            "fingerprint": fingerprint,
            "owner": request_id,
            "request_id": request_id,
            "status": status,
            "body": json.dumps(body, separators=(",", ":")),
            "ttl": now + self._ttl,
        }
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(item),
                "ConditionExpression": "#owner = :rid",
                "ExpressionAttributeNames": {"#owner": "owner"},
                "ExpressionAttributeValues": to_values({":rid": request_id}),
            }
        }

    def release(self, merchant_id: str, key: str, request_id: str) -> None:
        """Free the key after an internal fault so the client can retry with it."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=self._key(merchant_id, key),
                ConditionExpression="#owner = :rid AND #state = :in_progress",
                ExpressionAttributeNames={"#owner": "owner", "#state": "state"},
                ExpressionAttributeValues=to_values(
                    {":rid": request_id, ":in_progress": "in_progress"}
                ),
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
