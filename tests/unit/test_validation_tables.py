"""Every validation case of the request models, with its exact code and param (pure).

The exhaustive tables live here, where a case costs microseconds. The handler and HTTP
tests keep one case per code and param, which shows the route answers with the model's
error in the contract's envelope; what only a request can show (raw bytes, headers,
sizes, lookups) stays there.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import CATALOGUE, ApiError
from chalicelib.models import (
    ChargeRequest,
    ListChargesQuery,
    ListEventsQuery,
    RefundRequest,
    TokenRequest,
    WebhookEndpointRequest,
)
from chalicelib.web.validation import validate
from tests.helpers import FUTURE_YEAR, card, charge_body

RECEIVER = "https://merchant.example/webhooks"


def error_of(model: Any, values: dict[str, Any]) -> tuple[int, str, str | None]:
    with pytest.raises(ApiError) as raised:
        validate(model, values)
    return raised.value.status, raised.value.code, raised.value.param


def test_every_code_here_is_a_400_of_the_catalogue() -> None:
    # The tables below check codes and params; the status comes from the catalogue.
    codes = {case[1] for case in TOKEN_CASES + CHARGE_CASES + REFUND_CASES}
    assert {CATALOGUE[code].status for code in codes} == {400}


TOKEN_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"card_number": "4242424242424241"}, "invalid_card_number", "card_number"),
    ({"card_number": "42424242424"}, "invalid_card_number", "card_number"),
    ({"card_number": "4" * 20}, "invalid_card_number", "card_number"),
    ({"card_number": "4242-4242-4242-4242"}, "invalid_card_number", "card_number"),
    ({"card_number": 4242424242424242}, "invalid_card_number", "card_number"),
    ({"card_number": "４２４２４２４２４２４２４２４２"}, "invalid_card_number", "card_number"),
    ({"card_number": "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢"}, "invalid_card_number", "card_number"),
    ({"card_number": "4242424242424242\n"}, "invalid_card_number", "card_number"),
    ({"exp_month": 0}, "invalid_expiry_month", "exp_month"),
    ({"exp_month": 13}, "invalid_expiry_month", "exp_month"),
    ({"exp_month": "12"}, "invalid_expiry_month", "exp_month"),
    ({"exp_month": 12.0}, "invalid_expiry_month", "exp_month"),
    ({"exp_month": True}, "invalid_expiry_month", "exp_month"),
    ({"exp_month": 10**30}, "invalid_expiry_month", "exp_month"),
    ({"exp_year": 31}, "invalid_expiry_year", "exp_year"),
    ({"exp_year": FUTURE_YEAR * 10}, "invalid_expiry_year", "exp_year"),
    ({"exp_year": str(FUTURE_YEAR)}, "invalid_expiry_year", "exp_year"),
    ({"exp_year": False}, "invalid_expiry_year", "exp_year"),
    ({"exp_year": -(10**30)}, "invalid_expiry_year", "exp_year"),
    ({"exp_year": 2020}, "expired_card", "exp_year"),
    ({"cvv": "12"}, "invalid_cvv", "cvv"),
    ({"cvv": "1234"}, "invalid_cvv", "cvv"),
    ({"cvv": "12a"}, "invalid_cvv", "cvv"),
    ({"cvv": 123}, "invalid_cvv", "cvv"),
    ({"cvv": "١٢٣"}, "invalid_cvv", "cvv"),
    ({"card_number": "378282246310005", "cvv": "123"}, "invalid_cvv", "cvv"),
    ({"cardholder_name": "x" * 101}, "invalid_cardholder_name", "cardholder_name"),
    ({"cardholder_name": 7}, "invalid_cardholder_name", "cardholder_name"),
    ({"cardholder_name": "Ana\x00Perez"}, "invalid_cardholder_name", "cardholder_name"),
    ({"cardholder_name": "\ud800"}, "invalid_cardholder_name", "cardholder_name"),
    ({"email": "not-an-email"}, "invalid_email", "email"),
    ({"email": "a@b"}, "invalid_email", "email"),
    ({"email": 5}, "invalid_email", "email"),
    ({"email": "a@x.com\n"}, "invalid_email", "email"),
    ({"email": "a@x.com\x00"}, "invalid_email", "email"),
    ({"email": "ä@x.com"}, "invalid_email", "email"),
    ({"brand": "visa"}, "unknown_parameter", "brand"),
]


@pytest.mark.parametrize(("overrides", "code", "param"), TOKEN_CASES)
def test_token_request(overrides: dict[str, Any], code: str, param: str) -> None:
    assert error_of(TokenRequest, card(**overrides)) == (400, code, param)


@pytest.mark.parametrize("field", ["card_number", "exp_month", "exp_year", "cvv"])
def test_token_request_required_fields(field: str) -> None:
    body = card()
    del body[field]
    assert error_of(TokenRequest, body) == (400, "missing_parameter", field)


CHARGE_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"token": 5}, "invalid_token", "token"),
    ({"token": ""}, "invalid_token", "token"),
    ({"token": "tok_"}, "invalid_token", "token"),
    ({"token": "ch_abc"}, "invalid_token", "token"),
    ({"token": "tok_a b"}, "invalid_token", "token"),
    ({"token": "tok_" + "a" * 65}, "invalid_token", "token"),
    ({"token": "x" * 3000}, "invalid_token", "token"),
    ({"amount": 0}, "invalid_amount", "amount"),
    ({"amount": -5}, "invalid_amount", "amount"),
    ({"amount": 100_000_000}, "invalid_amount", "amount"),
    ({"amount": 25.0}, "invalid_amount", "amount"),
    ({"amount": "2500"}, "invalid_amount", "amount"),
    ({"amount": True}, "invalid_amount", "amount"),
    ({"amount": None}, "invalid_amount", "amount"),
    ({"amount": 10**30}, "invalid_amount", "amount"),
    ({"amount": 2**63}, "invalid_amount", "amount"),
    ({"amount": -(2**64)}, "invalid_amount", "amount"),
    ({"currency": "XXX"}, "invalid_currency", "currency"),
    ({"currency": 840}, "invalid_currency", "currency"),
    ({"currency": "uſd"}, "invalid_currency", "currency"),
    ({"currency": "ＵＳＤ"}, "invalid_currency", "currency"),
    ({"description": "d" * 501}, "invalid_description", "description"),
    ({"description": "Order\x001001"}, "invalid_description", "description"),
    ({"description": "\ud83d"}, "invalid_description", "description"),
    ({"metadata": {f"k{i}": "v" for i in range(21)}}, "invalid_metadata", "metadata"),
    ({"metadata": {"k" * 41: "v"}}, "invalid_metadata", "metadata"),
    ({"metadata": {"k": "v" * 501}}, "invalid_metadata", "metadata"),
    ({"metadata": {"k": 1}}, "invalid_metadata", "metadata"),
    ({"metadata": ["k"]}, "invalid_metadata", "metadata"),
    ({"metadata": {"": "x"}}, "invalid_metadata", "metadata"),
    ({"metadata": {"k": "\ud800"}}, "invalid_metadata", "metadata"),
    ({"metadata": {"\udfff": "v"}}, "invalid_metadata", "metadata"),
    ({"metadata": {"k": "a\x00b"}}, "invalid_metadata", "metadata"),
    ({"metadata": {"k\x00": "v"}}, "invalid_metadata", "metadata"),
    ({"capture": "false"}, "invalid_capture", "capture"),
    ({"capture": 0}, "invalid_capture", "capture"),
    ({"captured": False}, "unknown_parameter", "captured"),
]


@pytest.mark.parametrize(("overrides", "code", "param"), CHARGE_CASES)
def test_charge_request(overrides: dict[str, Any], code: str, param: str) -> None:
    assert error_of(ChargeRequest, {**charge_body("tok_x"), **overrides}) == (400, code, param)


@pytest.mark.parametrize("field", ["token", "amount", "currency"])
def test_charge_request_required_fields(field: str) -> None:
    body = charge_body("tok_x")
    del body[field]
    assert error_of(ChargeRequest, body) == (400, "missing_parameter", field)


REFUND_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"charge_id": "ch_x", "amount": 0}, "invalid_amount", "amount"),
    ({"charge_id": "ch_x", "amount": -100}, "invalid_amount", "amount"),
    ({"charge_id": "ch_x", "amount": 10.5}, "invalid_amount", "amount"),
    ({"charge_id": "ch_x", "amount": "1000"}, "invalid_amount", "amount"),
    ({"charge_id": "ch_x", "amount": None}, "invalid_amount", "amount"),
    ({"charge_id": "ch_x", "amount": True}, "invalid_amount", "amount"),
    ({"charge_id": "ch_x", "amount": 10**30}, "invalid_amount", "amount"),
    ({"charge_id": "ch_x", "reason": "because"}, "invalid_reason", "reason"),
    ({"charge_id": "ch_x", "reason": 1}, "invalid_reason", "reason"),
    ({"charge_id": "ch_x", "note": "x"}, "unknown_parameter", "note"),
    ({"amount": 100}, "missing_parameter", "charge_id"),
    ({"charge_id": 12}, "invalid_charge_id", "charge_id"),
]


@pytest.mark.parametrize(("body", "code", "param"), REFUND_CASES)
def test_refund_request(body: dict[str, Any], code: str, param: str) -> None:
    assert error_of(RefundRequest, body) == (400, code, param)


@pytest.mark.parametrize("charge_id", ["", "ch_", "re_abc", "ch_é", "ch_" + "a" * 3000])
def test_a_charge_id_that_cannot_be_ours_is_an_unknown_charge(charge_id: str) -> None:
    assert error_of(RefundRequest, {"charge_id": charge_id}) == (
        404,
        "resource_missing",
        "charge_id",
    )


@pytest.mark.parametrize(
    ("query", "code", "param"),
    [
        ({"limit": "0"}, "invalid_limit", "limit"),
        ({"limit": "101"}, "invalid_limit", "limit"),
        ({"limit": "abc"}, "invalid_limit", "limit"),
        ({"limit": "-1"}, "invalid_limit", "limit"),
        ({"starting_after": ""}, "invalid_starting_after", "starting_after"),
        ({"starting_after": "tok_abc"}, "invalid_starting_after", "starting_after"),
        ({"starting_after": "ch_\x00"}, "invalid_starting_after", "starting_after"),
        ({"starting_after": "ch_" + "a" * 65}, "invalid_starting_after", "starting_after"),
        ({"colour": "red"}, "unknown_parameter", "colour"),
    ],
)
def test_list_charges_query(query: dict[str, str], code: str, param: str) -> None:
    assert error_of(ListChargesQuery, query) == (400, code, param)


@pytest.mark.parametrize(
    ("query", "code", "param"),
    [
        ({"limit": "0"}, "invalid_limit", "limit"),
        ({"limit": "abc"}, "invalid_limit", "limit"),
        ({"type": "charge.refunded"}, "invalid_type", "type"),
        ({"starting_after": "ch_notanevent"}, "invalid_starting_after", "starting_after"),
        ({"colour": "red"}, "unknown_parameter", "colour"),
    ],
)
def test_list_events_query(query: dict[str, str], code: str, param: str) -> None:
    assert error_of(ListEventsQuery, query) == (400, code, param)


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({}, "missing_parameter", "url"),
        ({"url": RECEIVER, "colour": "red"}, "unknown_parameter", "colour"),
        ({"url": 42}, "invalid_url", "url"),
        ({"url": "https://" + "a" * 2050 + ".com/"}, "invalid_url", "url"),
        ({"url": RECEIVER, "events": []}, "invalid_events", "events"),
        ({"url": RECEIVER, "events": "charge.succeeded"}, "invalid_events", "events"),
        ({"url": RECEIVER, "events": ["charge.refunded"]}, "invalid_events", "events"),
        ({"url": RECEIVER, "events": ["refund.failed"] * 2}, "invalid_events", "events"),
    ],
)
def test_webhook_endpoint_request(body: dict[str, Any], code: str, param: str) -> None:
    assert error_of(WebhookEndpointRequest, body) == (400, code, param)
