"""Refund rules: which refusal applies, in the contract's order, and how money moves."""

from __future__ import annotations

# Refund objects per charge (any status), so a charge and its refunds stay one bounded read.
MAX_REFUNDS_PER_CHARGE = 100


def refusal(
    status: str,
    amount: int,
    amount_refunded: int,
    refundable: int,
    refund_count: int,
    requested: int | None,
) -> str | None:
    """The error code refusing a refund of ``requested`` (None = all that remains), or None.

    ``amount`` is what the charge captured (an ``authorized`` charge is not refundable: it
    is voided instead).
    ``refundable`` is what is neither refunded nor reserved by a refund in flight.
    """
    if status != "succeeded":
        return "charge_not_refundable"
    if amount_refunded >= amount:
        return "charge_already_refunded"
    if refund_count >= MAX_REFUNDS_PER_CHARGE:
        return "too_many_refunds"
    wanted = refundable if requested is None else requested
    if wanted < 1 or wanted > refundable:
        return "amount_too_large"
    return None
