"""POST /charge, GET /charge/{id}, GET /charges (contract section 3) with the mock bank."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.helpers import bank_record, charge_body, tokenize

APPROVED = [
    "4242424242424242",
    "4111111111111111",
    "5555555555554444",
    "378282246310005",
    "6011111111111117",
    "4000000000005126",
    "4000000000007726",
    "4000000000005423",
]
DECLINED = [
    ("4000000000000002", "generic_decline"),
    ("4000000000009995", "insufficient_funds"),
    ("4000000000009987", "lost_card"),
    ("4000000000009979", "stolen_card"),
    ("4000000000000069", "expired_card"),
    ("4000000000000127", "incorrect_cvc"),
]


def stored(api: Any, key: str, charge_id: str) -> dict[str, Any]:
    response = api.get(f"/charge/{charge_id}", key=key)
    assert response.status == 200, response.text
    return response.data


@pytest.mark.parametrize("number", APPROVED)
def test_approved_card(api: Any, merchant: Any, bank_url: str, number: str) -> None:
    token = tokenize(api, merchant.secret_key, number)
    body = charge_body(token, description="Order 1001", metadata={"order_id": "1001"})
    response = api.post("/charge", body, key=merchant.secret_key)
    assert response.status == 201, response.text
    charge = response.data
    assert charge["id"].startswith("ch_")
    assert (charge["status"], charge["amount"], charge["currency"]) == ("succeeded", 2500, "USD")
    assert charge["amount_refunded"] == 0 and charge["refunded"] is False
    assert len(charge["authorization_code"]) == 6
    assert charge["failure_code"] is None and charge["failure_message"] is None
    assert charge["card"]["last4"] == number[-4:] and "fingerprint" not in charge["card"]
    assert (charge["description"], charge["metadata"]) == ("Order 1001", {"order_id": "1001"})
    assert charge["refunds"] == []
    assert stored(api, merchant.secret_key, charge["id"]) == charge
    assert bank_record(bank_url, "authorizations", charge["id"])["status"] == "approved"
    assert number not in response.text


@pytest.mark.parametrize(("number", "decline_code"), DECLINED)
def test_declined_card(api: Any, merchant: Any, number: str, decline_code: str) -> None:
    token = tokenize(api, merchant.secret_key, number)
    response = api.post("/charge", charge_body(token), key=merchant.secret_key)
    assert response.status == 402, response.text
    error = response.error
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        decline_code,
    )
    charge = stored(api, merchant.secret_key, error["charge"])
    assert (charge["status"], charge["failure_code"]) == ("failed", decline_code)
    assert charge["failure_message"] and charge["authorization_code"] is None


def test_bank_error_is_502_and_the_charge_failed(api: Any, merchant: Any, bank_url: str) -> None:
    token = tokenize(api, merchant.secret_key, "4000000000000119")
    response = api.post("/charge", charge_body(token), key=merchant.secret_key)
    assert response.status == 502, response.text
    assert (response.error["type"], response.error["code"]) == ("api_error", "bank_unavailable")
    charge = stored(api, merchant.secret_key, response.error["charge"])
    assert (charge["status"], charge["failure_code"]) == ("failed", "processing_error")
    # A 500 is no proof that nothing happened: the request reversed the reference, and the
    # bank now refuses it for good (it had recorded nothing, so nothing was voided).
    record = bank_record(bank_url, "authorizations", charge["id"])
    assert record is not None and (record["status"], record["voided"]) == ("reversed", False)
    # The token was consumed by the attempt that reached the bank.
    again = api.post("/charge", charge_body(token), key=merchant.secret_key)
    assert again.error["code"] == "token_already_used"


def test_bank_unreachable_is_502(client: Any, services: Any, merchant: Any) -> None:
    """The bank's port closed (connection refused): a real failure, not a mock."""
    import dataclasses

    from chalicelib.container import Container, reset_container
    from payments_admin.stack import free_port
    from tests.helpers import HandlerApi

    api = HandlerApi(client)
    token = tokenize(api, merchant.secret_key)
    dead_bank = f"http://127.0.0.1:{free_port()}"
    reset_container(Container(dataclasses.replace(services.settings, bank_url=dead_bank)))
    try:
        response = api.post("/charge", charge_body(token), key=merchant.secret_key)
    finally:
        reset_container(services)
    assert (response.status, response.error["code"]) == (502, "bank_unavailable")
    charge = stored(api, merchant.secret_key, response.error["charge"])
    assert (charge["status"], charge["failure_code"]) == ("failed", "processing_error")


