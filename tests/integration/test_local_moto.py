"""The local moto server cancels transactions as DynamoDB does (payments_admin/moto_server.py
keeps an undo log instead of copies of whole tables)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.dynamo import WriteConflict, transact
from tests.integration.test_pending import _write_ahead_only

pytestmark = pytest.mark.integration


def test_a_cancelled_transaction_leaves_no_write_behind(services: Any, merchant: Any) -> None:
    charge_id = _write_ahead_only(services, merchant, 500)
    before = services.charges.get_charge(merchant.merchant_id, charge_id)
    event = services.events.entry(
        merchant.merchant_id, charge_id, "charge.failed", "2026-01-01T00:00:00.000Z", {}
    )
    touch = {
        "Update": {
            "TableName": services.charges.table,
            "Key": services.charges.charge_key(merchant.merchant_id, charge_id),
            "UpdateExpression": "SET amount = :big",
            "ExpressionAttributeValues": {":big": {"N": "999"}},
        }
    }
    refused = {
        "Update": {
            "TableName": services.charges.table,
            "Key": services.charges.charge_key(merchant.merchant_id, "ch_missing"),
            "UpdateExpression": "SET amount = :big",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":big": {"N": "1"}},
        }
    }
    with pytest.raises(WriteConflict):
        transact(services.dynamodb, [event, touch, refused])
    assert services.charges.get_charge(merchant.merchant_id, charge_id) == before
    assert services.events.get(event["Put"]["Item"]["event_id"]["S"]) is None
    assert services.charges.get_charge(merchant.merchant_id, "ch_missing") is None
