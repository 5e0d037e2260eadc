"""Leases: one holder at a time for a named job (the sweep, the webhook re-driver).

A scheduled Lambda can start while its previous run is still going (a slow sweep, an
EventBridge retry). Instead of a reserved concurrency of 1, which a fresh account's
concurrency quota often cannot spare, each run takes the job's lease first: one conditional
``PutItem`` that succeeds only if nobody holds it or the holder's lease has expired. A
lease lasts as long as the run may (its function's remaining time), so a run killed by its
timeout frees the job at the moment it dies; a run that ends releases it at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.adapters.dynamo import (
    Item,
    from_item,
    is_condition_failure,
    required_int,
    required_str,
    to_item,
    to_values,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """Who holds a named job, until when (epoch milliseconds)."""

    name: str
    holder: str
    expires_at_ms: int


def lease_to_item(lease: Lease) -> Item:
    return to_item(
        {"name": lease.name, "holder": lease.holder, "expires_at_ms": lease.expires_at_ms}
    )


def lease_from_item(values: Mapping[str, object]) -> Lease:
    """A lease from an item's values as ``dynamo.from_item`` decodes them."""
    return Lease(
        name=required_str(values, "name"),
        holder=required_str(values, "holder"),
        expires_at_ms=required_int(values, "expires_at_ms"),
    )


class Leases:
    """Named leases in the Leases table (``name`` -> ``holder``, ``expires_at_ms``)."""

    def __init__(
        self, client: DynamoDBClient, table_name: str, clock_ms: Callable[[], int] | None = None
    ) -> None:
        self._client = client
        self._table = table_name
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))

    def acquire(self, name: str, holder: str, seconds: float) -> bool:
        """Hold ``name`` for ``seconds`` unless someone else holds it; False if they do."""
        now = self._clock_ms()
        try:
            self._client.put_item(
                TableName=self._table,
                Item=lease_to_item(
                    Lease(name=name, holder=holder, expires_at_ms=now + int(seconds * 1000))
                ),
                ConditionExpression="attribute_not_exists(#n) OR #e <= :now",
                ExpressionAttributeNames={"#n": "name", "#e": "expires_at_ms"},
                ExpressionAttributeValues=to_values({":now": now}),
            )
        except Exception as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def release(self, name: str, holder: str) -> None:
        """Give ``name`` back if ``holder`` still holds it (a lease taken over is left alone)."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=to_item({"name": name}),
                ConditionExpression="#h = :holder",
                ExpressionAttributeNames={"#h": "holder"},
                ExpressionAttributeValues=to_values({":holder": holder}),
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise

    def held(self, name: str) -> Lease | None:
        """The lease last taken on ``name`` (it may have expired), or None."""
        item = self._client.get_item(
            TableName=self._table, Key=to_item({"name": name}), ConsistentRead=True
        ).get("Item")
        return lease_from_item(from_item(item)) if item else None
