"""Authorize now, capture later: POST /charge with capture=false, capture, void, expiry."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.helpers import (
    CAPTURE_WINDOW,
    FUNCTION_TIMEOUT,
    HandlerApi,
    bank_calls,
    bank_record,
    charge_body,
    tokenize,
)

CAPTURE_DECLINED = "4000000000000341"


def authorize(api: Any, key: str, number: str = "4242424242424242", amount: int = 2500) -> Any:
    token = tokenize(api, key, number)
    response = api.post("/charge", charge_body(token, amount, capture=False), key=key)
    assert response.status == 201, response.text
    return response.data


def event_types(api: Any, key: str, charge_id: str) -> list[str]:
    events = api.get("/events?limit=100", key=key).data["items"]
    return sorted(e["type"] for e in events if e["data"]["object"]["id"] == charge_id)


def test_authorize_places_a_hold(api: Any, merchant: Any, bank_url: str) -> None:
    key = merchant.secret_key
    charge = authorize(api, key)
    assert (charge["status"], charge["captured"], charge["amount_captured"]) == (
        "authorized",
        False,
        0,
    )
    created = time.mktime(time.strptime(charge["created_at"][:19], "%Y-%m-%dT%H:%M:%S"))
    expires = time.mktime(time.strptime(charge["capture_before"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert expires - created == pytest.approx(CAPTURE_WINDOW, abs=1)
    assert charge["capture_before"].endswith("Z")
    assert len(charge["authorization_code"]) == 6
    assert api.get(f"/charge/{charge['id']}", key=key).data == charge
    held = bank_record(bank_url, "authorizations", charge["id"])
    assert held is not None and (held["hold"], held["amount_captured"]) == ("held", 0)
    assert event_types(api, key, charge["id"]) == ["charge.authorized"]


def test_a_captured_charge_has_the_new_fields(api: Any, merchant: Any) -> None:
    key = merchant.secret_key
    charge = api.post("/charge", charge_body(tokenize(api, key)), key=key).data
    assert (charge["captured"], charge["amount_captured"], charge["capture_before"]) == (
        True,
        2500,
        None,
    )
    assert api.post(f"/charge/{charge['id']}/capture", {}, key=key).error["code"] == (
        "charge_not_capturable"
    )
    response = api.post(f"/charge/{charge['id']}/void", {}, key=key)
    assert (response.status, response.error["code"]) == (409, "charge_not_voidable")


def test_full_capture_then_refunds_of_captured_money(
    api: Any, merchant: Any, bank_url: str
) -> None:
    key = merchant.secret_key
    charge = authorize(api, key)
    refused = api.post("/refund", {"charge_id": charge["id"]}, key=key)
    assert (refused.status, refused.error["code"]) == (409, "charge_not_refundable")
    response = api.post(f"/charge/{charge['id']}/capture", {}, key=key)
    assert response.status == 201, response.text
    captured = response.data
    assert (captured["status"], captured["captured"], captured["amount_captured"]) == (
        "succeeded",
        True,
        2500,
    )
    assert captured["capture_before"] is None
    assert captured["authorization_code"] == charge["authorization_code"]
    ledger = bank_record(bank_url, "authorizations", charge["id"])
    assert ledger is not None and (ledger["hold"], ledger["amount_captured"]) == ("captured", 2500)
    again = api.post(f"/charge/{charge['id']}/capture", {}, key=key)
    assert (again.status, again.error["code"]) == (409, "charge_not_capturable")
    refund = api.post("/refund", {"charge_id": charge["id"]}, key=key)
    assert (refund.status, refund.data["amount"]) == (201, 2500), refund.text
    final = api.get(f"/charge/{charge['id']}", key=key).data
    assert (final["amount_refunded"], final["refunded"]) == (2500, True)
    assert event_types(api, key, charge["id"]) == ["charge.authorized", "charge.succeeded"]


def test_partial_capture_limits_refunds(api: Any, merchant: Any, bank_url: str) -> None:
    key = merchant.secret_key
    charge = authorize(api, key)
    response = api.post(f"/charge/{charge['id']}/capture", {"amount": 1500}, key=key)
    assert response.status == 201, response.text
    assert (response.data["amount"], response.data["amount_captured"]) == (2500, 1500)
    ledger = bank_record(bank_url, "authorizations", charge["id"])
    assert ledger is not None and ledger["amount_captured"] == 1500
    too_much = api.post("/refund", {"charge_id": charge["id"], "amount": 1501}, key=key)
    assert (too_much.status, too_much.error["code"]) == (400, "amount_too_large")
    assert api.post("/refund", {"charge_id": charge["id"], "amount": 1000}, key=key).status == 201
    rest = api.post("/refund", {"charge_id": charge["id"]}, key=key)
    assert (rest.status, rest.data["amount"]) == (201, 500)
    final = api.get(f"/charge/{charge['id']}", key=key).data
    assert (final["amount_refunded"], final["refunded"]) == (1500, True)
    done = api.post("/refund", {"charge_id": charge["id"], "amount": 1}, key=key)
    assert (done.status, done.error["code"]) == (409, "charge_already_refunded")


def test_capture_refusals(api: Any, merchant: Any, services: Any) -> None:
    key = merchant.secret_key
    charge = authorize(api, key)
    path = f"/charge/{charge['id']}/capture"
    too_large = api.post(path, {"amount": 2501}, key=key)
    assert (too_large.status, too_large.error["code"], too_large.error["param"]) == (
        400,
        "amount_too_large",
        "amount",
    )
    for body, code, param in [
        ({"amount": 0}, "invalid_amount", "amount"),
        ({"amount": None}, "invalid_amount", "amount"),
        ({"amount": "10"}, "invalid_amount", "amount"),
        ({"amount": 10.0}, "invalid_amount", "amount"),
        ({"currency": "USD"}, "unknown_parameter", "currency"),
    ]:
        response = api.post(path, body, key=key)
        assert (response.status, response.error["code"], response.error["param"]) == (
            400,
            code,
            param,
        ), body
    unknown = api.post("/charge/ch_doesNotExist0000000000000/capture", {}, key=key)
    assert (unknown.status, unknown.error["code"]) == (404, "resource_missing")
    other = services.merchant_service.create_merchant("Other").secret_key
    for action in ("capture", "void"):
        response = api.post(f"/charge/{charge['id']}/{action}", {}, key=other)
        assert (response.status, response.error["code"]) == (404, "resource_missing")
    wrong = api.post(f"/charge/{charge['id']}/void", {"amount": 1}, key=key)
    assert (wrong.status, wrong.error["code"]) == (400, "unknown_parameter")
    # Nothing refused moved the charge.
    assert api.get(f"/charge/{charge['id']}", key=key).data["status"] == "authorized"


def test_void_releases_the_hold(api: Any, merchant: Any, bank_url: str) -> None:
    key = merchant.secret_key
    charge = authorize(api, key)
    response = api.post(f"/charge/{charge['id']}/void", {}, key=key)
    assert response.status == 200, response.text
    voided = response.data
    assert (voided["status"], voided["captured"], voided["amount_captured"]) == ("voided", False, 0)
    assert voided["capture_before"] is None
    ledger = bank_record(bank_url, "authorizations", charge["id"])
    assert ledger is not None and (ledger["status"], ledger["hold"]) == ("reversed", "released")
    for action, code in [("capture", "charge_not_capturable"), ("void", "charge_not_voidable")]:
        again = api.post(f"/charge/{charge['id']}/{action}", {}, key=key)
        assert (again.status, again.error["code"]) == (409, code)
    refund = api.post("/refund", {"charge_id": charge["id"]}, key=key)
    assert (refund.status, refund.error["code"]) == (409, "charge_not_refundable")
    assert event_types(api, key, charge["id"]) == ["charge.authorized", "charge.voided"]


def test_declined_capture(api: Any, merchant: Any, bank_url: str) -> None:
    key = merchant.secret_key
    charge = authorize(api, key, CAPTURE_DECLINED)
    response = api.post(f"/charge/{charge['id']}/capture", {}, key=key)
    assert (response.status, response.error["type"], response.error["code"]) == (
        402,
        "card_error",
        "capture_failed",
    ), response.text
    assert (response.error["decline_code"], response.error["charge"]) == (
        "capture_declined",
        charge["id"],
    )
    stored = api.get(f"/charge/{charge['id']}", key=key).data
    assert (stored["status"], stored["failure_code"], stored["amount_captured"]) == (
        "failed",
        "capture_declined",
        0,
    )
    ledger = bank_record(bank_url, "authorizations", charge["id"])
    assert ledger is not None and (ledger["hold"], ledger["amount_captured"]) == ("released", 0)
    assert event_types(api, key, charge["id"]) == ["charge.authorized", "charge.failed"]


def test_idempotent_capture(api: Any, merchant: Any, bank_url: str) -> None:
    key = merchant.secret_key
    charge = authorize(api, key)
    other = authorize(api, key)
    idem = {"Idempotency-Key": str(uuid.uuid4())}
    path = f"/charge/{charge['id']}/capture"
    first = api.post(path, {"amount": 1000}, key=key, headers=idem)
    assert first.status == 201, first.text
    replay = api.post(path, {"amount": 1000}, key=key, headers=idem)
    assert (replay.status, replay.text) == (201, first.text)
    assert replay.headers["idempotent-replayed"] == "true"
    reused = api.post(path, {"amount": 999}, key=key, headers=idem)
    assert (reused.status, reused.error["code"]) == (422, "idempotency_key_reused")
    # The same key and body for another charge is another request.
    elsewhere = api.post(f"/charge/{other['id']}/capture", {"amount": 1000}, key=key, headers=idem)
    assert (elsewhere.status, elsewhere.error["code"]) == (422, "idempotency_key_reused")
    assert bank_calls(bank_url, charge["id"]).get("POST /authorizations/capture") == 1
    void_key = {"Idempotency-Key": str(uuid.uuid4())}
    voided = api.post(f"/charge/{other['id']}/void", {}, key=key, headers=void_key)
    assert api.post(f"/charge/{other['id']}/void", {}, key=key, headers=void_key).text == (
        voided.text
    )
    assert bank_calls(bank_url, other["id"]).get("POST /authorizations/reversal") == 1


def test_the_sweep_voids_expired_authorizations(
    api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    key = merchant.secret_key
    charge = authorize(api, key)
    kept = authorize(api, key)
    assert api.post(f"/charge/{kept['id']}/capture", {}, key=key).status == 201
    created = time.time()
    time.sleep(max(0.0, created + CAPTURE_WINDOW + 0.5 - time.time()))
    late = api.post(f"/charge/{charge['id']}/capture", {}, key=key)
    assert (late.status, late.error["code"]) == (409, "charge_not_capturable")
    assert api.get(f"/charge/{charge['id']}", key=key).data["status"] == "authorized"
    # Found once the settle window past capture_before is over too.
    time.sleep(FUNCTION_TIMEOUT + 0.5)
    services.settlement.sweep()
    stored = api.get(f"/charge/{charge['id']}", key=key).data
    assert (stored["status"], stored["capture_before"]) == ("voided", None)
    ledger = bank_record(bank_url, "authorizations", charge["id"])
    assert ledger is not None and (ledger["status"], ledger["hold"]) == ("reversed", "released")
    assert event_types(api, key, charge["id"]) == ["charge.authorized", "charge.voided"]
    assert api.get(f"/charge/{kept['id']}", key=key).data["status"] == "succeeded"


@pytest.mark.parametrize("action", ["capture", "void"])
def test_a_capture_or_void_costs_three_dynamodb_calls(
    client: Any, merchant: Any, services: Any, action: str
) -> None:
    """The first read (charge, Idempotency-Key, API key), the write-ahead, the final commit;
    the authorizer's own read of the key is its function's, not the route's."""
    api, key = HandlerApi(client), merchant.secret_key
    charge = authorize(api, key)
    api_keys = services.settings.table("ApiKeys")
    calls: list[str] = []

    def note(model: Any, params: dict[str, Any], **_: Any) -> None:
        if not (model.name == "GetItem" and params.get("TableName") == api_keys):
            calls.append(model.name)

    services.dynamodb.meta.events.register("provide-client-params.dynamodb", note)
    try:
        response = api.post(
            f"/charge/{charge['id']}/{action}",
            {},
            key=key,
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
    finally:
        services.dynamodb.meta.events.unregister("provide-client-params.dynamodb", note)
    assert response.status in (200, 201), response.text
    assert calls == ["BatchGetItem", "TransactWriteItems", "TransactWriteItems"], calls


def test_capture_and_void_need_no_body(api: Any, merchant: Any) -> None:
    key = merchant.secret_key
    for action, status in (("capture", 201), ("void", 200)):
        charge = authorize(api, key)
        response = api.request("POST", f"/charge/{charge['id']}/{action}", b"", key=key)
        assert response.status == status, response.text
    charge = authorize(api, key)  # nor a Content-Type
    response = api.request("POST", f"/charge/{charge['id']}/void", None, key=key)
    assert response.status == 200, response.text
    # A body that is not a JSON object is still refused.
    charge = authorize(api, key)
    response = api.request("POST", f"/charge/{charge['id']}/void", b"[]", key=key)
    assert (response.status, response.error["code"]) == (400, "invalid_json")
