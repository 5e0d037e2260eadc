"""The authorizer reuses a key's record only for the state-changing routes, which judge
the key again themselves: POST /charge and POST /refund in their first read, the others
with a condition in their commit. A revoked or expired key writes nothing.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.adapters.dynamo import from_item
from chalicelib.services.authentication import Authenticator, hash_key
from tests.handlers.test_foundation import assert_error
from tests.helpers import HandlerApi, bank_calls, charge_body, rejection_counts, tokenize


@pytest.fixture
def key_reads(services: Any) -> Iterator[list[str]]:
    """The ApiKeys reads the app's own DynamoDB client sends (``GetItem`` or ``BatchGetItem``),
    seen on the wire-bound client, not by replacing any code of the project."""
    table = services.settings.table("ApiKeys")
    seen: list[str] = []

    def note(model: Any, params: dict[str, Any], **_: Any) -> None:
        if params.get("TableName") == table or table in params.get("RequestItems", {}):
            seen.append(model.name)

    services.dynamodb.meta.events.register("provide-client-params.dynamodb", note)
    try:
        yield seen
    finally:
        services.dynamodb.meta.events.unregister("provide-client-params.dynamodb", note)


def _charge(api: Any, key: str, token: str, **headers: str) -> Any:
    return api.post("/charge", charge_body(token), key=key, headers=headers)


def _rejections_of(services: Any, merchant_id: str) -> list[dict[str, Any]]:
    return [r for r in rejection_counts(services).values() if r.get("merchant_id") == merchant_id]


def _audit_request_ids(services: Any, merchant_id: str) -> set[str]:
    table = services.settings.table("AuditLog")
    pages = services.dynamodb.get_paginator("scan").paginate(TableName=table)
    records = [from_item(i) for page in pages for i in page["Items"]]
    return {r["request_id"] for r in records if r.get("merchant_id") == merchant_id}


def test_charges_reuse_the_key_record_and_reads_do_not(
    client: Any, services: Any, merchant: Any, key_reads: list[str]
) -> None:
    """After one charge, the authorizer answers the next from the record it read (the
    charge's own batch still reads it); GET routes read the key every time."""
    api = HandlerApi(client)
    tokens = [tokenize(api, merchant.publishable_key) for _ in range(3)]
    key_reads.clear()
    for token in tokens:
        assert _charge(api, merchant.secret_key, token).status == 201
    # The first charge's authorizer reads it; every charge's batch reads it.
    assert key_reads == ["GetItem", "BatchGetItem", "BatchGetItem", "BatchGetItem"]
    key_reads.clear()
    for _ in range(2):
        assert api.get("/charges", key=merchant.secret_key).status == 200
    assert key_reads == ["GetItem", "GetItem"]


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_key_refused_after_a_charge_cannot_charge_again(
    api: Any, services: Any, merchant: Any, bank_url: str, how: str
) -> None:
    """The authorizer still holds the key's record as active (locally, this process or
    chalice local's; deployed, API Gateway's cached policy): the route's own read refuses
    it, with the authorizer's 401, a rejection record and nothing else written."""
    first = tokenize(api, merchant.publishable_key)
    assert _charge(api, merchant.secret_key, first).status == 201
    if how == "revoked":
        assert services.merchant_service.revoke_key(merchant.secret_key) is not None
    else:
        services.merchant_service.roll_key(merchant.secret_key, timedelta(0))
    token = tokenize(api, merchant.publishable_key)
    audited_before = _audit_request_ids(services, merchant.merchant_id)
    key = f"refused-{uuid.uuid4()}"

    response = _charge(api, merchant.secret_key, token, **{"Idempotency-Key": key})

    assert_error(response, 401, "invalid_api_key")
    assert services.tokens.get(token).used is False
    assert services.idempotency.read(merchant.merchant_id, key, time.time()) is None
    assert _audit_request_ids(services, merchant.merchant_id) == audited_before
    (rejection,) = _rejections_of(services, merchant.merchant_id)
    assert rejection["route"] == "POST /charge"
    assert rejection["reason"] == f"{how}_key"
    assert rejection["key_hash_prefix"] == hash_key(merchant.secret_key)[:12]
    # The refused request never reached the bank: only the first charge did.
    charges = services.charges.list_for_merchant(merchant.merchant_id, 10, None)[0]
    assert len(charges) == 1
    assert bank_calls(bank_url, charges[0].id) == {"POST /authorizations": 1}


def test_a_revoked_key_cannot_refund_what_it_charged(
    api: Any, services: Any, merchant: Any, bank_url: str
) -> None:
    token = tokenize(api, merchant.publishable_key)
    charged = _charge(api, merchant.secret_key, token)
    assert charged.status == 201
    charge_id = charged.data["id"]
    assert services.merchant_service.revoke_key(merchant.secret_key) is not None

    response = api.post("/refund", {"charge_id": charge_id}, key=merchant.secret_key)

    assert_error(response, 401, "invalid_api_key")
    assert services.charges.get_charge(merchant.merchant_id, charge_id).amount_refunded == 0
    assert bank_calls(bank_url, charge_id) == {"POST /authorizations": 1}
    (rejection,) = _rejections_of(services, merchant.merchant_id)
    assert rejection["route"] == "POST /refund"
    assert rejection["reason"] == "revoked_key"


class _CountingKeys:
    """An ApiKeys repository reading the real table, counting its reads."""

    def __init__(self, real: Any) -> None:
        self.real, self.reads = real, 0

    def get(self, key_hash: str) -> dict[str, Any] | None:
        self.reads += 1
        return self.real.get(key_hash)


def test_only_an_active_record_is_reused_and_only_for_its_time(
    services: Any, merchant: Any
) -> None:
    keys = _CountingKeys(services.api_keys)
    header = f"Bearer {merchant.secret_key}"
    reusing = Authenticator(keys, reuse_seconds=60)
    for _ in range(3):
        assert reusing.authenticate(header, reuse=True).merchant_id == merchant.merchant_id
    assert keys.reads == 1
    reusing.authenticate(header)  # a route that does not re-check: always read
    assert keys.reads == 2
    unknown = "Bearer sk_test_neverIssuedToAnyMerchant000000"
    for _ in range(2):
        reusing.authenticate(unknown, reuse=True)
    assert keys.reads == 4
    expiring = Authenticator(keys, reuse_seconds=0.2)
    expiring.authenticate(header, reuse=True)
    time.sleep(0.25)
    expiring.authenticate(header, reuse=True)
    assert keys.reads == 6


def test_confirm_refuses_another_merchants_key_and_forgets_a_refused_one(
    services: Any, merchant: Any
) -> None:
    other = services.merchant_service.create_merchant("Other")
    keys = _CountingKeys(services.api_keys)
    auth = Authenticator(keys)
    header = f"Bearer {merchant.secret_key}"
    record = services.api_keys.get(hash_key(merchant.secret_key))
    assert auth.confirm(header, record, merchant.merchant_id) is None
    assert auth.confirm(header, record, other.merchant_id).reason == "unknown_key"
    assert auth.confirm(header, None, merchant.merchant_id).reason == "unknown_key"
    assert auth.confirm("Bearer nonsense", record, merchant.merchant_id).reason == "malformed"
    auth.authenticate(header, reuse=True)
    assert record is not None
    revoked = dataclasses.replace(record, status="revoked")
    assert auth.confirm(header, revoked, merchant.merchant_id).reason == "revoked_key"
    auth.authenticate(header, reuse=True)  # forgotten: read again
    assert keys.reads == 2


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/charge", b"{not json"),
        ("/charge", {"token": "tok_x", "amount": -5, "currency": "USD"}),
        ("/refund", {"charge_id": "ch_x", "amount": "ten"}),
    ],
)
def test_a_refused_key_gets_its_401_before_any_validation_error(
    api: Any, services: Any, merchant: Any, path: str, body: Any
) -> None:
    """The authorizer reuses the record of the key it saw active; the request's body is bad
    too: the key is judged first (a 401 and a rejection record), not the body (a 400 and an
    audit record in the merchant's name)."""
    assert _charge(api, merchant.secret_key, tokenize(api, merchant.publishable_key)).status == 201
    assert services.merchant_service.revoke_key(merchant.secret_key) is not None
    audited_before = _audit_request_ids(services, merchant.merchant_id)

    response = api.post(path, body, key=merchant.secret_key)

    assert_error(response, 401, "invalid_api_key")
    assert _audit_request_ids(services, merchant.merchant_id) == audited_before
    (rejection,) = _rejections_of(services, merchant.merchant_id)
    assert rejection["route"] == f"POST {path}"


