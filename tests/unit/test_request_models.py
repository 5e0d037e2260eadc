"""Request models -> exact error codes and params (pure: no AWS, no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import ApiError
from chalicelib.id_shapes import has_shape
from chalicelib.models import (
    ChargePath,
    ChargeRequest,
    ListChargesQuery,
    RefundRequest,
    TokenRequest,
)
from chalicelib.web.validation import nesting_depth, parse_json_object, validate
from tests.helpers import FUTURE_YEAR

CARD = {"card_number": "4242424242424242", "exp_month": 12, "exp_year": FUTURE_YEAR, "cvv": "123"}


def code_of(model: Any, values: dict[str, Any]) -> tuple[str, str | None]:
    with pytest.raises(ApiError) as raised:
        validate(model, values)
    return raised.value.code, raised.value.param


def test_unknown_fields_are_reported_before_other_problems() -> None:
    assert code_of(TokenRequest, {**CARD, "cvv": "1", "zzz": 1}) == ("unknown_parameter", "zzz")


def test_fields_are_reported_in_declared_order() -> None:
    values = {**CARD, "card_number": "1", "cvv": "1"}
    assert code_of(TokenRequest, values) == ("invalid_card_number", "card_number")


def test_missing_before_later_fields() -> None:
    assert code_of(ChargeRequest, {"amount": 0, "currency": "USD"}) == (
        "missing_parameter",
        "token",
    )


def test_token_request_normalises_the_number_and_hides_it() -> None:
    model = validate(TokenRequest, {**CARD, "card_number": "4242 4242 4242 4242"})
    assert model.card_number == "4242424242424242"
    assert "4242424242424242" not in repr(model) and "4242424242424242" not in str(model)


def test_currency_is_upper_cased() -> None:
    model = validate(ChargeRequest, {"token": "tok_x", "amount": 1, "currency": "eur"})
    assert model.currency == "EUR"


@pytest.mark.parametrize("amount", [99_999_999, 1])
def test_amount_bounds_accepted(amount: int) -> None:
    assert validate(ChargeRequest, {"token": "tok_x", "amount": amount, "currency": "USD"}).amount


def test_refund_amount_absent_differs_from_null() -> None:
    assert validate(RefundRequest, {"charge_id": "ch_x"}).amount is None
    assert code_of(RefundRequest, {"charge_id": "ch_x", "amount": None}) == (
        "invalid_amount",
        "amount",
    )


@pytest.mark.parametrize("limit", ["1", "100", None])
def test_limit_accepted(limit: str | None) -> None:
    query = validate(ListChargesQuery, {} if limit is None else {"limit": limit})
    assert query.page_size == (int(limit) if limit else 10)


@pytest.mark.parametrize("raw", [b"", b"nul", b"[1]", b"\xff\xfe", b"1e999999"])
def test_bodies_that_are_not_objects(raw: bytes) -> None:
    with pytest.raises(ApiError) as raised:
        parse_json_object(raw)
    assert raised.value.code == "invalid_json"


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"{}", 1),
        (b'{"a":[[1]]}', 3),
        (b'{"a":"[[[[[[[[["}', 1),  # brackets inside strings do not count
        (b'{"a":"\\"[[[["}', 1),  # nor after an escaped quote
        (b"[" * 3000, 3000),
    ],
)
def test_nesting_depth(raw: bytes, depth: int) -> None:
    assert nesting_depth(raw) == depth


def test_nesting_is_bounded_before_parsing() -> None:
    parse_json_object(b'{"a":' + b"[" * 31 + b"]" * 31 + b"}")
    with pytest.raises(ApiError) as raised:
        parse_json_object(b'{"a":' + b"[" * 32 + b"]" * 32 + b"}")
    assert raised.value.code == "invalid_json"


@pytest.mark.parametrize(
    ("prefix", "value", "ok"),
    [
        ("ch", "ch_abcDEF123_-", True),
        ("ch", "ch_" + "a" * 64, True),
        ("ch", "ch_" + "a" * 65, False),
        ("ch", "ch_", False),
        ("ch", "", False),
        ("ch", "tok_abc", False),
        ("ch", "ch_abc\n", False),
        ("ch", "ch_ab c", False),
        ("ch", "ch_é", False),
        ("tok", "tok_abc", True),
    ],
)
def test_id_shapes(prefix: str, value: str, ok: bool) -> None:
    assert has_shape(prefix, value) is ok


def test_one_id_type_answers_per_position() -> None:
    assert code_of(ChargeRequest, {"token": "", "amount": 1, "currency": "USD"}) == (
        "invalid_token",
        "token",
    )
    assert code_of(RefundRequest, {"charge_id": ""}) == ("resource_missing", "charge_id")
    assert code_of(RefundRequest, {"charge_id": 7}) == ("invalid_charge_id", "charge_id")
    assert code_of(ListChargesQuery, {"starting_after": ""}) == (
        "invalid_starting_after",
        "starting_after",
    )
    assert code_of(ChargePath, {"charge_id": "x"}) == ("resource_missing", "id")


@pytest.mark.parametrize("currency", ["uſd", "ＵＳＤ", "usd\n", "US"])
def test_currencies_are_ascii_and_whole(currency: str) -> None:
    values = {"token": "tok_x", "amount": 1, "currency": currency}
    assert code_of(ChargeRequest, values) == ("invalid_currency", "currency")


def test_refund_amount_outside_64_bits_is_malformed() -> None:
    assert validate(RefundRequest, {"charge_id": "ch_x", "amount": 2**63 - 1}).amount
    assert code_of(RefundRequest, {"charge_id": "ch_x", "amount": 2**63}) == (
        "invalid_amount",
        "amount",
    )
