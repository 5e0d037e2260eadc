"""DynamoDB plumbing shared by the repositories: item (de)serialisation, reads, transactions.

Repositories describe writes as TransactWriteItems entries; ``transact`` sends a list of them
in one round trip (a plain write for one entry, a transaction for more), all or nothing.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, NewType, TypeAlias, TypeVar

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

# A write of a transaction as TransactWriteItems takes it (Put, Update, Delete or
# ConditionCheck). Repositories build them; services only hand them on to a commit.
WriteEntry = NewType("WriteEntry", dict[str, Any])
# An item's primary key as DynamoDB takes it (``{"name": {"S": value}}``), for batch reads.
ItemKey = NewType("ItemKey", dict[str, Any])
# Where the next page of a query starts (its LastEvaluatedKey); None: no more pages.
PageStart = NewType("PageStart", dict[str, Any])
# An item, a key or expression attribute values in DynamoDB's own shape, as the low-level
# client takes and answers them (``{"name": {"S": value}}``): what ``to_item`` builds.
Item: TypeAlias = "dict[str, AttributeValueTypeDef]"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FirstRead(Generic[T]):
    """One item a use case starts from, read with the request's other first reads in one
    round trip (``get_many``), and how its plain values (``from_item``) become a record."""

    table: str
    key: ItemKey
    decode: Callable[[dict[str, Any]], T]

    def of(self, values: dict[str, Any] | None) -> T | None:
        return self.decode(values) if values is not None else None


@cache
def _codec() -> tuple[Any, Any]:
    # boto3 is imported on first use, not when the app is imported (cold start).
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


# Transactions that touch one hot item (a charge under concurrent refunds) can be cancelled
# with TransactionConflict; they are safe to resend because their conditions are re-checked.
_CONFLICT_RETRIES = 5


# DynamoDB numbers have 38 digits of precision; boto3 refuses larger ones (and so does this).
_NUMBER_LIMIT = 10**38


def _attribute(value: Any) -> dict[str, Any]:
    """One value as a DynamoDB attribute value, as boto3's ``TypeSerializer`` writes it.

    The types this design stores are written here directly (boto3's serializer tries each
    type in turn through ``isinstance`` chains and ``Decimal`` contexts: about a fifth of the
    CPU of a charge's own code); anything else (sets, floats, ...) goes to boto3's, which
    serializes it or refuses it exactly as before.
    """
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is bool:
        return {"BOOL": value}
    if kind is int and -_NUMBER_LIMIT < value < _NUMBER_LIMIT:
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    if kind is dict:
        return {"M": {k: _attribute(v) for k, v in value.items()}}
    if kind is list:
        return {"L": [_attribute(v) for v in value]}
    serialized: dict[str, Any] = _codec()[0].serialize(value)
    return serialized


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """A plain dict as a DynamoDB item; ``None`` values are left out."""
    return {k: _attribute(v) for k, v in values.items() if v is not None}


def to_values(values: dict[str, Any]) -> dict[str, Any]:
    """Expression attribute values (``:name`` -> typed value)."""
    return {k: _attribute(v) for k, v in values.items()}


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


def _python(attribute: dict[str, Any]) -> Any:
    """One attribute value as plain Python: the inverse of ``_attribute`` (numbers as ints)."""
    ((kind, value),) = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        return int(value) if value.isdigit() else int(Decimal(value))
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: _python(v) for k, v in value.items()}
    if kind == "L":
        return [_python(v) for v in value]
    return _plain(_codec()[1].deserialize(attribute))


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as a plain dict; every number in this design is an integer."""
    return {k: _python(v) for k, v in item.items()}


# Readers of decoded values, for the repositories' ``from_item``: an item that lacks a
# required attribute, or holds one of another type, is refused (``KeyError``/``TypeError``)
# rather than turned into a record that lies.


def required_str(values: Mapping[str, object], name: str) -> str:
    value = values[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def optional_str(values: Mapping[str, object], name: str) -> str | None:
    value = values.get(name)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def required_int(values: Mapping[str, object], name: str) -> int:
    value = values[name]
    if type(value) is not int:
        raise TypeError(f"{name} is not an integer")
    return value


def optional_int(values: Mapping[str, object], name: str) -> int | None:
    value = values.get(name)
    return None if value is None else required_int(values, name)


def str_tuple(values: Mapping[str, object], name: str) -> tuple[str, ...]:
    """A list of strings, in its order."""
    value = values[name]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} is not a list of strings")
    return tuple(str(v) for v in value)


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError, or ''."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_condition_failure(exc: Exception) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


class WriteConflict(Exception):
    """A conditional write found its item in another state; ``failed`` are the entries' indexes."""

    def __init__(self, failed: list[int]) -> None:
        self.failed = failed
        super().__init__(f"condition failed for write(s) {failed}")

    def any_in(self, indexes: range) -> bool:
        return any(i in indexes for i in self.failed)


class Contention(Exception):
    """A transaction kept being cancelled by concurrent ones on the same items."""


def transact(client: Any, entries: Sequence[dict[str, Any]]) -> None:
    """Send write entries in one round trip, all or nothing; ``WriteConflict`` if refused.

    One entry is a plain conditional write (a lone ConditionCheck, which has no plain form,
    goes as a transaction); more are one TransactWriteItems. A transaction
    cancelled by a concurrent one on the same item (TransactionConflict) is resent: its
    conditions are checked again, so a resend can never apply a change twice; ``Contention``
    once the resends are spent.
    """
    if not entries:
        return
    if len(entries) == 1 and "ConditionCheck" not in entries[0]:
        _write_one(client, entries[0])
        return
    for attempt in range(_CONFLICT_RETRIES):
        try:
            # botocore re-sends a transaction whose answer it lost with the same token, and
            # DynamoDB answers that re-send as the first without applying it again. Each of
            # our own attempts after a cancellation is a new request: a new token.
            client.transact_write_items(
                TransactItems=list(entries), ClientRequestToken=str(uuid.uuid4())
            )
            return
        except Exception as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            # A ClientError (botocore is not imported here: cold start), as error_code read.
            reasons = (getattr(exc, "response", None) or {}).get("CancellationReasons", [])
            codes = [r.get("Code", "None") for r in reasons]
            failed = [i for i, c in enumerate(codes) if c == "ConditionalCheckFailed"]
            if failed:
                raise WriteConflict(failed) from None
            if "TransactionConflict" in codes:
                if attempt + 1 < _CONFLICT_RETRIES:
                    time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
                    continue
                raise Contention from exc
            raise


def _write_one(client: Any, entry: dict[str, Any]) -> None:
    ((op, params),) = entry.items()
    call = {"Put": client.put_item, "Update": client.update_item, "Delete": client.delete_item}[op]
    try:
        call(**params)
    except Exception as exc:
        if not is_condition_failure(exc):
            raise
        raise WriteConflict([0]) from None


def get_many(
    client: Any, keys: Sequence[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any] | None]:
    """Strongly consistent reads of ``(table, key)`` pairs in one round trip, in order.

    One key is a GetItem; more are a BatchGetItem (its unprocessed keys are asked again).
    """
    if len(keys) == 1:
        table, key = keys[0]
        item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return [from_item(item) if item else None]
    wanted: dict[str, dict[str, Any]] = {}
    for table, key in keys:
        wanted.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
    found: list[tuple[str, dict[str, Any]]] = []
    for attempt in range(_CONFLICT_RETRIES):
        response = client.batch_get_item(RequestItems=wanted)
        found += [(t, i) for t, items in response.get("Responses", {}).items() for i in items]
        wanted = response.get("UnprocessedKeys") or {}
        if not wanted:
            break
        time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
    else:
        raise RuntimeError("BatchGetItem left keys unprocessed")
    return [
        next(
            (
                from_item(i)
                for t, i in found
                if t == table and all(i.get(k) == v for k, v in key.items())
            ),
            None,
        )
        for table, key in keys
    ]


def newest_first_page(
    client: Any,
    table: str,
    index: str,
    partition: tuple[str, str],
    limit: int,
    before: str | None,
) -> tuple[list[dict[str, Any]], bool]:
    """A page of an index partition, highest ``list_sk`` first (below ``before``), and
    whether more follow: one Query of ``limit + 1`` items."""
    name, value = partition
    condition = f"{name} = :p"
    values: dict[str, Any] = {":p": value}
    if before is not None:
        condition += " AND list_sk < :cursor"
        values[":cursor"] = before
    response = client.query(
        TableName=table,
        IndexName=index,
        KeyConditionExpression=condition,
        ExpressionAttributeValues=to_values(values),
        ScanIndexForward=False,
        Limit=limit + 1,
    )
    items = [from_item(i) for i in response.get("Items", [])]
    return items[:limit], len(items) > limit