def test_a_valid_keys_bad_request_is_still_its_400(api: Any, merchant: Any) -> None:
    assert _charge(api, merchant.secret_key, tokenize(api, merchant.publishable_key)).status == 201
    response = api.post("/charge", {"token": "tok_x", "amount": -5}, key=merchant.secret_key)
    assert response.status == 400


def _items_of(services: Any, table: str, merchant_id: str) -> int:
    pages = services.dynamodb.get_paginator("scan").paginate(
        TableName=services.settings.table(table), ConsistentRead=True
    )
    return sum(
        1 for page in pages for i in page["Items"] if from_item(i).get("merchant_id") == merchant_id
    )


@pytest.mark.parametrize("route", ["/token", "/webhook_endpoints"])
def test_a_key_refused_after_a_write_cannot_write_again(
    api: Any, services: Any, merchant: Any, route: str
) -> None:
    """The other state-changing routes judge the reused key with a condition on its record
    in their commit: refused, that commit writes nothing, and the 401 says why."""
    from tests.helpers import card
    from tests.receiver import receivers

    with receivers([200]) as (receiver,):
        body = card() if route == "/token" else {"url": receiver.url}
        assert api.post(route, body, key=merchant.secret_key).status == 201
        assert services.merchant_service.revoke_key(merchant.secret_key) is not None
        written = {
            "Tokens": _items_of(services, "Tokens", merchant.merchant_id),
            "WebhookEndpoints": _items_of(services, "WebhookEndpoints", merchant.merchant_id),
        }
        audited_before = _audit_request_ids(services, merchant.merchant_id)

        response = api.post(route, body, key=merchant.secret_key)

    assert_error(response, 401, "invalid_api_key")
    assert written == {
        "Tokens": _items_of(services, "Tokens", merchant.merchant_id),
        "WebhookEndpoints": _items_of(services, "WebhookEndpoints", merchant.merchant_id),
    }
    assert _audit_request_ids(services, merchant.merchant_id) == audited_before
    (rejection,) = _rejections_of(services, merchant.merchant_id)
    assert rejection["route"] == f"POST {route}"
    assert rejection["reason"] == "revoked_key"


