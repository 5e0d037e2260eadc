"""Stored items -> the API's resource models."""

from __future__ import annotations

from typing import Any

from chalicelib.models import Charge, ChargeCard, Refund


def refund_resource(item: dict[str, Any]) -> Refund:
    return Refund(
        id=item["refund_id"],
        charge_id=item["charge_id"],
        amount=item["amount"],
        currency=item["currency"],
        status=item["status"],
        reason=item.get("reason"),
        failure_code=item.get("failure_code"),
        created_at=item["created_at"],
    )


def charge_resource(item: dict[str, Any], refunds: list[dict[str, Any]]) -> Charge:
    return Charge(
        id=item["charge_id"],
        status=item["status"],
        amount=item["amount"],
        currency=item["currency"],
        amount_refunded=item.get("amount_refunded", 0),
        refunded=item.get("amount_refunded", 0) >= item["amount"],
        authorization_code=item.get("authorization_code"),
        failure_code=item.get("failure_code"),
        failure_message=item.get("failure_message"),
        card=ChargeCard(**item["card"]),
        description=item.get("description"),
        metadata=item.get("metadata") or {},
        refunds=[refund_resource(r) for r in refunds],
        created_at=item["created_at"],
        updated_at=item["updated_at"],
    )
