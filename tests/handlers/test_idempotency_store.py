"""The idempotency store's lease, against the real local DynamoDB (moto server)."""

from __future__ import annotations

import uuid
from typing import Any


def test_a_crashed_requests_lease_expires(services: Any) -> None:
    store = services.idempotency
    merchant, key, fingerprint = "mer_lease", str(uuid.uuid4()), "fp"
    assert store.claim(merchant, key, fingerprint, "req_first", now=1_000).acquired
    # While the lease runs, the same request is "in progress".
    during = store.claim(merchant, key, fingerprint, "req_second", now=1_010)
    assert (during.acquired, during.in_progress) == (False, True)
    # The first request never completed (crash); after the lease it can be retried.
    lease = services.settings.idempotency_lease_seconds
    assert store.claim(merchant, key, fingerprint, "req_third", now=1_000 + lease + 1).acquired
    # A different request never takes over the key, lease or not.
    other = store.claim(merchant, key, "other-fp", "req_fourth", now=1_000 + 10 * lease)
    assert (other.acquired, other.reused_with_other_request) == (False, True)


def test_a_key_past_its_ttl_is_free_again(services: Any) -> None:
    store = services.idempotency
    merchant, key = "mer_ttl", str(uuid.uuid4())
    assert store.claim(merchant, key, "fp1", "req_a", now=1_000).acquired
    ttl = services.settings.idempotency_ttl_seconds
    assert store.claim(merchant, key, "fp2", "req_b", now=1_000 + ttl + 1).acquired


def test_release_frees_the_key(services: Any) -> None:
    store = services.idempotency
    merchant, key = "mer_release", str(uuid.uuid4())
    assert store.claim(merchant, key, "fp", "req_a", now=1_000).acquired
    store.release(merchant, key, "req_a")
    assert store.claim(merchant, key, "fp", "req_b", now=1_001).acquired


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
    }
