"""The edge under abuse, over HTTP: rate limits per merchant, and a flood of bad keys."""

from __future__ import annotations

import http.client
import json
import random
import string
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from payments_admin.stack import LocalStack, Ports, free_port
from tests.helpers import HttpApi, card, rejection_counts

pytestmark = pytest.mark.integration


def burst(count: int, call: Any, workers: int = 16) -> tuple[list[Any], float]:
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        responses = list(pool.map(lambda _: call(), range(count)))
    return responses, time.monotonic() - start


def assert_rate_limited(response: Any) -> None:
    assert response.status == 429, response.text
    assert response.error["type"] == "rate_limit_error"
    assert response.error["code"] == "rate_limited"
    assert response.json["request_id"] == response.headers["x-request-id"]
    assert int(response.headers["retry-after"]) >= 1


def test_a_burst_past_post_token_limit_gets_429_and_other_merchants_are_unaffected(
    http_api: Any, services: Any
) -> None:
    """Default POST /token limit, 20/s with a burst of 40, per merchant."""
    noisy = services.merchant_service.create_merchant("Noisy")
    quiet = services.merchant_service.create_merchant("Quiet")
    # An invalid body is the cheapest request that still counts: the limit is checked
    # before the app, so a 400 costs a token like a 201 does.
    responses, elapsed = burst(300, lambda: http_api.post("/token", {}, key=noisy.publishable_key))
    statuses = Counter(r.status for r in responses)
    assert set(statuses) <= {400, 429}, statuses
    # The bucket never lets through more than its burst plus what refilled meanwhile.
    assert statuses[400] <= 40 + 20 * elapsed + 1, (statuses, elapsed)
    assert statuses[429] >= 300 - (40 + 20 * elapsed + 1) > 0, (statuses, elapsed)
    assert_rate_limited(next(r for r in responses if r.status == 429))
    # Right after, the noisy merchant is still limited (its secret key too: all its keys
    # share the bucket) while another merchant is served.
    assert http_api.post("/token", card(), key=quiet.secret_key).status == 201
    assert http_api.post("/token", card(), key=noisy.secret_key).status in (201, 429)
    assert http_api.get("/charges", key=quiet.secret_key).status == 200


def test_rejected_authentications_do_not_count_against_a_merchant(
    http_api: Any, merchant: Any
) -> None:
    bad = [
        lambda: http_api.post("/token", {}, key="pk_test_notAKeyOfAnyMerchant0000000"),
        # A publishable key on a secret route is refused (403) before the limit too.
        lambda: http_api.get("/charges", key=merchant.publishable_key),
    ]
    for call in bad:
        responses, _ = burst(60, call)
        assert {r.status for r in responses} <= {401, 403}
    # The merchant's whole POST /token burst is still there.
    responses, _ = burst(40, lambda: http_api.post("/token", {}, key=merchant.publishable_key))
    assert Counter(r.status for r in responses)[429] == 0


def _post_token_from(api_url: str, source: str, key: str, origin: str) -> int:
    """POST /token sent from the loopback address ``source`` (another client address)."""
    parts = urllib.parse.urlsplit(api_url)
    connection = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=30, source_address=(source, 0)
    )
    try:
        connection.request(
            "POST",
            "/token",
            body=json.dumps(card()),
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Origin": origin,
            },
        )
        return connection.getresponse().status
    finally:
        connection.close()


def test_browsers_are_limited_per_client_address_below_the_merchants_limit(
    http_api: Any, api_url: str, services: Any, merchant: Any
) -> None:
    """A browser's POST /token (it carries an Origin): 10/s with a burst of 20 per address."""
    shop = "https://shop.example.com"
    services.checkout.allow(merchant.merchant_id, shop)
    headers = {"Origin": shop}
    responses, elapsed = burst(
        60, lambda: http_api.post("/token", {}, key=merchant.publishable_key, headers=headers)
    )
    statuses = Counter(r.status for r in responses)
    assert set(statuses) <= {400, 429}, statuses
    assert statuses[400] <= 20 + 10 * elapsed + 1, (statuses, elapsed)
    assert statuses[429] >= 60 - (20 + 10 * elapsed + 1) > 0, (statuses, elapsed)
    assert_rate_limited(next(r for r in responses if r.status == 429))
    # The merchant's own limit (40) is not exhausted by that address: its server tokenizes,
    # and a browser at another address is served.
    assert http_api.post("/token", card(), key=merchant.publishable_key).status == 201
    assert _post_token_from(api_url, "127.0.0.2", merchant.publishable_key, shop) == 201