def test_tokens_reuse_the_key_record_and_check_it_in_their_commit(
    client: Any, services: Any, merchant: Any, key_reads: list[str]
) -> None:
    table = services.settings.table("ApiKeys")
    checks: list[str] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        checks.extend(
            i["ConditionCheck"]["TableName"]
            for i in params["TransactItems"]
            if "ConditionCheck" in i
        )

    event = "provide-client-params.dynamodb.TransactWriteItems"
    services.dynamodb.meta.events.register(event, note)
    try:
        api = HandlerApi(client)
        for _ in range(3):
            tokenize(api, merchant.publishable_key)
    finally:
        services.dynamodb.meta.events.unregister(event, note)
    assert key_reads == ["GetItem"]  # the authorizer's, once
    assert checks == [table] * 3


def test_a_refused_key_on_a_token_gets_its_401_before_a_bad_card(
    api: Any, services: Any, merchant: Any
) -> None:
    from tests.helpers import card

    tokenize(api, merchant.publishable_key)
    assert services.merchant_service.revoke_key(merchant.publishable_key) is not None
    response = api.post("/token", card("4242424242424241"), key=merchant.publishable_key)
    assert_error(response, 401, "invalid_api_key")


def test_a_route_refusal_is_still_a_401_when_its_rejection_record_fails(
    client: Any, services: Any, merchant: Any
) -> None:
    """A real fault (the rejection table does not exist), as for the authorizer's refusals:
    the write is logged and measured, the caller still gets its 401, nothing else is written."""
    from chalicelib.adapters.audit_log import RejectedAuthLog
    from chalicelib.container import Container, reset_container

    api = HandlerApi(client)
    broken = Container(services.settings)
    broken.auth_rejections = RejectedAuthLog(broken.dynamodb, "no-such-table")  # type: ignore[misc]
    reset_container(broken)
    try:
        token = tokenize(api, merchant.publishable_key)
        assert _charge(api, merchant.secret_key, token).status == 201  # the record is reused
        assert services.merchant_service.revoke_key(merchant.secret_key) is not None
        second = tokenize(api, merchant.publishable_key)
        response = _charge(api, merchant.secret_key, second)
    finally:
        reset_container(services)
    assert_error(response, 401, "invalid_api_key")
    assert services.tokens.get(second).used is False
    assert _rejections_of(services, merchant.merchant_id) == []
