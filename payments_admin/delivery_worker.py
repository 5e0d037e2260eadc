"""The local delivery worker: what Lambda does for the delivery functions when deployed.

* It reads the Events table's stream from moto (DynamoDB Streams API) and hands each
  batch to the app's own ``deliver_events`` handler as a Lambda event, as an event source
  mapping does. Its position is checkpointed in a file after each handled batch, so a
  worker killed between a commit and its delivery picks up where it stopped; the file
  names the stream it belongs to, and positions of another stream are ignored.
* A batch the handler reports failed is handed over again from its first failed record;
  after ``MAX_BATCH_ATTEMPTS`` the batch goes to a dead-letter file (the DLQ's stand-in).
* Every ``redrive_poll_seconds`` it runs the app's ``redrive_deliveries`` handler once,
  as the schedule does.

    python -m payments_admin.delivery_worker --state-dir .run
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from payments_admin.stack import APP_DIR
from payments_admin.stack import DELIVERY_CHECKPOINT as CHECKPOINT_FILE

MAX_BATCH_ATTEMPTS = 5
SHARDS_REFRESH_SECONDS = 30.0
log = logging.getLogger("platform.delivery_worker")


def _lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda passes it: epoch time, the source ARN."""
    dynamodb = dict(record["dynamodb"])
    moment = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(moment, datetime):
        dynamodb["ApproximateCreationDateTime"] = moment.timestamp()
    return {**record, "dynamodb": dynamodb, "eventSourceARN": stream_arn}


def schedule_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }


class Checkpoint:
    """The last sequence number handled per shard of one stream, in a file that survives
    the worker.

    Positions are bound to the stream's ARN: a new stream (a new stack, the table created
    again) may reuse shard ids with sequence numbers starting over, so positions of
    another stream, or of a file that names none, are never applied to it.
    """

    def __init__(self, path: Path, stream_arn: str) -> None:
        self.path = path
        self.stream_arn = stream_arn
        saved = json.loads(path.read_text()) if path.exists() else {}
        same_stream = isinstance(saved, dict) and saved.get("stream_arn") == stream_arn
        self.positions: dict[str, str] = dict(saved["positions"]) if same_stream else {}

    def save(self, shard: str, sequence: str) -> None:
        self.positions[shard] = sequence
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({"stream_arn": self.stream_arn, "positions": self.positions})
        )
        temporary.replace(self.path)  # atomic: a kill never leaves half a checkpoint


class Worker:
    def __init__(self, state_dir: Path, poll_seconds: float, batch_size: int) -> None:
        if str(APP_DIR) not in sys.path:
            sys.path.insert(0, str(APP_DIR))
        import app  # the deployed handlers, unchanged
        from chalicelib import tables
        from chalicelib.container import get_container

        self.app = app
        self.services = get_container()
        self.streams = self.services.dynamodb_streams
        self.table = self.services.settings.table(tables.EVENTS.name)
        self.poll = poll_seconds
        self.batch_size = batch_size
        self.checkpoint_path = state_dir / CHECKPOINT_FILE
        self.checkpoint: Checkpoint | None = None
        self.dead_letters = state_dir / "delivery-dead-letters.jsonl"
        self.iterators: dict[str, str] = {}
        self.failures: dict[str, int] = {}

    def stream_arn(self) -> str:
        while True:
            table = self.services.dynamodb.describe_table(TableName=self.table)["Table"]
            if table.get("LatestStreamArn"):
                return str(table["LatestStreamArn"])
            time.sleep(self.poll)

    def _iterator(self, arn: str, shard: str, at: str | None = None) -> str:
        assert self.checkpoint is not None
        kwargs: dict[str, Any] = {"StreamArn": arn, "ShardId": shard}
        if at is not None:
            kwargs.update(ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=at)
        elif shard in self.checkpoint.positions:
            kwargs.update(
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=self.checkpoint.positions[shard],
            )
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        return str(self.streams.get_shard_iterator(**kwargs)["ShardIterator"])

    def poll_shard(self, arn: str, shard: str) -> bool:
        """Hand one batch of ``shard`` to the handler; whether there was one."""
        if shard not in self.iterators:
            self.iterators[shard] = self._iterator(arn, shard)
        response = self.streams.get_records(
            ShardIterator=self.iterators[shard], Limit=self.batch_size
        )
        records = [_lambda_record(r, arn) for r in response.get("Records", [])]
        if not records:
            self.iterators[shard] = response["NextShardIterator"]
            return False
        result = self.app.deliver_events({"Records": records}, None) or {}
        failed = [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]
        if failed:
            first = failed[0]
            self.failures[first] = self.failures.get(first, 0) + 1
            if self.failures[first] < MAX_BATCH_ATTEMPTS:
                self.iterators[shard] = self._iterator(arn, shard, at=first)
                time.sleep(self.poll)
                return True
            # Given up on, like Lambda's on-failure destination: recorded, then passed.
            with self.dead_letters.open("a") as out:
                out.write(json.dumps({"shard": shard, "sequence_numbers": failed}) + "\n")
            log.error("records sent to the dead-letter file: %s", failed)
        assert self.checkpoint is not None
        self.checkpoint.save(shard, records[-1]["dynamodb"]["SequenceNumber"])
        self.iterators[shard] = response["NextShardIterator"]
        return True

    def run(self) -> None:
        arn = self.stream_arn()
        if self.checkpoint is None or self.checkpoint.stream_arn != arn:
            self.checkpoint = Checkpoint(self.checkpoint_path, arn)
            self.iterators.clear()
        redrive_every = self.services.settings.redrive_poll_seconds
        last_redrive = last_shards = 0.0
        shards: list[dict[str, Any]] = []
        while True:
            if time.monotonic() - last_shards >= SHARDS_REFRESH_SECONDS:
                described = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]
                shards, last_shards = described["Shards"], time.monotonic()
            busy = False
            for shard in shards:
                busy = self.poll_shard(arn, shard["ShardId"]) or busy
            if time.monotonic() - last_redrive >= redrive_every:
                self.app.redrive_deliveries(schedule_event(), None)
                last_redrive = time.monotonic()
            if not busy:
                time.sleep(self.poll)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=Path(".run"))
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between empty reads")
    parser.add_argument("--batch-size", type=int, default=10)
    args = parser.parse_args()
    args.state_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    worker = Worker(args.state_dir, args.poll, args.batch_size)
    while True:
        try:
            worker.run()
        except Exception:
            # Like Lambda, keep trying: nothing is lost, the checkpoint has not moved.
            log.exception("delivery worker error; retrying")
            worker.iterators.clear()
            time.sleep(1)


if __name__ == "__main__":
    main()