@pytest.fixture
def tight_gateway(
    stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A second ``chalice local`` on the same moto and bank, configured for 5/s, burst 10.

    The session's gateway uses the contract's defaults (100/s, burst 200), which this
    two-core machine cannot outrun over HTTP; the rule itself is the same code.
    """
    monkeypatch.setenv("PAYMENTS_RATE_LIMIT_RPS", "5")
    monkeypatch.setenv("PAYMENTS_RATE_LIMIT_BURST", "10")
    gateway = LocalStack(
        Ports(free_port(), stack.ports.aws, stack.ports.bank, stack.ports.mb_admin), tmp_path
    )
    try:
        gateway._start_api()
        yield gateway.api_url
    finally:
        gateway.stop()


def test_merchant_limit_covers_all_routes_and_keys_and_is_configurable(
    tight_gateway: str, services: Any
) -> None:
    api = HttpApi(tight_gateway)
    noisy = services.merchant_service.create_merchant("Noisy")
    quiet = services.merchant_service.create_merchant("Quiet")
    keys = [noisy.secret_key, noisy.publishable_key]
    calls = [
        lambda i: api.get("/charges", key=keys[0]),
        lambda i: api.post("/token", {}, key=keys[i % 2]),
        lambda i: api.get("/charge/ch_missing", key=keys[0]),
    ]
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda i: calls[i % 3](i), range(60)))
    elapsed = time.monotonic() - start
    statuses = Counter(r.status for r in responses)
    served = sum(n for status, n in statuses.items() if status != 429)
    assert served <= 10 + 5 * elapsed + 1, (statuses, elapsed)
    assert statuses[429] > 0, (statuses, elapsed)
    assert_rate_limited(next(r for r in responses if r.status == 429))
    assert api.get("/charges", key=quiet.secret_key).status == 200
    assert api.get("/health").status == 200  # no key, no merchant, no limit


def _garbage_keys(count: int) -> Iterator[str]:
    """Well-formed keys nobody holds, from a seed printed for a replay."""
    seed = random.SystemRandom().randrange(2**32)
    print(f"garbage key seed: {seed}")
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    # Drawn up front: the burst's threads take them in any order, but the set is the seed's.
    return iter(["sk_test_" + "".join(rng.choices(alphabet, k=32)) for _ in range(count)])


def test_a_thousand_garbage_keys_cost_a_bounded_number_of_audit_records(
    http_api: Any, services: Any
) -> None:
    before = rejection_counts(services)
    keys = _garbage_keys(1000)
    responses, elapsed = burst(1000, lambda: http_api.get("/charges", key=next(keys)))
    statuses = Counter(r.status for r in responses)
    assert statuses == {401: 1000}, statuses
    after = rejection_counts(services)
    touched = {
        k: v["count"] - before.get(k, {}).get("count", 0)
        for k, v in after.items()
        if v["route"] == "GET /charges" and v["reason"] == "unknown_key"
    }
    touched = {k: n for k, n in touched.items() if n}
    # Every rejection is counted, exactly ...
    assert sum(touched.values()) == 1000
    # ... in at most 256 key-hash buckets per minute (the burst may straddle a minute).
    minutes = {k[0].split("#")[0] for k in touched}
    assert len(minutes) <= 2
    assert len(touched) <= 256 * len(minutes) < 1000
    # ... spread over the shards of each minute, not one hot partition.
    assert len({k[0] for k in touched}) >= 8
    print(f"1000 garbage keys: {len(touched)} records, {elapsed:.1f}s")
