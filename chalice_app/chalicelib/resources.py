"""Records -> the API's resource models, and what a request answers for a recorded state."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.domain.charges import Charge, Refund
from chalicelib.domain.lifecycle import (
    AUTHORIZED,
    PENDING,
    SUCCEEDED,
    charge_answer,
    refund_answer,
)
from chalicelib.errors import ApiError, error_code
from chalicelib.models import Charge as ChargeResource
from chalicelib.models import ChargeCard
from chalicelib.models import Refund as RefundResource
from chalicelib.services.recording import Reply


def refund_resource(refund: Refund) -> RefundResource:
    return RefundResource(
        id=refund.id,
        charge_id=refund.charge_id,
        amount=refund.amount,
        currency=refund.currency,
        status=refund.status,
        reason=refund.reason,
        failure_code=refund.failure_code,
        created_at=refund.created_at,
    )


def charge_resource(charge: Charge, refunds: Sequence[Refund]) -> ChargeResource:
    card = charge.card
    return ChargeResource(
        id=charge.id,
        status=charge.status,
        amount=charge.amount,
        currency=charge.currency,
        amount_refunded=charge.amount_refunded,
        refunded=charge.fully_refunded,
        authorization_code=charge.authorization_code,
        failure_code=charge.failure_code,
        failure_message=charge.failure_message,
        card=ChargeCard(
            brand=card.brand, last4=card.last4, exp_month=card.exp_month, exp_year=card.exp_year
        ),
        description=charge.description,
        metadata=dict(charge.metadata),
        refunds=[refund_resource(r) for r in refunds],
        captured=charge.status == SUCCEEDED,
        amount_captured=charge.amount_captured if charge.status == SUCCEEDED else 0,
        capture_before=charge.capture_before if charge.status in (AUTHORIZED, PENDING) else None,
        created_at=charge.created_at,
        updated_at=charge.updated_at,
    )


def charge_reply(charge: Charge) -> Reply:
    """What a charge, capture or void request answers for this stored charge (the request
    that made its last ``operation``): 200, 201, 202, 402 or 502."""
    answer = charge_answer(charge.status, charge.failure_code, charge.operation)
    if answer.error_code is None:
        return Reply(answer.status, data=charge_resource(charge, []), object_id=charge.id)
    extra: dict[str, object] = {"charge": charge.id}
    if answer.error_code in ("card_declined", "capture_failed"):
        extra = {"decline_code": charge.failure_code, **extra}
    return Reply(
        answer.status,
        error=ApiError(error_code(answer.error_code), extra=extra),
        object_id=charge.id,
    )


def refund_reply(refund: Refund) -> Reply:
    """What a refund request answers for this stored refund (201, 202, 402 or 502)."""
    answer = refund_answer(refund.status, refund.failure_code)
    if answer.error_code is None:
        return Reply(answer.status, data=refund_resource(refund), object_id=refund.id)
    extra: dict[str, object] = {"refund": refund.id, "charge": refund.charge_id}
    if answer.error_code == "refund_failed":
        extra["decline_code"] = refund.failure_code
    return Reply(
        answer.status,
        error=ApiError(error_code(answer.error_code), extra=extra),
        object_id=refund.id,
    )


def reply_for(item: Charge | Refund) -> Reply:
    """What the request that made ``item`` answers for it as recorded."""
    return refund_reply(item) if isinstance(item, Refund) else charge_reply(item)
