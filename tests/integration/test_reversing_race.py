"""A settler that reverses an authorization the request then sees approved: the client is
never told 201 for money the reversal voided.

The interleaving is forced with a proxy that holds each bank call: the settler (its clock
ahead, so it takes the request for gone) hears "no record", then the bank approves the
request's authorization, then the settler's reversal voids it, then both commit, in either
order. The request runs in process (Chalice's test client) with a long function timeout, so
its own bank deadline never interferes.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest

from chalicelib.container import Container, reset_container
from tests.faults import Rule
from tests.helpers import HandlerApi, bank_record, charge_body, tokenize

pytestmark = pytest.mark.integration

WAIT = 20


def _is(method: str, path: Any) -> Any:
    return lambda m, p, headers, body: m == method and path(p)


def _wait(event: threading.Event, what: str) -> None:
    assert event.wait(WAIT), f"timed out waiting for {what}"


@pytest.mark.parametrize("first_commit", ["settler", "request"])
def test_an_approval_voided_by_a_settler_is_never_answered_201(
    faults: Any, client: Any, services: Any, merchant: Any, bank_url: str, first_commit: str
) -> None:
    api = HandlerApi(client)
    token = tokenize(api, merchant.secret_key)
    proxy = faults.bank
    authorization = proxy.add(Rule(_is("POST", lambda p: p == "/authorizations"), "hold"))
    reversal = proxy.add(Rule(_is("POST", lambda p: p.endswith("/reversal")), "hold"))
    gates = [authorization.gate_before, authorization.gate_after]
    gates += [reversal.gate_before, reversal.gate_after]
    request_side = Container(
        dataclasses.replace(services.settings, bank_url=proxy.url, function_timeout_seconds=60)
    )
    # A settler whose clock runs ahead: the request looks gone to it at once.
    skewed = dataclasses.replace(services.settings, bank_url=proxy.url, function_timeout_seconds=0)
    settler = Container(skewed).settlement
    answer: dict[str, Any] = {}
    settled: dict[str, Any] = {}
    reset_container(request_side)
    try:
        charging = threading.Thread(
            target=lambda: answer.update(
                r=api.post("/charge", charge_body(token), key=merchant.secret_key)
            )
        )
        charging.start()
        _wait(authorization.arrived, "the authorization")  # written ahead, held
        (item,), _ = services.charges.list_for_merchant(merchant.merchant_id, 1, None)
        settling = threading.Thread(target=lambda: settled.update(r=settler.settle(item)))
        settling.start()
        # The settler heard "no record", marked the charge, and its reversal is held.
        _wait(reversal.arrived, "the settler's reversal")
        authorization.gate_before.set()
        _wait(authorization.forwarded, "the bank's approval")
        reversal.gate_before.set()
        _wait(reversal.forwarded, "the bank's reversal")
        first, second = (
            [(reversal, settling), (authorization, charging)]
            if first_commit == "settler"
            else [(authorization, charging), (reversal, settling)]
        )
        for rule, thread in (first, second):
            rule.gate_after.set()
            thread.join(WAIT)
            assert not thread.is_alive()
    finally:
        for gate in gates:
            gate.set()
        reset_container(services)
    response = answer["r"]
    assert (response.status, response.error["code"]) == (502, "bank_unavailable"), response.text
    assert settled["r"] is not None and settled["r"].status == 502
    charge = services.charges.get_charge(merchant.merchant_id, item.id)
    assert (charge.status, charge.failure_code) == ("failed", "processing_error")
    record = bank_record(bank_url, "authorizations", item.id)
    assert record is not None and (record["status"], record["voided"]) == ("reversed", True)
