"""Refund rules: which refusal applies, in the contract's order."""

from __future__ import annotations


def refusal(
    status: str, amount: int, amount_refunded: int, refundable: int, requested: int | None
) -> str | None:
    """The error code refusing a refund of ``requested`` (None = all that remains), or None.

    ``refundable`` is what is neither refunded nor reserved by a refund in flight.
    """
    if status != "succeeded":
        return "charge_not_refundable"
    if amount_refunded >= amount:
        return "charge_already_refunded"
    wanted = refundable if requested is None else requested
    if wanted < 1 or wanted > refundable:
        return "amount_too_large"
    return None
