"""The slow card (no answer within the bank timeout), settlement and the reconcile job."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import pytest

from chalicelib.adapters.charge_repository import pending_shard
from chalicelib.adapters.dynamo import transact
from chalicelib.domain.charges import CardSummary, Charge, ChargeId, TokenId
from chalicelib.ids import iso, new_id, now_utc
from tests.helpers import FUNCTION_TIMEOUT, bank_record, charge_body, tokenize

pytestmark = pytest.mark.integration

SLOW = "4000000000001000"


def test_slow_card_answers_202_and_a_read_settles_it(http_api: Any, merchant: Any) -> None:
    token = tokenize(http_api, merchant.secret_key, SLOW)
    started = time.monotonic()
    response = http_api.post("/charge", charge_body(token), key=merchant.secret_key)
    elapsed = time.monotonic() - started
    assert response.status == 202, response.text
    assert response.data["status"] == "pending"
    assert 2.5 < elapsed < 6, elapsed
    charge = http_api.get(f"/charge/{response.data['id']}", key=merchant.secret_key).data
    assert charge["status"] == "succeeded"
    assert len(charge["authorization_code"]) == 6


def test_reads_ask_the_bank_at_most_once_per_interval(
    http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    """A pending charge read in a loop is checked with the bank once, not once per read."""
    charge_id = _write_ahead_only(services, merchant, 300)
    for _ in range(5):
        assert http_api.get(f"/charge/{charge_id}", key=merchant.secret_key).data["status"] == (
            "pending"
        )
    item = services.charges.get_charge(merchant.merchant_id, charge_id)
    first_check = item.checked_at
    for _ in range(5):
        http_api.get(f"/charge/{charge_id}", key=merchant.secret_key)
    assert services.charges.get_charge(merchant.merchant_id, charge_id).checked_at == first_check
    assert bank_record(bank_url, "authorizations", charge_id) is None


def test_reconcile_settles_a_charge_nobody_reads(
    http_api: Any, merchant: Any, services: Any, stack: Any
) -> None:
    token = tokenize(http_api, merchant.secret_key, SLOW)
    response = http_api.post("/charge", charge_body(token), key=merchant.secret_key)
    assert response.status == 202
    charge_id = response.data["id"]
    time.sleep(FUNCTION_TIMEOUT + 0.5)
    result = subprocess.run(
        [sys.executable, "-m", "payments_admin.cli", "reconcile"],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert '"settled"' in result.stdout
    item = services.dynamodb.get_item(
        TableName=services.charges.table,
        Key=services.charges.charge_key(merchant.merchant_id, charge_id),
        ConsistentRead=True,
    )["Item"]
    assert item["status"] == {"S": "succeeded"}
    assert "pending_pk" not in item  # left the pending index


def test_a_request_in_flight_answers_409(http_api: Any, merchant: Any) -> None:
    token = tokenize(http_api, merchant.secret_key, SLOW)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first: dict[str, Any] = {}

    def slow_request() -> None:
        first["response"] = http_api.post(
            "/charge", charge_body(token), key=merchant.secret_key, headers=key
        )

    thread = threading.Thread(target=slow_request)
    thread.start()
    time.sleep(1)
    second = http_api.post("/charge", charge_body(token), key=merchant.secret_key, headers=key)
    thread.join()
    assert (second.status, second.error["type"], second.error["code"]) == (
        409,
        "idempotency_error",
        "request_in_progress",
    )
    assert first["response"].status == 202
    replay = http_api.post("/charge", charge_body(token), key=merchant.secret_key, headers=key)
    assert replay.status == 202 and replay.text == first["response"].text


def _write_ahead_only(services: Any, merchant: Any, amount: int) -> str:
    """A charge written ahead by a request that died before asking the bank."""
    charge = pending_charge(merchant.merchant_id, ChargeId(new_id("ch")), amount)
    transact(services.dynamodb, [services.charges.put_pending(charge)])
    return charge.id


def pending_charge(merchant_id: str, charge_id: ChargeId, amount: int) -> Charge:
    """A charge as written ahead of its authorization."""
    stamp = iso(now_utc())
    return Charge(
        id=charge_id,
        merchant_id=merchant_id,
        status="pending",
        amount=amount,
        currency="USD",
        card=CardSummary(brand="visa", last4="4242", exp_month=12, exp_year=2031),
        token_id=TokenId("tok_written_ahead"),
        created_at=stamp,
        updated_at=stamp,
        bank_requested_at=stamp,
    )


def test_a_charge_the_bank_never_saw_is_reversed_then_failed_after_the_window(
    http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    charge_id = _write_ahead_only(services, merchant, 700)
    young = http_api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    assert young["status"] == "pending"  # its request may still reach the bank
    assert bank_record(bank_url, "authorizations", charge_id) is None
    time.sleep(FUNCTION_TIMEOUT + 0.5)
    report = services.settlement.sweep()
    assert report.settled >= 1
    old = http_api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    assert (old["status"], old["failure_code"]) == ("failed", "processing_error")
    # Failed only after the bank accepted the reversal: it now refuses the reference.
    assert bank_record(bank_url, "authorizations", charge_id)["status"] == "reversed"


def test_the_sweep_pages_through_every_shard(services: Any, merchant: Any) -> None:
    ids = [_write_ahead_only(services, merchant, 100 + i) for i in range(24)]
    assert len({pending_shard(i) for i in ids}) > 1
    time.sleep(FUNCTION_TIMEOUT + 0.5)
    services.settlement.sweep()
    statuses = {services.charges.get_charge(merchant.merchant_id, i).status for i in ids}
    assert statuses == {"failed"}


def test_the_sweep_stops_when_its_time_runs_low(services: Any, merchant: Any) -> None:
    _write_ahead_only(services, merchant, 100)
    time.sleep(FUNCTION_TIMEOUT + 0.5)
    # Less time than one item may take (two bank calls and a commit): it settles nothing.
    assert services.settlement.sweep(budget_seconds=5).examined == 0
    assert services.settlement.sweep(budget_seconds=60).examined >= 1
