"""Webhook endpoints, their signing secrets, and deliveries.

* ``WebhookEndpoints`` (merchant, endpoint id): url, subscribed types, status. Routes
  read and write it. Each merchant's partition also holds one counter item
  (``COUNTER_ID``): its number of endpoints, changed in the transaction that creates or
  deletes one, on condition that it stays within the cap, so concurrent creations cannot
  pass it. Those transactions also require the counter to exist: a merchant whose
  endpoints predate it gets it from ``start_count``, which counts them while nothing can
  change them.
* ``WebhookSecrets`` (endpoint id): the signing secret and, after a roll, the previous one
  until it expires. The API function may only put it, replace it in place (a roll) and
  delete it with its endpoint; only the delivery functions read it, so no route can
  answer a secret after the one response that creates (or rolls) it.
* ``Deliveries`` (event id, endpoint id): one item per event and subscribed endpoint, its
  attempts and state. Pending ones carry ``due_pk``/``due_sk`` (next attempt time) in a
  sparse sharded index the re-driver reads.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from chalicelib.adapters.dynamo import (
    Item,
    ItemKey,
    PageStart,
    WriteConflict,
    WriteEntry,
    from_item,
    get_many,
    optional_int,
    optional_str,
    required_int,
    required_str,
    str_tuple,
    to_item,
    to_values,
    transact,
)
from chalicelib.domain.webhooks import (
    PENDING,
    Attempt,
    Delivery,
    DeliveryStatus,
    Event,
    WebhookEndpoint,
)
from chalicelib.tables import DELIVERIES_DUE_INDEX

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PutTypeDef, QueryInputTypeDef, UpdateTypeDef

# The sort key of a merchant's counter item: never an endpoint id (those are ``we_...``).
COUNTER_ID = "#count"
ENDPOINT_ID_PREFIX = "we_"
DUE_SHARDS = 4
DELIVERY_RETENTION_SECONDS = 30 * 24 * 3600

_STATUSES: dict[str, DeliveryStatus] = {
    "pending": "pending",
    "delivered": "delivered",
    "failed": "failed",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningSecret:
    """An endpoint's signing secret and, during a roll's grace period, the previous one."""

    endpoint_id: str
    merchant_id: str
    secret: str = field(repr=False)
    previous_secret: str | None = field(default=None, repr=False)
    previous_expires_ms: int | None = None  # epoch milliseconds

    def signing(self, now_ms: int) -> tuple[str, ...]:
        """The secrets that sign a delivery now, the current one first."""
        if self.previous_secret and (self.previous_expires_ms or 0) > now_ms:
            return (self.secret, self.previous_secret)
        return (self.secret,)


def endpoint_to_item(endpoint: WebhookEndpoint) -> Item:
    return to_item(
        {
            "merchant_id": endpoint.merchant_id,
            "endpoint_id": endpoint.endpoint_id,
            "url": endpoint.url,
            "events": list(endpoint.events),
            "created_at": endpoint.created_at,
        }
    )


def endpoint_from_item(values: Mapping[str, object]) -> WebhookEndpoint:
    """An endpoint from an item's values as ``dynamo.from_item`` decodes them."""
    return WebhookEndpoint(
        merchant_id=required_str(values, "merchant_id"),
        endpoint_id=required_str(values, "endpoint_id"),
        url=required_str(values, "url"),
        events=str_tuple(values, "events"),
        created_at=required_str(values, "created_at"),
    )


def secret_to_item(secret: SigningSecret) -> Item:
    return to_item(
        {
            "endpoint_id": secret.endpoint_id,
            "merchant_id": secret.merchant_id,
            "secret": secret.secret,
            "previous_secret": secret.previous_secret,
            "previous_expires_ms": secret.previous_expires_ms,
        }
    )


def secret_from_item(values: Mapping[str, object]) -> SigningSecret:
    return SigningSecret(
        endpoint_id=required_str(values, "endpoint_id"),
        merchant_id=required_str(values, "merchant_id"),
        secret=required_str(values, "secret"),
        previous_secret=optional_str(values, "previous_secret"),
        previous_expires_ms=optional_int(values, "previous_expires_ms"),
    )


def due_shard(event_id: str, endpoint_id: str) -> str:
    return f"due#{zlib.crc32(f'{event_id}#{endpoint_id}'.encode()) % DUE_SHARDS}"


def _due_sort(next_ms: int, event_id: str, endpoint_id: str) -> str:
    return f"{next_ms:013d}#{event_id}#{endpoint_id}"


