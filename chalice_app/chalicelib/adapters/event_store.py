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
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypedDict

from chalicelib.adapters.dynamo import (
    Item,
    ItemKey,
    PageStart,
    WriteConflict,
    WriteEntry,
    from_item,
    newest_first_page,
    optional_str,
    required_str,
    to_item,
    to_values,
    transact,
)
from chalicelib.domain.events import TEST_PING, event_id
from chalicelib.domain.webhooks import Event
from chalicelib.ids import new_id, parse_iso
from chalicelib.tables import EVENTS_LIST_INDEX, EVENTS_TYPE_INDEX, EVENTS_UNDELIVERED_INDEX

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef

RETENTION_SECONDS = 30 * 24 * 3600
UNDELIVERED_SHARDS = 4


class StreamChange(TypedDict, total=False):
    NewImage: Item
    SequenceNumber: str


class StreamRecord(TypedDict, total=False):
    """A DynamoDB stream record as Lambda hands it over (the fields read here)."""

    eventName: str
    dynamodb: StreamChange


def undelivered_shard(event_id: str) -> str:
    return f"undelivered#{zlib.crc32(event_id.encode()) % UNDELIVERED_SHARDS}"


def _list_sort(event: Event) -> str:
    return f"{event.created_at}#{event.event_id}"


def event_to_item(event: Event) -> Item:
    """The event as a new item: in the merchant's listings (a test ping is in none) and in
    the undelivered index until its deliveries exist; kept ``RETENTION_SECONDS``."""
    values: dict[str, object] = {
        "event_id": event.event_id,
        "merchant_id": event.merchant_id,
        "type": event.type,
        "created_at": event.created_at,
        "body": event.body,
        "undelivered_pk": undelivered_shard(event.event_id),
        "undelivered_sk": _list_sort(event),
        "ttl": int(parse_iso(event.created_at).timestamp()) + RETENTION_SECONDS,
    }
    if event.endpoint_id is not None:
        values["endpoint_id"] = event.endpoint_id
    else:
        values["list_pk"] = event.merchant_id
        values["list_sk"] = _list_sort(event)
        values["type_pk"] = f"{event.merchant_id}#{event.type}"
    return to_item(values)


def event_from_item(values: Mapping[str, object]) -> Event:
    """An event from an item's values as ``dynamo.from_item`` decodes them."""
    return Event(
        event_id=required_str(values, "event_id"),
        merchant_id=required_str(values, "merchant_id"),
        type=required_str(values, "type"),
        created_at=required_str(values, "created_at"),
        body=required_str(values, "body"),
        endpoint_id=optional_str(values, "endpoint_id"),
    )


def _body(event_id: str, event_type: str, created_at: str, data: object) -> str:
    document = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created_at": created_at,
        "data": {"object": data},
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


class EventStore:
    """Write entries and reads of events."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self.table = table_name

    @staticmethod
    def key(event_id: str) -> ItemKey:
        return ItemKey({"event_id": {"S": event_id}})

    def _put(self, event: Event) -> WriteEntry:
        return WriteEntry(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": event_to_item(event),
                    "ConditionExpression": "attribute_not_exists(event_id)",
                }
            }
        )

    def entry(
        self, merchant_id: str, object_id: str, event_type: str, created_at: str, data: object
    ) -> WriteEntry:
        """A Put of the event of ``event_type`` about ``object_id`` (``data``: as answered).

        Its condition refuses a second event of one type about one object.
        """
        evt = event_id(object_id, event_type)
        return self._put(
            Event(
                event_id=evt,
                merchant_id=merchant_id,
                type=event_type,
                created_at=created_at,
                body=_body(evt, event_type, created_at, data),
            )
        )

    def test_ping_entry(
        self, merchant_id: str, endpoint_id: str, created_at: str, data: object
    ) -> tuple[WriteEntry, Event]:
        """A Put of a ``test.ping`` event for one endpoint (``data``: the endpoint), and
        the event. It is delivered like any event, to ``endpoint_id`` only, and is not one
        of the merchant's events: no list keys, and ``get_for`` does not answer it.
        """
        evt = new_id("evt")
        event = Event(
            event_id=evt,
            merchant_id=merchant_id,
            type=TEST_PING,
            created_at=created_at,
            body=_body(evt, TEST_PING, created_at, data),
            endpoint_id=endpoint_id,
        )
        return self._put(event), event

    def get(self, event_id: str) -> Event | None:
        item = self._client.get_item(
            TableName=self.table, Key=self.key(event_id), ConsistentRead=True
        ).get("Item")
        return event_from_item(from_item(item)) if item else None

    def get_for(self, merchant_id: str, event_id: str) -> Event | None:
        """The merchant's event, or None (unknown or another merchant's)."""
        event = self.get(event_id)
        if event is None or event.merchant_id != merchant_id or event.type == TEST_PING:
            return None
        return event

    def list_for_merchant(
        self, merchant_id: str, event_type: str | None, limit: int, after: Event | None
    ) -> tuple[list[Event], bool]:
        """A page of the merchant's events (of one type), newest first, starting below
        ``after``, and whether more follow."""
        index, partition = (
            (EVENTS_TYPE_INDEX, ("type_pk", f"{merchant_id}#{event_type}"))
            if event_type
            else (EVENTS_LIST_INDEX, ("list_pk", merchant_id))
        )
        before = _list_sort(after) if after is not None else None
        items, more = newest_first_page(
            self._client, self.table, index.name, partition, limit, before
        )
        return [event_from_item(i) for i in items], more

    @staticmethod
    def from_stream(record: StreamRecord) -> Event | None:
        """The new event a stream record carries; None for any other change (a TTL
        expiry is a REMOVE, and the handing over of an event a MODIFY)."""
        image = record.get("dynamodb", {}).get("NewImage")
        if record.get("eventName") != "INSERT" or not image:
            return None
        return event_from_item(from_item(image))

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
        self, shard: int, created_before: str, start: PageStart | None, limit: int = 50
    ) -> tuple[list[Event], PageStart | None]:
        """Events of one shard created before ``created_before`` (ISO) and not handed over."""
        kwargs: QueryInputTypeDef = {
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
        events = [event_from_item(from_item(i)) for i in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return events, PageStart(last) if last else None
