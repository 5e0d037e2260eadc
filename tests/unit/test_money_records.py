"""The money records: refund bookkeeping as a property, and their stored items both ways."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.adapters.charge_repository import (
    charge_of,
    charge_to_item,
    charge_values,
    record_of,
    ref_keys,
    ref_of_keys,
    refund_of,
    refund_to_item,
    refund_values,
)
from chalicelib.adapters.dynamo import from_item
from chalicelib.adapters.token_repository import token_of, token_to_item, token_values
from chalicelib.domain.charges import (
    BookkeepingError,
    CardSummary,
    Charge,
    ChargeId,
    ObjectRef,
    Refund,
    RefundId,
    Token,
    TokenId,
)
from chalicelib.domain.lifecycle import Decision

STAMP = "2026-01-02T03:04:05.678Z"
LATER = "2026-01-02T03:04:09.000Z"
CARD = CardSummary(brand="visa", last4="4242", exp_month=12, exp_year=2031)


PENDING_CHARGE = Charge(
    id=ChargeId("ch_1"),
    merchant_id="mer_1",
    status="pending",
    amount=5_000,
    currency="USD",
    card=CARD,
    token_id=TokenId("tok_1"),
    created_at=STAMP,
    updated_at=STAMP,
    bank_requested_at=STAMP,
)


def _charge(**fields: object) -> Charge:
    return dataclasses.replace(PENDING_CHARGE, **fields)


def _succeeded(captured: int) -> Charge:
    return _charge(status="succeeded", amount_captured=captured, refundable=captured)


# ---- refund bookkeeping ----------------------------------------------------------------------

# A step: reserve an amount, or settle the reservation in flight at an index (mod their
# number), refunded or released.
_steps = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "settle"]),
        st.integers(min_value=-5, max_value=12_000),
        st.booleans(),
    ),
    max_size=40,
)


@given(captured=st.integers(min_value=1, max_value=10_000), steps=_steps)
def test_refund_bookkeeping_keeps_every_captured_unit_in_one_place(
    captured: int, steps: list[tuple[str, int, bool]]
) -> None:
    charge = _succeeded(captured)
    in_flight: list[int] = []
    for kind, number, refunded in steps:
        before = charge
        if kind == "reserve":
            amount = number
            if 0 < amount <= charge.refundable:
                charge = charge.reserve(amount, LATER)
                in_flight.append(amount)
                assert charge.refund_count == before.refund_count + 1
            else:
                with pytest.raises(BookkeepingError):
                    charge.reserve(amount, LATER)
        elif in_flight:
            amount = in_flight.pop(number % len(in_flight))
            charge = charge.settle_refund(amount, refunded, LATER)
            assert charge.refund_count == before.refund_count
        assert charge.refundable + charge.amount_reserved + charge.amount_refunded == captured
        assert min(charge.refundable, charge.amount_reserved, charge.amount_refunded) >= 0
        assert charge.amount_reserved == sum(in_flight)
    # Whatever happened, the reservations still in flight can each be settled.
    for amount in in_flight:
        charge = charge.settle_refund(amount, True, LATER)
    assert charge.amount_reserved == 0
    assert charge.refundable + charge.amount_refunded == captured


def test_a_settlement_cannot_take_more_than_is_reserved() -> None:
    charge = _succeeded(1_000).reserve(300, LATER)
    with pytest.raises(BookkeepingError):
        charge.settle_refund(301, True, LATER)
    with pytest.raises(BookkeepingError):
        charge.settle_refund(0, False, LATER)


def test_refunds_take_back_only_captured_money() -> None:
    partly = _charge(status="succeeded", amount=5_000, amount_captured=2_000, refundable=2_000)
    assert partly.refund_refusal(2_001) == "amount_too_large"
    assert partly.refund_refusal(None) is None
    assert _charge(status="authorized").refund_refusal(None) == "charge_not_refundable"
    done = partly.reserve(2_000, LATER).settle_refund(2_000, True, LATER)
    assert done.fully_refunded and done.refund_refusal(None) == "charge_already_refunded"


def test_a_decision_finalizes_by_the_operation_the_charge_waited_for() -> None:
    approved = Decision("succeeded", authorization_code="123456")
    held = _charge(captures=False, capture_before=LATER).finalized(approved, LATER)
    assert (held.status, held.authorization_code, held.amount_captured) == (
        "authorized",
        "123456",
        0,
    )
    capturing = held.begin("capture", 1_500, LATER)
    assert (capturing.status, capturing.operation, capturing.reversing_at) == (
        "pending",
        "capture",
        None,
    )
    captured = capturing.finalized(Decision("succeeded"), LATER)
    assert (captured.status, captured.amount_captured, captured.refundable) == (
        "succeeded",
        1_500,
        1_500,
    )
    assert captured.authorization_code == "123456"  # the authorization's, kept
    voiding = held.begin("void", 0, LATER)
    assert voiding.reversing_at == LATER  # a void is a reversal from the start
    voided = voiding.finalized(Decision("failed", failure_code="processing_error"), LATER)
    assert (voided.status, voided.failure_code, voided.reversing_at) == ("voided", None, None)


# ---- records <-> stored items ----------------------------------------------------------------

FULL_CHARGE = _charge(
    status="succeeded",
    captures=False,
    capture_before=LATER,
    operation="capture",
    capture_amount=4_000,
    amount_captured=4_000,
    amount_refunded=1_000,
    amount_reserved=500,
    refundable=2_500,
    refund_count=2,
    description="Order 7",
    metadata={"order": "7"},
    authorization_code="123456",
    failure_code="generic_decline",
    failure_message="The card was declined.",
    checked_at=STAMP,
    reversing_at=STAMP,
)
FULL_REFUND = Refund(
    id=RefundId("re_1"),
    charge_id=ChargeId("ch_1"),
    merchant_id="mer_1",
    status="failed",
    amount=500,
    currency="USD",
    created_at=STAMP,
    updated_at=LATER,
    bank_requested_at=STAMP,
    reason="requested_by_customer",
    failure_code="processing_error",
    checked_at=STAMP,
    reversing_at=STAMP,
)
FULL_TOKEN = Token(
    id=TokenId("tok_1"),
    merchant_id="mer_1",
    brand="visa",
    last4="4242",
    exp_month=12,
    exp_year=2031,
    fingerprint="fp",
    used=False,
    created_at=STAMP,
    expires_at=LATER,
    expires_epoch=1_767_323_049,
    card_number_ct=b"\x01number",
    cvv_ct=b"\x01cvv",
    holder_ct=b"\x01holder",
)


def _no_field_is_none(record: object) -> None:
    assert dataclasses.is_dataclass(record)
    empty = [f.name for f in dataclasses.fields(record) if getattr(record, f.name) is None]
    assert empty == [], "fill every field, so that the round trip covers it"


def test_every_field_of_a_charge_survives_its_item() -> None:
    _no_field_is_none(FULL_CHARGE)
    assert charge_of(from_item(charge_to_item(FULL_CHARGE))) == FULL_CHARGE
    assert record_of(from_item(charge_to_item(FULL_CHARGE))) == FULL_CHARGE


def test_every_field_of_a_refund_survives_its_item() -> None:
    _no_field_is_none(FULL_REFUND)
    assert refund_of(from_item(refund_to_item(FULL_REFUND))) == FULL_REFUND
    assert record_of(from_item(refund_to_item(FULL_REFUND))) == FULL_REFUND


def test_every_field_of_a_token_survives_its_item() -> None:
    _no_field_is_none(FULL_TOKEN)
    assert token_of(from_item(token_to_item(FULL_TOKEN))) == FULL_TOKEN
    # DynamoDB deletes an expired token by its ``ttl``.
    assert token_values(FULL_TOKEN)["ttl"] == FULL_TOKEN.expires_epoch


def test_absent_values_are_left_out_of_the_item_and_read_back_as_none() -> None:
    charge = _charge()
    item = charge_to_item(charge)
    assert not {"description", "authorization_code", "checked_at", "reversing_at"} & set(item)
    assert charge_of(from_item(item)) == charge
    used = FULL_TOKEN.consumed()
    item = token_to_item(used)
    assert not {"card_number_ct", "cvv_ct", "holder_ct"} & set(item)
    assert token_of(from_item(item)) == used


def test_an_item_written_without_the_optional_attributes_reads_as_what_it_meant() -> None:
    minimal = {
        "pk": "mer_1#ch_1",
        "sk": "charge",
        "charge_id": "ch_1",
        "merchant_id": "mer_1",
        "status": "succeeded",
        "amount": 5_000,
        "currency": "USD",
        "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2031},
        "created_at": STAMP,
        "updated_at": STAMP,
    }
    charge = charge_of(minimal)
    assert (charge.captures, charge.operation, charge.capture_before) == (True, "authorize", None)
    # Captured at once: its amount; nothing refunded, reserved, or counted.
    assert (charge.amount_captured, charge.amount_refunded, charge.amount_reserved) == (
        5_000,
        0,
        0,
    )
    assert (charge.refundable, charge.refund_count, charge.metadata) == (0, 0, {})
    assert charge.bank_requested_at == STAMP
    assert charge_of({**minimal, "status": "failed"}).amount_captured == 0
    refund = refund_of(
        {
            "refund_id": "re_1",
            "charge_id": "ch_1",
            "merchant_id": "mer_1",
            "status": "succeeded",
            "amount": 100,
            "currency": "USD",
            "created_at": STAMP,
            "updated_at": STAMP,
        }
    )
    assert (refund.reason, refund.failure_code, refund.bank_requested_at) == (None, None, STAMP)


def test_only_the_adapter_writes_keys_and_index_keys_by_the_status() -> None:
    pending = charge_values(_charge())
    assert (pending["pk"], pending["sk"], pending["list_pk"]) == ("mer_1#ch_1", "charge", "mer_1")
    assert pending["list_sk"] == f"{STAMP}#ch_1"
    assert str(pending["pending_sk"]).startswith(f"{STAMP}#")
    held = charge_values(_charge(status="authorized", captures=False, capture_before=LATER))
    assert held["pending_sk"] == f"{LATER}#ch_1"  # found by the sweep once its window is over
    assert "pending_pk" not in charge_values(_charge(status="succeeded"))
    refund = refund_values(dataclasses.replace(FULL_REFUND, status="pending"))
    assert (refund["pk"], refund["sk"]) == ("mer_1#ch_1", "refund#re_1")
    assert "list_pk" not in refund and "pending_pk" in refund
    assert "pending_pk" not in refund_values(FULL_REFUND)


@pytest.mark.parametrize(
    "ref",
    [
        ObjectRef(merchant_id="mer_1", charge_id=ChargeId("ch_1")),
        ObjectRef(merchant_id="mer_1", charge_id=ChargeId("ch_1"), refund_id=RefundId("re_2")),
    ],
)
def test_a_reference_and_its_keys_name_each_other(ref: ObjectRef) -> None:
    assert ref_of_keys(*ref_keys(ref)) == ref
    assert ref_keys(FULL_CHARGE.ref) == ("mer_1#ch_1", "charge")
    assert ref_keys(FULL_REFUND.ref) == ("mer_1#ch_1", "refund#re_1")


def test_no_card_data_in_a_tokens_repr() -> None:
    text = repr(FULL_TOKEN)
    assert "number" not in text and "cvv" not in text and "holder" not in text
