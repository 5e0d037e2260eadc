"""The records outside the money core and their DynamoDB items: each adapter's
``to_item``/``from_item`` round-trips every field, leaves absent optional fields out of the
item, adds its storage keys, and refuses an item that lacks a field or holds the wrong type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields, replace
from typing import Any

import pytest

from chalicelib.adapters.api_keys import api_key_from_item, api_key_to_item
from chalicelib.adapters.audit_log import audit_from_item, audit_to_item
from chalicelib.adapters.checkout_origins import origins_from_item, origins_to_item
from chalicelib.adapters.dynamo import from_item
from chalicelib.adapters.event_store import (
    RETENTION_SECONDS,
    EventStore,
    event_from_item,
    event_to_item,
)
from chalicelib.adapters.leases import Lease, lease_from_item, lease_to_item
from chalicelib.adapters.webhooks import (
    DELIVERY_RETENTION_SECONDS,
    SigningSecret,
    delivery_from_item,
    delivery_to_item,
    endpoint_from_item,
    endpoint_to_item,
    secret_from_item,
    secret_to_item,
)
from chalicelib.domain.keys import ApiKey, AuditEntry
from chalicelib.domain.origins import CheckoutOrigins
from chalicelib.domain.webhooks import Delivery, Event, WebhookEndpoint

AT = "2026-03-01T12:34:56.789Z"

FULL_KEY = ApiKey(
    key_hash="ab" * 32,
    key_id="key_1",
    merchant_id="mer_1",
    merchant_name="Shop",
    key_type="secret",
    status="revoked",
    created_at=AT,
    last4="wxyz",
    rolled_from="key_0",
    rolled_to="key_2",
    expires_at="2026-03-02T00:00:00.000Z",
    revoked_at="2026-03-01T13:00:00.000Z",
)
BARE_KEY = ApiKey(
    key_hash="cd" * 32,
    key_id="key_3",
    merchant_id="mer_1",
    merchant_name="",
    key_type="publishable",
    status="active",
    created_at=AT,
)
FULL_AUDIT = AuditEntry(
    at=AT,
    request_id="req_1",
    action="charge.create",
    status=201,
    merchant_id="mer_1",
    key_id="key_1",
    route="POST /charge",
    object_id="ch_1",
    error_code="card_declined",
    source_ip="203.0.113.9",
    user_agent="curl/8",
    reason="because",
    key_hash_prefix="abcdef012345",
    expires_at="2026-03-02T00:00:00.000Z",
)
BARE_AUDIT = AuditEntry(at=AT, request_id="req_2", action="api_key.create", status=200)
FULL_EVENT = Event(
    event_id="evt_1",
    merchant_id="mer_1",
    type="test.ping",
    created_at=AT,
    body='{"id":"evt_1","data":{"object":{"name":"café"}}}',
    endpoint_id="we_1",
)
BARE_EVENT = replace(FULL_EVENT, type="charge.succeeded", endpoint_id=None)
ENDPOINT = WebhookEndpoint(
    merchant_id="mer_1",
    endpoint_id="we_1",
    url="https://shop.example/hook",
    events=("charge.succeeded", "refund.failed"),
    created_at=AT,
)
FULL_DELIVERY = Delivery(
    event_id="evt_1",
    endpoint_id="we_1",
    merchant_id="mer_1",
    url="https://shop.example/hook",
    status="failed",
    attempts=4,
    first_attempt_ms=1_772_368_496_789,
    next_attempt_ms=1_772_368_600_000,
    last_attempt_ms=1_772_368_599_000,
    last_status_code=503,
    last_error="ReadTimeoutError",
    finished_ms=1_772_368_599_001,
)
BARE_DELIVERY = Delivery(
    event_id="evt_2",
    endpoint_id="we_1",
    merchant_id="mer_1",
    url="https://shop.example/hook",
    status="pending",
    attempts=1,
    first_attempt_ms=1_772_368_496_789,
    next_attempt_ms=1_772_368_511_789,
)
FULL_SECRET = SigningSecret(
    endpoint_id="we_1",
    merchant_id="mer_1",
    secret="whsec_new",
    previous_secret="whsec_old",
    previous_expires_ms=1_772_368_496_789,
)
BARE_SECRET = SigningSecret(endpoint_id="we_1", merchant_id="mer_1", secret="whsec_only")
FULL_ORIGINS = CheckoutOrigins(
    merchant_id="mer_1",
    origins=("https://shop.example", "https://shop.example:8443"),
    version=3,
    updated_at=AT,
)
BARE_ORIGINS = CheckoutOrigins(merchant_id="mer_1", origins=(), version=1)
LEASE = Lease(name="reconcile_pending", holder="req-1", expires_at_ms=1_772_368_496_789)

Codec = tuple[Callable[[Any], dict[str, Any]], Callable[[Mapping[str, object]], Any]]
KEYS: Codec = (api_key_to_item, api_key_from_item)
AUDIT: Codec = (audit_to_item, audit_from_item)
EVENTS: Codec = (event_to_item, event_from_item)
ENDPOINTS: Codec = (endpoint_to_item, endpoint_from_item)
DELIVERIES: Codec = (delivery_to_item, delivery_from_item)
SECRETS: Codec = (secret_to_item, secret_from_item)
ORIGINS: Codec = (origins_to_item, origins_from_item)
LEASES: Codec = (lease_to_item, lease_from_item)

CASES = [
    pytest.param(KEYS, FULL_KEY, id="api key, every field"),
    pytest.param(KEYS, BARE_KEY, id="api key, optional fields absent"),
    pytest.param(AUDIT, FULL_AUDIT, id="audit entry, every field"),
    pytest.param(AUDIT, BARE_AUDIT, id="audit entry, optional fields absent"),
    pytest.param(EVENTS, FULL_EVENT, id="event, a test ping"),
    pytest.param(EVENTS, BARE_EVENT, id="event, the merchant's"),
    pytest.param(ENDPOINTS, ENDPOINT, id="webhook endpoint"),
    pytest.param(ENDPOINTS, replace(ENDPOINT, events=()), id="webhook endpoint, no types"),
    pytest.param(DELIVERIES, FULL_DELIVERY, id="delivery, every field"),
    pytest.param(DELIVERIES, BARE_DELIVERY, id="delivery, optional fields absent"),
    pytest.param(SECRETS, FULL_SECRET, id="signing secret, rolled"),
    pytest.param(SECRETS, BARE_SECRET, id="signing secret, optional fields absent"),
    pytest.param(ORIGINS, FULL_ORIGINS, id="checkout origins"),
    pytest.param(ORIGINS, BARE_ORIGINS, id="checkout origins, none left"),
    pytest.param(LEASES, LEASE, id="lease"),
]


def _optional_none(record: Any) -> set[str]:
    return {f.name for f in fields(record) if getattr(record, f.name) is None}


@pytest.mark.parametrize(("codec", "record"), CASES)
def test_a_record_survives_its_item(codec: Codec, record: Any) -> None:
    to_item, from_item_ = codec
    item = to_item(record)
    assert from_item_(from_item(item)) == record
    # An absent optional field is no attribute at all (never a stored NULL).
    assert not _optional_none(record) & set(item)
    assert all("NULL" not in value for value in item.values())


@pytest.mark.parametrize(("codec", "record"), CASES)
def test_an_item_without_a_required_field_is_refused(codec: Codec, record: Any) -> None:
    to_item, from_item_ = codec
    values = from_item(to_item(record))
    required = [
        f.name
        for f in fields(record)
        if f.default is MISSING and f.default_factory is MISSING  # no default: required
    ]
    assert required
    for name in required:
        with pytest.raises(KeyError):
            from_item_({k: v for k, v in values.items() if k != name})


@pytest.mark.parametrize(
    ("codec", "record", "name", "wrong"),
    [
        (KEYS, FULL_KEY, "key_hash", 7),
        (KEYS, FULL_KEY, "expires_at", 7),
        (AUDIT, FULL_AUDIT, "status", "201"),
        (EVENTS, FULL_EVENT, "body", {"id": "evt_1"}),
        (ENDPOINTS, ENDPOINT, "events", "charge.succeeded"),
        (DELIVERIES, FULL_DELIVERY, "attempts", True),
        (DELIVERIES, FULL_DELIVERY, "last_status_code", "503"),
        (SECRETS, FULL_SECRET, "previous_expires_ms", "soon"),
        (ORIGINS, FULL_ORIGINS, "origins", [1, 2]),
        (LEASES, LEASE, "expires_at_ms", "later"),
    ],
)
def test_an_item_holding_the_wrong_type_is_refused(
    codec: Codec, record: Any, name: str, wrong: object
) -> None:
    to_item, from_item_ = codec
    values = {**from_item(to_item(record)), name: wrong}
    with pytest.raises(TypeError):
        from_item_(values)


@pytest.mark.parametrize(
    ("codec", "value"),
    [
        (KEYS, {"key_type": "restricted"}),
        (KEYS, {"status": "expired"}),
        (DELIVERIES, {"status": "x"}),
    ],
)
def test_an_unknown_literal_is_refused(codec: Codec, value: dict[str, str]) -> None:
    to_item, from_item_ = codec
    record = FULL_KEY if codec is KEYS else FULL_DELIVERY
    with pytest.raises(KeyError):
        from_item_({**from_item(to_item(record)), **value})


def test_storage_keys_are_the_adapters_alone() -> None:
    """Index keys and TTLs are derived from the record in ``to_item``, never read back."""
    merchants = from_item(event_to_item(BARE_EVENT))
    assert merchants["list_pk"] == "mer_1"
    assert merchants["list_sk"] == merchants["undelivered_sk"] == f"{AT}#evt_1"
    assert merchants["type_pk"] == "mer_1#charge.succeeded"
    assert merchants["ttl"] == 1_772_368_496 + RETENTION_SECONDS
    ping = from_item(event_to_item(FULL_EVENT))
    assert not {"list_pk", "list_sk", "type_pk"} & set(ping)  # not one of the merchant's
    assert ping["undelivered_pk"].startswith("undelivered#")

    pending = from_item(delivery_to_item(BARE_DELIVERY))
    assert pending["due_sk"] == "1772368511789#evt_2#we_1"
    assert pending["due_pk"].startswith("due#")
    assert pending["ttl"] == 1_772_368_496 + DELIVERY_RETENTION_SECONDS
    finished = from_item(delivery_to_item(FULL_DELIVERY))
    assert not {"due_pk", "due_sk"} & set(finished)  # out of the re-driver's index

    audit = from_item(audit_to_item(FULL_AUDIT))
    assert (audit["partition"], audit["sort"]) == ("mer_1#2026-03-01", f"{AT}#req_1")
    assert from_item(audit_to_item(BARE_AUDIT))["partition"] == "unauthenticated#2026-03-01"


def test_a_stream_record_carries_only_new_events() -> None:
    inserted = {"eventName": "INSERT", "dynamodb": {"NewImage": event_to_item(BARE_EVENT)}}
    assert EventStore.from_stream(inserted) == BARE_EVENT
    expired = {"eventName": "REMOVE", "dynamodb": {"OldImage": event_to_item(BARE_EVENT)}}
    assert EventStore.from_stream(expired) is None


def test_a_rolled_secret_signs_beside_the_new_one_until_it_expires() -> None:
    expires = FULL_SECRET.previous_expires_ms
    assert expires is not None
    assert FULL_SECRET.signing(expires - 1) == ("whsec_new", "whsec_old")
    assert FULL_SECRET.signing(expires) == ("whsec_new",)
    assert BARE_SECRET.signing(0) == ("whsec_only",)


@pytest.mark.parametrize(
    ("record", "hidden"),
    [
        (FULL_KEY, ("ab" * 32, "wxyz")),
        (FULL_SECRET, ("whsec_new", "whsec_old")),
    ],
)
def test_a_records_repr_shows_no_secret(record: object, hidden: tuple[str, ...]) -> None:
    shown = repr(record)
    assert not [h for h in hidden if h in shown]
