"""Failure codes of charges and refunds and their fixed messages."""

from __future__ import annotations

PROCESSING_ERROR = "processing_error"

_MESSAGES = {
    "generic_decline": "The card was declined.",
    "insufficient_funds": "The card has insufficient funds.",
    "lost_card": "The card was declined (reported lost).",
    "stolen_card": "The card was declined (reported stolen).",
    "expired_card": "The card has expired.",
    "incorrect_cvc": "The card's security code is incorrect.",
    PROCESSING_ERROR: "The bank could not process the charge.",
    "capture_declined": "The bank declined the capture; the hold is released.",
}


def failure_message(code: str) -> str:
    return _MESSAGES.get(code, "The card was declined.")
