"""Per-merchant rate limits in the local gateway emulation (``chalice local``).

Deployed, API Gateway usage plans throttle each merchant (the authorizer names the
merchant's usage plan key). Locally there is no API Gateway, so this module puts the same
rule where API Gateway applies it: after the authorizer has accepted the key, before the
Lambda runs. Rejected authentications (401, 403) never reach it, so they count against no
merchant.

The rule, as in the contract: one token bucket per merchant for all its keys
(``Settings.rate_limit``, 100/s, burst 200) and, for ``POST /token``, a second, tighter
bucket (``Settings.token_rate_limit``, 20/s, burst 40) that must also have a token — as in
a usage plan, where a method's throttle adds to the plan's. Past a limit: 429
``rate_limited`` in the envelope with ``Retry-After`` (whole seconds until a token).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import chalice.local

from chalicelib.errors import ApiError
from chalicelib.ids import new_id
from chalicelib.settings import get_settings

# The routes with their own, tighter bucket (method, Chalice resource path).
TOKEN_ROUTE = ("POST", "/token")


@dataclass
class TokenBucket:
    """``rate`` tokens per second up to ``burst``; a request takes one token."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs a rate > 0 and a burst >= 1")
        self.tokens = float(self.burst)
        self.updated = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_time(self) -> float:
        """Seconds until a token is available (0 if one is now)."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


class RateLimiter:
    """The buckets of every merchant; thread-safe (``chalice local`` serves on threads)."""

    def __init__(
        self,
        limit: tuple[float, int],
        token_limit: tuple[float, int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"all": limit, "token": token_limit}
        for rate, burst in self._limits.values():
            TokenBucket(rate, burst, clock)  # refuse a bad configuration at start, not later
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def _bucket(self, merchant_id: str, scope: str) -> TokenBucket:
        bucket = self._buckets.get((merchant_id, scope))
        if bucket is None:
            rate, burst = self._limits[scope]
            bucket = self._buckets[(merchant_id, scope)] = TokenBucket(rate, burst, self._clock)
        return bucket

    def acquire(self, merchant_id: str, method: str, resource_path: str) -> float:
        """Take a token for this request: 0 if allowed, else seconds to wait (nothing taken).

        Both buckets must have a token, so a refused request spends neither.
        """
        scopes = ["all"] + (["token"] if (method, resource_path) == TOKEN_ROUTE else [])
        with self._lock:
            buckets = [self._bucket(merchant_id, scope) for scope in scopes]
            wait = max(bucket.wait_time() for bucket in buckets)
            if wait == 0:
                for bucket in buckets:
                    bucket.take()
            return wait


class RateLimited(chalice.local.LocalGatewayException):
    """Answered by the local gateway itself, as API Gateway answers a throttled request."""

    CODE = 429


def too_many_requests(wait: float) -> RateLimited:
    request_id = new_id("req")
    body = {"error": ApiError("rate_limited").body(), "request_id": request_id}
    return RateLimited(
        {
            "Content-Type": "application/json",
            "X-Request-Id": request_id,
            "Retry-After": str(max(1, math.ceil(wait))),
        },
        json.dumps(body).encode(),
    )


def install(limiter: RateLimiter | None = None) -> RateLimiter:
    """Enforce the limits in this process's ``chalice local`` (after its authorizer)."""
    if limiter is None:
        settings = get_settings()
        limiter = RateLimiter(settings.rate_limit, settings.token_rate_limit)
    authorize = chalice.local.LocalGatewayAuthorizer.authorize

    def authorize_then_throttle(self: Any, raw_path: str, event: Any, context: Any) -> Any:
        event, context = authorize(self, raw_path, event, context)
        request = event["requestContext"]
        merchant_id = (request.get("authorizer") or {}).get("merchant_id")
        if merchant_id:  # routes without an authorizer (/health) are not limited
            wait = limiter.acquire(merchant_id, request["httpMethod"], request["resourcePath"])
            if wait:
                raise too_many_requests(wait)
        return event, context

    chalice.local.LocalGatewayAuthorizer.authorize = authorize_then_throttle  # type: ignore[method-assign]
    return limiter
