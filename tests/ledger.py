"""The platform's ledger against the bank's: the checks every fault test ends with."""

from __future__ import annotations

from typing import Any

from tests.helpers import bank_calls, bank_record


def assert_agrees_with_the_bank(charge: dict[str, Any], bank_url: str, sent: bool = True) -> None:
    """``charge`` (as GET /charge/{id} returns it, refunds included) is final and says what
    the bank did; no reference was asked for twice.

    ``sent``: whether the authorization may have reached the bank at all. A ``failed``
    charge has a bank record that is declined, reversed or voided, or none only if not.
    """
    assert charge["status"] != "pending", charge
    bank = bank_record(bank_url, "authorizations", charge["id"])
    calls = bank_calls(bank_url, charge["id"])
    assert calls.get("POST /authorizations", 0) <= 1, calls
    if charge["status"] == "succeeded":
        assert bank is not None, charge
        assert (bank["status"], bank["voided"], bank["amount"]) == (
            "approved",
            False,
            charge["amount"],
        ), (bank, charge)
        assert bank["amount_refunded"] == charge["amount_refunded"], (bank, charge)
    elif bank is None:
        assert not sent, f"{charge['id']} failed, but the bank holds no reversal of it"
    else:
        assert bank["status"] in ("declined", "reversed") or bank["voided"], (bank, charge)
    assert_refunds_agree_with_the_bank(charge, bank_url)


def assert_refunds_agree_with_the_bank(charge: dict[str, Any], bank_url: str) -> None:
    """Each refund of ``charge`` is final and says what the bank did with its reference (at
    most one refund request per reference); ``amount_refunded`` is the sum of the succeeded."""
    refunded = 0
    for refund in charge["refunds"]:
        assert refund["status"] != "pending", refund
        record = bank_record(bank_url, "refunds", refund["id"])
        assert bank_calls(bank_url, refund["id"]).get("POST /refunds", 0) <= 1
        if refund["status"] == "succeeded":
            assert record is not None and (record["status"], record["voided"]) == (
                "approved",
                False,
            ), (record, refund)
            assert record["amount"] == refund["amount"]
            refunded += refund["amount"]
        else:
            assert record is None or record["status"] in ("declined", "reversed"), record
    assert charge["amount_refunded"] == refunded, charge


def assert_answer_true(response: Any, final: dict[str, Any]) -> None:
    """What the client was told is still true of ``final`` (the object as recorded now):
    201 = succeeded, 402/502 = failed; 202 was true when said (it was pending)."""
    expected = {201: "succeeded", 402: "failed", 502: "failed"}.get(response.status)
    assert response.status in (201, 202, 402, 502), response.text
    assert expected is None or final["status"] == expected, (response.text, final)


def assert_hold_agrees_with_the_bank(charge: dict[str, Any], bank_url: str) -> None:
    """A charge made with ``capture: false`` (as GET /charge/{id} returns it) against the
    bank's hold: held while authorized; captured exactly what the charge says; released
    once voided or failed. One authorization and at most one capture per reference."""
    assert charge["status"] != "pending", charge
    bank = bank_record(bank_url, "authorizations", charge["id"])
    calls = bank_calls(bank_url, charge["id"])
    assert calls.get("POST /authorizations", 0) == 1, calls
    assert bank is not None, charge
    captured = bank["amount_captured"] if bank["status"] == "approved" else 0
    assert captured == charge["amount_captured"], (bank, charge)
    if charge["status"] == "authorized":
        assert (bank["status"], bank["hold"]) == ("approved", "held"), (bank, charge)
    elif charge["status"] == "succeeded":
        assert (bank["status"], bank["hold"], bank["voided"]) == ("approved", "captured", False)
        assert bank["amount_refunded"] == charge["amount_refunded"], (bank, charge)
    else:  # voided, or failed: nothing moved, and the bank holds nothing either
        assert bank["status"] == "reversed" or bank["hold"] == "released", (bank, charge)


def assert_hold_answer_true(response: Any, final: dict[str, Any]) -> None:
    """What a capture or void request was told is still true of ``final``: 201 succeeded,
    200 voided, 402 failed; a 502 left nothing moved (failed, or authorized again when the
    capture never reached the bank); 202 was true when said."""
    assert response.status in (200, 201, 202, 402, 502), response.text
    if response.status == 502:
        assert final["status"] in ("failed", "authorized"), (response.text, final)
        return
    expected = {201: "succeeded", 200: "voided", 402: "failed"}.get(response.status)
    assert expected is None or final["status"] == expected, (response.text, final)
