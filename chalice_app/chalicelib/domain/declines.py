"""A charge's final state from the bank's decision, and the messages for failure codes."""

from __future__ import annotations

from typing import Any

PROCESSING_ERROR = "processing_error"

_MESSAGES = {
    "generic_decline": "The card was declined.",
    "insufficient_funds": "The card has insufficient funds.",
    "lost_card": "The card was declined (reported lost).",
    "stolen_card": "The card was declined (reported stolen).",
    "expired_card": "The card has expired.",
    "incorrect_cvc": "The card's security code is incorrect.",
    PROCESSING_ERROR: "The bank could not process the charge.",
}


def failure_message(code: str) -> str:
    return _MESSAGES.get(code, "The card was declined.")


def final_charge_fields(
    kind: str, authorization_code: str | None = None, decline_code: str | None = None
) -> dict[str, Any]:
    """The stored fields of a charge the bank ``approved``, ``declined``, or failed to process.

    Any other ``kind`` (an error, or the bank never saw the request) is a processing error.
    """
    if kind == "approved":
        return {"status": "succeeded", "authorization_code": authorization_code}
    code = (decline_code or "generic_decline") if kind == "declined" else PROCESSING_ERROR
    return {"status": "failed", "failure_code": code, "failure_message": failure_message(code)}
