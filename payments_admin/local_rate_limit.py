"""The rate limits of the local gateway (``local_gateway``), as token buckets.

Deployed, API Gateway usage plans throttle each merchant (the authorizer names the
merchant's usage plan key) and a WAF rule throttles each client address on ``POST /token``.
Locally the gateway applies the same rules where API Gateway does: for a key the
authorizer would accept, before the function runs. Rejected authentications (401, 403)
count against no merchant.

The rule, as in the contract: one token bucket per merchant for all its keys
(``Settings.rate_limit``, 100/s, burst 200) and, for ``POST /token``, a second, tighter
bucket (``Settings.token_rate_limit``, 20/s, burst 40) that must also have a token — as in
a usage plan, where a method's throttle adds to the plan's. A browser's ``POST /token`` (one
with an ``Origin``) also takes a token of its client address's bucket
(``Settings.token_ip_rate_limit``, 10/s, burst 20): below the merchant's, so that nobody
holding a merchant's publishable key can exhaust that merchant's limit from one address.
Past a limit: 429 ``rate_limited`` in the envelope with ``Retry-After`` (whole seconds).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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
    """The buckets of every merchant and client address; thread-safe (one thread per
    connection)."""

    def __init__(
        self,
        limit: tuple[float, int],
        token_limit: tuple[float, int],
        clock: Callable[[], float] = time.monotonic,
        *,
        browser_limit: tuple[float, int] = (10, 20),
    ) -> None:
        self._limits = {"all": limit, "token": token_limit, "browser": browser_limit}
        for rate, burst in self._limits.values():
            TokenBucket(rate, burst, clock)  # refuse a bad configuration at start, not later
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def _bucket(self, owner: str, scope: str) -> TokenBucket:
        bucket = self._buckets.get((owner, scope))
        if bucket is None:
            rate, burst = self._limits[scope]
            bucket = self._buckets[(owner, scope)] = TokenBucket(rate, burst, self._clock)
        return bucket

    def acquire(
        self, merchant_id: str, method: str, resource_path: str, browser: str | None = None
    ) -> float:
        """Take a token for this request: 0 if allowed, else seconds to wait (nothing taken).

        ``browser``: the client address of a browser's request (one with an ``Origin``).
        Every bucket that applies must have a token, so a refused request spends none.
        """
        owners = [(merchant_id, "all")]
        if (method, resource_path) == TOKEN_ROUTE:
            owners.append((merchant_id, "token"))
            if browser is not None:
                owners.append((browser, "browser"))
        with self._lock:
            buckets = [self._bucket(owner, scope) for owner, scope in owners]
            wait = max(bucket.wait_time() for bucket in buckets)
            if wait == 0:
                for bucket in buckets:
                    bucket.take()
            return wait