def test_a_token_is_single_use(api: Any, merchant: Any) -> None:
    token = tokenize(api, merchant.secret_key)
    assert api.post("/charge", charge_body(token), key=merchant.secret_key).status == 201
    again = api.post("/charge", charge_body(token), key=merchant.secret_key)
    assert (again.status, again.error["code"], again.error["param"]) == (
        400,
        "token_already_used",
        "token",
    )


def test_the_cvv_is_destroyed_once_the_token_is_used(
    api: Any, services: Any, merchant: Any
) -> None:
    from tests.helpers import card

    response = api.post("/token", card(cardholder_name="Ana Perez"), key=merchant.secret_key)
    token = response.data["id"]
    sealed = services.tokens.get(token)
    assert None not in (sealed.cvv_ct, sealed.card_number_ct, sealed.holder_ct)
    api.post("/charge", charge_body(token), key=merchant.secret_key)
    item = services.tokens.get(token)
    assert item.used is True
    assert (item.cvv_ct, item.card_number_ct, item.holder_ct) == (None, None, None)


def test_a_refused_request_leaves_the_token_usable(api: Any, merchant: Any) -> None:
    token = tokenize(api, merchant.secret_key)
    assert api.post("/charge", charge_body(token, amount=0), key=merchant.secret_key).status == 400
    assert api.post("/charge", charge_body(token), key=merchant.secret_key).status == 201


def test_jpy_and_currency_case(api: Any, merchant: Any) -> None:
    token = tokenize(api, merchant.secret_key)
    response = api.post(
        "/charge", charge_body(token, amount=2500, currency="jpy"), key=merchant.secret_key
    )
    assert response.status == 201
    assert (response.data["amount"], response.data["currency"]) == (2500, "JPY")


# One case per code and param (and the token lookup): the exhaustive table is
# tests/unit/test_validation_tables.py.
@pytest.mark.parametrize(
    ("overrides", "code", "param"),
    [
        ({"token": "tok_doesNotExist"}, "invalid_token", "token"),
        ({"amount": 0}, "invalid_amount", "amount"),
        ({"currency": "XXX"}, "invalid_currency", "currency"),
        ({"description": "d" * 501}, "invalid_description", "description"),
        ({"metadata": {f"k{i}": "v" for i in range(21)}}, "invalid_metadata", "metadata"),
        ({"capture": "false"}, "invalid_capture", "capture"),
        ({"captured": False}, "unknown_parameter", "captured"),
    ],
)
def test_validation(
    api: Any, merchant: Any, overrides: dict[str, Any], code: str, param: str
) -> None:
    token = tokenize(api, merchant.secret_key)
    response = api.post("/charge", {**charge_body(token), **overrides}, key=merchant.secret_key)
    assert (response.status, response.error["code"], response.error["param"]) == (
        400,
        code,
        param,
    ), response.text
    # Malformed fields are reported before the token is looked up; it stays usable.
    assert api.post("/charge", charge_body(token), key=merchant.secret_key).status == 201


def test_missing_field(api: Any, merchant: Any) -> None:
    field = "amount"  # every required field: tests/unit/test_validation_tables.py
    body = charge_body("tok_x")
    del body[field]
    response = api.post("/charge", body, key=merchant.secret_key)
    assert (response.status, response.error["code"], response.error["param"]) == (
        400,
        "missing_parameter",
        field,
    )


