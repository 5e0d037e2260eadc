"""Events and signed webhooks end to end: the local stack's delivery worker POSTs to
receivers in this process."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.domain.lifecycle import FAILED, Decision
from chalicelib.services.recording import SettlerRecord
from tests.helpers import FUNCTION_TIMEOUT, VISA, charge_body, tokenize
from tests.integration.test_pending import SLOW, _write_ahead_only
from tests.receiver import Receiver, receivers, verify_from_docs

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receivers([]) as (started,):
        yield started


def subscribe(api: Any, key: str, url: str, events: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url, **({"events": events} if events else {})}
    response = api.post("/webhook_endpoints", body, key=key)
    assert response.status == 201, response.text
    return response.data


def test_a_slow_charge_sends_pending_then_succeeded_signed(
    http_api: Any, merchant: Any, services: Any, receiver: Receiver
) -> None:
    endpoint = subscribe(http_api, merchant.secret_key, receiver.url)
    token = tokenize(http_api, merchant.secret_key, SLOW)
    response = http_api.post("/charge", charge_body(token), key=merchant.secret_key)
    assert response.status == 202
    charge_id = response.data["id"]
    (pending,) = receiver.wait_for(charge_id, 1)
    assert pending.event["type"] == "charge.pending"
    time.sleep(FUNCTION_TIMEOUT + 0.5)
    services.settlement.sweep()  # the reconcile job
    first, second = receiver.wait_for(charge_id, 2)
    assert [d.event["type"] for d in (first, second)] == ["charge.pending", "charge.succeeded"]
    assert second.event["data"]["object"]["status"] == "succeeded"
    for delivery in (first, second):
        assert verify_from_docs(delivery.body, delivery.headers["payments-signature"], endpoint)
        tampered = delivery.body.replace(b'"amount":2500', b'"amount":2')
        assert not verify_from_docs(tampered, delivery.headers["payments-signature"], endpoint)
    # The same events, as GET /events answers them.
    listed = http_api.get("/events", key=merchant.secret_key).data["items"]
    assert [e["id"] for e in listed[:2]] == [second.event["id"], first.event["id"]]


def test_a_receiver_answering_500_twice_gets_the_event_a_third_time(
    http_api: Any, merchant: Any, services: Any
) -> None:
    with receivers([500, 500]) as (receiver,):
        subscribe(http_api, merchant.secret_key, receiver.url, ["charge.succeeded"])
        token = tokenize(http_api, merchant.secret_key, VISA)
        charge_id = http_api.post("/charge", charge_body(token), key=merchant.secret_key).data["id"]
        deliveries = receiver.wait_for(charge_id, 3)
        assert len({d.event["id"] for d in deliveries}) == 1  # retries keep the event id
        assert deliveries[2].at - deliveries[0].at < 120
        time.sleep(1)
        (record,) = services.delivery.deliveries(deliveries[0].event["id"])
        assert (record.status, record.attempts) == ("delivered", 3)
        assert len(receiver.about(charge_id)) == 3


def test_a_delivery_that_never_succeeds_is_marked_failed(
    http_api: Any, merchant: Any, services: Any
) -> None:
    with receivers([500] * 10) as (receiver,):
        subscribe(http_api, merchant.secret_key, receiver.url)
        token = tokenize(http_api, merchant.secret_key, VISA)
        charge_id = http_api.post("/charge", charge_body(token), key=merchant.secret_key).data["id"]
        deliveries = receiver.wait_for(charge_id, 4)  # the first attempt and 3 retries
        time.sleep(1.5)
        (record,) = services.delivery.deliveries(deliveries[0].event["id"])
        assert (record.status, record.attempts, record.last_status_code) == (
            "failed",
            4,
            500,
        )
        assert len(receiver.about(charge_id)) == 4


def test_a_crash_between_commit_and_delivery_still_delivers(
    http_api: Any, merchant: Any, stack: Any, receiver: Receiver
) -> None:
    subscribe(http_api, merchant.secret_key, receiver.url)
    worker = stack.delivery_worker
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    try:
        token = tokenize(http_api, merchant.secret_key, VISA)
        charge = http_api.post("/charge", charge_body(token), key=merchant.secret_key)
        assert charge.status == 201  # committed, with its event: nobody delivers it yet
        time.sleep(1)
        assert receiver.about(charge.data["id"]) == []
    finally:
        stack.start_delivery_worker()
    (delivery,) = receiver.wait_for(charge.data["id"], 1)
    assert delivery.event["type"] == "charge.succeeded"


def test_a_rolled_back_change_emits_nothing(
    http_api: Any, merchant: Any, services: Any, receiver: Receiver
) -> None:
    subscribe(http_api, merchant.secret_key, receiver.url)
    charge_id = _write_ahead_only(services, merchant, 900)
    stale = services.charges.get_charge(merchant.merchant_id, charge_id)
    services.settlement.record(
        stale, Decision("succeeded", authorization_code="123456"), SettlerRecord(services.dynamodb)
    )
    # A second settler with another answer: its transaction (the final state and a
    # charge.failed event) is cancelled whole, and it answers what was recorded.
    reply = services.settlement.record(
        stale, Decision(FAILED, failure_code="generic_decline"), SettlerRecord(services.dynamodb)
    )
    assert reply.data.status == "succeeded"
    (delivery,) = receiver.wait_for(charge_id, 1)
    assert delivery.event["type"] == "charge.succeeded"
    failed = http_api.get("/events?type=charge.failed", key=merchant.secret_key).data["items"]
    assert charge_id not in {e["data"]["object"]["id"] for e in failed}
    time.sleep(1)
    assert len(receiver.about(charge_id)) == 1


def test_another_merchants_endpoint_never_sees_the_event(
    http_api: Any, merchant: Any, services: Any
) -> None:
    other = services.merchant_service.create_merchant("Other Merchant")
    with receivers([], []) as (mine, theirs):
        subscribe(http_api, merchant.secret_key, mine.url)
        subscribe(http_api, other.secret_key, theirs.url)
        token = tokenize(http_api, merchant.secret_key, VISA)
        charge_id = http_api.post("/charge", charge_body(token), key=merchant.secret_key).data["id"]
        (delivery,) = mine.wait_for(charge_id, 1)
        time.sleep(1)
        assert theirs.received == []
        event_id = delivery.event["id"]
        assert http_api.get(f"/events/{event_id}", key=other.secret_key).status == 404
        assert http_api.get("/events", key=other.secret_key).data["items"] == []


def test_resend_delivers_the_same_event_again(
    http_api: Any, merchant: Any, stack: Any, receiver: Receiver
) -> None:
    import subprocess
    import sys

    subscribe(http_api, merchant.secret_key, receiver.url)
    token = tokenize(http_api, merchant.secret_key, VISA)
    charge_id = http_api.post("/charge", charge_body(token), key=merchant.secret_key).data["id"]
    (first,) = receiver.wait_for(charge_id, 1)
    time.sleep(0.5)
    result = subprocess.run(
        [sys.executable, "-m", "payments_admin.cli", "events", "resend", first.event["id"]],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert '"delivered"' in result.stdout
    first, again = receiver.wait_for(charge_id, 2)
    assert again.body == first.body


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/hook",  # not https
        "https://10.0.0.1/hook",
        "https://192.168.1.10/hook",
        "https://172.16.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://[fd00:ec2::254]/",  # its IPv6 address
        "https://100.100.100.200/",  # another cloud's metadata (shared address space)
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://127.0.0.1/hook",  # locally only http(s)://127.0.0.1:<port>
        "http://127.0.0.2:8080/hook",
        "https://localhost/hook",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://2130706433/hook",  # 127.0.0.1 as a number: refused once resolved
        "https://user:secret@93.184.216.34/hook",
        "ftp://93.184.216.34/hook",
        "not a url",
    ],
)
def test_webhook_urls_that_could_reach_inside_are_refused(
    http_api: Any, merchant: Any, url: str
) -> None:
    response = http_api.post("/webhook_endpoints", {"url": url}, key=merchant.secret_key)
    assert (response.status, response.error["code"], response.error["param"]) == (
        400,
        "invalid_url",
        "url",
    )


def test_a_name_that_resolves_to_a_private_address_is_refused(http_api: Any, merchant: Any) -> None:
    """This machine's own name resolves (through /etc/hosts) to a non-public address."""
    name = socket.getfqdn()
    if "." not in name:
        name = "ip6-localhost.localdomain."  # refused by name; the resolver path is unit-tested
    response = http_api.post(
        "/webhook_endpoints", {"url": f"https://{name}/hook"}, key=merchant.secret_key
    )
    assert (response.status, response.error["code"]) == (400, "invalid_url")


def test_a_public_https_url_is_accepted(http_api: Any, merchant: Any) -> None:
    response = http_api.post(
        "/webhook_endpoints", {"url": "https://93.184.216.34/hooks"}, key=merchant.secret_key
    )
    assert response.status == 201, response.text
