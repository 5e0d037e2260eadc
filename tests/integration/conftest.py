"""Fixtures of the integration tests: a victim API behind fault-injecting proxies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.faults import Proxy, Victim
from tests.helpers import HttpApi


@dataclass
class Rig:
    """The victim API, its proxies, and a client for it."""

    dynamodb: Proxy
    bank: Proxy
    victim: Victim
    api: HttpApi


@pytest.fixture(scope="session")
def rig(stack: Any, bank_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    dynamodb = Proxy(stack.env["AWS_ENDPOINT_URL_DYNAMODB"]).start()
    bank = Proxy(bank_url).start()
    victim = Victim(
        {"AWS_ENDPOINT_URL_DYNAMODB": dynamodb.url, "PAYMENTS_BANK_URL": bank.url},
        tmp_path_factory.mktemp("victim"),
    )
    dynamodb.victim = bank.victim = victim
    victim.start()
    yield Rig(dynamodb, bank, victim, HttpApi(victim.url, reuse_connections=False))
    victim.stop()
    dynamodb.stop()
    bank.stop()


@pytest.fixture
def faults(rig: Rig) -> Iterator[Rig]:
    rig.dynamodb.clear()
    rig.bank.clear()
    if not rig.victim.alive():
        rig.victim.start()
    yield rig
    rig.dynamodb.clear()
    rig.bank.clear()
    if not rig.victim.alive():
        rig.victim.start()