def delivery_to_item(delivery: Delivery) -> Item:
    """The delivery as an item: a pending one is in the due index at its next attempt; the
    TTL keeps it ``DELIVERY_RETENTION_SECONDS`` after its first attempt."""
    values: dict[str, object] = {
        "event_id": delivery.event_id,
        "endpoint_id": delivery.endpoint_id,
        "merchant_id": delivery.merchant_id,
        "url": delivery.url,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "first_attempt_ms": delivery.first_attempt_ms,
        "next_attempt_ms": delivery.next_attempt_ms,
        "last_attempt_ms": delivery.last_attempt_ms,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "finished_ms": delivery.finished_ms,
        "ttl": delivery.first_attempt_ms // 1000 + DELIVERY_RETENTION_SECONDS,
    }
    if delivery.status == PENDING:
        values["due_pk"] = due_shard(delivery.event_id, delivery.endpoint_id)
        values["due_sk"] = _due_sort(
            delivery.next_attempt_ms, delivery.event_id, delivery.endpoint_id
        )
    return to_item(values)


def delivery_from_item(values: Mapping[str, object]) -> Delivery:
    """A delivery from an item's values as ``dynamo.from_item`` decodes them."""
    return Delivery(
        event_id=required_str(values, "event_id"),
        endpoint_id=required_str(values, "endpoint_id"),
        merchant_id=required_str(values, "merchant_id"),
        url=required_str(values, "url"),
        status=_STATUSES[required_str(values, "status")],
        attempts=required_int(values, "attempts"),
        first_attempt_ms=required_int(values, "first_attempt_ms"),
        next_attempt_ms=required_int(values, "next_attempt_ms"),
        last_attempt_ms=optional_int(values, "last_attempt_ms"),
        last_status_code=optional_int(values, "last_status_code"),
        last_error=optional_str(values, "last_error"),
        finished_ms=optional_int(values, "finished_ms"),
    )


