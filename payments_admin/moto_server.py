"""moto server (DynamoDB, its streams, and KMS), single-threaded.

One request at a time removes any doubt about moto's own locking when concurrency tests
race conditional writes; the platform's invariants must then hold by its conditions alone.

moto cancels a transaction by putting back deep copies of the tables it touched, stream
included, so a reader of the stream keeps the old stream object: it would see the cancelled
transaction's records and none after. DynamoDB writes no stream record for a cancelled
transaction; ``keep_streams_across_rollbacks`` makes moto do the same.
"""

from __future__ import annotations

import argparse
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamShard
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def keep_streams_across_rollbacks() -> None:
    """A table's stream stays one object; a cancelled transaction's records are dropped."""
    StreamShard.__deepcopy__ = lambda self, memo: self  # type: ignore[attr-defined]
    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        streams = {
            name: (table.stream_shard, len(table.stream_shard.items))
            for name, table in self.tables.items()
            if table.stream_shard is not None
        }
        try:
            return transact(self, *args, **kwargs)
        except Exception:
            for name, (shard, length) in streams.items():
                del shard.items[length:]
                if name in self.tables:
                    self.tables[name].stream_shard = shard
                    shard.table = self.tables[name]
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    keep_streams_across_rollbacks()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, app, threaded=False, use_reloader=False, use_debugger=False)


if __name__ == "__main__":
    main()
