"""Protocol tests for the mock bank (mountebank imposter built from mountebank/bank.js).

The fixtures ``bank_url`` (e.g. "http://127.0.0.1:4545") and ``mb_admin_url``
(e.g. "http://127.0.0.1:2525") are provided by the project's conftest, which
starts mountebank and creates the imposter.  The imposter is shared by all
tests, so every test uses its own unique references.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from tests.helpers import FUTURE_YEAR

pytestmark = pytest.mark.integration

APPROVED_CARD = "4242424242424242"
SLOW_CARD = "4000000000001000"
ERROR_CARD = "4000000000000119"
REFUNDS_DECLINED_CARD = "4000000000005126"
REFUNDS_SLOW_CARD = "4000000000007726"
REFUNDS_ERROR_CARD = "4000000000005423"

DECLINE_CARDS = [
    ("4000000000000002", "generic_decline"),
    ("4000000000009995", "insufficient_funds"),
    ("4000000000009987", "lost_card"),
    ("4000000000009979", "stolen_card"),
    ("4000000000000069", "expired_card"),
    ("4000000000000127", "incorrect_cvc"),
]

TIMEOUT = 15


def _request(method: str, url: str, body: object | bytes | None = None) -> tuple[int, dict]:
    if body is None:
        data = None
    elif isinstance(body, bytes):
        data = body
    else:
        data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read() or b"null")


def _ref(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _card(number: str) -> dict:
    return {"number": number, "exp_month": 12, "exp_year": FUTURE_YEAR, "cvv": "123"}


def authorize(
    bank_url: str,
    number: str = APPROVED_CARD,
    amount: int = 2500,
    reference: str | None = None,
    currency: str = "USD",
) -> tuple[int, dict]:
    body = {
        "reference": reference or _ref("ch"),
        "amount": amount,
        "currency": currency,
        "card": _card(number),
    }
    return _request("POST", f"{bank_url}/authorizations", body)


def refund(
    bank_url: str, authorization_reference: str, amount: int, reference: str | None = None
) -> tuple[int, dict]:
    body = {
        "reference": reference or _ref("re"),
        "authorization_reference": authorization_reference,
        "amount": amount,
    }
    return _request("POST", f"{bank_url}/refunds", body)


def get_authorization(bank_url: str, reference: str) -> tuple[int, dict]:
    return _request("GET", f"{bank_url}/authorizations/{urllib.parse.quote(reference, safe='')}")


def get_refund(bank_url: str, reference: str) -> tuple[int, dict]:
    return _request("GET", f"{bank_url}/refunds/{urllib.parse.quote(reference, safe='')}")


def _approved_authorization(bank_url: str, number: str = APPROVED_CARD, amount: int = 2500) -> str:
    status, body = authorize(bank_url, number=number, amount=amount)
    assert status == 200
    assert body["status"] == "approved"
    return body["reference"]


# --- authorizations -------------------------------------------------------


def test_authorization_approved(bank_url):
    reference = _ref("ch")
    status, body = authorize(bank_url, reference=reference, amount=2500)
    assert status == 200
    assert body["reference"] == reference
    assert body["status"] == "approved"
    assert re.fullmatch(r"[A-Z0-9]{6}", body["authorization_code"])
    assert body["amount"] == 2500
    assert body["currency"] == "USD"
    assert "decline_code" not in body


@pytest.mark.parametrize("number,decline_code", DECLINE_CARDS)
def test_authorization_declined(bank_url, number, decline_code):
    reference = _ref("ch")
    status, body = authorize(bank_url, number=number, reference=reference)
    assert status == 200
    assert body == {"reference": reference, "status": "declined", "decline_code": decline_code}

    status, stored = get_authorization(bank_url, reference)
    assert status == 200
    assert stored["status"] == "declined"
    assert stored["decline_code"] == decline_code
    assert "authorization_code" not in stored


def test_refunds_declined_card_is_approved(bank_url):
    status, body = authorize(bank_url, number=REFUNDS_DECLINED_CARD)
    assert status == 200
    assert body["status"] == "approved"


def test_internal_error_card_records_nothing(bank_url):
    reference = _ref("ch")
    status, body = authorize(bank_url, number=ERROR_CARD, reference=reference)
    assert status == 500
    assert body == {"error": "internal_error"}

    status, body = get_authorization(bank_url, reference)
    assert status == 404
    assert body == {"error": "not_found"}


def test_authorization_status_query(bank_url):
    reference = _ref("ch")
    _, answer = authorize(bank_url, reference=reference, amount=4200, currency="EUR")
    status, body = get_authorization(bank_url, reference)
    assert status == 200
    assert body == {
        "reference": reference,
        "status": "approved",
        "authorization_code": answer["authorization_code"],
        "amount": 4200,
        "currency": "EUR",
        "amount_refunded": 0,
        "voided": False,
    }


def test_unknown_authorization_is_404(bank_url):
    status, body = get_authorization(bank_url, _ref("ch"))
    assert status == 404
    assert body == {"error": "not_found"}


def test_authorization_replay_by_reference(bank_url):
    reference = _ref("ch")
    status1, first = authorize(bank_url, reference=reference, amount=2500)
    # Same reference, different details: it is the same operation, the stored
    # answer is replayed and the ledger is not changed.
    status2, second = authorize(
        bank_url, reference=reference, amount=9999, number="4000000000000002"
    )
    assert status1 == status2 == 200
    assert second == first

    _, stored = get_authorization(bank_url, reference)
    assert stored["amount"] == 2500
    assert stored["status"] == "approved"
    assert stored["authorization_code"] == first["authorization_code"]


def test_declined_authorization_replay(bank_url):
    reference = _ref("ch")
    _, first = authorize(bank_url, number="4000000000009995", reference=reference)
    _, second = authorize(bank_url, number=APPROVED_CARD, reference=reference)
    assert second == first
    assert second["decline_code"] == "insufficient_funds"


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"",
        b"[]",
        {"amount": 2500, "currency": "USD", "card": {"number": APPROVED_CARD}},
        {"reference": "REF", "currency": "USD", "card": {"number": APPROVED_CARD}},
        {"reference": "REF", "amount": 2500, "currency": "USD"},
        {"reference": "REF", "amount": 2500, "currency": "USD", "card": {"cvv": "123"}},
    ],
)
def test_authorization_bad_request_records_nothing(bank_url, payload):
    reference = _ref("ch")
    if isinstance(payload, dict) and "reference" in payload:
        payload = dict(payload, reference=reference)
    status, body = _request("POST", f"{bank_url}/authorizations", payload)
    assert status == 400
    assert body == {"error": "bad_request"}
    assert get_authorization(bank_url, reference)[0] == 404


def test_slow_card_recorded_before_answer(bank_url):
    """The slow card is approved at once in the ledger; the HTTP answer takes ~8 s."""
    reference = _ref("ch")
    result: dict = {}

    def send():
        started = time.monotonic()
        result["answer"] = authorize(bank_url, number=SLOW_CARD, reference=reference)
        result["elapsed"] = time.monotonic() - started

    worker = threading.Thread(target=send, daemon=True)
    worker.start()
    try:
        time.sleep(1.0)
        status, stored = get_authorization(bank_url, reference)
        assert status == 200
        assert stored["status"] == "approved"

        # A replay of the same reference is answered immediately from the ledger.
        started = time.monotonic()
        status, replay = authorize(bank_url, number=SLOW_CARD, reference=reference)
        assert time.monotonic() - started < 2
        assert status == 200
        assert replay["authorization_code"] == stored["authorization_code"]
    finally:
        worker.join(timeout=TIMEOUT)

    assert not worker.is_alive()
    status, answer = result["answer"]
    assert status == 200
    assert answer == replay
    assert result["elapsed"] >= 7


# --- refunds --------------------------------------------------------------


def test_refund_approved(bank_url):
    auth_ref = _approved_authorization(bank_url, amount=2500)
    reference = _ref("re")
    status, body = refund(bank_url, auth_ref, 1000, reference=reference)
    assert status == 200
    assert body == {
        "reference": reference,
        "status": "approved",
        "amount": 1000,
        "authorization_reference": auth_ref,
    }
    _, auth = get_authorization(bank_url, auth_ref)
    assert auth["amount_refunded"] == 1000

    status, stored = get_refund(bank_url, reference)
    assert status == 200
    assert stored == {**body, "voided": False}


def test_partial_refunds_sum_and_over_refund(bank_url):
    auth_ref = _approved_authorization(bank_url, amount=2500)
    assert refund(bank_url, auth_ref, 1000)[1]["status"] == "approved"
    assert refund(bank_url, auth_ref, 1000)[1]["status"] == "approved"

    # 500 left: 501 is too much, and a declined refund does not count.
    over_ref = _ref("re")
    status, body = refund(bank_url, auth_ref, 501, reference=over_ref)
    assert status == 200
    assert body == {
        "reference": over_ref,
        "status": "declined",
        "decline_code": "amount_exceeds_authorization",
    }
    status, stored = get_refund(bank_url, over_ref)
    assert status == 200
    assert stored["status"] == "declined"
    assert stored["decline_code"] == "amount_exceeds_authorization"
    assert stored["amount"] == 501
    assert stored["authorization_reference"] == auth_ref

    assert get_authorization(bank_url, auth_ref)[1]["amount_refunded"] == 2000
    assert refund(bank_url, auth_ref, 500)[1]["status"] == "approved"
    assert get_authorization(bank_url, auth_ref)[1]["amount_refunded"] == 2500
    assert refund(bank_url, auth_ref, 1)[1]["decline_code"] == "amount_exceeds_authorization"


def test_refund_more_than_authorized(bank_url):
    auth_ref = _approved_authorization(bank_url, amount=2500)
    _, body = refund(bank_url, auth_ref, 2501)
    assert body["status"] == "declined"
    assert body["decline_code"] == "amount_exceeds_authorization"
    assert get_authorization(bank_url, auth_ref)[1]["amount_refunded"] == 0


def test_refund_declined_card(bank_url):
    auth_ref = _approved_authorization(bank_url, number=REFUNDS_DECLINED_CARD)
    _, body = refund(bank_url, auth_ref, 100)
    assert body["status"] == "declined"
    assert body["decline_code"] == "refund_declined"
    assert get_authorization(bank_url, auth_ref)[1]["amount_refunded"] == 0


def test_refund_unknown_authorization(bank_url):
    _, body = refund(bank_url, _ref("ch"), 100)
    assert body["status"] == "declined"
    assert body["decline_code"] == "authorization_not_found"


def test_refund_of_declined_authorization(bank_url):
    reference = _ref("ch")
    authorize(bank_url, number="4000000000000002", reference=reference)
    _, body = refund(bank_url, reference, 100)
    assert body["status"] == "declined"
    assert body["decline_code"] == "authorization_not_approved"


def test_refund_replay_by_reference(bank_url):
    auth_ref = _approved_authorization(bank_url, amount=2500)
    reference = _ref("re")
    _, first = refund(bank_url, auth_ref, 1000, reference=reference)
    _, second = refund(bank_url, auth_ref, 1000, reference=reference)
    _, third = refund(bank_url, auth_ref, 5000, reference=reference)
    assert first["status"] == "approved"
    assert second == first
    assert third == first
    assert get_authorization(bank_url, auth_ref)[1]["amount_refunded"] == 1000


def test_declined_refund_replay_is_not_reevaluated(bank_url):
    auth_ref = _ref("ch")
    reference = _ref("re")
    _, first = refund(bank_url, auth_ref, 100, reference=reference)
    assert first["decline_code"] == "authorization_not_found"
    # The authorization now exists, but the refund reference already has an answer.
    authorize(bank_url, reference=auth_ref)
    _, second = refund(bank_url, auth_ref, 100, reference=reference)
    assert second == first
    assert get_authorization(bank_url, auth_ref)[1]["amount_refunded"] == 0


def test_unknown_refund_is_404(bank_url):
    status, body = get_refund(bank_url, _ref("re"))
    assert status == 404
    assert body == {"error": "not_found"}


@pytest.mark.parametrize(
    "payload",
    [
        b"{",
        {"authorization_reference": "ch_x", "amount": 100},
        {"reference": "REF", "amount": 100},
        {"reference": "REF", "authorization_reference": "ch_x"},
    ],
)
def test_refund_bad_request_records_nothing(bank_url, payload):
    reference = _ref("re")
    if isinstance(payload, dict) and "reference" in payload:
        payload = dict(payload, reference=reference)
    status, body = _request("POST", f"{bank_url}/refunds", payload)
    assert status == 400
    assert body == {"error": "bad_request"}
    assert get_refund(bank_url, reference)[0] == 404


# --- routing and recording ------------------------------------------------


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/"),
        ("GET", "/authorizations"),
        ("GET", "/refunds"),
        ("DELETE", "/authorizations/ch_x"),
        ("POST", "/captures"),
        ("GET", "/authorizations/ch_x/extra"),
    ],
)
def test_anything_else_is_404(bank_url, method, path):
    status, body = _request(method, f"{bank_url}{path}", {} if method == "POST" else None)
    assert status == 404
    assert body == {"error": "not_found"}


def test_the_bank_counts_operations_per_reference(bank_url):
    reference = _ref("ch")
    assert _request("GET", f"{bank_url}/_stats/{reference}") == (
        200,
        {"reference": reference, "received": {}},
    )
    authorize(bank_url, reference=reference)
    authorize(bank_url, reference=reference)  # a replay is still a request received
    _request("GET", f"{bank_url}/authorizations/{reference}")
    status, stats = _request("GET", f"{bank_url}/_stats/{reference}")
    assert status == 200
    assert stats["received"] == {"POST /authorizations": 2, "GET /authorizations": 1}
    status, totals = _request("GET", f"{bank_url}/_stats")
    assert status == 200 and totals["received"]["POST /authorizations"] >= 2


def test_mountebank_keeps_no_request_and_no_card_number(bank_url, mb_admin_url):
    """The admin API serves neither recorded requests nor the card numbers sent."""
    number = "5555555555554444"  # not one of the numbers bank.js itself names
    authorize(bank_url, number=number, reference=_ref("ch"))
    port = urllib.parse.urlsplit(bank_url).port
    status, imposter = _request("GET", f"{mb_admin_url}/imposters/{port}")
    assert status == 200
    assert imposter["recordRequests"] is False
    assert imposter.get("requests", []) == []
    assert number not in json.dumps(imposter)


# ---- reversals ---------------------------------------------------------------------------


def reverse(bank_url: str, kind: str, reference: str) -> tuple[int, dict]:
    return _request("POST", f"{bank_url}/{kind}/{urllib.parse.quote(reference)}/reversal", {})


def test_a_reversal_before_the_authorization_makes_the_bank_refuse_it(bank_url):
    reference = _ref("ch")
    status, body = reverse(bank_url, "authorizations", reference)
    assert (status, body) == (200, {"reference": reference, "status": "reversed", "voided": False})
    # The late request with that reference arrives after the reversal: nothing is charged.
    status, late = authorize(bank_url, reference=reference, amount=900)
    assert (status, late["status"], late["decline_code"]) == (200, "declined", "reversed")
    _, record = get_authorization(bank_url, reference)
    assert (record["status"], record["amount"]) == ("reversed", 0)


def test_a_reversal_voids_an_approved_authorization(bank_url):
    reference = _approved_authorization(bank_url, amount=2500)
    status, body = reverse(bank_url, "authorizations", reference)
    assert (status, body["status"], body["voided"]) == (200, "reversed", True)
    _, record = get_authorization(bank_url, reference)
    assert (record["status"], record["voided"]) == ("reversed", True)
    # Nothing can be refunded from a voided authorization, and a repeat stays refused.
    assert refund(bank_url, reference, 100)[1]["decline_code"] == "authorization_not_approved"
    assert authorize(bank_url, reference=reference, amount=2500)[1]["status"] == "declined"
    assert reverse(bank_url, "authorizations", reference)[1]["voided"] is True


def test_a_refund_reversal_gives_the_amount_back_to_the_authorization(bank_url):
    auth_ref = _approved_authorization(bank_url, amount=2500)
    refund_ref = _ref("re")
    assert refund(bank_url, auth_ref, 1000, reference=refund_ref)[1]["status"] == "approved"
    status, body = reverse(bank_url, "refunds", refund_ref)
    assert (status, body["voided"]) == (200, True)
    assert get_authorization(bank_url, auth_ref)[1]["amount_refunded"] == 0
    assert get_refund(bank_url, refund_ref)[1]["status"] == "reversed"
    # A tombstone refuses a refund the bank has not seen yet.
    unseen = _ref("re")
    assert reverse(bank_url, "refunds", unseen)[1] == {
        "reference": unseen,
        "status": "reversed",
        "voided": False,
    }
    late = refund(bank_url, auth_ref, 500, reference=unseen)[1]
    assert (late["status"], late["decline_code"]) == ("declined", "reversed")
    assert get_authorization(bank_url, auth_ref)[1]["amount_refunded"] == 0


def _in_background(call):
    result: dict = {}

    def run():
        started = time.monotonic()
        result["answer"] = call()
        result["elapsed"] = time.monotonic() - started

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    return worker, result


def test_slow_refund_card_refunds_at_once_and_answers_after_8_s(bank_url):
    auth_ref = _approved_authorization(bank_url, number=REFUNDS_SLOW_CARD, amount=3000)
    refund_ref = _ref("re")
    worker, result = _in_background(lambda: refund(bank_url, auth_ref, 1200, reference=refund_ref))
    time.sleep(1.0)
    status, stored = get_refund(bank_url, refund_ref)
    assert (status, stored["status"], stored["amount"]) == (200, "approved", 1200)
    assert get_authorization(bank_url, auth_ref)[1]["amount_refunded"] == 1200
    # Its reversal acts at once too (the money goes back) and is also answered late.
    worker2, reversal = _in_background(lambda: reverse(bank_url, "refunds", refund_ref))
    time.sleep(1.0)
    assert get_refund(bank_url, refund_ref)[1]["status"] == "reversed"
    assert get_authorization(bank_url, auth_ref)[1]["amount_refunded"] == 0
    worker.join(timeout=TIMEOUT)
    worker2.join(timeout=TIMEOUT)
    assert result["answer"][1]["status"] == "approved" and result["elapsed"] >= 7
    assert reversal["answer"][1]["voided"] is True and reversal["elapsed"] >= 7
    # Other operations on that card are not delayed.
    started = time.monotonic()
    assert get_authorization(bank_url, auth_ref)[0] == 200
    assert time.monotonic() - started < 2


def test_refund_error_card_answers_500_and_records_nothing(bank_url):
    auth_ref = _approved_authorization(bank_url, number=REFUNDS_ERROR_CARD, amount=3000)
    refund_ref = _ref("re")
    status, body = refund(bank_url, auth_ref, 1000, reference=refund_ref)
    assert (status, body) == (500, {"error": "internal_error"})
    assert get_refund(bank_url, refund_ref)[0] == 404
    assert get_authorization(bank_url, auth_ref)[1]["amount_refunded"] == 0
    # A reversal leaves a tombstone: the bank refuses that reference for good.
    assert reverse(bank_url, "refunds", refund_ref)[1]["voided"] is False
    late = refund(bank_url, auth_ref, 1000, reference=refund_ref)[1]
    assert (late["status"], late["decline_code"]) == ("declined", "reversed")
