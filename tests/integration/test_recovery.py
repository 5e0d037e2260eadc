"""Crash and fault recovery of POST /charge and POST /refund, on the real local stack.

A victim ``chalice local`` serves the requests; proxies between it and DynamoDB / the bank
SIGKILL it at each phase boundary or fail its commits. A retry with the same
Idempotency-Key must resume the first attempt's object: one charge or refund, one bank
operation, the answer the first attempt would have given.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import urllib3

from chalicelib.domain.charges import Charge
from tests.faults import Rule, aws_error, bank_call, dynamodb_call
from tests.helpers import (
    FUNCTION_TIMEOUT,
    HttpApi,
    Resp,
    bank_calls,
    bank_record,
    charge_body,
    tokenize,
)

pytestmark = pytest.mark.integration

FINAL_COMMIT = dynamodb_call("TransactWriteItems", b'"completed"')


def _post(api: HttpApi, path: str, body: Any, key: str, idem: str) -> Resp | None:
    """The response, or None when the server died under the request."""
    try:
        return api.post(path, body, key=key, headers={"Idempotency-Key": idem})
    except (urllib3.exceptions.HTTPError, OSError):
        return None


def _retry_after_crash(rig: Any, path: str, body: Any, key: str, idem: str) -> Resp:
    """Restart the killed server and retry: 409 while the lease runs, then the resumed answer."""
    assert not rig.victim.alive(), "the fault did not kill the server"
    rig.victim.start()
    first = _post(rig.api, path, body, key, idem)
    assert first is not None and first.status == 409, first and first.text
    assert first.error["code"] == "request_in_progress"
    assert first.headers["retry-after"] == "1"
    time.sleep(FUNCTION_TIMEOUT + 1.5)
    resumed = _post(rig.api, path, body, key, idem)
    assert resumed is not None
    return resumed


def _only_charge(http_api: Any, key: str) -> dict[str, Any]:
    items = http_api.get("/charges", key=key).data["items"]
    assert len(items) == 1, items
    return items[0]


def _charge_id(response: Resp) -> str:
    return response.data["id"] if response.status < 300 else response.error["charge"]


# ---- charges -----------------------------------------------------------------------------


def test_charge_killed_after_the_write_ahead_is_reversed_and_answered_502(
    faults: Any, http_api: Any, merchant: Any, bank_url: str
) -> None:
    token = tokenize(http_api, merchant.secret_key)
    body, idem = charge_body(token), str(uuid.uuid4())
    faults.bank.add(Rule(bank_call("POST", "/authorizations"), "kill_before"))
    assert _post(faults.api, "/charge", body, merchant.secret_key, idem) is None
    resumed = _retry_after_crash(faults, "/charge", body, merchant.secret_key, idem)
    assert (resumed.status, resumed.error["code"]) == (502, "bank_unavailable")
    charge = _only_charge(http_api, merchant.secret_key)
    assert resumed.error["charge"] == charge["id"]
    assert (charge["status"], charge["failure_code"]) == ("failed", "processing_error")
    # The bank never saw it, and now refuses the reference for good.
    record = bank_record(bank_url, "authorizations", charge["id"])
    assert record["status"] == "reversed"
    assert "POST /authorizations" not in bank_calls(bank_url, charge["id"])
    replay = _post(faults.api, "/charge", body, merchant.secret_key, idem)
    assert replay is not None and replay.headers["idempotent-replayed"] == "true"
    assert replay.text == resumed.text


@pytest.mark.parametrize(
    "fault",
    [
        ("bank", Rule(bank_call("POST", "/authorizations"), "kill_after")),
        ("dynamodb", Rule(FINAL_COMMIT, "kill_before")),
    ],
    ids=["after-the-bank-call", "before-the-final-commit"],
)
def test_charge_killed_after_the_bank_approved_resumes_as_succeeded(
    faults: Any, http_api: Any, merchant: Any, bank_url: str, fault: tuple[str, Rule]
) -> None:
    token = tokenize(http_api, merchant.secret_key)
    body, idem = charge_body(token, amount=4_200), str(uuid.uuid4())
    getattr(faults, fault[0]).add(Rule(fault[1].matches, fault[1].action))
    assert _post(faults.api, "/charge", body, merchant.secret_key, idem) is None
    resumed = _retry_after_crash(faults, "/charge", body, merchant.secret_key, idem)
    assert resumed.status == 201, resumed.text
    charge = _only_charge(http_api, merchant.secret_key)
    assert (resumed.data["id"], resumed.data["status"]) == (charge["id"], "succeeded")
    assert charge["status"] == "succeeded"
    record = bank_record(bank_url, "authorizations", charge["id"])
    assert (record["status"], record["amount"]) == ("approved", 4_200)
    assert bank_calls(bank_url, charge["id"])["POST /authorizations"] == 1


@pytest.mark.parametrize(
    "error",
    [
        aws_error(
            "TransactionCanceledException",
            "Transaction cancelled",
            CancellationReasons=[{"Code": "TransactionConflict"}] * 3,
        ),
        aws_error("ProvisionedThroughputExceededException", "Throughput exceeded"),
    ],
    ids=["transaction-conflict", "throttling"],
)
def test_a_failed_final_commit_is_resumed_by_the_retry(
    faults: Any, http_api: Any, merchant: Any, bank_url: str, error: Any
) -> None:
    token = tokenize(http_api, merchant.secret_key)
    body, idem = charge_body(token), str(uuid.uuid4())
    faults.dynamodb.add(Rule(FINAL_COMMIT, "answer", times=20, answer=error))
    first = _post(faults.api, "/charge", body, merchant.secret_key, idem)
    assert first is not None and first.status == 500, first and first.text
    faults.dynamodb.clear()
    # The failed request released its lease: the retry resumes at once.
    resumed = _post(faults.api, "/charge", body, merchant.secret_key, idem)
    assert resumed is not None and resumed.status == 201, resumed and resumed.text
    charge = _only_charge(http_api, merchant.secret_key)
    assert resumed.data["id"] == charge["id"]
    assert bank_calls(bank_url, charge["id"])["POST /authorizations"] == 1


# ---- refunds -----------------------------------------------------------------------------


def _succeeded_charge(http_api: Any, merchant: Any, amount: int = 5_000) -> str:
    token = tokenize(http_api, merchant.secret_key)
    response = http_api.post("/charge", charge_body(token, amount=amount), key=merchant.secret_key)
    assert response.status == 201
    return response.data["id"]


@pytest.mark.parametrize(
    "fault",
    [
        ("bank", Rule(bank_call("POST", "/refunds"), "kill_after")),
        ("dynamodb", Rule(FINAL_COMMIT, "kill_before")),
        (
            "dynamodb",
            Rule(
                FINAL_COMMIT,
                "answer",
                times=20,
                answer=aws_error("ProvisionedThroughputExceededException", "Throughput exceeded"),
            ),
        ),
    ],
    ids=["killed-after-the-bank-call", "killed-before-the-final-commit", "commit-throttled"],
)
def test_refund_resumed_after_the_bank_refunded_refunds_once(
    faults: Any, http_api: Any, merchant: Any, bank_url: str, fault: tuple[str, Rule]
) -> None:
    charge_id = _succeeded_charge(http_api, merchant)
    body, idem = {"charge_id": charge_id, "amount": 2_000}, str(uuid.uuid4())
    rule = fault[1]
    getattr(faults, fault[0]).add(Rule(rule.matches, rule.action, rule.times, answer=rule.answer))
    first = _post(faults.api, "/refund", body, merchant.secret_key, idem)
    if rule.action == "answer":
        assert first is not None and first.status == 500
        faults.dynamodb.clear()
        resumed = _post(faults.api, "/refund", body, merchant.secret_key, idem)
        assert resumed is not None
    else:
        assert first is None
        resumed = _retry_after_crash(faults, "/refund", body, merchant.secret_key, idem)
    assert resumed.status == 201, resumed.text
    charge = http_api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    assert [(r["id"], r["status"]) for r in charge["refunds"]] == [
        (resumed.data["id"], "succeeded")
    ]
    assert charge["amount_refunded"] == 2_000
    assert bank_record(bank_url, "authorizations", charge_id)["amount_refunded"] == 2_000
    assert bank_calls(bank_url, resumed.data["id"])["POST /refunds"] == 1


def test_refund_killed_before_the_bank_is_reversed_and_its_reservation_released(
    faults: Any, http_api: Any, merchant: Any, bank_url: str
) -> None:
    charge_id = _succeeded_charge(http_api, merchant)
    body, idem = {"charge_id": charge_id}, str(uuid.uuid4())
    faults.bank.add(Rule(bank_call("POST", "/refunds"), "kill_before"))
    assert _post(faults.api, "/refund", body, merchant.secret_key, idem) is None
    # While the first attempt could still be running, its amount stays reserved.
    blocked = http_api.post("/refund", {"charge_id": charge_id}, key=merchant.secret_key)
    assert blocked.error["code"] == "amount_too_large"
    resumed = _retry_after_crash(faults, "/refund", body, merchant.secret_key, idem)
    assert (resumed.status, resumed.error["code"]) == (502, "bank_unavailable")
    refund_id = resumed.error["refund"]
    assert bank_record(bank_url, "refunds", refund_id)["status"] == "reversed"
    charge = http_api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    assert [(r["id"], r["status"]) for r in charge["refunds"]] == [(refund_id, "failed")]
    again = http_api.post("/refund", {"charge_id": charge_id}, key=merchant.secret_key)
    assert (again.status, again.data["amount"]) == (201, 5_000)


# ---- settlers racing requests ------------------------------------------------------------


def _pending_item(services: Any, merchant: Any) -> Charge:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        items, _ = services.charges.list_for_merchant(merchant.merchant_id, 1, None)
        if items:
            return items[0]
        time.sleep(0.05)
    raise AssertionError("the charge was never written ahead")


def test_a_settler_never_fails_a_charge_whose_request_can_still_reach_the_bank(
    faults: Any, http_api: Any, merchant: Any, services: Any
) -> None:
    token = tokenize(http_api, merchant.secret_key)
    faults.bank.add(Rule(bank_call("POST", "/authorizations"), "delay", delay=2.5))
    answer: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: answer.update(
            r=_post(faults.api, "/charge", charge_body(token), merchant.secret_key, "k")
        )
    )
    thread.start()
    item = _pending_item(services, merchant)
    settled = []
    while thread.is_alive():
        # Before the bank has a record the request may still reach it: nothing is failed.
        # Once it approved, a settler may record that first; never anything else.
        reply = services.settlement.settle(item)
        assert reply is None or reply.status == 201, reply
        settled.append(reply)
        time.sleep(0.2)
    assert settled[0] is None  # the bank had no record while the request was held
    thread.join()
    assert answer["r"].status == 201, answer["r"].text
    assert services.charges.get_charge(merchant.merchant_id, item.id).status == "succeeded"


def test_a_late_authorization_after_a_reversal_charges_nothing(
    faults: Any, http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    token = tokenize(http_api, merchant.secret_key)
    # The network holds the authorization longer than the function could possibly run.
    held = FUNCTION_TIMEOUT + 4.0
    faults.bank.add(Rule(bank_call("POST", "/authorizations"), "delay", delay=held))
    answer: dict[str, Any] = {}
    started = time.monotonic()
    thread = threading.Thread(
        target=lambda: answer.update(
            r=_post(faults.api, "/charge", charge_body(token), merchant.secret_key, "k")
        )
    )
    thread.start()
    item = _pending_item(services, merchant)
    thread.join()
    assert answer["r"].status == 202  # the bank did not answer within its timeout
    # Past the settle window, before the held request reaches the bank: the sweep reverses.
    time.sleep(started + FUNCTION_TIMEOUT + 0.5 - time.monotonic())
    assert services.settlement.sweep().settled >= 1
    charge = services.charges.get_charge(merchant.merchant_id, item.id)
    assert (charge.status, charge.failure_code) == ("failed", "processing_error")
    time.sleep(started + held + 1 - time.monotonic())  # the held authorization arrives now
    record = bank_record(bank_url, "authorizations", item.id)
    assert record["status"] == "reversed"
    assert bank_calls(bank_url, item.id)["POST /authorizations"] == 1
    assert services.charges.get_charge(merchant.merchant_id, item.id).status == "failed"
