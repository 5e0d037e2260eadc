"""HTTP client of the bank (the mountebank imposter locally; see mountebank/README.md).

Every exchange is classified here, in one place, and never retried blindly:

* definitive: ``approved`` / ``declined`` (the bank decided); ``reversed`` (the bank accepted
  a reversal of the reference, or refuses it because of one: it will never act on it);
  ``not_found`` (a status query: the bank has no record of the reference, yet);
* ``not_sent``: nothing reached the bank (connection refused or timed out, DNS failure, an
  unusable URL, or no time left to make the call);
* ``unknown``: everything else - a 5xx or any other unexpected status, a reset or closed
  connection, a body that cannot be parsed, a status string we do not know, a read timeout.
  The request may have reached the bank and the bank may have acted.

What each kind decides, for each operation, is ``domain.lifecycle``'s rule, not this module's.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Literal

import urllib3
from urllib3.exceptions import ConnectTimeoutError, LocationValueError, NewConnectionError

log = logging.getLogger("platform.bank")

Kind = Literal["approved", "declined", "reversed", "not_found", "not_sent", "unknown"]


@dataclass(frozen=True)
class BankOutcome:
    kind: Kind
    authorization_code: str | None = None
    decline_code: str | None = None


@dataclass(frozen=True)
class CardDetails:
    number: str
    exp_month: int
    exp_year: int
    cvv: str | None

    def __repr__(self) -> str:  # keep the number and CVV out of any log or traceback
        return "CardDetails(<redacted>)"


class BankClient:
    """One pooled HTTP connection manager per container."""

    def __init__(self, base_url: str, *, connect_timeout: float, read_timeout: float) -> None:
        self._base = base_url.rstrip("/")
        self._pool = urllib3.PoolManager(
            num_pools=2,
            maxsize=20,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=False,
        )

    def authorize(
        self, reference: str, amount: int, currency: str, card: CardDetails
    ) -> BankOutcome:
        """Ask for an authorization; the reference makes a repeat the same operation."""
        body = {
            "reference": reference,
            "amount": amount,
            "currency": currency,
            "card": {
                "number": card.number,
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
                "cvv": card.cvv,
            },
        }
        return self._decision("POST", "/authorizations", body)

    def refund(self, reference: str, authorization_reference: str, amount: int) -> BankOutcome:
        """Ask for a refund of ``amount`` against an authorization."""
        body = {
            "reference": reference,
            "authorization_reference": authorization_reference,
            "amount": amount,
        }
        return self._decision("POST", "/refunds", body)

    def authorization_status(self, reference: str) -> BankOutcome:
        """What the bank recorded for an authorization (``not_found`` if never received)."""
        return self._decision("GET", f"/authorizations/{reference}", None)

    def refund_status(self, reference: str) -> BankOutcome:
        return self._decision("GET", f"/refunds/{reference}", None)

    def reverse_authorization(self, reference: str) -> BankOutcome:
        """Void the authorization ``reference`` and make the bank refuse it from now on."""
        return self._decision("POST", f"/authorizations/{reference}/reversal", {})

    def reverse_refund(self, reference: str) -> BankOutcome:
        return self._decision("POST", f"/refunds/{reference}/reversal", {})

    def _decision(self, method: str, path: str, body: dict[str, Any] | None) -> BankOutcome:
        try:
            response = self._pool.request(
                method,
                self._base + path,
                body=json.dumps(body).encode() if body is not None else None,
                headers={"Content-Type": "application/json"},
            )
        except (ConnectTimeoutError, NewConnectionError, LocationValueError):
            # No connection was made (DNS failure included): the request never left.
            return self._failed("not_sent", method, path)
        except Exception:
            # Read timeout, reset, closed connection, ...: it may have been processed.
            return self._failed("unknown", method, path)
        if response.status == 404 and method == "GET":
            return BankOutcome("not_found")
        if response.status != 200:
            return self._failed("unknown", method, path, response.status)
        try:
            answer = json.loads(response.data)
            status = answer["status"]
        except (ValueError, KeyError, TypeError):
            return self._failed("unknown", method, path, response.status)
        if status == "approved":
            return BankOutcome("approved", authorization_code=answer.get("authorization_code"))
        if status == "reversed" or (
            status == "declined" and answer.get("decline_code") == "reversed"
        ):
            return BankOutcome("reversed")
        if status == "declined":
            return BankOutcome(
                "declined", decline_code=str(answer.get("decline_code") or "generic_decline")
            )
        return self._failed("unknown", method, path, response.status)

    @staticmethod
    def _failed(kind: Kind, method: str, path: str, status: int | None = None) -> BankOutcome:
        # Path and status only: bodies carry card data.
        log.warning(
            json.dumps(
                {
                    "event": "bank_call_failed",
                    "kind": kind,
                    "method": method,
                    "path": path.split("/")[1],  # the operation, not the reference
                    "http_status": status,
                }
            )
        )
        return BankOutcome(kind)
