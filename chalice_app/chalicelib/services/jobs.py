"""Scheduled jobs that must never overlap: one run at a time, by a lease (``Leases``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")

# Lease names, one per job.
SWEEP = "reconcile_pending"
REDRIVE = "redrive_deliveries"


class LeaseStore(Protocol):
    def acquire(self, name: str, holder: str, seconds: float) -> bool: ...

    def release(self, name: str, holder: str) -> None: ...


class InvocationContext(Protocol):
    """What a job reads of its Lambda context."""

    @property
    def aws_request_id(self) -> str: ...

    def get_remaining_time_in_millis(self) -> int: ...


def run_alone(
    leases: LeaseStore,
    name: str,
    context: InvocationContext | None,
    job: Callable[[float | None], T],
) -> T | None:
    """``job(remaining seconds)`` as the only run of ``name``; None if another run holds it.

    ``context`` is the Lambda context: the lease lasts the invocation's remaining time,
    which is as long as the run can last. Without a context (the local stack's worker runs
    each job in turn in one process) there is nothing to overlap and no lease is taken.
    """
    if context is None:
        return job(None)
    remaining = context.get_remaining_time_in_millis() / 1000
    holder = str(context.aws_request_id)
    if not leases.acquire(name, holder, remaining):
        return None
    try:
        return job(remaining)
    finally:
        leases.release(name, holder)
