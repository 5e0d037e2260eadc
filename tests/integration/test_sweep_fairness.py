"""The reconcile sweep is fair: items the bank never answers cannot starve the others.

Pending items whose status queries the bank never answers in time (a proxy holds them past
the read timeout) fill the first pending shard; one item that the bank can settle sits in
another shard. Each run's budget covers only a few items. Always starting at shard 0, the
sweep would spend every run on the stuck items; with its cursor, the other item is examined
within the bound its docstring states.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import pytest

from chalicelib.adapters.charge_repository import PENDING_SHARDS, pending_shard
from chalicelib.adapters.dynamo import transact
from chalicelib.container import Container
from chalicelib.domain.charges import ChargeId
from chalicelib.ids import iso, new_id, now_utc
from tests.faults import Rule
from tests.integration.test_pending import pending_charge

pytestmark = pytest.mark.integration

STUCK = 12
BANK_TIMEOUT = 0.1  # connect and read


def _charge_in_shard(services: Any, merchant: Any, shard: int) -> str:
    """A charge written ahead by a request that died before asking the bank."""
    while pending_shard(charge_id := new_id("ch")) != f"pending#{shard}":
        pass
    charge = pending_charge(merchant.merchant_id, ChargeId(charge_id), 700)
    transact(services.dynamodb, [services.charges.put_pending(charge)])
    return charge_id


def _pending_past(services: Any, cutoff: str) -> int:
    total = 0
    for shard in range(PENDING_SHARDS):
        after = None
        while True:
            items, more = services.charges.pending_page(shard, cutoff, after)
            total += len(items)
            if not more:
                break
            after = items[-1][0]
    return total


def test_items_the_bank_never_answers_cannot_starve_the_others(
    faults: Any, services: Any, merchant: Any
) -> None:
    stuck = [_charge_in_shard(services, merchant, 0) for _ in range(STUCK)]
    other = _charge_in_shard(services, merchant, PENDING_SHARDS - 1)
    # Status queries of the stuck items are held past the read timeout: unknown, pending.
    faults.bank.add(
        Rule(
            lambda m, p, h, b: m == "GET" and p.rsplit("/", 1)[-1] in stuck,
            "delay",
            times=10**6,
            delay=BANK_TIMEOUT * 1.5,
        )
    )
    settings = dataclasses.replace(
        services.settings,
        bank_url=faults.bank.url,
        bank_connect_timeout=BANK_TIMEOUT,
        bank_read_timeout=BANK_TIMEOUT,
        function_timeout_seconds=0.5,  # the settle window: these requests are long gone
    )
    sweeper = Container(settings).settlement
    item_seconds = 2 * (2 * BANK_TIMEOUT) + 1  # as Container.settlement sizes one item
    budget = item_seconds + 3 * BANK_TIMEOUT  # room for about three stuck items per run
    time.sleep(settings.function_timeout_seconds + 0.1)
    # The bound of SettlementService.sweep, ceil(N / C) + 1, with C = 1: a run surely
    # examines one item (the budget covers one whole item). A sweep that always started at
    # shard 0 would spend every run on the stuck items, and never get to the other one.
    pending = _pending_past(services, iso(now_utc()))
    runs_allowed = math.ceil(pending / 1) + 1
    runs = 0
    while services.charges.get_charge(merchant.merchant_id, other).status == "pending":
        assert runs < runs_allowed, f"not examined within {runs} runs ({pending} pending)"
        sweeper.sweep(budget)
        runs += 1
    charge = services.charges.get_charge(merchant.merchant_id, other)
    assert (charge.status, charge.failure_code) == ("failed", "processing_error")
    # The stuck ones are still pending: a failed status query decides nothing.
    assert {services.charges.get_charge(merchant.merchant_id, c).status for c in stuck} == {
        "pending"
    }
