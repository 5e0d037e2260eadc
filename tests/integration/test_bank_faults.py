"""Every bank call (authorization, refund, status query, reversal) under every fault (not
sent; sent, then a 5xx, a reset, garbage or a late answer), through a fault proxy between
the victim API and the mock bank.

After each run the proxy heals and the reconcile job runs: nothing stays pending, the
platform's ledger equals the bank's, every answer a client got is still true, and no
reference was asked for twice (``tests.ledger``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.container import Container
from chalicelib.services.settlement import RECHECK_SECONDS
from tests.faults import Rule
from tests.helpers import FUNCTION_TIMEOUT, Resp, charge_body, tokenize
from tests.ledger import assert_agrees_with_the_bank, assert_answer_true

pytestmark = pytest.mark.integration

FAULTS = ["not_sent", "5xx", "reset", "garbage", "late"]
BAD_GATEWAY = (502, {"Content-Type": "text/html"}, b"<html>502 Bad Gateway</html>")
GARBAGE = (200, {"Content-Type": "application/json"}, b'{"status": "appro')
Matcher = Callable[[str, str, dict[str, str], bytes], bool]


def _is(method: str, path: Callable[[str], bool]) -> Matcher:
    return lambda m, p, headers, body: m == method and path(p)


AUTHORIZE = _is("POST", lambda p: p == "/authorizations")
REFUND = _is("POST", lambda p: p == "/refunds")
REVERSAL = _is("POST", lambda p: p.endswith("/reversal"))


def _after(fault: str, matches: Matcher, read_timeout: float, times: int = 1) -> Rule:
    """The rule for ``fault`` once the bank has acted (not "not_sent")."""
    if fault == "5xx":
        return Rule(matches, "answer_after", times=times, answer=BAD_GATEWAY)
    if fault == "garbage":
        return Rule(matches, "answer_after", times=times, answer=GARBAGE)
    if fault == "reset":
        return Rule(matches, "reset_after", times=times)
    assert fault == "late"
    return Rule(matches, "late_after", times=times, delay=read_timeout + 1.0)


def _under(faults: Any, fault: str, matches: Matcher, call: Callable[[], Any], **kw: Any) -> Any:
    """``call()`` with ``fault`` on the bank calls that ``matches``; the proxy healed after."""
    read_timeout = kw.pop("read_timeout")
    if fault == "not_sent":
        faults.bank.down()
    else:
        faults.bank.add(_after(fault, matches, read_timeout, **kw))
    try:
        return call()
    finally:
        faults.bank.up()
        faults.bank.clear()


def _reconcile(services: Any) -> None:
    """Once no request can still reach the bank, the healthy reconcile job."""
    time.sleep(FUNCTION_TIMEOUT + 0.5)
    services.settlement.sweep()


def _object_id(response: Resp) -> str:
    if response.status < 300:
        return str(response.data["id"])
    return str(response.error.get("refund") or response.error["charge"])


def _final(http_api: Any, services: Any, merchant: Any, charge_id: str) -> dict[str, Any]:
    """The charge as recorded after the reconcile (checked in the store first: a read
    would settle it itself)."""
    charge, refunds = services.charges.get_with_refunds(merchant.merchant_id, charge_id)
    assert [i.status for i in [charge, *refunds] if i.status == "pending"] == []
    assert charge.amount_reserved == 0
    assert charge.refundable == (
        charge.amount - charge.amount_refunded if charge.status == "succeeded" else 0
    )
    return dict(http_api.get(f"/charge/{charge_id}", key=merchant.secret_key).data)


def test_a_fault_on_the_authorization(
    faults: Any, http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    key, answers = merchant.secret_key, {}
    read_timeout = services.settings.bank_read_timeout
    for fault in FAULTS:
        token = tokenize(http_api, key)
        answers[fault] = _under(
            faults,
            fault,
            AUTHORIZE,
            lambda t=token: faults.api.post("/charge", charge_body(t), key=key),
            read_timeout=read_timeout,
        )
    # Not sent: failed. The bank acted, its answer lost: reversed at once, so failed too.
    # A late answer: no time left to reverse (the test stack's deadline): pending.
    assert {f: r.status for f, r in answers.items()} == {
        "not_sent": 502,
        "5xx": 502,
        "reset": 502,
        "garbage": 502,
        "late": 202,
    }, {f: r.text for f, r in answers.items()}
    _reconcile(services)
    for fault, response in answers.items():
        final = _final(http_api, services, merchant, _object_id(response))
        assert_answer_true(response, final)
        assert_agrees_with_the_bank(final, bank_url, sent=fault != "not_sent")
        assert final["status"] == ("succeeded" if fault == "late" else "failed"), fault


def test_a_fault_on_the_refund(
    faults: Any, http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    key, answers, charges = merchant.secret_key, {}, {}
    read_timeout = services.settings.bank_read_timeout
    for fault in FAULTS:
        token = tokenize(http_api, key)
        charged = http_api.post("/charge", charge_body(token, amount=5_000), key=key)
        assert charged.status == 201
        charges[fault] = charged.data["id"]
        body = {"charge_id": charged.data["id"], "amount": 2_000}
        answers[fault] = _under(
            faults,
            fault,
            REFUND,
            lambda b=body: faults.api.post("/refund", b, key=key),
            read_timeout=read_timeout,
        )
    assert {f: r.status for f, r in answers.items()} == {
        "not_sent": 502,
        "5xx": 502,
        "reset": 502,
        "garbage": 502,
        "late": 202,
    }, {f: r.text for f, r in answers.items()}
    assert answers["late"].data["status"] == "pending"
    _reconcile(services)
    for fault, response in answers.items():
        final = _final(http_api, services, merchant, charges[fault])
        (refund,) = final["refunds"]
        assert refund["id"] == _object_id(response)
        assert_answer_true(response, refund)
        assert_agrees_with_the_bank(final, bank_url)
        assert final["amount_refunded"] == (2_000 if fault == "late" else 0), fault


def test_a_fault_on_the_status_query_never_decides(
    faults: Any, http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    key, pending = merchant.secret_key, {}
    read_timeout = services.settings.bank_read_timeout
    for fault in FAULTS:
        token = tokenize(http_api, key)
        response = _under(
            faults,
            "late",
            AUTHORIZE,
            lambda t=token: faults.api.post("/charge", charge_body(t), key=key),
            read_timeout=read_timeout,
        )
        assert response.status == 202, response.text
        pending[fault] = response
    # Past the settle window: a settler would now reverse what the bank has no record of.
    time.sleep(FUNCTION_TIMEOUT + 0.5)
    faulty = Container(dataclasses.replace(services.settings, bank_url=faults.bank.url))
    for fault, response in pending.items():
        charge_id = response.data["id"]
        status_query = _is("GET", lambda p, c=charge_id: p == f"/authorizations/{c}")

        def read_and_sweep(charge_id: str = charge_id) -> None:
            # A read through the victim API and a settler of the reconcile job, both
            # asking the bank through the faulty proxy.
            read = faults.api.get(f"/charge/{charge_id}", key=key)
            assert (read.status, read.data["status"]) == (200, "pending"), read.text
            item = services.charges.get_charge(merchant.merchant_id, charge_id)
            assert faulty.settlement.settle(item) is None

        _under(faults, fault, status_query, read_and_sweep, times=2, read_timeout=read_timeout)
        stored = services.charges.get_charge(merchant.merchant_id, charge_id)
        assert (stored.status, stored.reversing_at is not None) == ("pending", False), fault
    time.sleep(RECHECK_SECONDS)  # the sweep skips what a settler asked about just now
    services.settlement.sweep()
    for response in pending.values():
        final = _final(http_api, services, merchant, response.data["id"])
        assert final["status"] == "succeeded"
        assert_answer_true(response, final)
        assert_agrees_with_the_bank(final, bank_url)


def test_a_fault_on_the_reversal_leaves_the_charge_pending(
    faults: Any, http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    """The bank approved, its answer was lost (a 502 page), and the request's reversal
    meets the fault: 202 pending, marked; the reconcile job finishes the reversal."""
    key, answers = merchant.secret_key, {}
    read_timeout = services.settings.bank_read_timeout
    for fault in FAULTS:
        token = tokenize(http_api, key)
        if fault == "not_sent":
            faults.bank.add(Rule(AUTHORIZE, "down_after", answer=BAD_GATEWAY))
        else:
            faults.bank.add(Rule(AUTHORIZE, "answer_after", answer=BAD_GATEWAY))
            faults.bank.add(_after(fault, REVERSAL, read_timeout))
        try:
            answers[fault] = faults.api.post("/charge", charge_body(token), key=key)
        finally:
            faults.bank.up()
            faults.bank.clear()
        assert answers[fault].status == 202, (fault, answers[fault].text)
        stored = services.charges.get_charge(merchant.merchant_id, answers[fault].data["id"])
        assert (stored.status, stored.reversing_at is not None) == ("pending", True)
    _reconcile(services)
    for response in answers.values():
        final = _final(http_api, services, merchant, response.data["id"])
        assert (final["status"], final["failure_code"]) == ("failed", "processing_error")
        assert_answer_true(response, final)
        assert_agrees_with_the_bank(final, bank_url)
