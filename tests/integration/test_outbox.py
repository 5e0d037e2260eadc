"""Every event reaches its endpoints, whatever happens to the change feed: the local
delivery worker's checkpoint never skips the current stream, and the re-driver delivers
events that the stream never handed over."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from payments_admin.stack import DELIVERY_CHECKPOINT
from tests.helpers import VISA, charge_body, tokenize
from tests.integration.test_webhooks import subscribe
from tests.receiver import Receiver, receivers

pytestmark = pytest.mark.integration

# Far past any sequence number of the session's stream.
FAR_AHEAD = "9" * 30


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receivers([]) as (started,):
        yield started


def stream_shards(services: Any) -> tuple[str, list[str]]:
    table = services.settings.table("Events")
    arn = services.dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = services.dynamodb_streams
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    return arn, [s["ShardId"] for s in shards]


def stop_worker(stack: Any) -> None:
    os.killpg(stack.delivery_worker.pid, signal.SIGKILL)
    stack.delivery_worker.wait()


@pytest.mark.parametrize("left_by", ["a file naming no stream", "another stream"])
def test_a_checkpoint_of_another_stream_skips_nothing(
    http_api: Any, merchant: Any, services: Any, stack: Any, receiver: Receiver, left_by: str
) -> None:
    """A checkpoint from a previous run (same shard ids, sequence numbers far ahead, as
    moto's new stream starts over) must not make the worker skip this stream's records."""
    subscribe(http_api, merchant.secret_key, receiver.url)
    arn, shards = stream_shards(services)
    path = stack.log_dir / DELIVERY_CHECKPOINT
    stop_worker(stack)
    try:
        stale = {shard: FAR_AHEAD for shard in shards}
        if left_by == "another stream":
            old_arn = arn.rsplit("/", 1)[0] + "/2020-01-01T00:00:00.000"
            path.write_text(json.dumps({"stream_arn": old_arn, "positions": stale}))
        else:
            path.write_text(json.dumps(stale))
        token = tokenize(http_api, merchant.secret_key, VISA)
        charge = http_api.post("/charge", charge_body(token), key=merchant.secret_key)
        assert charge.status == 201
    finally:
        stack.start_delivery_worker()
    (delivery,) = receiver.wait_for(charge.data["id"], 1)
    assert delivery.event["type"] == "charge.succeeded"
    # The worker checkpoints once the handler has returned: shortly after the delivery.
    deadline = time.monotonic() + 10
    while (saved := json.loads(path.read_text())).get("stream_arn") != arn:
        assert time.monotonic() < deadline, saved
        time.sleep(0.1)
    assert FAR_AHEAD not in saved["positions"].values()


def last_sequence_numbers(services: Any, arn: str, shards: list[str]) -> dict[str, str]:
    streams = services.dynamodb_streams
    last: dict[str, str] = {}
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while records := (page := streams.get_records(ShardIterator=iterator, Limit=1000))[
            "Records"
        ]:
            last[shard] = records[-1]["dynamodb"]["SequenceNumber"]
            iterator = page["NextShardIterator"]
    return last


def test_an_event_whose_stream_record_is_lost_is_delivered_by_the_redriver(
    http_api: Any, merchant: Any, services: Any, stack: Any, receiver: Receiver
) -> None:
    subscribe(http_api, merchant.secret_key, receiver.url)
    stop_worker(stack)
    try:
        token = tokenize(http_api, merchant.secret_key, VISA)
        charge = http_api.post("/charge", charge_body(token), key=merchant.secret_key)
        assert charge.status == 201
        # The worker resumes past every record written so far: this event's is lost to it,
        # as a record past the stream's retention or in a batch given up on is.
        arn, shards = stream_shards(services)
        positions = last_sequence_numbers(services, arn, shards)
        checkpoint = {"stream_arn": arn, "positions": positions}
        (stack.log_dir / DELIVERY_CHECKPOINT).write_text(json.dumps(checkpoint))
    finally:
        stack.start_delivery_worker()
    (delivery,) = receiver.wait_for(charge.data["id"], 1, timeout=30)
    assert delivery.event["type"] == "charge.succeeded"
    (record,) = services.delivery.deliveries(delivery.event["id"])
    assert record.attempts == 1
    time.sleep(1.5)  # more passes of the re-driver: nothing is delivered twice
    assert len(receiver.about(charge.data["id"])) == 1
