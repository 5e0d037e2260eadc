"""Scheduled jobs never overlap: a lease in DynamoDB, not a reserved concurrency of 1.

A fresh AWS account often cannot reserve any concurrency (Lambda keeps 10 unreserved), so
the sweep and the webhook re-driver each take their job's lease first; a run that finds it
held by a live run ends at once. Against moto, through Chalice's own Lambda test client.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chalicelib import tables
from chalicelib.adapters.leases import Lease, Leases
from chalicelib.services import jobs


class Clock:
    def __init__(self) -> None:
        self.now_ms = 1_000_000

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture
def leases(services: Any) -> Leases:
    return services.leases


def test_a_lease_has_one_holder_until_it_is_released_or_expires(services: Any) -> None:
    clock = Clock()
    leases = Leases(services.dynamodb, services.settings.table(tables.LEASES.name), clock)
    name = f"job-{uuid.uuid4().hex}"
    assert leases.acquire(name, "run-a", 60)
    assert not leases.acquire(name, "run-b", 60)
    clock.now_ms += 59_999
    assert not leases.acquire(name, "run-b", 60)
    clock.now_ms += 1  # run-a's time is up (killed by its timeout, say)
    assert leases.acquire(name, "run-b", 60)
    leases.release(name, "run-a")  # a late release by the old holder changes nothing
    assert leases.held(name) == Lease(
        name=name, holder="run-b", expires_at_ms=clock.now_ms + 60_000
    )
    assert not leases.acquire(name, "run-c", 60)
    leases.release(name, "run-b")
    assert leases.held(name) is None
    assert leases.acquire(name, "run-c", 60)
    leases.release(name, "run-c")


def _scheduled(client: Any) -> Any:
    return client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )


@pytest.mark.parametrize(
    ("function", "lease", "report_field"),
    [
        ("reconcile_pending", jobs.SWEEP, "examined"),
        ("redrive_deliveries", jobs.REDRIVE, "attempted"),
    ],
)
def test_a_run_that_finds_the_job_running_ends_at_once(
    client: Any, leases: Leases, function: str, lease: str, report_field: str
) -> None:
    assert leases.acquire(lease, "a-run-still-going", 300)
    try:
        assert client.lambda_.invoke(function, _scheduled(client)).payload == {"skipped": 1}
    finally:
        leases.release(lease, "a-run-still-going")
    payload = client.lambda_.invoke(function, _scheduled(client)).payload
    assert report_field in payload
    # ... and the run gave the lease back when it ended.
    assert leases.acquire(lease, "the-next-run", 1)
    leases.release(lease, "the-next-run")


def test_without_a_lambda_context_the_job_runs_without_a_lease(leases: Leases) -> None:
    # The local stack's worker runs each job in turn in one process: nothing to overlap.
    assert leases.acquire(jobs.SWEEP, "a-run-still-going", 300)
    try:
        ran: list[float | None] = []
        jobs.run_alone(leases, jobs.SWEEP, None, ran.append)
        assert ran == [None]
    finally:
        leases.release(jobs.SWEEP, "a-run-still-going")
