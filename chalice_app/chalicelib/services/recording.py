"""How a use case commits: its own writes together with what the request must record.

A state-changing request records two things beside its effects: its idempotency binding
(the recovery point: the key now stands for the object written ahead) and, with the final
state, the response to replay and the audit record. A use case owns its transactions and
asks its ``Record`` to add those writes to them, so each commit is one atomic phase:

1. ``write_ahead``: the pending charge or refund (+ token or reservation) + the binding;
2. the bank call, outside any transaction;
3. ``finish``: the final state + the stored response + the audit record.

Settlers that serve no request of their own (a status read, the reconcile sweep) use
``SettlerRecord``, which adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

from chalicelib.adapters.dynamo import WriteConflict, WriteEntry, transact
from chalicelib.domain.charges import ObjectRef
from chalicelib.errors import ApiError

if TYPE_CHECKING:  # stubs only: not installed in the Lambda
    from mypy_boto3_dynamodb import DynamoDBClient

Entry = WriteEntry


@dataclass(frozen=True)
class Reply:
    """A use case's answer: HTTP status and the resource, or the error."""

    status: int
    data: BaseModel | None = None
    error: ApiError | None = None
    object_id: str | None = None
    # What a replay of this answer shows, when it must not repeat it whole (a signing
    # secret is shown once and never stored): stored for replay instead of this reply.
    replayed_as: Reply | None = None

    def data_json(self) -> dict[str, object]:
        """The resource as the response's ``data`` (JSON types)."""
        assert self.data is not None, "a reply without an error carries its resource"
        return self.data.model_dump(mode="json")


class KeyClaimedElsewhere(Exception):
    """Another request with the same Idempotency-Key committed first."""


class KeyNoLongerValid(Exception):
    """The commit's guard found the request's API key revoked, expired or not its own."""


class Record(Protocol):
    def write_ahead(self, entries: Sequence[Entry], ref: ObjectRef) -> None: ...

    def finish(self, reply: Reply, entries: Sequence[Entry] = ()) -> None: ...


def commit_with(
    client: DynamoDBClient,
    entries: Sequence[Entry],
    own: Sequence[Entry],
    guard: Entry | None = None,
) -> None:
    """Commit a use case's ``entries`` with the record's ``own`` writes, all or nothing.

    ``guard`` is a condition on the request's API key, checked in the same transaction:
    ``KeyNoLongerValid`` if it fails (whatever else did). Otherwise ``WriteConflict`` if one
    of ``entries`` was refused (the use case decides what that means); ``KeyClaimedElsewhere``
    if only the record's own writes were.
    """
    items = [*entries, *own, *([guard] if guard is not None else [])]
    try:
        transact(client, items)
    except WriteConflict as conflict:
        if guard is not None and conflict.any_in(range(len(items) - 1, len(items))):
            raise KeyNoLongerValid from None
        if conflict.any_in(range(len(entries))):
            raise
        raise KeyClaimedElsewhere from None


class SettlerRecord:
    """The record of a settler that answers no client: its writes go alone."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client

    def write_ahead(self, entries: Sequence[Entry], ref: ObjectRef) -> None:
        commit_with(self._client, entries, ())

    def finish(self, reply: Reply, entries: Sequence[Entry] = ()) -> None:
        commit_with(self._client, entries, ())
