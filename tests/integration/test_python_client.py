"""The Python client (clients/python) against the local stack of the test session: the
merchant's walk-through of docs/clients.md, a retry after a lost answer that charges once,
auto-paging, errors by type, and a webhook verified by ``construct_event``.

Capture and void are not here: the server has no such routes yet (their client side is
unit-tested against a fake transport in tests/client)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from payments_client import (
    AsyncClient,
    AuthenticationError,
    CardError,
    Charge,
    Client,
    Event,
    IdempotencyError,
    InvalidRequestError,
    Page,
    PermissionDeniedError,
    Refund,
    SignatureError,
    Token,
    WebhookEndpoint,
    webhooks,
)

from tests.client.conftest import run_async
from tests.client.test_docs_clients import GUIDE, snippet
from tests.faults import Proxy, Rule
from tests.helpers import FUTURE_YEAR, VISA, bank_calls
from tests.integration.test_pending import SLOW
from tests.receiver import receivers

pytestmark = pytest.mark.integration

DECLINED_INSUFFICIENT_FUNDS = "4000000000009995"


@pytest.fixture
def seed() -> int:
    value = random.SystemRandom().randrange(2**32)
    print(f"client jitter seed: {value}")
    return value


@pytest.fixture
def client(api_url: str, merchant: Any, seed: int) -> Iterator[Client]:
    with Client(merchant.secret_key, api_url, rng=random.Random(seed)) as c:
        yield c


def tokenize(client: Client, number: str = VISA) -> Token:
    return client.tokens.create(card_number=number, exp_month=12, exp_year=FUTURE_YEAR, cvv="123")


def test_the_walk_through_token_charge_status_refund_events(client: Client) -> None:
    tok = tokenize(client)
    assert isinstance(tok, Token) and tok.id.startswith("tok_")
    assert (tok.card.brand, tok.card.last4, tok.used) == ("visa", "4242", False)

    ch = client.charges.create(
        token=tok.id, amount=2500, currency="usd", description="Order 1", metadata={"order": "1"}
    )
    assert isinstance(ch, Charge) and ch.id.startswith("ch_")
    assert (ch.status, ch.amount, ch.currency, ch.metadata) == (
        "succeeded",
        2500,
        "USD",
        {"order": "1"},
    )
    assert ch.last_response is not None and ch.last_response.http_status == 201
    assert ch.last_response.request_id and ch.last_response.request_id.startswith("req_")
    assert not ch.last_response.replayed
    assert client.charges.retrieve(ch.id).to_dict() == ch.to_dict()

    refund = client.refunds.create(charge_id=ch.id, amount=1000, reason="requested_by_customer")
    assert isinstance(refund, Refund)
    assert (refund.status, refund.amount, refund.charge_id) == ("succeeded", 1000, ch.id)
    after = client.charges.retrieve(ch.id)
    assert (after.amount_refunded, after.refunded) == (1000, False)
    assert [r.id for r in after.refunds] == [refund.id]
    rest = client.refunds.create(charge_id=ch.id)  # no amount: all that remains
    assert rest.amount == 1500 and client.charges.retrieve(ch.id).refunded

    events = list(client.events.list(type="charge.succeeded"))
    assert [e.data.object.id for e in events] == [ch.id]
    assert isinstance(events[0], Event) and isinstance(events[0].data.object, Charge)
    assert client.events.retrieve(events[0].id).id == events[0].id
    refund_events = [e for e in client.events.list() if e.type == "refund.succeeded"]
    assert {e.data.object.id for e in refund_events} == {refund.id, rest.id}
    assert all(isinstance(e.data.object, Refund) for e in refund_events)


def test_a_lost_answer_is_retried_with_the_same_key_and_charges_once(
    api_url: str, merchant: Any, bank_url: str, client: Client, seed: int
) -> None:
    """A proxy forwards the charge to the API, then closes the connection instead of
    answering (as a network cut after the request arrived). The client sends the request
    again with the same Idempotency-Key and gets the first answer replayed."""
    seen_keys: list[str] = []

    def charge_post(method: str, path: str, headers: dict[str, str], body: bytes) -> bool:
        return method == "POST" and path == "/charge"

    def observe(method: str, path: str, headers: dict[str, str], body: bytes) -> bool:
        if charge_post(method, path, headers, body):
            seen_keys.append(headers.get("idempotency-key", ""))
        return False  # never taken: it only looks

    proxy = Proxy(api_url).start()
    proxy.add(Rule(observe, "answer", times=10**9))
    drop = proxy.add(Rule(charge_post, "drop_after"))
    try:
        with Client(merchant.secret_key, proxy.url, rng=random.Random(seed)) as flaky:
            tok = tokenize(flaky)
            ch = flaky.charges.create(token=tok.id, amount=1234, currency="USD")
    finally:
        proxy.stop()
    assert drop.hits == 1
    assert len(seen_keys) == 2 and seen_keys[0] == seen_keys[1] != ""
    assert ch.status == "succeeded" and ch.amount == 1234
    assert ch.last_response is not None and ch.last_response.replayed
    assert ch.last_response.idempotency_key == seen_keys[0]
    # One charge, one authorization at the bank: the retry did not charge again.
    assert [c.id for c in client.charges.list()] == [ch.id]
    assert bank_calls(bank_url, ch.id) == {"POST /authorizations": 1}


def test_a_pending_charge_is_returned_not_raised_and_not_retried(client: Client) -> None:
    tok = tokenize(client, SLOW)  # the bank answers after the platform's timeout
    ch = client.charges.create(token=tok.id, amount=700, currency="USD")
    assert ch.status == "pending"
    assert ch.last_response is not None and ch.last_response.http_status == 202
    assert [c.id for c in client.charges.list()] == [ch.id]


def test_list_pages_through_every_charge_newest_first(client: Client) -> None:
    created = [
        client.charges.create(token=tokenize(client).id, amount=100 + n, currency="USD").id
        for n in range(5)
    ]
    first = client.charges.list(limit=2)
    assert isinstance(first, Page) and len(first.items) == 2 and first.has_more
    assert [c.id for c in first] == created[::-1]  # every page, newest first, each once
    assert [c.id for c in client.charges.list(limit=100)] == created[::-1]
    second = first.next_page()
    assert second is not None and [c.id for c in second.items] == created[::-1][2:4]


def test_errors_are_exceptions_by_type(client: Client, api_url: str, merchant: Any) -> None:
    tok = tokenize(client, DECLINED_INSUFFICIENT_FUNDS)
    with pytest.raises(CardError) as declined:
        client.charges.create(token=tok.id, amount=2500, currency="USD")
    err = declined.value
    assert (err.http_status, err.code, err.decline_code) == (
        402,
        "card_declined",
        "insufficient_funds",
    )
    assert err.charge and err.charge.startswith("ch_") and err.request_id
    assert client.charges.retrieve(err.charge).status == "failed"

    with pytest.raises(InvalidRequestError) as invalid:
        client.tokens.create(
            card_number="4242424242424241", exp_month=12, exp_year=FUTURE_YEAR, cvv="123"
        )
    assert (invalid.value.http_status, invalid.value.code, invalid.value.param) == (
        400,
        "invalid_card_number",
        "card_number",
    )
    with pytest.raises(InvalidRequestError) as missing:
        client.charges.retrieve("ch_doesnotexist")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")

    tok = tokenize(client)
    client.charges.create(token=tok.id, amount=300, currency="USD", idempotency_key="order-7")
    with pytest.raises(IdempotencyError) as reused:
        client.charges.create(token=tok.id, amount=301, currency="USD", idempotency_key="order-7")
    assert (reused.value.http_status, reused.value.code) == (422, "idempotency_key_reused")

    with Client(merchant.publishable_key, api_url) as public:
        assert tokenize(public).id.startswith("tok_")  # the publishable key may tokenize
        with pytest.raises(PermissionDeniedError) as denied:
            public.charges.list()
        assert denied.value.http_status == 403
    with (
        Client("sk_test_" + "x" * 32, api_url) as unknown,
        pytest.raises(AuthenticationError) as refused,
    ):
        unknown.charges.list()
    assert refused.value.http_status == 401


def test_a_delivered_webhook_is_verified_by_construct_event(client: Client) -> None:
    with receivers([]) as (receiver,):
        endpoint = client.webhook_endpoints.create(url=receiver.url, events=["charge.succeeded"])
        assert isinstance(endpoint, WebhookEndpoint) and endpoint.secret
        assert endpoint.secret.startswith("whsec_")
        ch = client.charges.create(token=tokenize(client).id, amount=4200, currency="USD")
        delivery = receiver.wait_for(ch.id, 1)[0]  # at least once: a retry may follow
    signature = delivery.headers["payments-signature"]
    event = webhooks.construct_event(delivery.body, signature, endpoint.secret, tolerance=300)
    assert event.type == "charge.succeeded"
    assert isinstance(event.data.object, Charge) and event.data.object.id == ch.id
    assert event.data.object.amount == 4200
    with pytest.raises(SignatureError):
        webhooks.construct_event(
            delivery.body.replace(b"4200", b"4201"), signature, endpoint.secret
        )
    with pytest.raises(SignatureError):
        webhooks.construct_event(delivery.body, signature, "whsec_" + "0" * 32)

    (listed,) = client.webhook_endpoints.list()
    assert listed.id == endpoint.id and listed.secret is None  # never shown again
    deleted = client.webhook_endpoints.delete(endpoint.id)
    assert deleted.status == "deleted"
    assert list(client.webhook_endpoints.list()) == []


def test_the_async_client_walks_the_same_way(api_url: str, merchant: Any, seed: int) -> None:
    async def flow() -> tuple[Charge, list[str], Refund]:
        async with AsyncClient(merchant.secret_key, api_url, rng=random.Random(seed)) as c:
            made = []
            for n in range(3):
                tok = await c.tokens.create(
                    card_number=VISA, exp_month=12, exp_year=FUTURE_YEAR, cvv="123"
                )
                made.append(await c.charges.create(token=tok.id, amount=500 + n, currency="EUR"))
            listed = [item.id async for item in c.charges.list(limit=2)]
            refund = await c.refunds.create(charge_id=made[0].id, amount=100)
            return await c.charges.retrieve(made[0].id), listed + [m.id for m in made], refund

    first, ids, refund = run_async(flow())
    assert ids[:3] == ids[3:][::-1]
    assert first.amount_refunded == 100 and first.refunds[0].id == refund.id


def test_the_guides_walk_through_runs_as_written(
    api_url: str, merchant: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/clients.md's Python walk-through and async example, with this test's merchant."""
    walk_through = snippet("# 1. Tokenize a card")
    walk_through, keys = re.subn(
        r'^SK = ".*"', f'SK = "{merchant.secret_key}"', walk_through, flags=re.M
    )
    walk_through, urls = re.subn(r'^API = ".*"', f'API = "{api_url}"', walk_through, flags=re.M)
    assert (keys, urls) == (1, 1)
    namespace: dict[str, Any] = {"__name__": "docs_walk_through"}
    exec(compile(walk_through, str(GUIDE), "exec"), namespace)  # noqa: S102 - our own docs
    printed = capsys.readouterr().out
    assert "visa 4242" in printed and "card_declined insufficient_funds ch_" in printed
    # In a thread of its own: the snippet's asyncio.run leaves its thread without a loop.
    async_example = compile(snippet("AsyncClient(api_key=SK"), str(GUIDE), "exec")
    with ThreadPoolExecutor(1) as worker:
        worker.submit(exec, async_example, namespace).result(timeout=120)
    assert " succeeded" in capsys.readouterr().out
