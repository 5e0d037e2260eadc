"""One contract for the bank, held by both ``FakeBank`` and the mock bank.

Every test taking ``bank`` runs twice: against ``tests.fakes.FakeBank`` and against the
mock bank (mountebank, ``mountebank/bank.js``) through the real ``BankClient``. What a
service sees of the bank is the classified ``BankOutcome``, so the asserts are on those:
a fake that drifts from the mock bank fails here, not in a service test that trusts it.
Scripted faults exist only in the fake; they are tested at the end.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.bank_client import BankClient, BankOutcome, CardDetails
from chalicelib.ports import Bank
from tests.fakes import CARD_DECLINES, FakeBank

# The port is what the services depend on; the fake is one (mypy checks this in make lint).
_: Bank = FakeBank()

VISA = "4242424242424242"
APPROVED_CARDS = [
    "4242424242424242",
    "4111111111111111",
    "5555555555554444",
    "378282246310005",
    "6011111111111117",
]
ERROR = "4000000000000119"
REFUNDS_DECLINED = "4000000000005126"
REFUNDS_ERROR = "4000000000005423"
CAPTURE_DECLINED = "4000000000000341"

NOT_FOUND = BankOutcome("not_found")
REVERSED = BankOutcome("reversed")
UNKNOWN = BankOutcome("unknown")


def declined(code: str) -> BankOutcome:
    return BankOutcome("declined", decline_code=code)


@pytest.fixture(params=["fake", "mountebank"])
def bank(request: pytest.FixtureRequest) -> Bank:
    if request.param == "fake":
        return FakeBank()
    bank_url: str = request.getfixturevalue("bank_url")
    return BankClient(bank_url, connect_timeout=1.0, read_timeout=3.0)


def ref(prefix: str = "ch") -> str:
    """A reference neither bank has seen (the mock bank's ledger lives the whole session)."""
    return f"{prefix}_contract_{uuid.uuid4().hex}"


def card(number: str = VISA) -> CardDetails:
    return CardDetails(
        number, 12, datetime.now(UTC).year + 3, "1234" if number[0] == "3" else "123"
    )


def hold_until(delta: timedelta = timedelta(days=1)) -> str:
    return (datetime.now(UTC) + delta).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def approved(bank: Bank, amount: int = 10_000, *, held: bool = False) -> tuple[str, str]:
    """A new approved authorization: its reference and authorization code."""
    reference = ref()
    outcome = bank.authorize(reference, amount, "USD", card(), hold_until() if held else None)
    assert outcome.kind == "approved" and outcome.authorization_code, outcome
    return reference, outcome.authorization_code


# ---- authorizations ----------------------------------------------------------------------


@pytest.mark.parametrize("number", APPROVED_CARDS)
def test_approving_cards_are_approved_and_the_status_says_so(bank: Bank, number: str) -> None:
    reference = ref()
    assert bank.authorization_status(reference) == NOT_FOUND
    outcome = bank.authorize(reference, 2_500, "USD", card(number))
    assert outcome.kind == "approved", outcome
    assert outcome.authorization_code and outcome.decline_code is None
    assert bank.authorization_status(reference) == outcome


@pytest.mark.parametrize(("number", "code"), sorted(CARD_DECLINES.items()))
def test_declining_cards_give_their_decline_code(bank: Bank, number: str, code: str) -> None:
    reference = ref()
    assert bank.authorize(reference, 2_500, "USD", card(number)) == declined(code)
    assert bank.authorization_status(reference) == declined(code)


def test_a_repeat_by_reference_is_the_same_operation(bank: Bank) -> None:
    reference, code = approved(bank, 2_500)
    # Whatever the rest of the request says, the stored answer comes back.
    again = bank.authorize(reference, 9_999, "EUR", card("4000000000000002"))
    assert again == BankOutcome("approved", authorization_code=code)
    refused = ref()
    assert bank.authorize(refused, 2_500, "USD", card("4000000000009995")) == declined(
        "insufficient_funds"
    )
    assert bank.authorize(refused, 2_500, "USD", card(VISA)) == declined("insufficient_funds")


def test_the_error_card_is_unknown_and_leaves_no_record(bank: Bank) -> None:
    reference = ref()
    assert bank.authorize(reference, 2_500, "USD", card(ERROR)) == UNKNOWN
    assert bank.authorization_status(reference) == NOT_FOUND
    # Nothing was recorded, so a retry is evaluated afresh (and fails alike).
    assert bank.authorize(reference, 2_500, "USD", card(ERROR)) == UNKNOWN


# ---- reversals -----------------------------------------------------------------------------


def test_a_reversed_reference_the_bank_never_saw_is_refused_for_good(bank: Bank) -> None:
    reference = ref()
    assert bank.reverse_authorization(reference) == REVERSED
    assert bank.authorization_status(reference) == REVERSED
    # A request the network delayed arrives after the reversal: it moves no money.
    assert bank.authorize(reference, 2_500, "USD", card()) == REVERSED
    assert bank.reverse_authorization(reference) == REVERSED


def test_a_reversed_approval_is_voided_and_refused_from_then_on(bank: Bank) -> None:
    reference, _ = approved(bank)
    assert bank.reverse_authorization(reference) == REVERSED
    assert bank.authorization_status(reference) == REVERSED
    assert bank.authorize(reference, 10_000, "USD", card()) == REVERSED
    assert bank.refund(ref("re"), reference, 1) == declined("authorization_not_approved")
    assert bank.reverse_authorization(reference) == REVERSED


# ---- refunds -------------------------------------------------------------------------------


def test_refunds_within_the_authorization_never_beyond_it(bank: Bank) -> None:
    authorization, _ = approved(bank, 10_000)
    over, first, rest = ref("re"), ref("re"), ref("re")
    assert bank.refund_status(first) == NOT_FOUND
    assert bank.refund(over, authorization, 10_001) == declined("amount_exceeds_authorization")
    assert bank.refund_status(over) == declined("amount_exceeds_authorization")
    assert bank.refund(first, authorization, 4_000) == BankOutcome("approved")
    assert bank.refund_status(first) == BankOutcome("approved")
    # A repeat is the same refund: it does not count twice against the authorization.
    assert bank.refund(first, authorization, 4_000) == BankOutcome("approved")
    assert bank.refund(ref("re"), authorization, 6_001) == declined("amount_exceeds_authorization")
    assert bank.refund(rest, authorization, 6_000) == BankOutcome("approved")
    assert bank.refund(ref("re"), authorization, 1) == declined("amount_exceeds_authorization")


def test_refunds_of_no_authorization_or_a_declined_one_are_declined(bank: Bank) -> None:
    assert bank.refund(ref("re"), ref(), 100) == declined("authorization_not_found")
    refused = ref()
    bank.authorize(refused, 2_500, "USD", card("4000000000000002"))
    assert bank.refund(ref("re"), refused, 100) == declined("authorization_not_approved")
    authorization = ref()
    bank.authorize(authorization, 2_500, "USD", card(REFUNDS_DECLINED))
    refund = ref("re")
    assert bank.refund(refund, authorization, 100) == declined("refund_declined")
    assert bank.refund_status(refund) == declined("refund_declined")


def test_a_reversed_refund_gives_its_amount_back_and_is_refused(bank: Bank) -> None:
    authorization, _ = approved(bank, 5_000)
    refund = ref("re")
    assert bank.refund(refund, authorization, 5_000) == BankOutcome("approved")
    assert bank.reverse_refund(refund) == REVERSED
    assert bank.refund_status(refund) == REVERSED
    assert bank.refund(refund, authorization, 5_000) == REVERSED
    assert bank.refund(ref("re"), authorization, 5_000) == BankOutcome("approved")
    unseen = ref("re")
    assert bank.reverse_refund(unseen) == REVERSED
    assert bank.refund(unseen, authorization, 1) == REVERSED


def test_the_refund_error_card_is_unknown_and_leaves_no_record(bank: Bank) -> None:
    authorization = ref()
    bank.authorize(authorization, 2_500, "USD", card(REFUNDS_ERROR))
    refund = ref("re")
    assert bank.refund(refund, authorization, 1_000) == UNKNOWN
    assert bank.refund_status(refund) == NOT_FOUND


# ---- holds, captures and voids ------------------------------------------------------------


def test_a_hold_is_captured_once_partially_and_refundable_up_to_the_capture(bank: Bank) -> None:
    authorization, code = approved(bank, 5_000, held=True)
    assert bank.capture_status(authorization) == NOT_FOUND
    # Nothing captured yet: nothing to refund.
    assert bank.refund(ref("re"), authorization, 1) == declined("amount_exceeds_authorization")
    captured = BankOutcome("approved", authorization_code=code)
    assert bank.capture(authorization, 1_500) == captured
    assert bank.capture_status(authorization) == captured
    # One capture per authorization: a repeat answers the first, whatever its amount.
    assert bank.capture(authorization, 5_000) == captured
    assert bank.authorization_status(authorization) == captured
    assert bank.refund(ref("re"), authorization, 1_501) == declined("amount_exceeds_authorization")
    assert bank.refund(ref("re"), authorization, 1_500) == BankOutcome("approved")


def test_a_capture_beyond_the_hold_is_declined_and_is_the_one_capture(bank: Bank) -> None:
    authorization, _ = approved(bank, 5_000, held=True)
    assert bank.capture(authorization, 5_001) == declined("amount_exceeds_authorization")
    assert bank.capture_status(authorization) == declined("amount_exceeds_authorization")
    assert bank.capture(authorization, 5_000) == declined("amount_exceeds_authorization")


def test_captures_the_bank_declines(bank: Bank) -> None:
    assert bank.capture(ref(), 100) == declined("authorization_not_found")
    at_once, _ = approved(bank, 2_000)
    assert bank.capture(at_once, 100) == declined("not_capturable")
    refusing = ref()
    bank.authorize(refusing, 2_000, "USD", card(CAPTURE_DECLINED), hold_until())
    assert bank.capture(refusing, 2_000) == declined("capture_declined")
    assert bank.capture_status(refusing) == declined("capture_declined")
    expired = ref()
    bank.authorize(expired, 2_000, "USD", card(), hold_until(-timedelta(minutes=5)))
    assert bank.capture(expired, 2_000) == declined("authorization_expired")


def test_a_voided_hold_can_never_be_captured(bank: Bank) -> None:
    authorization, _ = approved(bank, 3_000, held=True)
    assert bank.reverse_authorization(authorization) == REVERSED
    assert bank.authorization_status(authorization) == REVERSED
    assert bank.capture(authorization, 3_000) == REVERSED
    assert bank.capture_status(authorization) == REVERSED


def test_a_reversal_after_a_capture_undoes_it(bank: Bank) -> None:
    authorization, _ = approved(bank, 3_000, held=True)
    assert bank.capture(authorization, 3_000).kind == "approved"
    assert bank.reverse_authorization(authorization) == REVERSED
    assert bank.capture_status(authorization) == REVERSED
    assert bank.refund(ref("re"), authorization, 1) == declined("authorization_not_approved")


# ---- scripted faults (the fake only) -------------------------------------------------------


def test_not_sent_reaches_nothing_and_is_used_up() -> None:
    bank = FakeBank()
    bank.fail_next("authorize", "not_sent")
    reference = ref()
    assert bank.authorize(reference, 2_500, "USD", card()) == BankOutcome("not_sent")
    assert bank.authorization_status(reference) == NOT_FOUND
    assert bank.authorize(reference, 2_500, "USD", card()).kind == "approved"


def test_unknown_after_acting_moved_the_money() -> None:
    bank = FakeBank()
    authorization, _ = approved(bank, 4_000)
    bank.fail_next("refund", "unknown_after_acting")
    refund = ref("re")
    assert bank.refund(refund, authorization, 4_000) == UNKNOWN
    assert bank.refund_status(refund) == BankOutcome("approved")
    assert bank.refund(ref("re"), authorization, 1) == declined("amount_exceeds_authorization")


def test_unknown_without_acting_left_no_record() -> None:
    bank = FakeBank()
    bank.fail_next("authorize", "unknown_without_acting")
    reference = ref()
    assert bank.authorize(reference, 2_500, "USD", card()) == UNKNOWN
    assert bank.authorization_status(reference) == NOT_FOUND


def test_faults_apply_to_their_own_operation_in_order() -> None:
    bank = FakeBank()
    reference, _ = approved(bank)
    bank.fail_next("reverse_authorization", "unknown_after_acting")
    bank.fail_next("reverse_authorization", "not_sent")
    assert bank.authorization_status(reference).kind == "approved"
    assert bank.reverse_authorization(reference) == UNKNOWN
    assert bank.authorization_status(reference) == REVERSED  # it acted
    assert bank.reverse_authorization(reference) == BankOutcome("not_sent")
    assert bank.reverse_authorization(reference) == REVERSED
    assert bank.received("reverse_authorization", reference) == 3
