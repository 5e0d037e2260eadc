"""A write-ahead whose answer is lost on the way back (the connection reset after DynamoDB
applied it): botocore re-sends it with the same ClientRequestToken, which the local moto
server honours as DynamoDB does, so the request goes on as if nothing happened - no
``token_already_used`` for the key's own charge, no second refund.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any

import pytest
import urllib3

from tests.faults import Rule, bank_call, dynamodb_call
from tests.helpers import FUNCTION_TIMEOUT, bank_calls, charge_body, tokenize

pytestmark = pytest.mark.integration

# The write-ahead is the first transaction that writes a pending charge or refund.
WRITE_AHEAD = dynamodb_call("TransactWriteItems", b'"pending"')


def test_a_charge_whose_write_ahead_answer_is_lost_succeeds_once(
    faults: Any, http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    token = tokenize(http_api, merchant.secret_key)
    lost = faults.dynamodb.add(Rule(WRITE_AHEAD, "reset_after"))
    response = faults.api.post(
        "/charge",
        charge_body(token),
        key=merchant.secret_key,
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert lost.hits == 1
    assert response.status == 201, response.text
    items, _ = services.charges.list_for_merchant(merchant.merchant_id, 10, None)
    assert [(i.id, i.status) for i in items] == [(response.data["id"], "succeeded")]
    assert bank_calls(bank_url, response.data["id"])["POST /authorizations"] == 1


def test_a_refund_whose_write_ahead_answer_is_lost_makes_one_refund(
    faults: Any, http_api: Any, merchant: Any, services: Any, bank_url: str
) -> None:
    token = tokenize(http_api, merchant.secret_key)
    charged = http_api.post("/charge", charge_body(token, amount=3_000), key=merchant.secret_key)
    assert charged.status == 201
    charge_id = charged.data["id"]
    lost = faults.dynamodb.add(Rule(WRITE_AHEAD, "reset_after"))
    response = faults.api.post(
        "/refund",
        {"charge_id": charge_id, "amount": 1_000},
        key=merchant.secret_key,
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert lost.hits == 1
    assert response.status == 201, response.text
    charge, refunds = services.charges.get_with_refunds(merchant.merchant_id, charge_id)
    assert [(r.id, r.status) for r in refunds] == [(response.data["id"], "succeeded")]
    assert (charge.amount_refunded, charge.refundable, charge.amount_reserved) == (
        1_000,
        2_000,
        0,
    )
    assert bank_calls(bank_url, response.data["id"])["POST /refunds"] == 1


def test_a_take_over_whose_answer_is_lost_still_resumes(
    faults: Any, http_api: Any, merchant: Any, bank_url: str
) -> None:
    """A single conditional write re-sent after its answer was lost fails its own condition;
    the request reads the record back before it answers (here: it did take over)."""
    token = tokenize(http_api, merchant.secret_key)
    body, idem = charge_body(token), str(uuid.uuid4())
    headers = {"Idempotency-Key": idem}
    faults.bank.add(Rule(bank_call("POST", "/authorizations"), "kill_before"))
    with contextlib.suppress(urllib3.exceptions.HTTPError, OSError):
        faults.api.post("/charge", body, key=merchant.secret_key, headers=headers)
    assert not faults.victim.alive()
    faults.victim.start()
    time.sleep(FUNCTION_TIMEOUT + 1.5)  # the first attempt's lease is over
    lost = faults.dynamodb.add(
        Rule(dynamodb_call("UpdateItem", b"#owner = :previous"), "reset_after")
    )
    resumed = faults.api.post("/charge", body, key=merchant.secret_key, headers=headers)
    assert lost.hits == 1
    assert (resumed.status, resumed.error["code"]) == (502, "bank_unavailable"), resumed.text
    assert bank_calls(bank_url, resumed.error["charge"]).get("POST /authorizations", 0) == 0