class WebhookEndpointStore:
    """Endpoints and their secrets."""

    def __init__(self, client: DynamoDBClient, endpoints_table: str, secrets_table: str) -> None:
        self._client = client
        self.table = endpoints_table
        self.secrets_table = secrets_table

    def _key(self, merchant_id: str, endpoint_id: str) -> ItemKey:
        return ItemKey({"merchant_id": {"S": merchant_id}, "endpoint_id": {"S": endpoint_id}})

    def counter_key(self, merchant_id: str) -> ItemKey:
        return self._key(merchant_id, COUNTER_ID)

    @staticmethod
    def count_of(counter: Mapping[str, object] | None) -> int:
        """The number of endpoints a counter item (as a batch read found it) holds."""
        if counter is None:
            return 0
        return optional_int(counter, "endpoint_count") or 0

    def start_count(self, merchant_id: str) -> int:
        """The merchant's number of endpoints when it has no counter item yet: counted from
        the endpoints and written as the counter, unless one appeared meanwhile (then: its
        count). The count is exact: no creation or deletion commits while the counter is
        absent (their conditions require it), so the endpoints cannot change between the
        strongly consistent count and the conditional write."""
        query: QueryInputTypeDef = {
            "TableName": self.table,
            "KeyConditionExpression": "merchant_id = :m AND begins_with(endpoint_id, :we)",
            "ExpressionAttributeValues": to_values({":m": merchant_id, ":we": ENDPOINT_ID_PREFIX}),
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        count = 0
        while True:
            response = self._client.query(**query)
            count += response["Count"]
            if not response.get("LastEvaluatedKey"):
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        counter = to_item(
            {"merchant_id": merchant_id, "endpoint_id": COUNTER_ID, "endpoint_count": count}
        )
        put: PutTypeDef = {
            "TableName": self.table,
            "Item": counter,
            "ConditionExpression": "attribute_not_exists(endpoint_id)",
        }
        try:
            transact(self._client, [WriteEntry({"Put": put})])
        except WriteConflict:
            found = get_many(self._client, [(self.table, self.counter_key(merchant_id))])
            return self.count_of(found[0])
        return count

    def _count_by(self, merchant_id: str, step: int, cap: int | None) -> WriteEntry:
        """Add ``step`` to the count, which must exist (and, given ``cap``, be below it)."""
        update: UpdateTypeDef = {
            "TableName": self.table,
            "Key": self.counter_key(merchant_id),
            "UpdateExpression": "ADD endpoint_count :step",
            "ConditionExpression": "attribute_exists(endpoint_count)",
            "ExpressionAttributeValues": to_values({":step": step}),
        }
        if cap is not None:
            # A comparison with a missing attribute is false: this requires the counter too.
            update["ConditionExpression"] = "endpoint_count < :cap"
            update["ExpressionAttributeValues"] = to_values({":step": step, ":cap": cap})
        return WriteEntry({"Update": update})

    def create_entries(self, endpoint: WebhookEndpoint, secret: str, cap: int) -> list[WriteEntry]:
        """The merchant's count (refused at ``cap`` or without a counter item:
        ``WriteConflict`` on entry 0), the new endpoint and its secret (one transaction)."""
        signing = SigningSecret(
            endpoint_id=endpoint.endpoint_id, merchant_id=endpoint.merchant_id, secret=secret
        )
        return [
            self._count_by(endpoint.merchant_id, 1, cap),
            WriteEntry(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": endpoint_to_item(endpoint),
                        "ConditionExpression": "attribute_not_exists(endpoint_id)",
                    }
                }
            ),
            WriteEntry(
                {
                    "Put": {
                        "TableName": self.secrets_table,
                        "Item": secret_to_item(signing),
                        "ConditionExpression": "attribute_not_exists(endpoint_id)",
                    }
                }
            ),
        ]

    def delete_entries(self, merchant_id: str, endpoint_id: str) -> list[WriteEntry]:
        """One less in the count (refused without a counter item: ``WriteConflict`` on
        entry 0), deletes of an endpoint (refused if it is gone) and of its secret."""
        return [
            self._count_by(merchant_id, -1, None),
            WriteEntry(
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": self._key(merchant_id, endpoint_id),
                        "ConditionExpression": "attribute_exists(endpoint_id)",
                    }
                }
            ),
            WriteEntry(
                {
                    "Delete": {
                        "TableName": self.secrets_table,
                        "Key": {"endpoint_id": {"S": endpoint_id}},
                    }
                }
            ),
        ]

    def roll_entry(
        self, merchant_id: str, endpoint_id: str, secret: str, old_expires_ms: int | None
    ) -> WriteEntry:
        """Replace the endpoint's secret; the one it had signs beside it until
        ``old_expires_ms`` (None: from now on only the new one). Refused if the endpoint
        (its secret item) is gone or not the merchant's."""
        values: dict[str, object] = {":new": secret, ":m": merchant_id}
        if old_expires_ms is None:
            update = "SET secret = :new REMOVE previous_secret, previous_expires_ms"
        else:
            update = "SET previous_secret = secret, previous_expires_ms = :until, secret = :new"
            values[":until"] = old_expires_ms
        return WriteEntry(
            {
                "Update": {
                    "TableName": self.secrets_table,
                    "Key": {"endpoint_id": {"S": endpoint_id}},
                    "UpdateExpression": update,
                    "ConditionExpression": "attribute_exists(endpoint_id) AND merchant_id = :m",
                    "ExpressionAttributeValues": to_values(values),
                }
            }
        )

    def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        item = self._client.get_item(
            TableName=self.table, Key=self._key(merchant_id, endpoint_id), ConsistentRead=True
        ).get("Item")
        return endpoint_from_item(from_item(item)) if item else None

    def list_for_merchant(self, merchant_id: str) -> list[WebhookEndpoint]:
        """Every endpoint of the merchant, oldest first by id (a merchant has a few)."""
        endpoints: list[WebhookEndpoint] = []
        kwargs: QueryInputTypeDef = {
            "TableName": self.table,
            "KeyConditionExpression": "merchant_id = :m AND begins_with(endpoint_id, :we)",
            "ExpressionAttributeValues": to_values({":m": merchant_id, ":we": ENDPOINT_ID_PREFIX}),
            "ConsistentRead": True,
        }
        while True:
            response = self._client.query(**kwargs)
            endpoints += [endpoint_from_item(from_item(i)) for i in response.get("Items", [])]
            if not response.get("LastEvaluatedKey"):
                return sorted(endpoints, key=lambda e: (e.created_at, e.endpoint_id))
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def secrets(self, endpoint_ids: list[str], now_ms: int) -> dict[str, tuple[str, ...]]:
        """Endpoint id -> the secrets that sign its deliveries now, the current one first
        (then the previous one while a roll's grace period lasts), for the endpoints that
        still exist."""
        if not endpoint_ids:
            return {}
        keys = [(self.secrets_table, {"endpoint_id": {"S": e}}) for e in endpoint_ids]
        found = get_many(self._client, keys)
        return {
            endpoint_id: secret_from_item(item).signing(now_ms)
            for endpoint_id, item in zip(endpoint_ids, found, strict=True)
            if item
        }


