"""The idempotency store's recovery point and lease, against the real local DynamoDB (moto)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chalicelib.adapters.dynamo import WriteConflict, transact
from chalicelib.domain.charges import ChargeId, ObjectRef, RefundId

OBJECT = ObjectRef(merchant_id="mer_x", charge_id=ChargeId("ch_x"))


def _read(services: Any, merchant: str, key: str, now: float) -> Any:
    return services.idempotency.read(merchant, key, now)


def test_a_binding_is_taken_over_only_after_its_lease(services: Any) -> None:
    store = services.idempotency
    merchant, key = "mer_lease", str(uuid.uuid4())
    transact(services.dynamodb, [store.bind_entry(merchant, key, "fp", "req_first", OBJECT, 1_000)])
    record = _read(services, merchant, key, 1_001)
    assert (record.state, record.owner, record.object_ref) == (
        "in_progress",
        "req_first",
        OBJECT,
    )
    # While the first request can still be running, nobody takes its record over.
    assert not store.take_over(merchant, key, "req_first", "req_second", now=1_002)
    lease = services.settings.idempotency_lease_seconds
    assert store.take_over(merchant, key, "req_first", "req_third", now=1_000 + lease + 2)
    assert _read(services, merchant, key, 1_000 + lease + 2).owner == "req_third"
    # Only one retry wins a takeover.
    assert not store.take_over(merchant, key, "req_first", "req_fourth", now=1_000 + lease + 3)


def test_a_second_binding_of_a_live_key_is_refused(services: Any) -> None:
    store = services.idempotency
    merchant, key = "mer_bind", str(uuid.uuid4())
    transact(services.dynamodb, [store.bind_entry(merchant, key, "fp", "req_a", OBJECT, 1_000)])
    with pytest.raises(WriteConflict):
        transact(services.dynamodb, [store.bind_entry(merchant, key, "fp", "req_b", OBJECT, 1_001)])


def test_a_key_past_its_ttl_is_free_again(services: Any) -> None:
    store = services.idempotency
    merchant, key = "mer_ttl", str(uuid.uuid4())
    transact(services.dynamodb, [store.bind_entry(merchant, key, "fp1", "req_a", OBJECT, 1_000)])
    ttl = services.settings.idempotency_ttl_seconds
    assert _read(services, merchant, key, 1_000 + ttl + 1) is None
    transact(
        services.dynamodb,
        [store.bind_entry(merchant, key, "fp2", "req_b", OBJECT, 1_000 + ttl + 1)],
    )
    assert _read(services, merchant, key, 1_000 + ttl + 2).fingerprint == "fp2"


def test_release_ends_the_lease_at_once(services: Any) -> None:
    store = services.idempotency
    merchant, key = "mer_release", str(uuid.uuid4())
    transact(services.dynamodb, [store.bind_entry(merchant, key, "fp", "req_a", OBJECT, 1_000)])
    store.release(merchant, key, "req_other")  # not the owner: no effect
    assert not store.take_over(merchant, key, "req_a", "req_b", now=1_001)
    store.release(merchant, key, "req_a")
    assert store.take_over(merchant, key, "req_a", "req_b", now=1_001)


def test_only_the_owner_completes_a_live_record(services: Any) -> None:
    store = services.idempotency
    merchant, key = "mer_done", str(uuid.uuid4())
    transact(services.dynamodb, [store.bind_entry(merchant, key, "fp", "req_a", OBJECT, 1_000)])
    with pytest.raises(WriteConflict):
        transact(
            services.dynamodb,
            [store.complete_entry(merchant, key, "fp", "req_b", 201, {}, 1_001, OBJECT)],
        )
    transact(
        services.dynamodb,
        [store.complete_entry(merchant, key, "fp", "req_a", 201, {"x": 1}, 1_001, OBJECT)],
    )
    record = _read(services, merchant, key, 1_002)
    assert (record.state, record.status, record.body, record.request_id) == (
        "completed",
        201,
        '{"x":1}',
        "req_a",
    )


def test_scheduled_reconcile_runs_through_chalice(client: Any) -> None:
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    response = client.lambda_.invoke("reconcile_pending", event)
    assert set(response.payload) == {
        "examined",
        "settled",
        "still_pending",
        "oldest_pending_age_seconds",
        "skipped",
    }


def test_a_binding_to_a_refund_reads_back_as_its_reference(services: Any) -> None:
    store = services.idempotency
    merchant, key = "mer_refund", str(uuid.uuid4())
    ref = ObjectRef(merchant_id="mer_x", charge_id=ChargeId("ch_x"), refund_id=RefundId("re_y"))
    transact(services.dynamodb, [store.bind_entry(merchant, key, "fp", "req_a", ref, 1_000)])
    assert _read(services, merchant, key, 1_001).object_ref == ref
