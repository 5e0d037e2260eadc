"""Contention is not a refusal: a refund whose reservation keeps losing to concurrent
changes of the charge answers 429 ``lock_timeout`` with ``Retry-After``, writes nothing and
stores nothing, so a retry with the same Idempotency-Key goes ahead.

The contention is real and deterministic: just before each of the app's write-ahead
transactions, another writer (a second DynamoDB client) reserves the charge's whole
refundable amount, and gives it back as soon as the transaction has been answered - so
every read of the charge the app makes shows the amount refundable, and every reservation
it tries is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib.adapters.charge_repository import charge_pk
from chalicelib.adapters.dynamo import to_values
from tests.helpers import HandlerApi, charge_body, tokenize


@pytest.fixture
def rival(services: Any) -> Iterator[dict[str, Any]]:
    """Arm with ``rival["pk"] = <charge pk>``; counts the reservations it spoiled."""
    state: dict[str, Any] = {"pk": None, "spoiled": 0}
    other = boto3.client(
        "dynamodb", endpoint_url=services.dynamodb.meta.endpoint_url, region_name="us-east-1"
    )
    table = services.settings.table("Charges")

    def move(sign: str) -> None:
        other.update_item(
            TableName=table,
            Key={"pk": {"S": state["pk"]}, "sk": {"S": "charge"}},
            UpdateExpression=f"SET refundable = refundable {sign} :a, "
            f"amount_reserved = amount_reserved {'+' if sign == '-' else '-'} :a",
            ExpressionAttributeValues=to_values({":a": state["amount"]}),
        )

    def is_reservation(params: dict[str, Any]) -> bool:
        return state["pk"] is not None and any(
            "amount_reserved" in item.get("Update", {}).get("UpdateExpression", "")
            and item["Update"]["Key"]["pk"]["S"] == state["pk"]
            and "refund_count" in item["Update"]["UpdateExpression"]
            for item in params.get("TransactItems", [])
        )

    def before(params: dict[str, Any], **_: Any) -> None:
        if is_reservation(params):
            move("-")
            state["spoiled"] += 1
            state["armed"] = True

    def after(**_: Any) -> None:
        if state.pop("armed", False):
            move("+")

    services.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems", before
    )
    services.dynamodb.meta.events.register("after-call.dynamodb.TransactWriteItems", after)
    try:
        yield state
    finally:
        services.dynamodb.meta.events.unregister(
            "provide-client-params.dynamodb.TransactWriteItems", before
        )
        services.dynamodb.meta.events.unregister("after-call.dynamodb.TransactWriteItems", after)


def test_a_refund_that_keeps_losing_to_contention_is_429_lock_timeout_and_not_stored(
    client: Any, services: Any, merchant: Any, rival: dict[str, Any]
) -> None:
    api = HandlerApi(client)
    token = tokenize(api, merchant.secret_key)
    charged = api.post("/charge", charge_body(token, amount=4_000), key=merchant.secret_key)
    assert charged.status == 201
    charge_id = charged.data["id"]
    rival.update(pk=charge_pk(merchant.merchant_id, charge_id), amount=4_000)
    body, headers = (
        {"charge_id": charge_id, "amount": 1_000},
        {"Idempotency-Key": str(uuid.uuid4())},
    )

    response = api.post("/refund", body, key=merchant.secret_key, headers=headers)
    assert response.status == 429, response.text
    assert (response.error["type"], response.error["code"]) == ("rate_limit_error", "lock_timeout")
    assert int(response.headers["retry-after"]) >= 1
    # It kept trying (with backoff) rather than giving up after a handful of conflicts.
    assert rival["spoiled"] > 5
    # Nothing written: no refund object, nothing reserved.
    charge, refunds = services.charges.get_with_refunds(merchant.merchant_id, charge_id)
    assert refunds == []
    assert (charge.refundable, charge.amount_reserved, charge.refund_count) == (
        4_000,
        0,
        0,
    )

    # Not stored for replay: the same key, once the contention is over, refunds.
    rival["pk"] = None
    retried = api.post("/refund", body, key=merchant.secret_key, headers=headers)
    assert retried.status == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert retried.data["amount"] == 1_000
