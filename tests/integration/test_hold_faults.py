"""Captures and voids under bank faults, crashes and races, on the real local stack.

The same fault proxy and victim server as for charges (tests/faults.py): every fault at
the capture and at the void's reversal; a SIGKILL at each phase boundary of a capture and
of a void, then a retry with the same Idempotency-Key; captures and voids racing on one
charge. Each run ends with the platform's ledger equal to the bank's.
"""

from __future__ import annotations

import random
import threading
import uuid
from typing import Any

import pytest

from tests.faults import Rule, bank_call
from tests.helpers import HttpApi, Resp, bank_calls, charge_body, tokenize
from tests.integration.test_bank_faults import FAULTS, _is, _reconcile, _under
from tests.integration.test_recovery import FINAL_COMMIT, _post, _retry_after_crash
from tests.ledger import assert_hold_agrees_with_the_bank, assert_hold_answer_true

pytestmark = pytest.mark.integration


def _authorize(api: Any, key: str, amount: int = 2500) -> str:
    token = tokenize(api, key)
    response = api.post("/charge", charge_body(token, amount, capture=False), key=key)
    assert (response.status, response.data["status"]) == (201, "authorized"), response.text
    return str(response.data["id"])


def _final(http_api: Any, services: Any, merchant: Any, charge_id: str) -> dict[str, Any]:
    stored = services.charges.get_charge(merchant.merchant_id, charge_id)
    assert stored.status != "pending", stored
    return dict(http_api.get(f"/charge/{charge_id}", key=merchant.secret_key).data)


