"""Protocol tests of the mock bank's holds: authorizations with ``capture: false``, their
capture by reference, their void (the reversal) and their expiry in the bank's own ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.test_bank_protocol import (
    APPROVED_CARD,
    _card,
    _ref,
    _request,
    get_authorization,
    refund,
    reverse,
)

pytestmark = pytest.mark.integration

CAPTURE_DECLINED_CARD = "4000000000000341"


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def hold(
    bank_url: str, number: str = APPROVED_CARD, amount: int = 2500, until: datetime | None = None
) -> str:
    reference = _ref("ch")
    body = {
        "reference": reference,
        "amount": amount,
        "currency": "USD",
        "card": _card(number),
        "capture": False,
        "hold_until": _iso(until or datetime.now(UTC) + timedelta(days=7)),
    }
    status, answer = _request("POST", f"{bank_url}/authorizations", body)
    assert (status, answer["status"]) == (200, "approved"), answer
    return reference


def capture(bank_url: str, reference: str, amount: int) -> tuple[int, dict]:
    return _request("POST", f"{bank_url}/authorizations/{reference}/capture", {"amount": amount})


def capture_status(bank_url: str, reference: str) -> tuple[int, dict]:
    return _request("GET", f"{bank_url}/authorizations/{reference}/capture")


def test_a_hold_is_approved_and_held(bank_url):
    reference = hold(bank_url)
    status, ledger = get_authorization(bank_url, reference)
    assert status == 200
    assert (ledger["status"], ledger["hold"], ledger["amount_captured"]) == ("approved", "held", 0)
    assert capture_status(bank_url, reference)[0] == 404  # no capture yet


def test_nothing_is_refundable_before_the_capture(bank_url):
    reference = hold(bank_url)
    assert refund(bank_url, reference, 1)[1]["decline_code"] == "amount_exceeds_authorization"


def test_a_partial_capture_releases_the_rest_and_is_idempotent(bank_url):
    reference = hold(bank_url, amount=2500)
    status, answer = capture(bank_url, reference, 1500)
    assert (status, answer["status"], answer["amount"]) == (200, "approved", 1500)
    # A repeat with the same reference is the same capture, whatever its amount.
    assert capture(bank_url, reference, 2500)[1] == answer
    assert capture_status(bank_url, reference)[1]["status"] == "approved"
    ledger = get_authorization(bank_url, reference)[1]
    assert (ledger["hold"], ledger["amount_captured"]) == ("captured", 1500)
    assert refund(bank_url, reference, 1501)[1]["decline_code"] == "amount_exceeds_authorization"
    assert refund(bank_url, reference, 1500)[1]["status"] == "approved"


def test_a_capture_above_the_hold_is_declined_and_changes_nothing(bank_url):
    reference = hold(bank_url, amount=2500)
    answer = capture(bank_url, reference, 2501)[1]
    assert (answer["status"], answer["decline_code"]) == (
        "declined",
        "amount_exceeds_authorization",
    )
    assert get_authorization(bank_url, reference)[1]["hold"] == "held"


def test_the_capture_test_card_is_declined_and_its_hold_released(bank_url):
    reference = hold(bank_url, CAPTURE_DECLINED_CARD)
    answer = capture(bank_url, reference, 2500)[1]
    assert (answer["status"], answer["decline_code"]) == ("declined", "capture_declined")
    assert capture_status(bank_url, reference)[1]["decline_code"] == "capture_declined"
    assert get_authorization(bank_url, reference)[1]["hold"] == "released"


def test_a_void_is_the_reversal(bank_url):
    reference = hold(bank_url)
    status, answer = reverse(bank_url, "authorizations", reference)
    assert (status, answer["status"]) == (200, "reversed")
    ledger = get_authorization(bank_url, reference)[1]
    assert (ledger["status"], ledger["hold"], ledger["amount_captured"]) == (
        "reversed",
        "released",
        0,
    )
    # No capture is ever taken from it, and its capture reads reversed.
    assert capture(bank_url, reference, 100)[1]["decline_code"] == "reversed"
    assert capture_status(bank_url, reference)[1]["status"] == "reversed"


def test_a_reversal_undoes_a_capture(bank_url):
    reference = hold(bank_url)
    assert capture(bank_url, reference, 2500)[1]["status"] == "approved"
    reverse(bank_url, "authorizations", reference)
    assert capture_status(bank_url, reference)[1]["status"] == "reversed"
    assert get_authorization(bank_url, reference)[1]["amount_captured"] == 0


def test_an_expired_hold_is_released_by_the_bank(bank_url):
    reference = hold(bank_url, until=datetime.now(UTC) - timedelta(minutes=2))
    assert get_authorization(bank_url, reference)[1]["hold"] == "released"
    answer = capture(bank_url, reference, 100)[1]
    assert (answer["status"], answer["decline_code"]) == ("declined", "authorization_expired")


def test_an_unheld_authorization_cannot_be_captured(bank_url):
    status, answer = _request(
        "POST",
        f"{bank_url}/authorizations",
        {"reference": (reference := _ref("ch")), "amount": 100, "card": _card(APPROVED_CARD)},
    )
    assert answer["status"] == "approved"
    assert capture(bank_url, reference, 100)[1]["decline_code"] == "not_capturable"
    assert capture(bank_url, _ref("ch"), 100)[1]["decline_code"] == "authorization_not_found"


@pytest.mark.parametrize("body", [{}, {"amount": 0}, {"amount": 1.5}, {"amount": "1"}])
def test_a_malformed_capture_is_400(bank_url, body):
    reference = hold(bank_url)
    assert _request("POST", f"{bank_url}/authorizations/{reference}/capture", body)[0] == 400
    assert get_authorization(bank_url, reference)[1]["hold"] == "held"
