"""Webhook endpoints, their signing secrets, and deliveries.

* ``WebhookEndpoints`` (merchant, endpoint id): url, subscribed types, status. Routes
  read and write it. Each merchant's partition also holds one counter item
  (``COUNTER_ID``): its number of endpoints, changed in the transaction that creates or
  deletes one, on condition that it stays within the cap, so concurrent creations cannot
  pass it.
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
from typing import Any

from chalicelib.adapters.dynamo import (
    WriteConflict,
    from_item,
    get_many,
    to_item,
    to_values,
    transact,
)
from chalicelib.tables import DELIVERIES_DUE_INDEX

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
# The sort key of a merchant's counter item: never an endpoint id (those are ``we_...``).
COUNTER_ID = "#count"
ENDPOINT_ID_PREFIX = "we_"
DUE_SHARDS = 4
DELIVERY_RETENTION_SECONDS = 30 * 24 * 3600


class WebhookEndpointStore:
    """Endpoints and their secrets."""

    def __init__(self, client: Any, endpoints_table: str, secrets_table: str) -> None:
        self._client = client
        self.table = endpoints_table
        self.secrets_table = secrets_table

    def _key(self, merchant_id: str, endpoint_id: str) -> dict[str, Any]:
        return {"merchant_id": {"S": merchant_id}, "endpoint_id": {"S": endpoint_id}}

    def counter_key(self, merchant_id: str) -> dict[str, Any]:
        return self._key(merchant_id, COUNTER_ID)

    def _count_by(self, merchant_id: str, step: int, cap: int | None) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": self.counter_key(merchant_id),
            "UpdateExpression": "ADD endpoint_count :step",
            "ExpressionAttributeValues": to_values({":step": step}),
        }
        if cap is not None:
            update["ConditionExpression"] = (
                "attribute_not_exists(endpoint_count) OR endpoint_count < :cap"
            )
            update["ExpressionAttributeValues"] = to_values({":step": step, ":cap": cap})
        return {"Update": update}

    def create_entries(
        self, endpoint: dict[str, Any], secret: str, cap: int
    ) -> list[dict[str, Any]]:
        """The merchant's count (refused at ``cap``: ``WriteConflict`` on entry 0), the new
        endpoint and its secret (one transaction)."""
        return [
            self._count_by(endpoint["merchant_id"], 1, cap),
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(endpoint),
                    "ConditionExpression": "attribute_not_exists(endpoint_id)",
                }
            },
            {
                "Put": {
                    "TableName": self.secrets_table,
                    "Item": to_item(
                        {
                            "endpoint_id": endpoint["endpoint_id"],
                            "merchant_id": endpoint["merchant_id"],
                            "secret": secret,
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(endpoint_id)",
                }
            },
        ]

    def delete_entries(self, merchant_id: str, endpoint_id: str) -> list[dict[str, Any]]:
        """Deletes of an endpoint (refused if it is gone) and of its secret; one less."""
        return [
            self._count_by(merchant_id, -1, None),
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": self._key(merchant_id, endpoint_id),
                    "ConditionExpression": "attribute_exists(endpoint_id)",
                }
            },
            {
                "Delete": {
                    "TableName": self.secrets_table,
                    "Key": {"endpoint_id": {"S": endpoint_id}},
                }
            },
        ]

    def roll_entry(
        self, merchant_id: str, endpoint_id: str, secret: str, old_expires_ms: int | None
    ) -> dict[str, Any]:
        """Replace the endpoint's secret; the one it had signs beside it until
        ``old_expires_ms`` (None: from now on only the new one). Refused if the endpoint
        (its secret item) is gone or not the merchant's."""
        values: dict[str, Any] = {":new": secret, ":m": merchant_id}
        if old_expires_ms is None:
            update = "SET secret = :new REMOVE previous_secret, previous_expires_ms"
        else:
            update = "SET previous_secret = secret, previous_expires_ms = :until, secret = :new"
            values[":until"] = old_expires_ms
        return {
            "Update": {
                "TableName": self.secrets_table,
                "Key": {"endpoint_id": {"S": endpoint_id}},
                "UpdateExpression": update,
                "ConditionExpression": "attribute_exists(endpoint_id) AND merchant_id = :m",
                "ExpressionAttributeValues": to_values(values),
            }
        }

    def get(self, merchant_id: str, endpoint_id: str) -> dict[str, Any] | None:
        item = self._client.get_item(
            TableName=self.table, Key=self._key(merchant_id, endpoint_id), ConsistentRead=True
        ).get("Item")
        return from_item(item) if item else None

    def list_for_merchant(self, merchant_id: str) -> list[dict[str, Any]]:
        """Every endpoint of the merchant, oldest first by id (a merchant has a few)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "merchant_id = :m AND begins_with(endpoint_id, :we)",
            "ExpressionAttributeValues": to_values({":m": merchant_id, ":we": ENDPOINT_ID_PREFIX}),
            "ConsistentRead": True,
        }
        while True:
            response = self._client.query(**kwargs)
            items += [from_item(i) for i in response.get("Items", [])]
            if not response.get("LastEvaluatedKey"):
                return sorted(items, key=lambda e: (e["created_at"], e["endpoint_id"]))
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def secrets(self, endpoint_ids: list[str], now_ms: int) -> dict[str, tuple[str, ...]]:
        """Endpoint id -> the secrets that sign its deliveries now, the current one first
        (then the previous one while a roll's grace period lasts), for the endpoints that
        still exist."""
        if not endpoint_ids:
            return {}
        keys = [(self.secrets_table, {"endpoint_id": {"S": e}}) for e in endpoint_ids]
        found = get_many(self._client, keys)
        signing: dict[str, tuple[str, ...]] = {}
        for endpoint_id, item in zip(endpoint_ids, found, strict=True):
            if not item:
                continue
            previous = item.get("previous_secret")
            if previous and item.get("previous_expires_ms", 0) > now_ms:
                signing[endpoint_id] = (item["secret"], previous)
            else:
                signing[endpoint_id] = (item["secret"],)
        return signing


def due_shard(event_id: str, endpoint_id: str) -> str:
    return f"due#{zlib.crc32(f'{event_id}#{endpoint_id}'.encode()) % DUE_SHARDS}"


def _due_sort(next_ms: int, event_id: str, endpoint_id: str) -> str:
    return f"{next_ms:013d}#{event_id}#{endpoint_id}"


class DeliveryStore:
    """Delivery items: created once per event and endpoint, claimed before each attempt.

    A claim sets the attempt count and pushes the next attempt past the attempt's own
    timeout (a lease): a delivery is attempted by one worker at a time, and one whose
    worker died is taken up again by the re-driver when its lease runs out.
    """

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table = table_name

    @staticmethod
    def key(event_id: str, endpoint_id: str) -> dict[str, Any]:
        return {"event_id": {"S": event_id}, "endpoint_id": {"S": endpoint_id}}

    def start(
        self,
        event: dict[str, Any],
        endpoint_id: str,
        url: str,
        now_ms: int,
        lease_ms: int,
        again: bool = False,
    ) -> dict[str, Any] | None:
        """Create the delivery, claimed for its first attempt; None if it exists already.

        ``again`` (an operator's resend) replaces a finished or failed delivery with a new
        schedule; one still pending is left to its schedule.
        """
        item = {
            "event_id": event["event_id"],
            "endpoint_id": endpoint_id,
            "merchant_id": event["merchant_id"],
            "url": url,
            "status": PENDING,
            "attempts": 1,
            "first_attempt_ms": now_ms,
            "next_attempt_ms": now_ms + lease_ms,
            "due_pk": due_shard(event["event_id"], endpoint_id),
            "due_sk": _due_sort(now_ms + lease_ms, event["event_id"], endpoint_id),
            "ttl": now_ms // 1000 + DELIVERY_RETENTION_SECONDS,
        }
        condition = "attribute_not_exists(event_id)"
        values = None
        if again:
            condition += " OR #s <> :pending"
            values = to_values({":pending": PENDING})
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": to_item(item),
            "ConditionExpression": condition,
        }
        if values:
            put["ExpressionAttributeNames"] = {"#s": "status"}
            put["ExpressionAttributeValues"] = values
        try:
            transact(self._client, [{"Put": put}])
        except WriteConflict:
            return None
        return item

    def claim(self, item: dict[str, Any], now_ms: int, lease_ms: int) -> dict[str, Any] | None:
        """Take a due delivery for one more attempt; None if someone else took it first."""
        next_ms = now_ms + lease_ms
        attempts = item["attempts"] + 1
        try:
            transact(
                self._client,
                [
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": self.key(item["event_id"], item["endpoint_id"]),
                            "UpdateExpression": (
                                "SET attempts = :n, next_attempt_ms = :next, due_sk = :due"
                            ),
                            "ConditionExpression": (
                                "#s = :pending AND attempts = :seen AND next_attempt_ms <= :now"
                            ),
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": to_values(
                                {
                                    ":n": attempts,
                                    ":next": next_ms,
                                    ":due": _due_sort(
                                        next_ms, item["event_id"], item["endpoint_id"]
                                    ),
                                    ":pending": PENDING,
                                    ":seen": item["attempts"],
                                    ":now": now_ms,
                                }
                            ),
                        }
                    }
                ],
            )
        except WriteConflict:
            return None
        return {**item, "attempts": attempts, "next_attempt_ms": next_ms}

    def record(
        self,
        item: dict[str, Any],
        now_ms: int,
        outcome: str,
        next_ms: int | None,
        detail: dict[str, Any],
    ) -> None:
        """The result of the attempt ``item`` was claimed for: delivered, failed or retry.

        Conditional on the claim still being ours (same attempt count, still pending).
        """
        values: dict[str, Any] = {
            ":n": item["attempts"],
            ":pending": PENDING,
            ":at": now_ms,
            ":code": detail.get("status_code"),
            ":error": detail.get("error"),
        }
        if outcome == PENDING:
            assert next_ms is not None
            values[":next"] = next_ms
            values[":due"] = _due_sort(next_ms, item["event_id"], item["endpoint_id"])
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
                            "Key": self.key(item["event_id"], item["endpoint_id"]),
                            "UpdateExpression": update,
                            "ConditionExpression": "#s = :pending AND attempts = :n",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": to_values(values),
                        }
                    }
                ],
            )

    def due_page(
        self, shard: int, now_ms: int, start: dict[str, Any] | None, limit: int = 50
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        kwargs: dict[str, Any] = {
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
        return [from_item(i) for i in response.get("Items", [])], response.get(
            "LastEvaluatedKey"
        )

    def for_event(self, event_id: str) -> list[dict[str, Any]]:
        response = self._client.query(
            TableName=self.table,
            KeyConditionExpression="event_id = :e",
            ExpressionAttributeValues=to_values({":e": event_id}),
            ConsistentRead=True,
        )
        return [from_item(i) for i in response.get("Items", [])]
