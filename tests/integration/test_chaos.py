"""Charges and refunds under random bank faults and random SIGKILLs of the API, retried as
a careful merchant would.

Many flows run at once against a victim API that a killer thread SIGKILLs and restarts at
random instants, while the proxy in front of the bank spoils a share of the bank calls (the
bank acted, but the API hears a 502 page, a reset, garbage or a late answer; or the call
never reaches the bank and the API hears a 503). Every write carries an Idempotency-Key and
is retried with it on every dropped connection, 500, 409 and 429 until it gets a definitive
answer. Then the proxy heals and the reconcile job runs, and the platform's ledger must
equal the bank's (``tests.ledger``), every answer a client received must still be true, and
each request must have made at most one object and one bank operation.

Seeded: ``CHAOS_SEED=<n>`` replays a run's choices (the seed is printed, and named in every
failure); thread timing still varies.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import urllib3

from tests.faults import Rule
from tests.helpers import FUNCTION_TIMEOUT, HttpApi, Resp, charge_body, tokenize
from tests.ledger import assert_agrees_with_the_bank, assert_answer_true

pytestmark = pytest.mark.integration

FLOWS = 16
CARDS = ["4242424242424242"] * 5 + ["4000000000000002", "4000000000000119", "4000000000005126"]
RETRY_FOR_SECONDS = 120
# The share of bank calls each fault spoils (about 30 % in all).
FAULT_SHARE = 0.06
BAD_GATEWAY = (502, {"Content-Type": "text/html"}, b"<html>502 Bad Gateway</html>")
UNAVAILABLE = (503, {"Content-Type": "text/html"}, b"<html>503 Service Unavailable</html>")
GARBAGE = (200, {"Content-Type": "application/json"}, b'{"status": "appro')


@dataclass
class Answered:
    path: str
    body: dict[str, Any]
    response: Resp


@dataclass
class Ledger:
    answers: list[Answered] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _until_definitive(
    api: HttpApi, path: str, body: Any, key: str, ledger: Ledger, rng: random.Random
) -> Resp:
    idem = str(uuid.uuid4())
    deadline = time.monotonic() + RETRY_FOR_SECONDS
    while time.monotonic() < deadline:
        try:
            response = api.post(path, body, key=key, headers={"Idempotency-Key": idem})
        except (urllib3.exceptions.HTTPError, OSError):
            response = None
        if response is not None and response.status not in (409, 429, 500):
            with ledger.lock:
                ledger.answers.append(Answered(path, body, response))
            return response
        time.sleep(rng.uniform(0.2, 0.8))
    raise AssertionError(f"no definitive answer for {path} within {RETRY_FOR_SECONDS}s")


def _flow(api: HttpApi, http_api: Any, key: str, ledger: Ledger, rng: random.Random) -> None:
    token = tokenize(http_api, key, rng.choice(CARDS))
    amount = rng.randint(1_000, 5_000)
    body = charge_body(token, amount=amount)
    charged = _until_definitive(api, "/charge", body, key, ledger, rng)
    if charged.status != 201:
        return
    charge_id = charged.data["id"]
    _until_definitive(api, "/refund", {"charge_id": charge_id, "amount": 400}, key, ledger, rng)
    _until_definitive(api, "/refund", {"charge_id": charge_id}, key, ledger, rng)


MAX_KILLS = 6


def _killer(rig: Any, stop: threading.Event, rng: random.Random) -> None:
    # Often enough to land in every phase, rarely enough (against a lease of
    # FUNCTION_TIMEOUT seconds, renewed by each resume) for retries to make progress.
    first = rig.victim.kills
    while rig.victim.kills - first < MAX_KILLS and not stop.wait(rng.uniform(0.5, 2.0)):
        rig.victim.kill()
        time.sleep(rng.uniform(0.0, 0.3))
        rig.victim.start()


def _bank_faults(rig: Any, rng: random.Random, read_timeout: float) -> None:
    """Each bank call (not the test's own ledger reads) draws its fate."""
    lock = threading.Lock()

    def share(method: str, path: str, headers: dict[str, str], body: bytes) -> bool:
        if path.startswith("/_stats"):
            return False
        with lock:
            return rng.random() < FAULT_SHARE

    forever = 10**9
    for rule in (
        Rule(share, "answer", times=forever, answer=UNAVAILABLE),  # never reached the bank
        Rule(share, "answer_after", times=forever, answer=BAD_GATEWAY),
        Rule(share, "reset_after", times=forever),
        Rule(share, "answer_after", times=forever, answer=GARBAGE),
        Rule(share, "late_after", times=forever, delay=read_timeout + 1.0),
    ):
        rig.bank.add(rule)


def test_random_bank_faults_and_kills_leave_every_ledger_and_answer_true(
    faults: Any, http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(2**32))
    print(f"CHAOS_SEED={seed}")
    try:
        _run(faults, http_api, merchant, services, bank_url, seed)
    except AssertionError as failure:
        raise AssertionError(f"CHAOS_SEED={seed}: {failure}") from failure


def _run(
    faults: Any, http_api: Any, merchant: Any, services: Any, bank_url: str, seed: int
) -> None:
    rng = random.Random(seed)
    key, ledger, stop = merchant.secret_key, Ledger(), threading.Event()
    kills_before = faults.victim.kills
    sent_before = len(faults.bank.journal)
    _bank_faults(faults, random.Random(rng.random()), services.settings.bank_read_timeout)
    killer = threading.Thread(target=_killer, args=(faults, stop, random.Random(rng.random())))
    killer.start()
    flows = 0
    try:
        # Flows keep coming until the killer has done its rounds.
        with ThreadPoolExecutor(max_workers=8) as pool:
            while flows < FLOWS or killer.is_alive():
                batch = [
                    pool.submit(
                        _flow, faults.api, http_api, key, ledger, random.Random(rng.random())
                    )
                    for _ in range(8)
                ]
                flows += len(batch)
                for future in batch:
                    future.result()
    finally:
        stop.set()
        killer.join()
        faults.bank.clear()  # healed
    assert faults.victim.kills - kills_before >= 3, "the run was too short to kill the API"
    # The authorizations the API sent towards the bank (whether the bank saw them or not).
    sent = [
        body.decode(errors="replace")
        for method, path, body in faults.bank.journal[sent_before:]
        if (method, path) == ("POST", "/authorizations")
    ]

    time.sleep(FUNCTION_TIMEOUT + 0.5)
    services.settlement.sweep()

    charges = http_api.get("/charges?limit=100", key=key).data["items"]
    assert len(charges) < 100, "more charges than one page: raise the page or page through"
    # Nothing is left pending after the healthy reconcile (read from the store: a GET would
    # settle an item itself).
    for charge in charges:
        stored, refunds = services.charges.get_with_refunds(merchant.merchant_id, charge["id"])
        assert [i for i in [stored, *refunds] if i.status == "pending"] == []
    full = {c["id"]: http_api.get(f"/charge/{c['id']}", key=key).data for c in charges}

    # The platform's ledger equals the bank's; a failed charge has no bank record only if
    # its authorization was never sent.
    for charge in full.values():
        was_sent = any(charge["id"] in request for request in sent)
        assert_agrees_with_the_bank(charge, bank_url, sent=was_sent)

    # Every answer is still true, and each request made at most one object.
    charge_answers = [a for a in ledger.answers if a.path == "/charge"]
    assert len(charge_answers) == flows == len(full)
    refund_ids: list[str] = []
    for answer in ledger.answers:
        response = answer.response
        if answer.path == "/charge":
            charge_id = response.data["id"] if response.status < 300 else response.error["charge"]
            assert_answer_true(response, full[charge_id])
            continue
        if response.status in (201, 202, 402, 502):
            refund_id = response.data["id"] if response.status < 300 else response.error["refund"]
            refund_ids.append(refund_id)
            refunds = {r["id"]: r for r in full[answer.body["charge_id"]]["refunds"]}
            assert_answer_true(response, refunds[refund_id])
        else:
            assert response.error["code"] in ("amount_too_large", "charge_already_refunded")
    stored_refunds = [r["id"] for c in full.values() for r in c["refunds"]]
    assert sorted(stored_refunds) == sorted(refund_ids)
