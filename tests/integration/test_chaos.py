"""Charges and refunds under random SIGKILLs of the API, retried as a careful merchant would.

Many flows run at once against a victim API that a killer thread SIGKILLs and restarts at
random instants. Every write carries an Idempotency-Key and is retried with it on every
dropped connection, 500 and 409 until it gets a definitive answer. Then the reconcile job
runs, and the platform's ledger must equal the bank's, every answer a client received must
still be true, and each request must have made at most one object and one bank operation.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import urllib3

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

FLOWS = 16
CARDS = ["4242424242424242"] * 5 + ["4000000000000002", "4000000000000119", "4000000000005126"]
RETRY_FOR_SECONDS = 120


@dataclass
class Answered:
    path: str
    body: dict[str, Any]
    response: Resp


@dataclass
class Ledger:
    answers: list[Answered] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _until_definitive(api: HttpApi, path: str, body: Any, key: str, ledger: Ledger) -> Resp:
    idem = str(uuid.uuid4())
    deadline = time.monotonic() + RETRY_FOR_SECONDS
    while time.monotonic() < deadline:
        try:
            response = api.post(path, body, key=key, headers={"Idempotency-Key": idem})
        except (urllib3.exceptions.HTTPError, OSError):
            response = None
        if response is not None and response.status not in (409, 500):
            with ledger.lock:
                ledger.answers.append(Answered(path, body, response))
            return response
        time.sleep(random.uniform(0.2, 0.8))
    raise AssertionError(f"no definitive answer for {path} within {RETRY_FOR_SECONDS}s")


def _flow(api: HttpApi, http_api: Any, key: str, ledger: Ledger) -> None:
    token = tokenize(http_api, key, random.choice(CARDS))
    amount = random.randint(1_000, 5_000)
    charged = _until_definitive(api, "/charge", charge_body(token, amount=amount), key, ledger)
    if charged.status != 201:
        return
    charge_id = charged.data["id"]
    _until_definitive(api, "/refund", {"charge_id": charge_id, "amount": 400}, key, ledger)
    _until_definitive(api, "/refund", {"charge_id": charge_id}, key, ledger)


MAX_KILLS = 6


def _killer(rig: Any, stop: threading.Event) -> None:
    # Often enough to land in every phase, rarely enough (against a lease of
    # FUNCTION_TIMEOUT seconds, renewed by each resume) for retries to make progress.
    first = rig.victim.kills
    while rig.victim.kills - first < MAX_KILLS and not stop.wait(random.uniform(0.5, 2.0)):
        rig.victim.kill()
        time.sleep(random.uniform(0.0, 0.3))
        rig.victim.start()


def test_random_kills_leave_every_ledger_and_answer_true(
    faults: Any, http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    key, ledger, stop = merchant.secret_key, Ledger(), threading.Event()
    kills_before = faults.victim.kills
    killer = threading.Thread(target=_killer, args=(faults, stop))
    killer.start()
    flows = 0
    try:
        # Flows keep coming until the killer has done its rounds.
        with ThreadPoolExecutor(max_workers=8) as pool:
            while flows < FLOWS or killer.is_alive():
                batch = [pool.submit(_flow, faults.api, http_api, key, ledger) for _ in range(8)]
                flows += len(batch)
                for future in batch:
                    future.result()
    finally:
        stop.set()
        killer.join()
    assert faults.victim.kills - kills_before >= 3, "the run was too short to kill the API"

    time.sleep(FUNCTION_TIMEOUT + 0.5)
    services.settlement.sweep()

    charges = http_api.get("/charges?limit=100", key=key).data["items"]
    assert len(charges) < 100, "more charges than one page: raise the page or page through"
    full = {c["id"]: http_api.get(f"/charge/{c['id']}", key=key).data for c in charges}
    # Nothing is left pending.
    assert [c["status"] for c in full.values() if c["status"] == "pending"] == []
    assert [r for c in full.values() for r in c["refunds"] if r["status"] == "pending"] == []

    # The platform's ledger equals the bank's.
    for charge in full.values():
        bank = bank_record(bank_url, "authorizations", charge["id"])
        if charge["status"] == "succeeded":
            assert (bank["status"], bank["voided"], bank["amount"]) == (
                "approved",
                False,
                charge["amount"],
            )
            assert bank["amount_refunded"] == charge["amount_refunded"]
            assert bank_calls(bank_url, charge["id"])["POST /authorizations"] == 1
        else:
            assert bank is None or bank["status"] in ("declined", "reversed") or bank["voided"]
        assert charge["amount_refunded"] == sum(
            r["amount"] for r in charge["refunds"] if r["status"] == "succeeded"
        )

    # Every answer is still true, and each request made at most one object.
    charge_answers = [a for a in ledger.answers if a.path == "/charge"]
    assert len(charge_answers) == flows == len(full)
    refund_ids: list[str] = []
    for answer in ledger.answers:
        response = answer.response
        if answer.path == "/charge":
            charge = full[
                response.data["id"] if response.status < 300 else response.error["charge"]
            ]
            expected = {201: "succeeded", 402: "failed", 502: "failed"}.get(response.status)
            assert response.status in (201, 202, 402, 502), response.text
            assert expected is None or charge["status"] == expected, (response.text, charge)
            continue
        if response.status == 201:
            refund_ids.append(response.data["id"])
            status = {r["id"]: r["status"] for r in full[answer.body["charge_id"]]["refunds"]}
            assert status[response.data["id"]] == "succeeded"
        elif response.status in (402, 502):
            refund_ids.append(response.error["refund"])
        else:
            assert response.error["code"] in ("amount_too_large", "charge_already_refunded")
    stored_refunds = [r["id"] for c in full.values() for r in c["refunds"]]
    assert sorted(stored_refunds) == sorted(refund_ids)
    for refund_id in refund_ids:
        assert bank_calls(bank_url, refund_id).get("POST /refunds", 0) <= 1
