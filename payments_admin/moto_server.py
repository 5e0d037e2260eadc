"""moto server (DynamoDB and KMS), single-threaded, with transactions and queries whose
cost does not grow with the table.

One request at a time removes any doubt about moto's own locking when concurrency tests
race conditional writes; the platform's invariants must then hold by its conditions alone.

moto 5.2.5 has two costs proportional to a whole table, which made the local stack slower
the longer it ran (and, for transactions, grow its memory by gigabytes):

* ``transact_write_items`` deep-copies every table a transaction touches, once per item in
  the transaction, to be able to roll back;
* ``Table.query`` sorts every item of the table (``all_items``) before it looks at the key,
  even for a query on one partition of the base table.

``install()`` replaces both with versions whose cost is that of the items they touch: a
transaction journals only its own items (their previous state, or their absence) and puts
them back on rollback; a base-table query reads only its partition, and an index query scans
the table without sorting it first (moto sorts the candidates by the index's keys afterwards).
The behaviour seen by a client is unchanged. Both are written against moto's own internals
as of the version below (``PINNED_MOTO``, pinned in pyproject.toml), in the shape of a patch
that could be offered upstream; ``install()`` refuses any other version rather than patch
code it has not been checked against.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PINNED_MOTO = "5.2.5"


@dataclass
class _Saved:
    table: Any  # moto.dynamodb.models.table.Table
    hash_key: Any  # DynamoType
    range_key: Any  # DynamoType | None
    item: Any  # a deep copy of the item before the transaction, or None if it was absent
    stream_records: int | None  # length of the table's stream before the transaction


class ItemJournal:
    """The state, before a transaction, of the items it touches; puts them back on rollback."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self._saved: list[_Saved] = []

    def remember(self, transact_item: dict[str, Any]) -> None:
        from moto.dynamodb.exceptions import MockValidationException, ResourceNotFoundException

        (op_type, op), *_ = transact_item.items()
        try:
            table = self._backend.get_table(op.get("TableName", ""))
        except ResourceNotFoundException:
            return  # the transaction fails on it without touching anything
        source = op.get("Item", {}) if op_type == "Put" else op.get("Key", {})
        try:
            hash_key, range_key = self._backend.get_keys_value(table, source)
        except MockValidationException:
            return  # no key: refused before it can be written
        current = table.get_item(hash_key, range_key)
        shard = table.stream_shard
        self._saved.append(
            _Saved(
                table,
                hash_key,
                range_key,
                copy.deepcopy(current) if current is not None else None,
                len(shard.items) if shard is not None else None,
            )
        )

    def restore(self) -> None:
        # Newest first: if one item was journalled twice, its oldest state wins.
        for saved in reversed(self._saved):
            items = saved.table.items
            if saved.range_key is not None:
                partition = items[saved.hash_key]
                if saved.item is None:
                    partition.pop(saved.range_key, None)
                else:
                    partition[saved.range_key] = saved.item
            elif saved.item is None:
                items.pop(saved.hash_key, None)
            else:
                items[saved.hash_key] = saved.item
            shard = saved.table.stream_shard
            if shard is not None and saved.stream_records is not None:
                del shard.items[saved.stream_records :]
        self._saved.clear()


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """``DynamoDBBackend.transact_write_items`` of moto 5.2.5, rolling back by item.

    The change from upstream is the backup: an ``ItemJournal`` of the touched items instead
    of ``copy.deepcopy`` of each touched table (once per transaction item). Besides, an item's
    condition is parsed and evaluated once, not a second time inside ``put_item`` & co.
    """
    from moto.dynamodb.exceptions import (
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import ConditionalCheckFailed, get_filter_expression

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    journal = ItemJournal(self)
    for item in transact_items:
        if len(item) == 1:
            journal.remember(item)

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            journal.restore()
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            check_unicity(table_name, key)
            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(condition_expression, names, values)
                if not condition_op.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            # The condition was checked just above on this very item; upstream passes it on
            # to put_item & co., which parse and evaluate it a second time.
            expressions = {
                "expression_attribute_names": names,
                "expression_attribute_values": values,
            }
            if op_type == "Put":
                self.put_item(table_name, op["Item"], **expressions)
            elif op_type == "Delete":
                self.delete_item(table_name, key, **expressions)
            elif op_type == "Update":
                self.update_item(
                    table_name, key, update_expression=op["UpdateExpression"], **expressions
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            journal.restore()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001 - upstream reports any failure per item
            errors.append((type(e).__name__, str(e), original_item))

    if any(code is not None for code, _, _ in errors):
        journal.restore()
        raise TransactionCanceledException(errors)


def _query_without_full_sort(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Table.query`` that reads one partition (base table) or skips the full sort (index)."""

    signature = inspect.signature(original)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = signature.bind(self, hash_key, *args, **kwargs).arguments.get("index_name")
        if index_name is None and hash_key is not None:
            # Upstream keeps only the items whose hash key matches: the partition is exactly
            # those, so the query sees a table holding that partition alone.
            everything = self.items
            self.items = {hash_key: everything[hash_key]} if hash_key in everything else {}
            try:
                return original(self, hash_key, *args, **kwargs)
            finally:
                self.items = everything
        # Index queries sort their candidates by the index's keys and the table's keys (a
        # total order), so the table-wide sort of ``all_items`` before it is wasted work.
        self.all_items = lambda: [
            item
            for partition in self.items.values()
            for item in (partition.values() if self.range_key_attr else (partition,))
        ]
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    query.__wrapped__ = original  # type: ignore[attr-defined]
    return query


def _dispatcher() -> Any:
    """moto's dispatcher, remembering which service a host name belongs to.

    Upstream scans every moto module's name and URL pattern on each request to find it
    (about 50 list builds per request in moto 5.2.5); the answer for a host never changes.
    """
    from moto.server import DomainDispatcherApplication, create_backend_app

    class Dispatcher(DomainDispatcherApplication):
        def __init__(self) -> None:
            super().__init__(create_backend_app)
            self._backend_of: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            if host not in self._backend_of:
                self._backend_of[host] = super().get_backend_for_host(host)
            return self._backend_of[host]

    return Dispatcher()


def install() -> None:
    """Patch moto (once) as described above; refuse a moto version it was not written for."""
    import moto
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if moto.__version__ != PINNED_MOTO:
        raise RuntimeError(
            f"payments_admin.moto_server patches moto {PINNED_MOTO}, found {moto.__version__}: "
            "check the patched methods against the new version, then update PINNED_MOTO"
        )
    if getattr(Table.query, "__wrapped__", None) is None:
        Table.query = _query_without_full_sort(Table.query)
    DynamoDBBackend.transact_write_items = transact_write_items


def main() -> None:
    from werkzeug.serving import WSGIRequestHandler, run_simple

    from payments_admin.stack import watch_parent

    parser = argparse.ArgumentParser(description="moto server for the local stack")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    watch_parent()
    if os.environ.get("PAYMENTS_MOTO_UNPATCHED") == "1":
        # Upstream moto as it comes, to measure the difference (see docs/benchmarks.md).
        from moto.server import DomainDispatcherApplication, create_backend_app

        app = DomainDispatcherApplication(create_backend_app)
    else:
        install()
        app = _dispatcher()
        # One access line per DynamoDB call cost moto ~0.5 ms each, for a log nobody reads.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # As in chalice local: no ~40 ms Nagle/delayed-ACK stall between headers and body.
    WSGIRequestHandler.disable_nagle_algorithm = True
    run_simple(args.host, args.port, app, threaded=False, use_reloader=False, use_debugger=False)


if __name__ == "__main__":
    main()
