"""What the services need from the world outside the domain, as structural Protocols.

The adapters satisfy them without inheriting anything; tests may hand a service a fake
instead (``tests/fakes.py``). Each Protocol lists only what some service calls. Nothing here
is imported at run time by the adapters, so this module costs no cold-start time.
"""

from __future__ import annotations

from typing import Protocol

from chalicelib.adapters.bank_client import BankOutcome, CardDetails

# ---- the bank ------------------------------------------------------------------------------


class Bank(Protocol):
    """The bank's operations, each answered with a classified ``BankOutcome`` (never raised):
    the reference makes a repeat of an operation the same operation."""

    def authorize(
        self,
        reference: str,
        amount: int,
        currency: str,
        card: CardDetails,
        hold_until: str | None = None,
    ) -> BankOutcome: ...

    def capture(self, reference: str, amount: int) -> BankOutcome: ...

    def capture_status(self, reference: str) -> BankOutcome: ...

    def refund(self, reference: str, authorization_reference: str, amount: int) -> BankOutcome: ...

    def authorization_status(self, reference: str) -> BankOutcome: ...

    def refund_status(self, reference: str) -> BankOutcome: ...

    def reverse_authorization(self, reference: str) -> BankOutcome: ...

    def reverse_refund(self, reference: str) -> BankOutcome: ...


# ---- charges, refunds and tokens -------------------------------------------------------------


# ---- keys, idempotency and audit -------------------------------------------------------------


# ---- events and webhooks ---------------------------------------------------------------------
