"""A refund whose bank answer is unknown (contract: refund table, "Unknown outcomes"): a 500
without acting is reversed at once and answered 502; a late answer leaves the refund
pending (202, ``refund.pending``), its amount reserved, until a settler asks the bank.
"""

from __future__ import annotations

from typing import Any

from tests.handlers.test_refunds import charge, refund
from tests.helpers import bank_record

REFUNDS_ERROR = "4000000000005423"
REFUNDS_SLOW = "4000000000007726"


def test_a_refund_the_bank_answers_500_is_reversed_and_502(
    api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    key = merchant.secret_key
    charge_id = charge(api, key, amount=6_000, number=REFUNDS_ERROR)
    response = refund(api, key, charge_id, amount=2_500)
    assert (response.status, response.error["code"]) == (502, "bank_unavailable"), response.text
    refund_id = response.error["refund"]
    # The bank now refuses the reference for good (it had recorded nothing: nothing voided).
    record = bank_record(bank_url, "refunds", refund_id)
    assert record is not None and (record["status"], record["voided"]) == ("reversed", False)
    stored = api.get(f"/charge/{charge_id}", key=key).data
    assert [(r["id"], r["status"]) for r in stored["refunds"]] == [(refund_id, "failed")]
    item = services.charges.get_charge(merchant.merchant_id, charge_id)
    assert (item.refundable, item.amount_reserved, item.amount_refunded) == (6_000, 0, 0)


def test_a_refund_answered_late_is_202_pending_and_settles_later(
    api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    key = merchant.secret_key
    charge_id = charge(api, key, amount=6_000, number=REFUNDS_SLOW)
    response = refund(api, key, charge_id, amount=2_500)
    assert response.status == 202, response.text
    assert (response.data["status"], response.data["amount"]) == ("pending", 2_500)
    refund_id = response.data["id"]
    # Still reserved: only 3,500 remains refundable while it is pending.
    item = services.charges.get_charge(merchant.merchant_id, charge_id)
    assert (item.refundable, item.amount_reserved) == (3_500, 2_500)
    assert refund(api, key, charge_id, amount=3_501).error["code"] == "amount_too_large"
    events = api.get("/events?type=refund.pending", key=key).data["items"]
    assert [e["data"]["object"]["id"] for e in events] == [refund_id]
    # A read asks the bank, which approved it.
    stored = api.get(f"/charge/{charge_id}", key=key).data
    assert [(r["id"], r["status"]) for r in stored["refunds"]] == [(refund_id, "succeeded")]
    assert stored["amount_refunded"] == 2_500
    assert bank_record(bank_url, "authorizations", charge_id)["amount_refunded"] == 2_500
