"""moto server (DynamoDB, its streams, and KMS), single-threaded.

One request at a time removes any doubt about moto's own locking when concurrency tests
race conditional writes; the platform's invariants must then hold by its conditions alone.

moto prepares to cancel a transaction by deep-copying every table it touches (once per
item) and puts the copies back if it is cancelled. That costs time and memory in the size
of the tables, not of the transaction: late in a test session one transaction on the
audit log took seconds, long enough for botocore to re-send it (and moto to refuse the
re-send). The copy also replaced the table's stream, so a stream reader kept the old one:
it saw the cancelled transaction's records and none after. ``undo_log_transactions``
makes moto keep, instead, the items the transaction names and put those back (and drop
the cancelled transaction's stream records): DynamoDB's behaviour, at the cost of the
transaction's own items.
"""

from __future__ import annotations

import argparse
import copy
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def _key(table: Table, attrs: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    hash_key = DynamoType(attrs[table.hash_key_attr])
    range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    return hash_key, range_key


def undo_log_transactions() -> None:
    """Transactions keep only their own items' prior state to roll back (see above)."""
    in_transaction = False
    table_deepcopy = getattr(Table, "__deepcopy__", None)
    assert table_deepcopy is None, "moto now copies tables its own way: revisit this patch"

    def no_copy_inside_transactions(self: Table, memo: dict[int, Any]) -> Table:
        if in_transaction:
            return self  # moto's "restore" then puts back the table itself: a no-op
        clone = Table.__new__(Table)
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            setattr(clone, name, copy.deepcopy(value, memo))
        return clone

    Table.__deepcopy__ = no_copy_inside_transactions  # type: ignore[attr-defined]
    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: Any, *args: Any) -> Any:
        nonlocal in_transaction
        undo = []
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = self.tables.get(op.get("TableName"))
            try:
                hash_key, range_key = _key(table, op.get("Item") or op.get("Key") or {})
            except (AttributeError, KeyError, TypeError):
                continue  # refused by moto before anything is written
            old = table.get_item(hash_key, range_key)
            undo.append((table, hash_key, range_key, copy.deepcopy(old)))
        streams = [
            (table.stream_shard, len(table.stream_shard.items))
            for table in self.tables.values()
            if table.stream_shard is not None
        ]
        in_transaction = True
        try:
            return transact(self, transact_items, *args)
        except Exception:
            for table, hash_key, range_key, old in reversed(undo):
                slot = table.items[hash_key] if range_key is not None else table.items
                key = range_key if range_key is not None else hash_key
                if old is None:
                    slot.pop(key, None)
                else:
                    slot[key] = old
            for shard, length in streams:
                del shard.items[length:]
            raise
        finally:
            in_transaction = False

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    undo_log_transactions()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, app, threaded=False, use_reloader=False, use_debugger=False)


if __name__ == "__main__":
    main()
