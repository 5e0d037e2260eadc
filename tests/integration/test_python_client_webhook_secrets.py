"""The Python client's secret roll and test ping against the session's stack: during the
grace period a delivery verifies with the old secret and with the new one."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from payments_client import Client, Event, SignatureError, webhooks

from tests.receiver import receivers

pytestmark = pytest.mark.integration


@pytest.fixture
def client(api_url: str, merchant: Any) -> Iterator[Client]:
    seed = random.SystemRandom().randrange(2**32)
    print(f"client jitter seed: {seed}")
    with Client(merchant.secret_key, api_url, rng=random.Random(seed)) as c:
        yield c


def test_a_rolled_secret_and_the_old_one_both_verify_a_test_ping(client: Client) -> None:
    with receivers([]) as (receiver,):
        endpoint = client.webhook_endpoints.create(url=receiver.url)
        rolled = client.webhook_endpoints.roll_secret(endpoint.id, expire_old_in_hours=1)
        assert rolled.id == endpoint.id and rolled.secret and rolled.secret != endpoint.secret
        ping = client.webhook_endpoints.test(endpoint.id)
        assert isinstance(ping, Event) and ping.type == "test.ping"
        delivery = receiver.wait_for(endpoint.id, 1)[0]
    signature = delivery.headers["payments-signature"]
    assert signature.count("v1=") == 2
    for secret in (rolled.secret, endpoint.secret):
        event = webhooks.construct_event(delivery.body, signature, secret, tolerance=300)
        assert (event.id, event.type) == (ping.id, "test.ping")
    with pytest.raises(SignatureError):
        webhooks.construct_event(delivery.body, signature, "whsec_" + "0" * 32)


def test_a_secret_rolled_with_no_grace_stops_verifying_at_once(client: Client) -> None:
    with receivers([]) as (receiver,):
        endpoint = client.webhook_endpoints.create(url=receiver.url)
        rolled = client.webhook_endpoints.roll_secret(endpoint.id, expire_old_in_hours=0)
        client.webhook_endpoints.test(endpoint.id)
        delivery = receiver.wait_for(endpoint.id, 1)[0]
    signature = delivery.headers["payments-signature"]
    assert rolled.secret
    webhooks.construct_event(delivery.body, signature, rolled.secret, tolerance=300)
    with pytest.raises(SignatureError):
        webhooks.construct_event(delivery.body, signature, endpoint.secret, tolerance=300)