def test_another_merchants_token_is_invalid(api: Any, services: Any, merchant: Any) -> None:
    other = services.merchant_service.create_merchant("Other")
    token = tokenize(api, other.secret_key)
    response = api.post("/charge", charge_body(token), key=merchant.secret_key)
    missing = api.post("/charge", charge_body("tok_" + "x" * 27), key=merchant.secret_key)
    assert response.status == missing.status == 400
    assert response.error == missing.error
    assert api.post("/charge", charge_body(token), key=other.secret_key).status == 201


def test_an_expired_token_is_invalid(api: Any, services: Any, merchant: Any) -> None:
    token = tokenize(api, merchant.secret_key)
    services.dynamodb.update_item(
        TableName=services.settings.table("Tokens"),
        Key={"token_id": {"S": token}},
        UpdateExpression="SET expires_epoch = :past",
        ExpressionAttributeValues={":past": {"N": "1000"}},
    )
    response = api.post("/charge", charge_body(token), key=merchant.secret_key)
    assert (response.status, response.error["code"]) == (400, "invalid_token")


def test_get_charge_of_another_merchant_is_404(api: Any, services: Any, merchant: Any) -> None:
    other = services.merchant_service.create_merchant("Other")
    token = tokenize(api, other.secret_key)
    charge_id = api.post("/charge", charge_body(token), key=other.secret_key).data["id"]
    theirs = api.get(f"/charge/{charge_id}", key=merchant.secret_key)
    unknown = api.get("/charge/ch_doesNotExist", key=merchant.secret_key)
    assert theirs.status == unknown.status == 404
    assert theirs.error == unknown.error
    assert theirs.error["code"] == "resource_missing"


def test_list_is_newest_first_with_paging(api: Any, merchant: Any) -> None:
    ids = []
    for _ in range(5):
        token = tokenize(api, merchant.secret_key)
        ids.append(api.post("/charge", charge_body(token), key=merchant.secret_key).data["id"])
    ids.reverse()
    first = api.get("/charges?limit=2", key=merchant.secret_key).data
    assert first["object"] == "list"
    assert [c["id"] for c in first["items"]] == ids[:2] and first["has_more"] is True
    second = api.get(f"/charges?limit=2&starting_after={ids[1]}", key=merchant.secret_key).data
    assert [c["id"] for c in second["items"]] == ids[2:4] and second["has_more"] is True
    last = api.get(f"/charges?limit=2&starting_after={ids[3]}", key=merchant.secret_key).data
    assert [c["id"] for c in last["items"]] == ids[4:] and last["has_more"] is False
    default = api.get("/charges", key=merchant.secret_key).data
    assert [c["id"] for c in default["items"]] == ids and default["has_more"] is False


def test_list_shows_only_the_callers_charges(api: Any, services: Any, merchant: Any) -> None:
    other = services.merchant_service.create_merchant("Other")
    token = tokenize(api, other.secret_key)
    theirs = api.post("/charge", charge_body(token), key=other.secret_key).data["id"]
    assert api.get("/charges", key=merchant.secret_key).data["items"] == []
    response = api.get(f"/charges?starting_after={theirs}", key=merchant.secret_key)
    assert (response.status, response.error["code"]) == (400, "invalid_starting_after")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "invalid_limit"),
        ("starting_after=ch_nope", "invalid_starting_after"),  # a lookup, not a shape
        ("colour=red", "unknown_parameter"),
    ],
)
def test_list_validation(api: Any, merchant: Any, query: str, code: str) -> None:
    response = api.get(f"/charges?{query}", key=merchant.secret_key)
    assert (response.status, response.error["code"]) == (400, code)


# ---- idempotency --------------------------------------------------------------------------


def test_same_key_same_body_replays_the_first_response(api: Any, merchant: Any) -> None:
    token = tokenize(api, merchant.secret_key)
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = api.post("/charge", charge_body(token), key=merchant.secret_key, headers=key)
    second = api.post("/charge", charge_body(token), key=merchant.secret_key, headers=key)
    assert first.status == second.status == 201
    assert second.text == first.text
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["original-request-id"] == first.json["request_id"]
    assert second.headers["x-request-id"] != first.json["request_id"]
    assert "idempotent-replayed" not in first.headers


