"""DynamoDB plumbing shared by the repositories: item (de)serialisation and the unit of work.

Repositories describe writes as TransactWriteItems entries; the ``UnitOfWork`` sends what a
request collected in one round trip (a plain write for one entry, a transaction for more).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# Transactions that touch one hot item (a charge under concurrent refunds) can be cancelled
# with TransactionConflict; they are safe to resend because their conditions are re-checked.
_CONFLICT_RETRIES = 5


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """A plain dict as a DynamoDB item; ``None`` values are left out."""
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def to_values(values: dict[str, Any]) -> dict[str, Any]:
    """Expression attribute values (``:name`` -> typed value)."""
    return {k: _serializer.serialize(v) for k, v in values.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), bytes):
        return value.value  # boto3's Binary wrapper
    return value


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as a plain dict; every number in this design is an integer."""
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError, or ''."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_condition_failure(exc: Exception) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


class WriteConflict(Exception):
    """A conditional write inside a unit of work found the item in another state."""

    def __init__(self, failed: list[int]) -> None:
        self.failed = failed
        super().__init__(f"condition failed for write(s) {failed}")


@dataclass
class Write:
    """One TransactWriteItems entry (``{"Put": {...}}``) and the group it was added with."""

    entry: dict[str, Any]
    group: int
    settled_elsewhere: bool


class UnitOfWork:
    """Collects the writes of one request and commits them in one round trip.

    Entries added in one ``add`` call form a group. A group added with
    ``settled_elsewhere=True`` is one whose failed condition means a concurrent writer (the
    reconcile sweep, a status read) already recorded the same bank outcome: the whole group
    is then dropped and the rest still commits.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._writes: list[Write] = []
        self._groups = 0

    def add(self, *entries: dict[str, Any], settled_elsewhere: bool = False) -> None:
        self._groups += 1
        self._writes += [Write(e, self._groups, settled_elsewhere) for e in entries]

    def discard(self) -> None:
        self._writes = []

    def commit(self) -> None:
        """Send the collected writes; raise ``WriteConflict`` if a condition fails."""
        writes, self._writes = self._writes, []
        self._send(writes)

    def _send(self, writes: list[Write]) -> None:
        if not writes:
            return
        if len(writes) == 1:
            self._send_one(writes[0])
            return
        for attempt in range(_CONFLICT_RETRIES):
            try:
                self._client.transact_write_items(TransactItems=[w.entry for w in writes])
                return
            except Exception as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons", [])  # type: ignore[attr-defined]
                codes = [r.get("Code", "None") for r in reasons]
                if "TransactionConflict" in codes and attempt + 1 < _CONFLICT_RETRIES:
                    time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
                    continue
                failed = [i for i, c in enumerate(codes) if c == "ConditionalCheckFailed"]
                if not failed:
                    raise
                if all(writes[i].settled_elsewhere for i in failed):
                    dropped = {writes[i].group for i in failed}
                    self._send([w for w in writes if w.group not in dropped])
                    return
                raise WriteConflict(failed) from None

    def _send_one(self, write: Write) -> None:
        ((op, params),) = write.entry.items()
        call = {
            "Put": self._client.put_item,
            "Update": self._client.update_item,
            "Delete": self._client.delete_item,
        }[op]
        try:
            call(**params)
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
            if not write.settled_elsewhere:
                raise WriteConflict([0]) from None
