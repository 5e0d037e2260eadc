"""Commits that keep losing to concurrent transactions on the same item.

``dynamo.transact`` resends a transaction cancelled by a conflict a few times, then raises
``Contention``. A use case whose commit touches a hot item (a merchant's webhook-endpoint
count) tries it again after a jittered backoff for a bounded time, then answers 429
``lock_timeout`` with ``Retry-After``: contention is not a refusal, so it is never stored for
replay (``RetryLater``) and a retry with the same Idempotency-Key goes ahead.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from chalicelib.adapters.dynamo import Contention
from chalicelib.errors import RetryLater

T = TypeVar("T")

# The commit is tried again for at most this long; the rest of the function's time (its
# timeout is several times longer) is left for the reads before it.
BUDGET_SECONDS = 2.0
BACKOFF_BASE_SECONDS = 0.01
BACKOFF_CAP_SECONDS = 0.2
RETRY_AFTER_SECONDS = 1


def patiently(commit: Callable[[], T], budget_seconds: float = BUDGET_SECONDS) -> T:
    """``commit()``, tried again while it raises ``Contention``; ``RetryLater`` once the
    budget is spent. Any other outcome (``WriteConflict`` included) is ``commit``'s own."""
    give_up = time.monotonic() + budget_seconds
    attempt = 0
    while True:
        try:
            return commit()
        except Contention:
            attempt += 1
            pause = random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))
            if time.monotonic() + pause >= give_up:
                raise RetryLater("lock_timeout", RETRY_AFTER_SECONDS) from None
            time.sleep(pause)
