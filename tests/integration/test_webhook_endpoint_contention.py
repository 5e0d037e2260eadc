"""Webhook-endpoint creation under contention, over HTTP against the real local stack.

Creations of one merchant's endpoints all change its count item in their commits. Deployed,
DynamoDB cancels transactions that collide on it (``TransactionConflict``); moto serves one
request at a time and never does, so the DynamoDB proxy in front of the victim API answers
the conflicts, as DynamoDB words them, to the creations a seeded plan picks: some a few
times (they commit on a later try), some every time (they must end in 429 ``lock_timeout``,
not a 500, and store nothing, so the same key creates the endpoint once the contention is
over). The burst is larger than the cap, which holds exactly whatever the conflicts.

``CONTENTION_SEED=<n>`` replays a run's plan (the seed is printed, and named in a failure).
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.errors import CATALOGUE
from chalicelib.services.events import MAX_ENDPOINTS
from tests.faults import Rule, aws_error, dynamodb_call
from tests.integration.test_webhook_endpoints import endpoint_ids

pytestmark = pytest.mark.integration

BURST = 44
RECEIVER = "https://93.184.216.34/hooks"
# More conflicts than one commit's resends in ``dynamo.transact``: a creation that meets them
# all is tried again by the use case after a backoff.
SOME_CONFLICTS = range(0, 9)
ALWAYS = 10_000


def conflict(items: int) -> tuple[int, dict[str, str], bytes]:
    """DynamoDB's answer to a transaction cancelled by another one on the same item."""
    return aws_error(
        "TransactionCanceledException",
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[TransactionConflict]",
        CancellationReasons=[{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (items - 1),
    )


@dataclass(frozen=True)
class Creation:
    """One request of the burst: its URL (what the proxy recognises it by), its
    Idempotency-Key, and how many of its commits the proxy cancels."""

    url: str
    key: str
    conflicts: int

    @property
    def body(self) -> dict[str, str]:
        return {"url": self.url}


def plan(rng: random.Random) -> list[Creation]:
    creations = []
    for n in range(BURST):
        conflicts = ALWAYS if rng.random() < 0.25 else rng.choice(SOME_CONFLICTS)
        key = str(uuid.UUID(int=rng.getrandbits(128)))
        creations.append(Creation(f"{RECEIVER}/c{n:03d}", f"we-{key}", conflicts))
    # At least one that can never commit, and more that can than the cap has places.
    creations[0] = Creation(creations[0].url, creations[0].key, ALWAYS)
    return creations


def test_creations_that_keep_conflicting_are_429_and_the_cap_holds(
    faults: Any, merchant: Any
) -> None:
    seed = int(os.environ.get("CONTENTION_SEED") or random.SystemRandom().randrange(2**32))
    print(f"CONTENTION_SEED={seed}")
    try:
        _run(faults, merchant, seed)
    except AssertionError as failure:
        raise AssertionError(f"CONTENTION_SEED={seed}: {failure}") from failure


def _run(faults: Any, merchant: Any, seed: int) -> None:
    api, secret = faults.api, merchant.secret_key
    creations = plan(random.Random(seed))
    for creation in creations:
        if creation.conflicts:
            # The creation's commit is the transaction that writes its endpoint (its URL).
            needle = json.dumps(creation.url).encode()
            faults.dynamodb.add(
                Rule(
                    dynamodb_call("TransactWriteItems", needle),
                    "answer",
                    times=creation.conflicts,
                    answer=conflict(6),
                )
            )

    def create(creation: Creation) -> Any:
        return api.post(
            "/webhook_endpoints",
            creation.body,
            key=secret,
            headers={"Idempotency-Key": creation.key},
        )

    answers = dict(zip(creations, fire_each(creations, create), strict=True))
    print("answers:", sorted(Counter(r.status for r in answers.values()).items()))

    unexpected = {
        c.url: (r.status, r.text)
        for c, r in answers.items()
        if r.status not in (201, 409, 429)
        or (r.status != 201 and CATALOGUE[r.error["code"]].status != r.status)
    }
    assert not unexpected, unexpected
    codes = {r.error["code"] for r in answers.values() if r.status != 201}
    assert codes <= {"too_many_webhook_endpoints", "lock_timeout"}, codes
    for creation, answer in answers.items():
        if answer.status == 429:
            assert answer.error["type"] == "rate_limit_error"
            assert int(answer.headers["retry-after"]) >= 1
        if creation.conflicts == ALWAYS:
            # It could never commit: contention, not a refusal (unless the cap was
            # reached first, which its read of the count may show before any commit).
            assert (answer.status, answer.error["code"]) in {
                (429, "lock_timeout"),
                (409, "too_many_webhook_endpoints"),
            }, (creation, answer.text)

    created = [c for c, r in answers.items() if r.status == 201]
    listed = endpoint_ids(api, secret)
    assert len(created) <= MAX_ENDPOINTS
    assert sorted(listed) == sorted(answers[c].data["id"] for c in created)
    if any(r.status == 409 for r in answers.values()):
        assert len(created) == MAX_ENDPOINTS  # refused only at the cap
    spoiled = [c for c, r in answers.items() if r.status == 429]
    assert spoiled, "no creation met contention it could not outlast"

    # The contention is over and a place is free: a 429'd key was not stored, so the same
    # request creates its endpoint now, and only once.
    faults.dynamodb.clear()
    if len(listed) == MAX_ENDPOINTS:
        freed = api.request("DELETE", f"/webhook_endpoints/{listed[0]}", key=secret)
        assert freed.status == 200, freed.text
    retried = create(spoiled[0])
    assert retried.status == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert retried.data["url"] == spoiled[0].url and retried.data["secret"].startswith("whsec_")
    replayed = create(spoiled[0])
    assert (replayed.status, replayed.headers.get("idempotent-replayed")) == (201, "true")
    assert replayed.data == {**retried.data, "secret": None}
    assert len(endpoint_ids(api, secret)) <= MAX_ENDPOINTS


def fire_each(creations: list[Creation], call: Any) -> list[Any]:
    """``call(creation)`` for every creation at once, answers in the creations' order."""
    with ThreadPoolExecutor(max_workers=len(creations)) as pool:
        return list(pool.map(call, creations))
