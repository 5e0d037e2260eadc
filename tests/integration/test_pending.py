"""The slow card (no answer within the bank timeout), settlement and crash recovery."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import pytest

from chalicelib.models import RefundRequest
from tests.helpers import bank_record, charge_body, tokenize

pytestmark = pytest.mark.integration

SLOW = "4000000000001000"
SETTLE_AFTER = 4  # PAYMENTS_PENDING_SETTLE_AFTER_SECONDS of the test stack


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


def test_reconcile_settles_a_charge_nobody_reads(
    http_api: Any, merchant: Any, services: Any, stack: Any
) -> None:
    token = tokenize(http_api, merchant.secret_key, SLOW)
    response = http_api.post("/charge", charge_body(token), key=merchant.secret_key)
    assert response.status == 202
    charge_id = response.data["id"]
    time.sleep(SETTLE_AFTER + 0.5)
    result = subprocess.run(
        [sys.executable, "-m", "payments_admin.cli", "reconcile"],
        env={**__import__("os").environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert '"settled"' in result.stdout
    item = services.charges.get_charge(charge_id)
    assert item["status"] == "succeeded"
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


def test_refund_crash_after_the_bank_approved(
    http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    """Crash between the bank's answer and the final write: the sweep commits it."""
    token = tokenize(http_api, merchant.secret_key)
    charge_id = http_api.post(
        "/charge", charge_body(token, amount=5_000), key=merchant.secret_key
    ).data["id"]
    uow = services.unit_of_work()
    # Step 1 (reserve + pending refund) and step 2 (the bank) run; step 3 never does.
    refund = services.refund_service.reserve(
        merchant.merchant_id, RefundRequest(charge_id=charge_id, amount=2_000), uow
    )
    assert services.bank.refund(refund["refund_id"], charge_id, 2_000).kind == "approved"
    during = http_api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    # A read before the sweep already settles it from the bank's record.
    assert during["amount_refunded"] == 2_000
    assert during["refunds"][0]["status"] == "succeeded"
    assert bank_record(bank_url, "authorizations", charge_id)["amount_refunded"] == 2_000
    rest = http_api.post("/refund", {"charge_id": charge_id}, key=merchant.secret_key)
    assert rest.data["amount"] == 3_000


def test_refund_crash_before_the_bank_is_released_by_the_sweep(
    http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    token = tokenize(http_api, merchant.secret_key)
    charge_id = http_api.post(
        "/charge", charge_body(token, amount=5_000), key=merchant.secret_key
    ).data["id"]
    refund = services.refund_service.reserve(
        merchant.merchant_id,
        RefundRequest(charge_id=charge_id, amount=5_000),
        services.unit_of_work(),
    )
    # Crashed before asking the bank: the amount is reserved, nothing more is refundable.
    blocked = http_api.post(
        "/refund", {"charge_id": charge_id, "amount": 1}, key=merchant.secret_key
    )
    assert blocked.error["code"] == "amount_too_large"
    time.sleep(SETTLE_AFTER + 0.5)
    report = services.settlement.sweep()
    assert report.settled >= 1
    charge = http_api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    assert charge["amount_refunded"] == 0
    assert [(r["id"], r["status"]) for r in charge["refunds"]] == [(refund["refund_id"], "failed")]
    assert bank_record(bank_url, "refunds", refund["refund_id"]) is None
    again = http_api.post("/refund", {"charge_id": charge_id}, key=merchant.secret_key)
    assert (again.status, again.data["amount"]) == (201, 5_000)


def test_charge_crash_before_the_bank_fails_it_after_the_threshold(
    http_api: Any, merchant: Any, services: Any
) -> None:
    """A write-ahead record the bank never saw is failed, not left pending forever."""
    from chalicelib.ids import iso, new_id, now_utc

    charge_id = new_id("ch")
    created = iso(now_utc())
    uow = services.unit_of_work()
    uow.add(
        services.charges.put_pending_charge_entry(
            {
                "charge_id": charge_id,
                "merchant_id": merchant.merchant_id,
                "status": "pending",
                "amount": 700,
                "currency": "USD",
                "amount_refunded": 0,
                "amount_reserved": 0,
                "refundable": 0,
                "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2031},
                "metadata": {},
                "created_at": created,
                "updated_at": created,
            }
        )
    )
    uow.commit()
    young = http_api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    assert young["status"] == "pending"  # too young to conclude anything
    time.sleep(SETTLE_AFTER + 0.5)
    services.settlement.sweep()
    old = http_api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    assert (old["status"], old["failure_code"]) == ("failed", "processing_error")
