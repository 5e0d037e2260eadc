"""IdempotencyKeys table: one record per (merchant, Idempotency-Key), the request's recovery point.

A record is written in the same transaction as the request's write-ahead record (its charge
or refund ``pending``), so a key is bound to its object for good from that instant:

* ``state = in_progress``: the object is ``object_pk``/``object_sk`` (the charges table's keys
  of its ``ObjectRef``); ``owner`` is the request
  serving it until ``lease_expires_at`` (the function's timeout), after which a retry takes
  the record over and resumes the object;
* ``state = completed``: the response (``status``, ``body``, ``request_id``) to replay.

A refusal decided before anything was written is stored directly as ``completed``.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any, Final, Literal

from chalicelib.adapters.charge_repository import ref_keys, ref_of_keys
from chalicelib.adapters.dynamo import (
    ItemKey,
    WriteConflict,
    WriteEntry,
    from_item,
    to_item,
    to_values,
    transact,
)
from chalicelib.domain.charges import ObjectRef

KeyState = Literal["in_progress", "completed"]
IN_PROGRESS: Final = "in_progress"
COMPLETED: Final = "completed"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRecord:
    """What the table holds for a key (absent and expired records read as None)."""

    fingerprint: str
    state: KeyState
    owner: str
    lease_expires_at: int = 0
    # The object the key stands for, once written ahead.
    object_ref: ObjectRef | None = None
    status: int | None = None
    body: str | None = None
    request_id: str | None = None

    @property
    def completed(self) -> bool:
        return self.state == COMPLETED


class IdempotencyStore:
    """Builds the writes of idempotency records and reads them back."""

    def __init__(
        self, client: Any, table_name: str, ttl_seconds: int, lease_seconds: float
    ) -> None:
        self._client = client
        self.table = table_name
        self._ttl = ttl_seconds
        self._lease = lease_seconds

    def _lease_end(self, now: float) -> int:
        return int(now + self._lease) + 1

    @staticmethod
    def _id(merchant_id: str, key: str) -> str:
        return f"{merchant_id}#{key}"

    def key(self, merchant_id: str, key: str) -> ItemKey:
        return ItemKey({"idempotency_key": {"S": self._id(merchant_id, key)}})

    def parse(self, item: dict[str, Any] | None, now: float) -> KeyRecord | None:
        """The record read with ``key``; one past its TTL is gone (DynamoDB deletes lazily)."""
        if item is None or item.get("ttl", 0) < now:
            return None
        object_pk, object_sk = item.get("object_pk"), item.get("object_sk")
        return KeyRecord(
            fingerprint=item["fingerprint"],
            state=item["state"],
            owner=item["owner"],
            lease_expires_at=item.get("lease_expires_at", 0),
            object_ref=ref_of_keys(object_pk, object_sk) if object_pk and object_sk else None,
            status=item.get("status"),
            body=item.get("body"),
            request_id=item.get("request_id"),
        )

    def read(self, merchant_id: str, key: str, now: float) -> KeyRecord | None:
        response = self._client.get_item(
            TableName=self.table, Key=self.key(merchant_id, key), ConsistentRead=True
        )
        item = response.get("Item")
        return self.parse(from_item(item) if item else None, now)

    # A new record may replace an absent one or one past its TTL; a record of this request
    # (``owner``) may always be replaced by its own next phase.
    _FREE_OR_MINE = "attribute_not_exists(idempotency_key) OR #ttl < :now OR #owner = :rid"

    def _put(self, item: dict[str, Any], now: float) -> WriteEntry:
        return WriteEntry(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item({**item, "ttl": int(now) + self._ttl}),
                    "ConditionExpression": self._FREE_OR_MINE,
                    "ExpressionAttributeNames": {"#ttl": "ttl", "#owner": "owner"},
                    "ExpressionAttributeValues": to_values(
                        {":now": int(now), ":rid": item["owner"]}
                    ),
                }
            }
        )

    def bind_entry(
        self,
        merchant_id: str,
        key: str,
        fingerprint: str,
        request_id: str,
        ref: ObjectRef,
        now: float,
    ) -> WriteEntry:
        """The recovery point: this key now stands for the object written in the same commit."""
        return self._put(
            {
                "idempotency_key": self._id(merchant_id, key),
                "state": IN_PROGRESS,
                "fingerprint": fingerprint,
                "owner": request_id,
                "lease_expires_at": self._lease_end(now),
                **self._object_keys(ref),
            },
            now,
        )

    def complete_entry(
        self,
        merchant_id: str,
        key: str,
        fingerprint: str,
        request_id: str,
        status: int,
        body: dict[str, Any],
        now: float,
        ref: ObjectRef | None = None,
    ) -> WriteEntry:
        """The response to replay, stored by the request that owns (or finds free) the key."""
        item: dict[str, Any] = {
            "idempotency_key": self._id(merchant_id, key),
            "state": COMPLETED,
            "fingerprint": fingerprint,
            "owner": request_id,
            "request_id": request_id,
            "status": status,
            "body": json.dumps(body, separators=(",", ":")),
        }
        if ref is not None:
            item.update(self._object_keys(ref))
        return self._put(item, now)

    @staticmethod
    def _object_keys(ref: ObjectRef) -> dict[str, str]:
        object_pk, object_sk = ref_keys(ref)
        return {"object_pk": object_pk, "object_sk": object_sk}

    def take_over(
        self, merchant_id: str, key: str, previous_owner: str, request_id: str, now: float
    ) -> bool:
        """Become the owner of a record whose first request can no longer be running."""
        try:
            transact(
                self._client,
                [
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": self.key(merchant_id, key),
                            "UpdateExpression": "SET #owner = :rid, lease_expires_at = :lease",
                            "ConditionExpression": (
                                "#owner = :previous AND #state = :in_progress "
                                "AND lease_expires_at < :now"
                            ),
                            "ExpressionAttributeNames": {"#owner": "owner", "#state": "state"},
                            "ExpressionAttributeValues": to_values(
                                {
                                    ":rid": request_id,
                                    ":previous": previous_owner,
                                    ":in_progress": IN_PROGRESS,
                                    ":now": int(now),
                                    ":lease": self._lease_end(now),
                                }
                            ),
                        }
                    }
                ],
            )
        except WriteConflict:
            # Refused, or a re-send of our own write whose answer was lost: the record says.
            record = self.read(merchant_id, key, now)
            return record is not None and record.owner == request_id
        return True

    def release(self, merchant_id: str, key: str, request_id: str) -> None:
        """End this request's lease at once (it failed): a retry resumes without waiting."""
        # Someone else may own the record by now: then nothing of ours is left to release.
        with contextlib.suppress(WriteConflict):
            transact(
                self._client,
                [
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": self.key(merchant_id, key),
                            "UpdateExpression": "SET lease_expires_at = :zero",
                            "ConditionExpression": "#owner = :rid AND #state = :in_progress",
                            "ExpressionAttributeNames": {"#owner": "owner", "#state": "state"},
                            "ExpressionAttributeValues": to_values(
                                {":zero": 0, ":rid": request_id, ":in_progress": IN_PROGRESS}
                            ),
                        }
                    }
                ],
            )
