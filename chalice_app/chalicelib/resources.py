"""Stored items -> the API's resource models."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.lifecycle import (
    AUTHORIZE,
    AUTHORIZED,
    PENDING,
    SUCCEEDED,
    charge_answer,
    refund_answer,
)
from chalicelib.errors import ApiError, error_code
from chalicelib.models import Charge, ChargeCard, Refund
from chalicelib.services.recording import Reply


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
        refunded=item.get("amount_refunded", 0) >= (item.get("amount_captured") or item["amount"]),
        authorization_code=item.get("authorization_code"),
        failure_code=item.get("failure_code"),
        failure_message=item.get("failure_message"),
        card=ChargeCard(**item["card"]),
        description=item.get("description"),
        metadata=item.get("metadata") or {},
        refunds=[refund_resource(r) for r in refunds],
        captured=item["status"] == SUCCEEDED,
        amount_captured=item.get("amount_captured", item["amount"])
        if item["status"] == SUCCEEDED
        else 0,
        capture_before=item.get("capture_before")
        if item["status"] in (AUTHORIZED, PENDING)
        else None,
        created_at=item["created_at"],
        updated_at=item["updated_at"],
    )


def charge_reply(item: dict[str, Any]) -> Reply:
    """What a charge, capture or void request answers for this stored charge (the request
    that made its last ``operation``): 200, 201, 202, 402 or 502."""
    answer = charge_answer(
        item["status"], item.get("failure_code"), item.get("operation", AUTHORIZE)
    )
    if answer.error_code is None:
        return Reply(answer.status, data=charge_resource(item, []), object_id=item["charge_id"])
    extra = {"charge": item["charge_id"]}
    if answer.error_code in ("card_declined", "capture_failed"):
        extra = {"decline_code": item["failure_code"], **extra}
    return Reply(
        answer.status,
        error=ApiError(error_code(answer.error_code), extra=extra),
        object_id=item["charge_id"],
    )


def refund_reply(item: dict[str, Any]) -> Reply:
    """What a refund request answers for this stored refund (201, 202, 402 or 502)."""
    answer = refund_answer(item["status"], item.get("failure_code"))
    if answer.error_code is None:
        return Reply(answer.status, data=refund_resource(item), object_id=item["refund_id"])
    extra = {"refund": item["refund_id"], "charge": item["charge_id"]}
    if answer.error_code == "refund_failed":
        extra["decline_code"] = item["failure_code"]
    return Reply(
        answer.status,
        error=ApiError(error_code(answer.error_code), extra=extra),
        object_id=item["refund_id"],
    )