def test_a_decline_is_replayed_too(api: Any, merchant: Any) -> None:
    token = tokenize(api, merchant.secret_key, "4000000000009995")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post("/charge", charge_body(token), key=merchant.secret_key, headers=key)
    second = api.post("/charge", charge_body(token), key=merchant.secret_key, headers=key)
    assert first.status == second.status == 402
    assert first.text == second.text


def test_same_key_other_body_is_422(api: Any, merchant: Any) -> None:
    token = tokenize(api, merchant.secret_key)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    api.post("/charge", charge_body(token), key=merchant.secret_key, headers=key)
    response = api.post(
        "/charge", charge_body(token, amount=9), key=merchant.secret_key, headers=key
    )
    assert response.status == 422
    assert (response.error["type"], response.error["code"]) == (
        "idempotency_error",
        "idempotency_key_reused",
    )


def test_keys_are_scoped_to_the_merchant(api: Any, services: Any, merchant: Any) -> None:
    other = services.merchant_service.create_merchant("Other")
    key = {"Idempotency-Key": "shared-key-" + uuid.uuid4().hex}
    mine = api.post(
        "/charge",
        charge_body(tokenize(api, merchant.secret_key)),
        key=merchant.secret_key,
        headers=key,
    )
    theirs = api.post(
        "/charge", charge_body(tokenize(api, other.secret_key)), key=other.secret_key, headers=key
    )
    assert mine.status == theirs.status == 201
    assert mine.data["id"] != theirs.data["id"]


def test_validation_failures_are_not_stored(api: Any, merchant: Any) -> None:
    token = tokenize(api, merchant.secret_key)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    bad = api.post("/charge", charge_body(token, amount=0), key=merchant.secret_key, headers=key)
    good = api.post("/charge", charge_body(token), key=merchant.secret_key, headers=key)
    assert (bad.status, good.status) == (400, 201)


def test_state_dependent_refusals_are_stored(api: Any, merchant: Any) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post(
        "/charge", charge_body("tok_unknownToken"), key=merchant.secret_key, headers=key
    )
    second = api.post(
        "/charge", charge_body("tok_unknownToken"), key=merchant.secret_key, headers=key
    )
    assert first.status == second.status == 400
    assert second.headers.get("idempotent-replayed") == "true"


@pytest.mark.parametrize("value", ["", "x" * 256, "tab\there"])
def test_invalid_idempotency_key(api: Any, merchant: Any, value: str) -> None:
    token = tokenize(api, merchant.secret_key)
    response = api.post(
        "/charge", charge_body(token), key=merchant.secret_key, headers={"Idempotency-Key": value}
    )
    assert (response.status, response.error["code"]) == (400, "invalid_idempotency_key")


def test_non_ascii_idempotency_key(client: Any, merchant: Any) -> None:
    # In-process only: HTTP clients cannot put non-latin-1 text in a header at all.
    from tests.helpers import HandlerApi

    api = HandlerApi(client)
    token = tokenize(api, merchant.secret_key)
    response = api.post(
        "/charge", charge_body(token), key=merchant.secret_key, headers={"Idempotency-Key": "café"}
    )
    assert (response.status, response.error["code"]) == (400, "invalid_idempotency_key")


def test_null_and_currency_case_do_not_change_the_fingerprint(api: Any, merchant: Any) -> None:
    token = tokenize(api, merchant.secret_key)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post("/charge", charge_body(token), key=merchant.secret_key, headers=key)
    same = api.post(
        "/charge",
        charge_body(token, currency="usd", description=None, metadata=None),
        key=merchant.secret_key,
        headers=key,
    )
    assert (first.status, same.status) == (201, 201), same.text
    assert same.headers["idempotent-replayed"] == "true"
    assert same.text == first.text