def test_a_fault_on_the_capture(
    faults: Any, http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    key, answers, charges = merchant.secret_key, {}, {}
    read_timeout = services.settings.bank_read_timeout
    for fault in FAULTS:
        charges[fault] = charge_id = _authorize(http_api, key)
        answers[fault] = _under(
            faults,
            fault,
            _is("POST", lambda p, c=charge_id: p == f"/authorizations/{c}/capture"),
            lambda c=charge_id: faults.api.post(f"/charge/{c}/capture", {"amount": 2000}, key=key),
            read_timeout=read_timeout,
        )
    # Never sent: nothing moved, the charge is authorized again (502). The bank may have
    # captured: pending (202) until its ledger says, never reversed at once.
    assert {f: r.status for f, r in answers.items()} == {
        "not_sent": 502,
        "5xx": 202,
        "reset": 202,
        "garbage": 202,
        "late": 202,
    }, {f: r.text for f, r in answers.items()}
    _reconcile(services)
    for fault, response in answers.items():
        final = _final(http_api, services, merchant, charges[fault])
        assert_hold_answer_true(response, final)
        assert_hold_agrees_with_the_bank(final, bank_url)
        expected = ("authorized", 0) if fault == "not_sent" else ("succeeded", 2000)
        assert (final["status"], final["amount_captured"]) == expected, fault
    # The capture that never reached the bank can be made again.
    again = http_api.post(f"/charge/{charges['not_sent']}/capture", {}, key=key)
    assert (again.status, again.data["amount_captured"]) == (201, 2500), again.text
    assert_hold_agrees_with_the_bank(again.data, bank_url)


def test_a_fault_on_the_void(
    faults: Any, http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    key, answers, charges = merchant.secret_key, {}, {}
    read_timeout = services.settings.bank_read_timeout
    for fault in FAULTS:
        charges[fault] = charge_id = _authorize(http_api, key)
        answers[fault] = _under(
            faults,
            fault,
            _is("POST", lambda p, c=charge_id: p == f"/authorizations/{c}/reversal"),
            lambda c=charge_id: faults.api.post(f"/charge/{c}/void", {}, key=key),
            read_timeout=read_timeout,
        )
    # A lost answer is sent again at once (a void is its reversal); nothing sent, or no time
    # left for a second try: pending, finished by the reconcile job.
    assert {f: r.status for f, r in answers.items()} == {
        "not_sent": 202,
        "5xx": 200,
        "reset": 200,
        "garbage": 200,
        "late": 202,
    }, {f: r.text for f, r in answers.items()}
    _reconcile(services)
    for response in answers.values():
        final = _final(http_api, services, merchant, _id(response))
        assert final["status"] == "voided"
        assert_hold_answer_true(response, final)
        assert_hold_agrees_with_the_bank(final, bank_url)


def _id(response: Resp) -> str:
    return str(response.data["id"] if response.status < 300 else response.error["charge"])


@pytest.mark.parametrize(
    ("action", "fault", "expected"),
    [
        ("capture", ("bank", Rule(bank_call("POST", "/authorizations/"), "kill_before")), 502),
        ("capture", ("bank", Rule(bank_call("POST", "/authorizations/"), "kill_after")), 201),
        ("capture", ("dynamodb", Rule(FINAL_COMMIT, "kill_before")), 201),
        ("void", ("bank", Rule(bank_call("POST", "/authorizations/"), "kill_before")), 200),
        ("void", ("bank", Rule(bank_call("POST", "/authorizations/"), "kill_after")), 200),
        ("void", ("dynamodb", Rule(FINAL_COMMIT, "kill_before")), 200),
    ],
    ids=[
        "capture-after-the-write-ahead",
        "capture-after-the-bank-call",
        "capture-before-the-final-commit",
        "void-after-the-write-ahead",
        "void-after-the-bank-call",
        "void-before-the-final-commit",
    ],
)
def test_killed_at_each_phase_boundary(
    faults: Any,
    http_api: Any,
    merchant: Any,
    bank_url: str,
    action: str,
    fault: tuple[str, Rule],
    expected: int,
) -> None:
    """A retry with the same key resumes the first attempt: one bank operation, the answer
    the first attempt would have given, the ledgers equal."""
    key = merchant.secret_key
    charge_id = _authorize(http_api, key)
    path, idem = f"/charge/{charge_id}/{action}", str(uuid.uuid4())
    body = {"amount": 1200} if action == "capture" else {}
    getattr(faults, fault[0]).add(Rule(fault[1].matches, fault[1].action))
    assert _post(faults.api, path, body, key, idem) is None
    resumed = _retry_after_crash(faults, path, body, key, idem)
    assert resumed.status == expected, resumed.text
    final = http_api.get(f"/charge/{charge_id}", key=key).data
    assert_hold_answer_true(resumed, final)
    assert_hold_agrees_with_the_bank(final, bank_url)
    if expected == 201:
        assert (final["status"], final["amount_captured"]) == ("succeeded", 1200)
    calls = bank_calls(bank_url, charge_id)
    assert calls.get("POST /authorizations/capture", 0) <= 1, calls
    replay = _post(faults.api, path, body, key, idem)
    assert replay is not None and replay.headers["idempotent-replayed"] == "true"
    assert (replay.status, replay.text) == (resumed.status, resumed.text)


def test_captures_and_voids_racing_on_one_charge_have_one_winner(
    faults: Any, http_api: HttpApi, merchant: Any, bank_url: str
) -> None:
    """Threads against two servers (the stack's and the victim: two containers): exactly one
    capture or void wins each charge; every loser gets the 409 the winner's result implies,
    and the ledgers agree."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    key = merchant.secret_key
    for _ in range(4):
        charge_id = _authorize(http_api, key)
        actions = [rng.choice(["capture", "void"]) for _ in range(4)]
        answers: list[tuple[str, Resp]] = []
        start = threading.Barrier(len(actions))

        def run(
            action: str,
            body: dict[str, int],
            api: HttpApi,
            charge_id: str = charge_id,
            start: threading.Barrier = start,
            answers: list[tuple[str, Resp]] = answers,
        ) -> None:
            start.wait()
            response = api.post(f"/charge/{charge_id}/{action}", body, key=key)
            answers.append((action, response))

        bodies = [{"amount": rng.randint(1, 2500)} if a == "capture" else {} for a in actions]
        apis = [http_api, faults.api] * (len(actions) // 2)
        threads = [
            threading.Thread(target=run, args=(a, b, api))
            for a, b, api in zip(actions, bodies, apis, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [(a, r) for a, r in answers if r.status in (200, 201)]
        assert len(winners) == 1, (seed, [(a, r.status, r.text) for a, r in answers])
        won, response = winners[0]
        final = http_api.get(f"/charge/{charge_id}", key=key).data
        assert final["status"] == ("succeeded" if won == "capture" else "voided"), seed
        for action, loser in answers:
            if loser is response:
                continue
            code = "charge_not_capturable" if action == "capture" else "charge_not_voidable"
            assert (loser.status, loser.error["code"]) == (409, code), (seed, loser.text)
        assert_hold_agrees_with_the_bank(final, bank_url)
        assert bank_calls(bank_url, charge_id).get("POST /authorizations/capture", 0) <= 1


def test_a_capture_settled_while_its_answer_is_late_answers_what_was_recorded(
    faults: Any, http_api: HttpApi, merchant: Any, bank_url: str
) -> None:
    """The bank captured, but its answer reaches the request only after the read timeout; a
    GET meanwhile settles the charge from the bank's record (succeeded). The request, a
    settler that lost, answers what was recorded - 201, stored so for replay - not 202 with
    the charge pending, and no ``charge.pending`` event follows ``charge.succeeded``."""
    key = merchant.secret_key
    charge_id = _authorize(http_api, key)
    late = faults.bank.add(
        Rule(_is("POST", lambda p: p == f"/authorizations/{charge_id}/capture"), "hold")
    )
    late.gate_before.set()  # the capture reaches the bank; its answer waits at the gate
    path, idem, answers = f"/charge/{charge_id}/capture", str(uuid.uuid4()), []
    request = threading.Thread(
        target=lambda: answers.append(_post(faults.api, path, {}, key, idem))
    )
    request.start()
    try:
        assert late.forwarded.wait(10), "the capture never reached the bank"
        settled = http_api.get(f"/charge/{charge_id}", key=key).data
        assert settled["status"] == "succeeded", settled
        request.join(30)  # the request's read timeout passes with the answer still held
    finally:
        late.gate_after.set()
    (answer,) = answers
    assert answer is not None and answer.status == 201, answer and answer.text
    assert answer.data["status"] == "succeeded"
    final = http_api.get(f"/charge/{charge_id}", key=key).data
    assert_hold_answer_true(answer, final)
    assert_hold_agrees_with_the_bank(final, bank_url)
    replay = _post(faults.api, path, {}, key, idem)
    assert replay is not None and (replay.status, replay.text) == (answer.status, answer.text)
    events = http_api.get("/events?limit=100", key=key).data["items"]  # newest first
    types = [e["type"] for e in reversed(events) if e["data"]["object"]["id"] == charge_id]
    assert types == ["charge.authorized", "charge.succeeded"], types
