"""Invariants under concurrent requests, over HTTP against the real local stack."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.helpers import bank_calls, bank_record, charge_body, tokenize

pytestmark = pytest.mark.integration


def fire(count: int, call: Any) -> list[Any]:
    """Run ``call`` ``count`` times at once (threads released together by the pool)."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: call(), range(count)))


def test_one_idempotency_key_one_bank_call(http_api: Any, merchant: Any, bank_url: str) -> None:
    token = tokenize(http_api, merchant.secret_key)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    responses = fire(
        10,
        lambda: http_api.post("/charge", charge_body(token), key=merchant.secret_key, headers=key),
    )
    statuses = sorted(r.status for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r.status == 201]
    assert created
    charge_ids = {r.data["id"] for r in created}
    assert len(charge_ids) == 1
    for r in responses:
        if r.status == 409:
            assert r.error["code"] == "request_in_progress"
            assert r.headers["retry-after"] == "1"
    (charge_id,) = charge_ids
    assert bank_calls(bank_url, charge_id) == {"POST /authorizations": 1}
    assert bank_record(bank_url, "authorizations", charge_id)["status"] == "approved"
    listed = http_api.get("/charges?limit=100", key=merchant.secret_key).data["items"]
    assert [c["id"] for c in listed] == [charge_id]


def test_one_token_one_charge(http_api: Any, merchant: Any) -> None:
    token = tokenize(http_api, merchant.secret_key)
    responses = fire(
        10, lambda: http_api.post("/charge", charge_body(token), key=merchant.secret_key)
    )
    statuses = sorted(r.status for r in responses)
    assert statuses.count(201) == 1, statuses
    assert statuses.count(400) == 9
    assert {r.error["code"] for r in responses if r.status == 400} == {"token_already_used"}
    listed = http_api.get("/charges?limit=100", key=merchant.secret_key).data["items"]
    assert len(listed) == 1


def test_concurrent_refunds_never_exceed_the_charge(
    http_api: Any, merchant: Any, bank_url: str
) -> None:
    token = tokenize(http_api, merchant.secret_key)
    charge_id = http_api.post(
        "/charge", charge_body(token, amount=10_000), key=merchant.secret_key
    ).data["id"]
    responses = fire(
        20,
        lambda: http_api.post(
            "/refund", {"charge_id": charge_id, "amount": 1_000}, key=merchant.secret_key
        ),
    )
    statuses = [r.status for r in responses]
    assert statuses.count(201) == 10, statuses
    refused = [r.error["code"] for r in responses if r.status != 201]
    assert set(refused) <= {"amount_too_large", "charge_already_refunded"}, refused
    charge = http_api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    assert (charge["amount_refunded"], charge["refunded"]) == (10_000, True)
    assert len(charge["refunds"]) == 10
    assert all(r["status"] == "succeeded" for r in charge["refunds"])
    ledger = bank_record(bank_url, "authorizations", charge_id)
    assert ledger["amount_refunded"] == charge["amount_refunded"] == 10_000


def test_one_idempotency_key_one_refund(http_api: Any, merchant: Any, bank_url: str) -> None:
    token = tokenize(http_api, merchant.secret_key)
    charge_id = http_api.post(
        "/charge", charge_body(token, amount=10_000), key=merchant.secret_key
    ).data["id"]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"charge_id": charge_id, "amount": 1_000}
    responses = fire(
        10, lambda: http_api.post("/refund", body, key=merchant.secret_key, headers=key)
    )
    created = [r for r in responses if r.status == 201]
    assert {r.status for r in responses} <= {201, 409}
    assert {r.error["code"] for r in responses if r.status == 409} <= {"request_in_progress"}
    assert len({r.data["id"] for r in created}) == 1
    charge = http_api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    assert [r["amount"] for r in charge["refunds"]] == [1_000]
    assert bank_calls(bank_url, charge["refunds"][0]["id"]) == {"POST /refunds": 1}
    assert bank_record(bank_url, "authorizations", charge_id)["amount_refunded"] == 1_000
