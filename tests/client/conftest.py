"""A scripted fake of the API for the client's unit tests: httpx's ``MockTransport`` (the
client's own transport seam) answering from a list, and recording every request."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
from payments_client import AsyncClient, Client, RetryPolicy

BASE = "http://api.test"
T = TypeVar("T")
# Answers are an httpx.Response, an exception to raise (no answer), or a function of the
# request returning either.
Answer = httpx.Response | Exception | Callable[[httpx.Request], Any]


def charge(id: str = "ch_1", status: str = "succeeded", **overrides: Any) -> dict[str, Any]:  # noqa: A002
    """A charge object as the API answers it."""
    return {
        "id": id,
        "object": "charge",
        "status": status,
        "amount": 2500,
        "currency": "USD",
        "amount_refunded": 0,
        "refunded": False,
        "authorization_code": "A1B2C3" if status == "succeeded" else None,
        "failure_code": None,
        "failure_message": None,
        "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
        "description": None,
        "metadata": {},
        "refunds": [],
        "created_at": "2026-11-26T23:00:00.123Z",
        "updated_at": "2026-11-26T23:00:00.123Z",
        **overrides,
    }


def ok(data: Any, status: int = 200, request_id: str = "req_ok", **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"data": data, "request_id": request_id},
        headers={"X-Request-Id": request_id, **headers},
    )


def error(
    status: int,
    type_: str,
    code: str,
    request_id: str = "req_err",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    body = {"error": {"type": type_, "code": code, "message": f"{code}.", **extra}}
    return httpx.Response(
        status,
        json={**body, "request_id": request_id},
        headers={"X-Request-Id": request_id, **(headers or {})},
    )


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on a loop of its own. Not ``asyncio.run``: that leaves the main
    thread without a current loop, which later tests (Pulumi's mocks) still ask for."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


@dataclass
class FakeApi:
    answers: list[Answer] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.answers:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        answer = self.answers.pop(0)
        if callable(answer) and not isinstance(answer, httpx.Response | Exception):
            answer = answer(request)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        return self.handle(request)

    def keys(self) -> list[str | None]:
        return [r.headers.get("idempotency-key") for r in self.requests]

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def sleep_async(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    """The seed of the client's jitter in this test, printed so a failure can be replayed."""
    value = random.SystemRandom().randrange(2**32)
    print(f"jitter seed: {value}")
    return value


@pytest.fixture
def fake() -> FakeApi:
    return FakeApi()


@pytest.fixture
def client(fake: FakeApi, seed: int) -> Client:
    return Client(
        "sk_test_fake",
        BASE,
        transport=httpx.MockTransport(fake.handle),
        sleep=fake.sleep,
        rng=random.Random(seed),
        retry=RetryPolicy(max_retries=3),
    )


@pytest.fixture
def async_client(fake: FakeApi, seed: int) -> AsyncClient:
    return AsyncClient(
        "sk_test_fake",
        BASE,
        transport=httpx.MockTransport(fake.handle_async),
        sleep=fake.sleep_async,
        rng=random.Random(seed),
        retry=RetryPolicy(max_retries=3),
    )
