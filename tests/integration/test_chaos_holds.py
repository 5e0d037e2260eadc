"""Captures, voids and refunds of held charges under random bank faults and random SIGKILLs
of the API, retried as a careful merchant would.

Many flows run at once. Each authorizes a charge with ``capture: false`` on the victim API
(the one a killer thread SIGKILLs and restarts at random instants, whose bank calls the fault
proxy spoils: a 503 without reaching the bank, or the bank acted but the API hears a 502
page, a reset, garbage or a late answer), then captures it (all or part), voids it, races
two or three captures and voids on it - some against the stack's own API, a second
container - sends one of them twice at once with the same Idempotency-Key, refunds what was
captured, or leaves the hold to expire. Every write carries an Idempotency-Key and is
retried with it on every dropped connection, 409 ``request_in_progress``, 429 and 500 until
a definitive answer; a capture that never reached the bank (502, still authorized) is made
again under a new key, else the hold voided.

Then the proxy heals, expired holds and pending items are settled by the reconcile job, and:
every charge is final and equal to the bank's record (captured what the bank captured;
voided or failed: the bank holds and took nothing); no capture reached the bank twice; each
charge had at most one capture or void that took it, and the losers were told the 409 its
result implies; refunds never exceed the captured amount and equal the bank's; every answer
is still true; every Idempotency-Key replays its first definitive answer byte for byte; no
request was ever answered 500.

Seeded: ``CHAOS_HOLDS_SEED=<n>`` replays a run's choices (the seed is printed, and named in
every failure); thread timing still varies.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import urllib3

from chalicelib.ids import now_utc, parse_iso
from tests.faults import Rule
from tests.helpers import (
    CAPTURE_WINDOW,
    FUNCTION_TIMEOUT,
    VISA,
    HttpApi,
    Resp,
    bank_calls,
    bank_record,
    charge_body,
    tokenize,
)
from tests.ledger import (
    assert_agrees_with_the_bank,
    assert_answer_true,
    assert_hold_agrees_with_the_bank,
    assert_hold_answer_true,
    assert_refunds_agree_with_the_bank,
)

pytestmark = pytest.mark.integration

SEED_VARIABLE = "CHAOS_HOLDS_SEED"
FLOWS = 24
WORKERS = 8
CAPTURE_DECLINED_CARD = "4000000000000341"
DECLINED_CARD = "4000000000000002"
CARDS = [VISA] * 6 + [CAPTURE_DECLINED_CARD, DECLINED_CARD]
# Plans for an authorized charge, and how often each is drawn. "leave" (the hold expires and
# the reconcile job voids it) only early in the run, so the wait for expiry stays short.
PLANS = {"capture": 4, "void": 2, "race": 4, "refund_first": 1, "leave": 1}
LEAVE_WITHIN_SECONDS = 8.0
RETRY_FOR_SECONDS = 120
# The share of bank calls each fault spoils (about 30 % in all).
FAULT_SHARE = 0.06
BAD_GATEWAY = (502, {"Content-Type": "text/html"}, b"<html>502 Bad Gateway</html>")
UNAVAILABLE = (503, {"Content-Type": "text/html"}, b"<html>503 Service Unavailable</html>")
GARBAGE = (200, {"Content-Type": "application/json"}, b'{"status": "appro')
# The killer's pause between kills: often enough to land in every phase of every operation,
# rarely enough (against a lease of FUNCTION_TIMEOUT seconds, renewed by each resume) for
# retries to make progress.
KILL_EVERY = (1.0, 3.0)
# Each kill costs the requests it cut a lease's wait: the run's time stays bounded.
MIN_KILLS, MAX_KILLS = 3, 12
# The answers that took an authorized charge (its capture or void won the write-ahead).
TOOK_THE_HOLD = (200, 201, 202, 402)
REFUSED_BY_STATE = {
    "capture": ("charge_not_capturable",),
    "void": ("charge_not_voidable",),
    "refund": ("amount_too_large", "charge_already_refunded", "charge_not_refundable"),
}


@dataclass(frozen=True)
class Answered:
    """A definitive answer to one send of a request (``idem`` names the request)."""

    action: str  # "charge", "capture", "void" or "refund"
    charge_id: str | None
    path: str
    body: dict[str, Any]
    idem: str
    response: Resp


@dataclass
class Journal:
    answers: list[Answered] = field(default_factory=list)
    # Every 500 any API answered, also the ones retried.
    server_errors: list[str] = field(default_factory=list)
    # The requests in flight on the victim now, and at each of its kills (for the log).
    in_flight: Counter[str] = field(default_factory=Counter)
    killed_during: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Merchant:
    """The test's merchant: a key, the victim API (faults, kills) and the stack's API."""

    key: str
    victim: HttpApi
    stack: HttpApi
    journal: Journal

    def send(
        self,
        api: HttpApi,
        action: str,
        path: str,
        body: dict[str, Any],
        rng: random.Random,
        charge_id: str | None = None,
        idem: str | None = None,
    ) -> Resp:
        """POST until a definitive answer, always with the same Idempotency-Key."""
        idem = idem or str(uuid.uuid4())
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        while time.monotonic() < deadline:
            self._flying(api, action, +1)
            try:
                response = api.post(path, body, key=self.key, headers={"Idempotency-Key": idem})
            except (urllib3.exceptions.HTTPError, OSError):
                response = None
            finally:
                self._flying(api, action, -1)
            if response is not None and response.status == 500:
                with self.journal.lock:
                    self.journal.server_errors.append(f"{path} {idem}: {response.text}")
            if response is not None and not _retried(response):
                with self.journal.lock:
                    self.journal.answers.append(
                        Answered(action, charge_id, path, body, idem, response)
                    )
                return response
            time.sleep(rng.uniform(0.2, 0.8))
        raise AssertionError(f"no definitive answer for {path} within {RETRY_FOR_SECONDS}s")

    def _flying(self, api: HttpApi, action: str, step: int) -> None:
        if api is self.victim:
            with self.journal.lock:
                self.journal.in_flight[action] += step

    def settled(self, charge_id: str) -> dict[str, Any]:
        """The charge once no longer pending (a GET settles it from the bank's record)."""
        deadline = time.monotonic() + 3 * FUNCTION_TIMEOUT
        while True:
            charge = self.stack.get(f"/charge/{charge_id}", key=self.key)
            assert charge.status == 200, charge.text
            if charge.data["status"] != "pending" or time.monotonic() > deadline:
                return dict(charge.data)
            time.sleep(1.0)


def _retried(response: Resp) -> bool:
    """Not an answer about the request: the same key is sent again."""
    if response.status in (429, 500):
        return True
    return response.status == 409 and response.error["code"] == "request_in_progress"


def _capture_body(rng: random.Random, amount: int) -> dict[str, Any]:
    return {} if rng.random() < 0.4 else {"amount": rng.randint(1, amount)}


def _flow(m: Merchant, rng: random.Random, may_leave: bool) -> None:
    token = tokenize(m.stack, m.key, rng.choice(CARDS))
    amount = rng.randint(1_000, 5_000)
    body = charge_body(token, amount=amount, capture=False)
    charged = m.send(m.victim, "charge", "/charge", body, rng)
    if charged.status not in (201, 202):
        return
    charge_id = charged.data["id"]
    if m.settled(charge_id)["status"] != "authorized":
        return
    weights = {plan: w for plan, w in PLANS.items() if plan != "leave" or may_leave}
    plan = rng.choices(list(weights), list(weights.values()))[0]
    if plan == "leave":
        return  # the reconcile job voids it once its capture_before is over
    if plan == "refund_first":  # nothing is captured yet: 409 charge_not_refundable
        _refund(m, rng, charge_id, amount)
    if plan == "race":
        _race(m, rng, charge_id, amount)
    else:
        action = "void" if plan == "void" else "capture"
        body = _capture_body(rng, amount) if action == "capture" else {}
        m.send(_either(m, rng), action, f"/charge/{charge_id}/{action}", body, rng, charge_id)
    # A capture that never reached the bank left the hold as it was: capture it again under
    # a new key; failing that, release it.
    for action in ("capture", "void"):
        if m.settled(charge_id)["status"] != "authorized":
            break
        body = _capture_body(rng, amount) if action == "capture" else {}
        m.send(m.victim, action, f"/charge/{charge_id}/{action}", body, rng, charge_id)
    final = m.settled(charge_id)
    if final["status"] == "succeeded":
        captured = final["amount_captured"]
        refunds = [
            (_refund, m, random.Random(rng.random()), charge_id, captured)
            for _ in range(rng.randint(0, 2))
        ]
        _at_once(refunds)


def _at_once(calls: list[tuple[Any, ...]]) -> None:
    """Run each ``(function, *args)`` on its own thread, all released at once; a failure in
    any of them fails the flow."""
    if not calls:
        return
    start = threading.Barrier(len(calls))

    def run(function: Any, *args: Any) -> None:
        start.wait()
        function(*args)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        for future in [pool.submit(run, *call) for call in calls]:
            future.result()


def _either(m: Merchant, rng: random.Random) -> HttpApi:
    """Mostly the victim; sometimes the stack's API, another container of the same app."""
    return m.victim if rng.random() < 0.75 else m.stack


def _refund(m: Merchant, rng: random.Random, charge_id: str, captured: int) -> None:
    body: dict[str, Any] = {"charge_id": charge_id}
    if rng.random() < 0.7:
        body["amount"] = rng.randint(1, captured + 200)  # sometimes more than is left
    m.send(_either(m, rng), "refund", "/refund", body, rng, charge_id)


def _race(m: Merchant, rng: random.Random, charge_id: str, amount: int) -> None:
    """Two or three captures and voids at once, one of them sent twice with the same key."""
    sends = []
    for _ in range(rng.randint(2, 3)):
        action = rng.choice(["capture", "void"])
        body = _capture_body(rng, amount) if action == "capture" else {}
        sends.append((action, body, _either(m, rng), str(uuid.uuid4())))
    if rng.random() < 0.5:
        action, body, _, idem = sends[0]
        sends.append((action, body, _either(m, rng), idem))
    _at_once(
        [
            (
                m.send,
                api,
                action,
                f"/charge/{charge_id}/{action}",
                body,
                random.Random(rng.random()),
                charge_id,
                idem,
            )
            for action, body, api, idem in sends
        ]
    )


def _killer(rig: Any, journal: Journal, stop: threading.Event, rng: random.Random) -> None:
    first = rig.victim.kills
    while rig.victim.kills - first < MAX_KILLS and not stop.wait(rng.uniform(*KILL_EVERY)):
        with journal.lock:
            journal.killed_during.update(+journal.in_flight)
        rig.victim.kill()
        time.sleep(rng.uniform(0.0, 0.3))
        rig.victim.start()


def _bank_faults(rig: Any, rng: random.Random, read_timeout: float) -> None:
    """Each bank call of the victim (not the test's own ledger reads) draws its fate."""
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


def test_captures_voids_and_refunds_under_random_faults_and_kills_stay_true(
    faults: Any, http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    seed = int(os.environ.get(SEED_VARIABLE) or random.SystemRandom().randrange(2**32))
    print(f"{SEED_VARIABLE}={seed}")
    try:
        _run(faults, http_api, merchant, services, bank_url, seed)
    except Exception as failure:
        raise AssertionError(f"{SEED_VARIABLE}={seed}: {failure!r}") from failure


def _run(
    faults: Any, http_api: Any, merchant: Any, services: Any, bank_url: str, seed: int
) -> None:
    rng = random.Random(seed)
    journal, stop = Journal(), threading.Event()
    m = Merchant(merchant.secret_key, faults.api, http_api, journal)
    kills_before = faults.victim.kills
    sent_before = len(faults.bank.journal)
    _bank_faults(faults, random.Random(rng.random()), services.settings.bank_read_timeout)
    killer = threading.Thread(
        target=_killer, args=(faults, journal, stop, random.Random(rng.random()))
    )
    started = time.monotonic()
    killer.start()
    flows = 0
    try:
        # The killer keeps going until the last flow has its answers.
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            while flows < FLOWS:
                may_leave = time.monotonic() - started < LEAVE_WITHIN_SECONDS
                batch = [
                    pool.submit(_flow, m, random.Random(rng.random()), may_leave)
                    for _ in range(WORKERS)
                ]
                flows += len(batch)
                for future in batch:
                    future.result()
    finally:
        stop.set()
        killer.join()
        faults.bank.clear()  # healed
    assert faults.victim.kills - kills_before >= MIN_KILLS, "the run was too short to kill"
    # The authorizations the victim sent towards the bank (whether the bank saw them or not).
    sent = [
        body.decode(errors="replace")
        for method, path, body in faults.bank.journal[sent_before:]
        if (method, path) == ("POST", "/authorizations")
    ]

    _reconcile(services, merchant, http_api)
    full = _every_charge(http_api, services, merchant)
    print(_summary(journal, full, faults.victim.kills - kills_before))
    assert len([a for a in journal.answers if a.action == "charge"]) == flows == len(full)
    banks = {c: bank_record(bank_url, "authorizations", c) for c in full}
    for charge_id, charge in full.items():
        _assert_charge_agrees_with_the_bank(charge, banks[charge_id], bank_url, sent)
    _assert_answers_true(journal, full, banks)
    _assert_events_end_in_the_final_state(http_api, merchant.secret_key, full)
    assert journal.server_errors == [], journal.server_errors
    _assert_replays_equal_first_answers(journal, http_api, merchant.secret_key)


def _summary(journal: Journal, full: dict[str, dict[str, Any]], kills: int) -> str:
    """What the run did, for the log: answers by action and status, final states, kills."""
    answers = Counter(f"{a.action} {a.response.status}" for a in journal.answers)
    finals = dict(Counter(c["status"] for c in full.values()))
    during = dict(journal.killed_during)
    return f"kills={kills} (during {during}) answers={dict(sorted(answers.items()))} {finals=}"


def _reconcile(services: Any, merchant: Any, http_api: Any) -> None:
    """Once the holds still authorized have expired and no request can reach the bank any
    more, the healthy reconcile job (again, while a settler's recent check made it skip)."""
    held = [c for c in _listed(http_api, merchant.secret_key) if c["status"] == "authorized"]
    if held:
        latest = parse_iso(max(c["capture_before"] for c in held))
        wait = (latest - now_utc()).total_seconds()
        assert wait <= CAPTURE_WINDOW, latest  # (a bound on the run's time)
        time.sleep(max(0.0, wait))
    time.sleep(FUNCTION_TIMEOUT + 0.5)
    for _ in range(4):
        services.settlement.sweep()
        if not _unsettled(http_api, services, merchant):
            return
        time.sleep(2.5)


def _listed(http_api: Any, key: str) -> list[dict[str, Any]]:
    """Every charge of the merchant as listed (a list settles nothing), newest first."""
    charges: list[dict[str, Any]] = []
    query = "/charges?limit=100"
    while True:
        page = http_api.get(query, key=key).data
        charges += page["items"]
        if not page["has_more"]:
            return charges
        query = f"/charges?limit=100&starting_after={charges[-1]['id']}"


UNSETTLED = ("pending", "authorized")


def _unsettled(http_api: Any, services: Any, merchant: Any) -> list[str]:
    """The merchant's charges and refunds still pending or authorized, read from the store
    (a GET of a charge would settle its pending items itself)."""
    found = []
    for charge in _listed(http_api, merchant.secret_key):
        stored, refunds = services.charges.get_with_refunds(merchant.merchant_id, charge["id"])
        assert stored is not None, charge["id"]
        found += [f"{charge['id']} {stored.status}"] if stored.status in UNSETTLED else []
        found += [f"{r.id} {r.status}" for r in refunds if r.status in UNSETTLED]
    return found


def _every_charge(http_api: Any, services: Any, merchant: Any) -> dict[str, dict[str, Any]]:
    assert _unsettled(http_api, services, merchant) == [], "after the reconcile job"
    key = merchant.secret_key
    return {
        c["id"]: http_api.get(f"/charge/{c['id']}", key=key).data for c in _listed(http_api, key)
    }


def _assert_charge_agrees_with_the_bank(
    charge: dict[str, Any], bank: dict[str, Any] | None, bank_url: str, sent: list[str]
) -> None:
    assert charge["status"] in ("succeeded", "voided", "failed"), charge
    if bank is not None and bank.get("hold") is not None:
        # The bank placed the hold: it captured exactly what the charge says, or nothing.
        assert_hold_agrees_with_the_bank(charge, bank_url)
        assert_refunds_agree_with_the_bank(charge, bank_url)
        assert bank["amount_captured"] >= bank["amount_refunded"], bank
    else:
        assert charge["status"] == "failed", (bank, charge)
        was_sent = any(charge["id"] in request for request in sent)
        assert_agrees_with_the_bank(charge, bank_url, sent=was_sent)
    assert charge["amount_captured"] >= charge["amount_refunded"], charge
    calls = bank_calls(bank_url, charge["id"])
    assert calls.get("POST /authorizations/capture", 0) <= 1, (charge["id"], calls)


def _assert_answers_true(
    journal: Journal, full: dict[str, dict[str, Any]], banks: dict[str, Any]
) -> None:
    """Every answer still true of the final objects; at most one capture or void took each
    hold, and the final state is its result (or the reconcile job's void of an expired one)."""
    took: dict[str, set[tuple[str, str]]] = defaultdict(set)
    answered_refunds: set[str] = set()
    for answer in journal.answers:
        response = answer.response
        if answer.action == "charge":
            charge_id = response.data["id"] if response.status < 300 else response.error["charge"]
            if response.status == 201:  # the bank placed the hold
                assert response.data["status"] == "authorized", response.text
                assert (banks[charge_id] or {}).get("hold") is not None, banks[charge_id]
            else:
                assert_answer_true(response, full[charge_id])
            continue
        assert answer.charge_id is not None
        final = full[answer.charge_id]
        if answer.action == "refund":
            if response.status in (201, 202, 402, 502):
                refund_id = (
                    response.data["id"] if response.status < 300 else response.error["refund"]
                )
                answered_refunds.add(refund_id)
                refunds = {r["id"]: r for r in final["refunds"]}
                assert_answer_true(response, refunds[refund_id])
            else:
                assert response.error["code"] in REFUSED_BY_STATE["refund"], response.text
            continue
        if response.status == 409:
            assert response.error["code"] in REFUSED_BY_STATE[answer.action], response.text
            continue
        if response.status == 502:
            # Never reached the bank: this capture moved nothing (a later one may have).
            assert (answer.action, response.error["code"]) == ("capture", "bank_unavailable")
            continue
        assert_hold_answer_true(response, final)
        assert response.status in TOOK_THE_HOLD, response.text
        took[answer.charge_id].add((answer.action, answer.idem))
        if (answer.action, response.status) == ("capture", 201):
            requested = answer.body.get("amount", final["amount"])
            assert final["amount_captured"] == requested, (answer, final)
    for charge_id, final in full.items():
        winners = took[charge_id]
        assert len(winners) <= 1, (charge_id, winners, final)
        actions = [action for action, _ in winners]
        if final["status"] == "succeeded":
            assert actions == ["capture"], (winners, final)
        elif final["status"] == "voided" and not actions:
            # The reconcile job voided it once its capture_before was over.
            expired_at = parse_iso(final["created_at"]) + timedelta(seconds=CAPTURE_WINDOW)
            assert parse_iso(final["updated_at"]) >= expired_at, final
        elif final["status"] == "voided":
            assert actions == ["void"], (winners, final)
        else:
            assert actions in ([], ["capture"]), (winners, final)
    stored_refunds = {r["id"] for c in full.values() for r in c["refunds"]}
    assert stored_refunds == answered_refunds


def _assert_events_end_in_the_final_state(
    http_api: Any, key: str, full: dict[str, dict[str, Any]]
) -> None:
    """Each charge has exactly one event of its final state, and no event of it is newer
    (a webhook consumer ends where the charge did)."""
    events: list[dict[str, Any]] = []
    query = "/events?limit=100"
    while True:
        page = http_api.get(query, key=key).data
        events += page["items"]
        if not page["has_more"]:
            break
        query = f"/events?limit=100&starting_after={events[-1]['id']}"
    about: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        if event["type"].startswith("charge."):
            about[event["data"]["object"]["id"]].append(event)
    for charge_id, charge in full.items():
        final_type = f"charge.{charge['status']}"
        finals = [e for e in about[charge_id] if e["type"] == final_type]
        assert len(finals) == 1, (charge_id, [e["type"] for e in about[charge_id]])
        later = [e["type"] for e in about[charge_id] if e["created_at"] > finals[0]["created_at"]]
        assert later == [], (charge_id, later)


def _assert_replays_equal_first_answers(journal: Journal, http_api: Any, key: str) -> None:
    """Each key, sent again now, answers byte for byte what it first answered."""
    first: dict[str, Answered] = {}
    for answer in journal.answers:
        earlier = first.setdefault(answer.idem, answer)
        # The same key sent twice at once: both sends got the same answer.
        assert (answer.response.status, answer.response.text) == (
            earlier.response.status,
            earlier.response.text,
        ), (earlier, answer)
    for idem, answer in first.items():
        replay = http_api.post(answer.path, answer.body, key=key, headers={"Idempotency-Key": idem})
        assert replay.headers.get("idempotent-replayed") == "true", (answer, replay.text)
        assert (replay.status, replay.text) == (answer.response.status, answer.response.text), (
            answer,
            replay,
        )
