"""Events table (the outbox): one item per event, written with the change it describes.

``body`` is the event object as JSON, exactly the bytes a webhook delivers and signs and
what ``GET /events`` answers. The event id is the key; reads compare the merchant, so
another merchant's event is answered exactly like an unknown one. The stream of this
table (new images) feeds the delivery function; the TTL keeps each event 30 days.

A new event carries ``undelivered_pk``/``undelivered_sk`` (a sparse, sharded index) until
its deliveries have been created (``mark_handed_over``): the re-driver finds there the
events whose stream record never reached the delivery function.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from typing import Any

from chalicelib.adapters.dynamo import (
    WriteConflict,
    from_item,
    newest_first_page,
    to_item,
    to_values,
    transact,
)
from chalicelib.domain.events import TEST_PING, event_id
from chalicelib.ids import new_id, parse_iso
from chalicelib.tables import EVENTS_LIST_INDEX, EVENTS_TYPE_INDEX, EVENTS_UNDELIVERED_INDEX

RETENTION_SECONDS = 30 * 24 * 3600
UNDELIVERED_SHARDS = 4


def undelivered_shard(event_id: str) -> str:
    return f"undelivered#{zlib.crc32(event_id.encode()) % UNDELIVERED_SHARDS}"


class EventStore:
    """Write entries and reads of events."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table = table_name

    @staticmethod
    def key(event_id: str) -> dict[str, Any]:
        return {"event_id": {"S": event_id}}

    def entry(
        self, merchant_id: str, object_id: str, event_type: str, created_at: str, data: Any
    ) -> dict[str, Any]:
        """A Put of the event of ``event_type`` about ``object_id`` (``data``: as answered).

        Its condition refuses a second event of one type about one object.
        """
        evt = event_id(object_id, event_type)
        body = {
            "id": evt,
            "object": "event",
            "type": event_type,
            "created_at": created_at,
            "data": {"object": data},
        }
        item = {
            "event_id": evt,
            "merchant_id": merchant_id,
            "type": event_type,
            "created_at": created_at,
            "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
            "list_pk": merchant_id,
            "list_sk": f"{created_at}#{evt}",
            "type_pk": f"{merchant_id}#{event_type}",
            "undelivered_pk": undelivered_shard(evt),
            "undelivered_sk": f"{created_at}#{evt}",
            "ttl": int(parse_iso(created_at).timestamp()) + RETENTION_SECONDS,
        }
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(event_id)",
            }
        }

    def test_ping_entry(
        self, merchant_id: str, endpoint_id: str, created_at: str, data: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A Put of a ``test.ping`` event for one endpoint (``data``: the endpoint), and
        the event object. It is delivered like any event, to ``endpoint_id`` only, and is
        not one of the merchant's events: no list keys, and ``get_for`` does not answer it.
        """
        body: dict[str, Any] = {
            "id": new_id("evt"),
            "object": "event",
            "type": TEST_PING,
            "created_at": created_at,
            "data": {"object": data},
        }
        item = {
            "event_id": body["id"],
            "merchant_id": merchant_id,
            "type": TEST_PING,
            "created_at": created_at,
            "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
            "endpoint_id": endpoint_id,
            "undelivered_pk": undelivered_shard(body["id"]),
            "undelivered_sk": f"{created_at}#{body['id']}",
            "ttl": int(parse_iso(created_at).timestamp()) + RETENTION_SECONDS,
        }
        put = {
            "Put": {
                "TableName": self.table,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(event_id)",
            }
        }
        return put, body

    def get(self, event_id: str) -> dict[str, Any] | None:
        item = self._client.get_item(
            TableName=self.table, Key=self.key(event_id), ConsistentRead=True
        ).get("Item")
        return from_item(item) if item else None

    def get_for(self, merchant_id: str, event_id: str) -> dict[str, Any] | None:
        """The merchant's event, or None (unknown or another merchant's)."""
        item = self.get(event_id)
        if item is None or item["merchant_id"] != merchant_id or item["type"] == TEST_PING:
            return None
        return item

    def list_for_merchant(
        self, merchant_id: str, event_type: str | None, limit: int, before: str | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """A page of the merchant's events (of one type), newest first, and whether more follow."""
        index, partition = (
            (EVENTS_TYPE_INDEX, ("type_pk", f"{merchant_id}#{event_type}"))
            if event_type
            else (EVENTS_LIST_INDEX, ("list_pk", merchant_id))
        )
        return newest_first_page(self._client, self.table, index.name, partition, limit, before)

    def mark_handed_over(self, event_id: str) -> None:
        """The event's deliveries exist: it leaves the re-driver's undelivered index."""
        # An event gone meanwhile (its TTL) is not written back.
        with contextlib.suppress(WriteConflict):
            transact(
                self._client,
                [
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": self.key(event_id),
                            "UpdateExpression": "REMOVE undelivered_pk, undelivered_sk",
                            "ConditionExpression": "attribute_exists(event_id)",
                        }
                    }
                ],
            )

    def undelivered_page(
        self, shard: int, created_before: str, start: dict[str, Any] | None, limit: int = 50
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Events of one shard created before ``created_before`` (ISO) and not handed over."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": EVENTS_UNDELIVERED_INDEX.name,
            "KeyConditionExpression": "undelivered_pk = :p AND undelivered_sk < :before",
            "ExpressionAttributeValues": to_values(
                {":p": f"undelivered#{shard}", ":before": created_before}
            ),
            "Limit": limit,
        }
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self._client.query(**kwargs)
        items = [from_item(i) for i in response.get("Items", [])]
        return items, response.get("LastEvaluatedKey")
