"""The token-bucket rule of the local gateway emulation, on a clock the test moves."""

from __future__ import annotations

import json

import pytest

from payments_admin.local_gateway import too_many_requests
from payments_admin.local_rate_limit import RateLimiter, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drain(limiter: RateLimiter, merchant: str, method: str, path: str, count: int) -> list[float]:
    return [limiter.acquire(merchant, method, path) for _ in range(count)]


def test_burst_then_refill_at_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=100, burst=200, clock=clock)
    for _ in range(200):
        assert bucket.wait_time() == 0
        bucket.take()
    assert bucket.wait_time() == 1 / 100
    clock.now += 0.5  # 50 tokens back, never more than the burst
    taken = 0
    while bucket.wait_time() == 0:
        bucket.take()
        taken += 1
    assert taken == 50
    clock.now += 3600
    assert bucket.wait_time() == 0 and bucket.tokens == 200


def test_merchants_have_their_own_buckets() -> None:
    clock = Clock()
    limiter = RateLimiter((100, 200), (20, 40), clock)
    waits = drain(limiter, "mer_a", "GET", "/charges", 201)
    assert waits[:200] == [0] * 200
    assert waits[200] > 0
    assert limiter.acquire("mer_b", "GET", "/charges") == 0


def test_post_token_has_a_tighter_bucket_that_also_counts_against_the_merchant() -> None:
    clock = Clock()
    limiter = RateLimiter((100, 200), (20, 40), clock)
    waits = drain(limiter, "mer_a", "POST", "/token", 41)
    assert waits[:40] == [0] * 40 and waits[40] == 1 / 20
    # Other routes of the same merchant still have 160 tokens; /token took 40 of 200.
    others = drain(limiter, "mer_a", "GET", "/charges", 161)
    assert others[:160] == [0] * 160 and others[160] > 0


def test_a_refused_request_spends_no_token() -> None:
    clock = Clock()
    limiter = RateLimiter((100, 200), (20, 40), clock)
    drain(limiter, "mer_a", "POST", "/token", 40)
    drain(limiter, "mer_a", "POST", "/token", 500)  # all refused by the /token bucket
    assert drain(limiter, "mer_a", "GET", "/charges", 160) == [0] * 160


def test_429_is_the_envelope_with_retry_after() -> None:
    error = too_many_requests(0.01)
    assert error.status == 429
    assert error.headers["Retry-After"] == "1"
    assert too_many_requests(2.2).headers["Retry-After"] == "3"
    body = json.loads(error.body)
    assert body["error"]["type"] == "rate_limit_error"
    assert body["error"]["code"] == "rate_limited"
    assert body["request_id"] == error.headers["X-Request-Id"]


def test_a_limit_that_could_never_refill_is_refused_at_start() -> None:
    with pytest.raises(ValueError):
        RateLimiter((0, 200), (20, 40))
    with pytest.raises(ValueError):
        RateLimiter((100, 200), (20, 0))


def test_a_browser_address_has_its_own_bucket_below_the_merchants() -> None:
    clock = Clock()
    limiter = RateLimiter((100, 200), (20, 40), clock, browser_limit=(10, 20))
    waits = [limiter.acquire("mer_a", "POST", "/token", "203.0.113.7") for _ in range(21)]
    assert waits[:20] == [0] * 20 and waits[20] == 1 / 10
    # Another address, and the merchant's own server (no Origin), still have tokens.
    assert limiter.acquire("mer_a", "POST", "/token", "203.0.113.8") == 0
    assert drain(limiter, "mer_a", "POST", "/token", 19) == [0] * 19
    assert limiter.acquire("mer_a", "POST", "/token") > 0  # the merchant's 40 are spent now
    # Only POST /token is limited per address.
    assert limiter.acquire("mer_b", "GET", "/charges", "203.0.113.7") == 0
