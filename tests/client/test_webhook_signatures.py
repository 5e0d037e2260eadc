"""payments_client.webhooks.construct_event: a delivery is accepted only when one of its ``v1``
signatures verifies under the secret and its timestamp is recent."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import payments_client
import pytest
from payments_client import Charge, Event, SignatureError, WebhookEndpoint
from payments_client.webhooks import verify_header

from tests.client.conftest import charge

SECRET = "whsec_new"
OLD_SECRET = "whsec_old"


def body(event_type: str = "charge.succeeded", obj: dict | None = None) -> bytes:
    event = {
        "id": "evt_1",
        "object": "event",
        "type": event_type,
        "created_at": "2026-11-26T23:00:00.123Z",
        "data": {"object": obj if obj is not None else charge()},
    }
    return json.dumps(event, separators=(",", ":")).encode()


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """What the platform computes (written out here, independently of the client)."""
    message = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def header(payload: bytes, *secrets: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={t}", *(f"v1={sign(payload, s, t)}" for s in secrets)])


def test_a_signed_delivery_becomes_a_typed_event() -> None:
    payload = body()
    event = payments_client.webhooks.construct_event(payload, header(payload, SECRET), SECRET)
    assert isinstance(event, Event) and event.type == "charge.succeeded"
    assert isinstance(event.data.object, Charge) and event.data.object.id == "ch_1"


def test_during_a_secret_roll_any_v1_that_verifies_is_enough() -> None:
    payload = body()
    both = header(payload, SECRET, OLD_SECRET)
    assert payments_client.webhooks.construct_event(payload, both, SECRET).id == "evt_1"
    assert payments_client.webhooks.construct_event(payload, both, OLD_SECRET).id == "evt_1"
    with pytest.raises(SignatureError):
        payments_client.webhooks.construct_event(payload, both, "whsec_other")


def test_a_text_payload_is_accepted_as_its_utf8_bytes() -> None:
    payload = body(obj=charge(description="Café"))
    event = payments_client.webhooks.construct_event(
        payload.decode(), header(payload, SECRET), SECRET
    )
    assert event.data.object.description == "Café"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: p.replace(b'"amount":2500', b'"amount":2'),
        lambda p: p + b" ",
        lambda p: json.dumps(json.loads(p)).encode(),  # re-serialized: not the raw body
    ],
    ids=["amount", "trailing-space", "reserialized"],
)
def test_a_changed_body_does_not_verify(tamper: object) -> None:
    payload = body()
    signature = header(payload, SECRET)
    with pytest.raises(SignatureError):
        payments_client.webhooks.construct_event(tamper(payload), signature, SECRET)  # type: ignore[operator]


@pytest.mark.parametrize("age", [301, -301, 10_000])
def test_a_timestamp_outside_the_tolerance_is_refused(age: int) -> None:
    payload = body()
    stale = header(payload, SECRET, timestamp=int(time.time()) - age)
    with pytest.raises(SignatureError, match="tolerance"):
        payments_client.webhooks.construct_event(payload, stale, SECRET, tolerance=300)


def test_the_tolerance_is_the_callers() -> None:
    payload = body()
    old = header(payload, SECRET, timestamp=int(time.time()) - 1000)
    assert payments_client.webhooks.construct_event(payload, old, SECRET, tolerance=2000)
    assert payments_client.webhooks.construct_event(payload, old, SECRET, tolerance=None)


def test_the_timestamp_is_signed_too() -> None:
    payload = body()
    old_t = int(time.time()) - 1000
    replayed = f"t={int(time.time())},v1={sign(payload, SECRET, old_t)}"
    with pytest.raises(SignatureError):
        payments_client.webhooks.construct_event(payload, replayed, SECRET)


@pytest.mark.parametrize(
    "bad_header",
    [
        None,
        "",
        "garbage",
        "v1=abc",  # no timestamp
        "t=abc,v1=abc",
        "t=1,t=2,v1=abc",  # two timestamps
        "t=١٢٣,v1=abc",  # non-ASCII digits
        "t={t}",  # no signature
        "t={t},v0={sig}",  # another scheme only
        "t={t},v1=ünïcode",
    ],
)
def test_malformed_headers_are_signature_errors(bad_header: str | None) -> None:
    payload = body()
    t = int(time.time())
    if bad_header is not None:
        bad_header = bad_header.format(t=t, sig=sign(payload, SECRET, t))
    with pytest.raises(SignatureError):
        payments_client.webhooks.construct_event(payload, bad_header, SECRET)


def test_a_signed_body_that_is_not_json_is_a_signature_error() -> None:
    payload = b"\xff not json"
    with pytest.raises(SignatureError):
        payments_client.webhooks.construct_event(payload, header(payload, SECRET), SECRET)


def test_a_test_ping_carries_the_endpoint_and_unknown_kinds_stay_readable() -> None:
    endpoint = {
        "id": "we_1",
        "object": "webhook_endpoint",
        "url": "https://merchant.example/hooks",
        "events": [],
        "status": "enabled",
        "created_at": "c",
    }
    ping = body("test.ping", endpoint)
    event = payments_client.webhooks.construct_event(ping, header(ping, SECRET), SECRET)
    assert isinstance(event.data.object, WebhookEndpoint)
    future = body("payout.paid", {"id": "po_1", "object": "payout", "amount": 5})
    event = payments_client.webhooks.construct_event(future, header(future, SECRET), SECRET)
    assert event.data.object.to_dict() == {"id": "po_1", "object": "payout", "amount": 5}


def test_verify_header_checks_against_the_given_clock() -> None:
    payload = body()
    signed = header(payload, SECRET, timestamp=1_000_000)
    verify_header(payload, signed, SECRET, tolerance=300, now=1_000_299)
    with pytest.raises(SignatureError):
        verify_header(payload, signed, SECRET, tolerance=300, now=1_000_301)


def test_what_the_platform_signs_verifies() -> None:
    from chalicelib.domain.events import sign as platform_sign

    payload = body()
    signed = platform_sign(SECRET, int(time.time()), payload)
    assert payments_client.webhooks.construct_event(payload, signed, SECRET).id == "evt_1"
