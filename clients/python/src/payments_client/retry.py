"""When the client sends a request again, and how long it waits first: pure rules, no I/O.

A request is retried only where a retry cannot do something twice: every POST that moves
money carries one ``Idempotency-Key`` for all its attempts, so the server replays or resumes
the first attempt instead of starting a second operation; GET and DELETE are idempotent by
themselves. Retried: no answer at all (connection failed, cut or timed out), 409
``request_in_progress``, 429 (after ``Retry-After``), 500 and 503, a gateway's 502 or 504
that is not the API's own answer, and a success whose body is not the API's envelope
(garbled on the way). Never retried: a definitive answer, success or refusal (2xx including
202 pending, 402, every other 4xx, 502 ``bank_unavailable``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Optional

from payments_client.errors import envelope_error

# Statuses whose outcome is unknown or temporary whoever answered them.
_RETRY_STATUSES = frozenset({429, 500, 503})
# A gateway's answer (not the API's envelope) for these: the function died or timed out.
_GATEWAY_STATUSES = frozenset({502, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry (``Client(retry=RetryPolicy(...))``).

    ``max_retries`` attempts are made after the first one at most. The n-th retry waits
    ``initial_delay * 2**(n-1)`` seconds capped at ``max_delay``, of which a random part
    (jitter) is dropped so that many clients do not retry in step; a ``Retry-After`` from the
    server is waited at least. An answer asking for more than ``max_retry_after`` seconds is
    not waited for: its error is raised.
    """

    max_retries: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        if self.initial_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must be 0 or more")

    def backoff(self, retry: int, rng: Optional[random.Random] = None) -> float:
        """Seconds before retry number ``retry`` (1 for the first), jitter included."""
        ceiling = min(self.max_delay, self.initial_delay * (2 ** (retry - 1)))
        # "Equal jitter": at least half the exponential delay, so waits still grow.
        draw = (rng or random).random()
        return ceiling / 2 + draw * ceiling / 2

    def delay(
        self, retry: int, retry_after: Optional[float], rng: Optional[random.Random] = None
    ) -> Optional[float]:
        """Seconds to wait before retry ``retry``; None when the wait asked is too long."""
        wait = self.backoff(retry, rng)
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            wait = max(wait, retry_after)
        return wait


def should_retry_status(status: int, body: Any) -> bool:
    """Whether an HTTP answer leaves the outcome unknown or temporary (``body``: parsed JSON)."""
    if status in _RETRY_STATUSES:
        return True
    error = envelope_error(body)
    if status == 409:
        return error is not None and error.get("code") == "request_in_progress"
    if status in _GATEWAY_STATUSES:
        # The API's own 502 (bank_unavailable) is final; a gateway's says nothing about it.
        return error is None
    return False