class DeliveryStore:
    """Delivery items: created once per event and endpoint, claimed before each attempt.

    A claim sets the attempt count and pushes the next attempt past the attempt's own
    timeout (a lease): a delivery is attempted by one worker at a time, and one whose
    worker died is taken up again by the re-driver when its lease runs out.
    """

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self.table = table_name

    @staticmethod
    def key(event_id: str, endpoint_id: str) -> ItemKey:
        return ItemKey({"event_id": {"S": event_id}, "endpoint_id": {"S": endpoint_id}})

    def start(
        self,
        event: Event,
        endpoint: WebhookEndpoint,
        now_ms: int,
        lease_ms: int,
        again: bool = False,
    ) -> Delivery | None:
        """Create the delivery, claimed for its first attempt; None if it exists already.

        ``again`` (an operator's resend) replaces a finished or failed delivery with a new
        schedule; one still pending is left to its schedule.
        """
        delivery = Delivery(
            event_id=event.event_id,
            endpoint_id=endpoint.endpoint_id,
            merchant_id=event.merchant_id,
            url=endpoint.url,
            status=PENDING,
            attempts=1,
            first_attempt_ms=now_ms,
            next_attempt_ms=now_ms + lease_ms,
        )
        condition = "attribute_not_exists(event_id)"
        put: PutTypeDef = {
            "TableName": self.table,
            "Item": delivery_to_item(delivery),
            "ConditionExpression": condition,
        }
        if again:
            put["ConditionExpression"] = condition + " OR #s <> :pending"
            put["ExpressionAttributeNames"] = {"#s": "status"}
            put["ExpressionAttributeValues"] = to_values({":pending": PENDING})
        try:
            transact(self._client, [{"Put": put}])
        except WriteConflict:
            return None
        return delivery

    def claim(self, delivery: Delivery, now_ms: int, lease_ms: int) -> Delivery | None:
        """Take a due delivery for one more attempt; None if someone else took it first."""
        claimed = replace(
            delivery, attempts=delivery.attempts + 1, next_attempt_ms=now_ms + lease_ms
        )
        update: UpdateTypeDef = {
            "TableName": self.table,
            "Key": self.key(delivery.event_id, delivery.endpoint_id),
            "UpdateExpression": "SET attempts = :n, next_attempt_ms = :next, due_sk = :due",
            "ConditionExpression": (
                "#s = :pending AND attempts = :seen AND next_attempt_ms <= :now"
            ),
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": to_values(
                {
                    ":n": claimed.attempts,
                    ":next": claimed.next_attempt_ms,
                    ":due": _due_sort(
                        claimed.next_attempt_ms, delivery.event_id, delivery.endpoint_id
                    ),
                    ":pending": PENDING,
                    ":seen": delivery.attempts,
                    ":now": now_ms,
                }
            ),
        }
        try:
            transact(self._client, [{"Update": update}])
        except WriteConflict:
            return None
        return claimed

    def record(
        self,
        delivery: Delivery,
        now_ms: int,
        outcome: DeliveryStatus,
        next_ms: int | None,
        attempt: Attempt,
    ) -> None:
        """The result of the attempt ``delivery`` was claimed for: delivered, failed or
        retry (``PENDING``, due again at ``next_ms``).

        Conditional on the claim still being ours (same attempt count, still pending).
        """
        values: dict[str, object] = {
            ":n": delivery.attempts,
            ":pending": PENDING,
            ":at": now_ms,
            ":code": attempt.status_code,
            ":error": attempt.error,
        }
        if outcome == PENDING:
            assert next_ms is not None
            values[":next"] = next_ms
            values[":due"] = _due_sort(next_ms, delivery.event_id, delivery.endpoint_id)
            update = "SET next_attempt_ms = :next, due_sk = :due"
        else:
            values[":status"] = outcome
            update = "SET #s = :status, finished_ms = :at REMOVE due_pk, due_sk"
        update = update.replace(
            "SET ", "SET last_attempt_ms = :at, last_status_code = :code, last_error = :error, "
        )
        # Refused when our lease ran out and another worker claimed it: its result stands.
        with contextlib.suppress(WriteConflict):
            transact(
                self._client,
                [
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": self.key(delivery.event_id, delivery.endpoint_id),
                            "UpdateExpression": update,
                            "ConditionExpression": "#s = :pending AND attempts = :n",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": to_values(values),
                        }
                    }
                ],
            )

    def due_page(
        self, shard: int, now_ms: int, start: PageStart | None, limit: int = 50
    ) -> tuple[list[Delivery], PageStart | None]:
        kwargs: QueryInputTypeDef = {
            "TableName": self.table,
            "IndexName": DELIVERIES_DUE_INDEX.name,
            "KeyConditionExpression": "due_pk = :p AND due_sk <= :now",
            "ExpressionAttributeValues": to_values(
                {":p": f"due#{shard}", ":now": f"{now_ms:013d}~"}
            ),
            "Limit": limit,
        }
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self._client.query(**kwargs)
        deliveries = [delivery_from_item(from_item(i)) for i in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return deliveries, PageStart(last) if last else None

    def for_event(self, event_id: str) -> list[Delivery]:
        response = self._client.query(
            TableName=self.table,
            KeyConditionExpression="event_id = :e",
            ExpressionAttributeValues=to_values({":e": event_id}),
            ConsistentRead=True,
        )
        return [delivery_from_item(from_item(i)) for i in response.get("Items", [])]
