"""POST /refund and the refund fields of a charge (contract section 3)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.helpers import bank_record, charge_body, tokenize

DECLINED = "4000000000000002"


def charge(api: Any, key: str, amount: int = 10_000, number: str = "4242424242424242") -> str:
    """A charge of ``number``: approved (201), or declined (402) for the declined card."""
    token = tokenize(api, key, number)
    response = api.post("/charge", charge_body(token, amount=amount), key=key)
    if number == DECLINED:
        assert response.status == 402, response.text
        return response.error["charge"]
    assert response.status == 201, response.text
    return response.data["id"]


def refund(api: Any, key: str, charge_id: str, **fields: Any) -> Any:
    return api.post("/refund", {"charge_id": charge_id, **fields}, key=key)


def test_full_refund_without_amount(api: Any, merchant: Any, bank_url: str) -> None:
    charge_id = charge(api, merchant.secret_key)
    response = refund(api, merchant.secret_key, charge_id, reason="requested_by_customer")
    assert response.status == 201, response.text
    data = response.data
    assert data["id"].startswith("re_") and data["object"] == "refund"
    assert (data["charge_id"], data["amount"], data["currency"], data["status"]) == (
        charge_id,
        10_000,
        "USD",
        "succeeded",
    )
    assert data["reason"] == "requested_by_customer"
    stored = api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    assert (stored["amount_refunded"], stored["refunded"]) == (10_000, True)
    assert [r["id"] for r in stored["refunds"]] == [data["id"]]
    assert bank_record(bank_url, "authorizations", charge_id)["amount_refunded"] == 10_000


def test_partial_refunds_sum_to_the_charge(api: Any, merchant: Any) -> None:
    charge_id = charge(api, merchant.secret_key)
    first = refund(api, merchant.secret_key, charge_id, amount=4_000)
    second = refund(api, merchant.secret_key, charge_id, amount=6_000)
    assert first.status == second.status == 201
    stored = api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    assert (stored["amount_refunded"], stored["refunded"]) == (10_000, True)
    assert [r["id"] for r in stored["refunds"]] == [first.data["id"], second.data["id"]]
    again = refund(api, merchant.secret_key, charge_id, amount=1)
    assert (again.status, again.error["code"]) == (409, "charge_already_refunded")


def test_partial_then_the_rest(api: Any, merchant: Any) -> None:
    charge_id = charge(api, merchant.secret_key)
    refund(api, merchant.secret_key, charge_id, amount=2_500)
    rest = refund(api, merchant.secret_key, charge_id)
    assert (rest.status, rest.data["amount"]) == (201, 7_500)
    partial = api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    assert partial["refunded"] is True


def test_over_refund_is_refused(api: Any, merchant: Any) -> None:
    charge_id = charge(api, merchant.secret_key)
    assert refund(api, merchant.secret_key, charge_id, amount=9_000).status == 201
    response = refund(api, merchant.secret_key, charge_id, amount=1_001)
    assert (response.status, response.error["code"], response.error["param"]) == (
        400,
        "amount_too_large",
        "amount",
    )
    stored = api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    assert (stored["amount_refunded"], stored["refunded"], len(stored["refunds"])) == (
        9_000,
        False,
        1,
    )


def test_refund_larger_than_the_charge(api: Any, merchant: Any) -> None:
    charge_id = charge(api, merchant.secret_key, amount=500)
    response = refund(api, merchant.secret_key, charge_id, amount=501)
    assert (response.status, response.error["code"]) == (400, "amount_too_large")


def test_fully_refunded_wins_over_amount(api: Any, merchant: Any) -> None:
    charge_id = charge(api, merchant.secret_key)
    refund(api, merchant.secret_key, charge_id)
    response = refund(api, merchant.secret_key, charge_id, amount=99_999)
    assert (response.status, response.error["code"]) == (409, "charge_already_refunded")


def test_refund_of_a_failed_charge(api: Any, merchant: Any) -> None:
    charge_id = charge(api, merchant.secret_key, number=DECLINED)
    response = refund(api, merchant.secret_key, charge_id)
    assert (response.status, response.error["code"]) == (409, "charge_not_refundable")
    assert api.get(f"/charge/{charge_id}", key=merchant.secret_key).data["refunds"] == []


def test_the_bank_declines_the_refund(api: Any, merchant: Any, bank_url: str) -> None:
    charge_id = charge(api, merchant.secret_key, number="4000000000005126")
    response = refund(api, merchant.secret_key, charge_id, amount=1_000)
    assert response.status == 402, response.text
    assert (response.error["type"], response.error["code"]) == ("card_error", "refund_failed")
    stored = api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    assert (stored["amount_refunded"], stored["refunded"]) == (0, False)
    assert [(r["status"], r["amount"]) for r in stored["refunds"]] == [("failed", 1_000)]
    assert bank_record(bank_url, "authorizations", charge_id)["amount_refunded"] == 0
    # The reservation was released: the whole amount is still refundable as far as the
    # platform knows (the bank keeps declining this card's refunds).
    again = refund(api, merchant.secret_key, charge_id, amount=10_000)
    assert again.error["code"] == "refund_failed"


def test_unknown_charge(api: Any, merchant: Any, services: Any) -> None:
    other = services.merchant_service.create_merchant("Other")
    theirs = charge(api, other.secret_key)
    for charge_id in (theirs, "ch_doesNotExist"):
        response = refund(api, merchant.secret_key, charge_id)
        assert (response.status, response.error["code"], response.error["param"]) == (
            404,
            "resource_missing",
            "charge_id",
        )


def test_invalid_amount(api: Any, merchant: Any) -> None:
    # Every malformed amount: tests/unit/test_validation_tables.py
    response = refund(api, merchant.secret_key, "ch_anything", amount=0)
    assert (response.status, response.error["code"], response.error["param"]) == (
        400,
        "invalid_amount",
        "amount",
    )


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"charge_id": "ch_x", "reason": "because"}, "invalid_reason", "reason"),
        ({"charge_id": "ch_x", "note": "x"}, "unknown_parameter", "note"),
        ({"amount": 100}, "missing_parameter", "charge_id"),
        ({"charge_id": 12}, "invalid_charge_id", "charge_id"),
    ],
)
def test_malformed_fields(
    api: Any, merchant: Any, body: dict[str, Any], code: str, param: str
) -> None:
    response = api.post("/refund", body, key=merchant.secret_key)
    assert (response.status, response.error["code"], response.error["param"]) == (400, code, param)


def test_refund_idempotency(api: Any, merchant: Any, bank_url: str) -> None:
    charge_id = charge(api, merchant.secret_key)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post(
        "/refund", {"charge_id": charge_id, "amount": 1_000}, key=merchant.secret_key, headers=key
    )
    second = api.post(
        "/refund", {"charge_id": charge_id, "amount": 1_000}, key=merchant.secret_key, headers=key
    )
    assert first.status == second.status == 201
    assert first.text == second.text and second.headers["idempotent-replayed"] == "true"
    other = api.post(
        "/refund", {"charge_id": charge_id, "amount": 2_000}, key=merchant.secret_key, headers=key
    )
    assert (other.status, other.error["code"]) == (422, "idempotency_key_reused")
    assert bank_record(bank_url, "authorizations", charge_id)["amount_refunded"] == 1_000


def test_the_101st_refund_object_is_refused(client: Any, merchant: Any, services: Any) -> None:
    from tests.helpers import HandlerApi

    api = HandlerApi(client)
    charge_id = charge(api, merchant.secret_key, amount=1_000)
    for _ in range(100):
        assert refund(api, merchant.secret_key, charge_id, amount=1).status == 201
    refused = refund(api, merchant.secret_key, charge_id, amount=1)
    assert (refused.status, refused.error["code"]) == (409, "too_many_refunds")
    # charge_already_refunded still comes first in the contract's order.
    stored = api.get(f"/charge/{charge_id}", key=merchant.secret_key).data
    assert (len(stored["refunds"]), stored["amount_refunded"]) == (100, 100)
    assert [r["created_at"] for r in stored["refunds"]] == sorted(
        r["created_at"] for r in stored["refunds"]
    )


def test_the_same_refund_body_is_one_fingerprint_however_it_is_written(
    api: Any, merchant: Any
) -> None:
    charge_id = charge(api, merchant.secret_key)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post(
        "/refund",
        {"charge_id": charge_id, "amount": 100, "reason": "duplicate"},
        key=merchant.secret_key,
        headers=key,
    )
    reordered = api.post(
        "/refund",
        b'{ "reason" : "duplicate",\n "amount": 100, "charge_id": "' + charge_id.encode() + b'"}',
        key=merchant.secret_key,
        headers=key,
    )
    assert first.status == 201 and reordered.status == 201
    assert reordered.headers["idempotent-replayed"] == "true"
    assert reordered.data["id"] == first.data["id"]
