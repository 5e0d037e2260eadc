"""Unknown bank outcomes, made deterministic with ``FakeBank`` (contract: "Unknown outcomes").

The app runs whole, in-process, against moto; only its bank is the fake (held to the mock
bank's contract by ``tests/contract/test_bank_contract.py``), which scripts what the mock
bank can only do with its slow or failing cards: an answer lost after the bank acted, or
a failure before it did, on any one operation - a reversal included.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes import FakeBank, Fault
from tests.helpers import HandlerApi, charge_body, tokenize

DECLINING = "4000000000009995"  # insufficient_funds
LOST_ANSWERS: list[Fault] = ["unknown_after_acting", "unknown_without_acting"]
FAILED_REVERSALS: list[Fault] = [*LOST_ANSWERS, "not_sent"]


@pytest.fixture
def fake_bank(services: Any) -> Iterator[FakeBank]:
    """The app's own container with a ``FakeBank`` for its bank, for the test's duration."""
    from chalicelib.container import Container, get_container, reset_container

    fake = FakeBank()
    container = Container(services.settings, bank=fake)
    previous = get_container()
    reset_container(container)
    try:
        yield fake
    finally:
        reset_container(previous)


@pytest.fixture
def api(client: Any, fake_bank: FakeBank) -> HandlerApi:
    return HandlerApi(client)


def post_charge(
    api: HandlerApi, key: str, amount: int = 10_000, number: str = "4242424242424242", **fields: Any
) -> Any:
    token = tokenize(api, key, number)
    return api.post("/charge", charge_body(token, amount, **fields), key=key)


def charged(api: HandlerApi, key: str, amount: int = 10_000) -> str:
    response = post_charge(api, key, amount)
    assert response.status == 201, response.text
    return str(response.data["id"])


def refund(api: HandlerApi, key: str, charge_id: str, amount: int) -> Any:
    return api.post("/refund", {"charge_id": charge_id, "amount": amount}, key=key)


def read(api: HandlerApi, key: str, charge_id: str) -> Any:
    response = api.get(f"/charge/{charge_id}", key=key)
    assert response.status == 200, response.text
    return response.data


# ---- charges -----------------------------------------------------------------------------


@pytest.mark.parametrize("lost", LOST_ANSWERS)
def test_an_unknown_authorization_is_502_once_its_reversal_is_accepted(
    api: HandlerApi, fake_bank: FakeBank, merchant: Any, lost: Fault
) -> None:
    key = merchant.secret_key
    fake_bank.fail_next("authorize", lost)
    response = post_charge(api, key)
    assert (response.status, response.error["code"]) == (502, "bank_unavailable"), response.text
    charge_id = response.error["charge"]
    assert fake_bank.received("reverse_authorization", charge_id) == 1
    # Whatever the bank did with the authorization, it is undone and refused for good.
    at_bank = fake_bank.authorizations[charge_id]
    assert (at_bank.status, at_bank.voided) == ("reversed", lost == "unknown_after_acting")
    stored = read(api, key, charge_id)
    assert (stored["status"], stored["failure_code"]) == ("failed", "processing_error")


def test_an_authorization_never_sent_is_502_without_a_reversal(
    api: HandlerApi, fake_bank: FakeBank, merchant: Any
) -> None:
    fake_bank.fail_next("authorize", "not_sent")
    response = post_charge(api, merchant.secret_key)
    assert (response.status, response.error["code"]) == (502, "bank_unavailable"), response.text
    charge_id = response.error["charge"]
    assert charge_id not in fake_bank.authorizations
    assert fake_bank.received("reverse_authorization", charge_id) == 0


@pytest.mark.parametrize("reversal", FAILED_REVERSALS)
@pytest.mark.parametrize("number", ["4242424242424242", DECLINING])
def test_an_unknown_whose_reversal_fails_stays_pending_until_the_bank_decides(
    api: HandlerApi, fake_bank: FakeBank, merchant: Any, reversal: Fault, number: str
) -> None:
    key = merchant.secret_key
    fake_bank.fail_next("authorize", "unknown_after_acting")
    fake_bank.fail_next("reverse_authorization", reversal)
    response = post_charge(api, key, number=number)
    assert (response.status, response.data["status"]) == (202, "pending"), response.text
    charge_id = response.data["id"]
    events = api.get("/events?type=charge.pending", key=key).data["items"]
    assert [e["data"]["object"]["id"] for e in events] == [charge_id]

    # A read settles it from the bank's record: a decline decides as it is; an approval
    # under the request's reversal is never reported as money moved - the reversal is
    # finished and the charge fails; a reversal that had acted after all reads as one.
    stored = read(api, key, charge_id)
    acted = reversal == "unknown_after_acting"
    if number == DECLINING and not acted:
        assert (stored["status"], stored["failure_code"]) == ("failed", "insufficient_funds")
        assert fake_bank.received("reverse_authorization", charge_id) == 1
        return
    assert (stored["status"], stored["failure_code"]) == ("failed", "processing_error")
    at_bank = fake_bank.authorizations[charge_id]
    assert (at_bank.status, at_bank.voided) == ("reversed", number != DECLINING)
    assert fake_bank.received("reverse_authorization", charge_id) == (1 if acted else 2)


@pytest.mark.parametrize(
    ("lost", "settled"),
    [("unknown_after_acting", "succeeded"), ("unknown_without_acting", "pending")],
)
def test_an_unknown_capture_is_not_reversed_and_its_record_decides(
    api: HandlerApi, fake_bank: FakeBank, merchant: Any, lost: Fault, settled: str
) -> None:
    key = merchant.secret_key
    authorized = post_charge(api, key, capture=False)
    assert authorized.status == 201, authorized.text
    charge_id = authorized.data["id"]
    fake_bank.fail_next("capture", lost)
    response = api.post(f"/charge/{charge_id}/capture", {"amount": 4_000}, key=key)
    assert (response.status, response.data["status"]) == (202, "pending"), response.text
    # Reversing would void the whole hold: the capture waits for the bank's record.
    assert fake_bank.received("reverse_authorization", charge_id) == 0
    stored = read(api, key, charge_id)
    assert stored["status"] == settled
    if settled == "succeeded":
        assert (stored["captured"], stored["amount_captured"]) == (True, 4_000)


# ---- refunds -----------------------------------------------------------------------------


@pytest.mark.parametrize("lost", LOST_ANSWERS)
def test_an_unknown_refund_is_502_once_its_reversal_is_accepted(
    api: HandlerApi, fake_bank: FakeBank, merchant: Any, lost: Fault
) -> None:
    key = merchant.secret_key
    charge_id = charged(api, key)
    fake_bank.fail_next("refund", lost)
    response = refund(api, key, charge_id, 4_000)
    assert (response.status, response.error["code"]) == (502, "bank_unavailable"), response.text
    refund_id = response.error["refund"]
    assert fake_bank.refunds[refund_id].status == "reversed"
    # Its reservation is released: everything is refundable again, at the bank too.
    assert refund(api, key, charge_id, 10_000).status == 201
    assert fake_bank.authorizations[charge_id].amount_refunded == 10_000


@pytest.mark.parametrize("reversal", FAILED_REVERSALS)
def test_an_unknown_refund_keeps_its_amount_reserved_until_the_bank_decides(
    api: HandlerApi, fake_bank: FakeBank, merchant: Any, reversal: Fault
) -> None:
    key = merchant.secret_key
    charge_id = charged(api, key)
    fake_bank.fail_next("refund", "unknown_after_acting")
    fake_bank.fail_next("reverse_refund", reversal)
    response = refund(api, key, charge_id, 4_000)
    assert (response.status, response.data["status"]) == (202, "pending"), response.text
    refund_id = response.data["id"]
    # Reserved while pending: only 6,000 remains refundable.
    over = refund(api, key, charge_id, 6_001)
    assert (over.status, over.error["code"]) == (400, "amount_too_large"), over.text

    # A read settles it: the bank approved it, but under the request's reversal, which is
    # finished - the refund fails, its amount is released, the bank gave the money back.
    stored = read(api, key, charge_id)
    assert [(r["id"], r["status"]) for r in stored["refunds"]] == [(refund_id, "failed")]
    assert (stored["amount_refunded"], stored["refunded"]) == (0, False)
    assert (fake_bank.refunds[refund_id].status, fake_bank.refunds[refund_id].voided) == (
        "reversed",
        True,
    )
    assert refund(api, key, charge_id, 10_000).status == 201
