"""What the services need from the world outside the domain, as structural Protocols.

The adapters satisfy them without inheriting anything; tests may hand a service a fake
instead (``tests/fakes.py``). Each Protocol lists only what some service calls. Nothing here
is imported at run time by the adapters, so this module costs no cold-start time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from chalicelib.adapters.bank_client import BankOutcome, CardDetails
from chalicelib.adapters.dynamo import FirstRead, ItemKey, PageStart, WriteEntry
from chalicelib.domain.charges import Charge, ObjectRef, Pending, Refund, Token
from chalicelib.domain.keys import ApiKey, AuditEntry, KeyStatus
from chalicelib.domain.lifecycle import Decision
from chalicelib.domain.origins import CheckoutOrigins
from chalicelib.domain.webhooks import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Event,
    WebhookEndpoint,
)

if TYPE_CHECKING:
    from chalicelib.adapters.event_store import StreamRecord

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


class ChargeRepository(Protocol):
    """Charges and their refunds: reads as records, writes as ``WriteEntry``s whose conditions
    keep the lifecycle's rules under concurrency (``adapters.charge_repository``)."""

    def charge_read(self, merchant_id: str, charge_id: str) -> FirstRead[Charge]: ...

    def get(self, ref: ObjectRef) -> Pending | None: ...

    def get_charge(self, merchant_id: str, charge_id: str) -> Charge | None: ...

    def get_with_refunds(
        self, merchant_id: str, charge_id: str
    ) -> tuple[Charge | None, list[Refund]]: ...

    def list_for_merchant(
        self, merchant_id: str, limit: int, after: Charge | None
    ) -> tuple[list[Charge], bool]: ...

    def pending_page(
        self, shard: int, cutoff: str, after: str | None, limit: int = 100
    ) -> tuple[list[tuple[str, Pending]], bool]: ...

    def sweep_cursor(self) -> tuple[int, str | None]: ...

    def save_sweep_cursor(self, shard: int, after: str | None) -> None: ...

    def claim_bank_check(self, item: Pending, now: str, not_since: str) -> bool: ...

    def mark_reversing(self, item: Pending, now: str) -> bool: ...

    def still_pending_entry(self, item: Pending) -> WriteEntry: ...

    def put_pending(self, item: Pending) -> WriteEntry: ...

    def begin_operation_entry(self, pending: Charge) -> WriteEntry: ...

    def reserve_refund_entry(self, charge: Charge, amount: int, updated_at: str) -> WriteEntry: ...

    def finalize_charge_entry(self, final: Charge, decision: Decision) -> WriteEntry: ...

    def settle_refund_entries(
        self, refund: Refund, decision: Decision, updated_at: str
    ) -> list[WriteEntry]: ...


class TokenRepository(Protocol):
    """Single-use card tokens: created with their sealed card, consumed by one write."""

    def token_read(self, token_id: str) -> FirstRead[Token]: ...

    def put_entry(self, token: Token) -> WriteEntry: ...

    def consume_entry(self, token: Token, now_epoch: int) -> WriteEntry: ...


class CardVault(Protocol):
    """Seals and opens card data under the aad of its merchant, token and field."""

    def seal(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def open(self, blob: bytes, aad: bytes) -> bytes: ...


class CardFingerprinter(Protocol):
    """Per-merchant fingerprints of card numbers."""

    def fingerprint(self, merchant_id: str, card_number: str) -> str: ...


class EventOutbox(Protocol):
    """The outbox entry of one event, committed with the state change it describes."""

    def entry(
        self,
        merchant_id: str,
        object_id: str,
        event_type: str,
        created_at: str,
        data: dict[str, object],
    ) -> WriteEntry: ...


# ---- keys, idempotency and audit -------------------------------------------------------------


class ApiKeyReader(Protocol):
    """Key records by the hash of a presented key (the authenticator's one read)."""

    def get(self, key_hash: str) -> ApiKey | None: ...


class ApiKeys(ApiKeyReader, Protocol):
    """Key records as operators change them: each write is an entry for one transaction
    with its audit record."""

    def put_entry(self, key: ApiKey) -> WriteEntry: ...

    def revoke_entry(self, key_hash: str, revoked_at: str) -> WriteEntry: ...

    def roll_entry(
        self, key_hash: str, status: KeyStatus, rolled_to: str, expires_at: str | None
    ) -> WriteEntry: ...

    def list_for_merchant(self, merchant_id: str) -> list[ApiKey]: ...

    def merchant_ids(self) -> list[str]: ...


class AuditTrail(Protocol):
    """Append-only audit records, written in the transaction of what they trace."""

    def entry(self, record: AuditEntry) -> WriteEntry: ...


# ---- checkout origins ------------------------------------------------------------------------


class CheckoutOriginStore(Protocol):
    """Each merchant's checkout origins, rewritten whole on condition of their version."""

    def get(self, merchant_id: str) -> CheckoutOrigins: ...

    def put_entry(
        self, merchant_id: str, origins: tuple[str, ...], expected: CheckoutOrigins, at: str
    ) -> WriteEntry: ...


# ---- events and webhooks ---------------------------------------------------------------------


class EventLog(Protocol):
    """The outbox: events written with their changes, read by the routes and delivered."""

    def test_ping_entry(
        self, merchant_id: str, endpoint_id: str, created_at: str, data: object
    ) -> tuple[WriteEntry, Event]: ...

    def get(self, event_id: str) -> Event | None: ...

    def get_for(self, merchant_id: str, event_id: str) -> Event | None: ...

    def list_for_merchant(
        self, merchant_id: str, event_type: str | None, limit: int, after: Event | None
    ) -> tuple[list[Event], bool]: ...

    def from_stream(self, record: StreamRecord) -> Event | None: ...

    def mark_handed_over(self, event_id: str) -> None: ...

    def undelivered_page(
        self, shard: int, created_before: str, start: PageStart | None, limit: int = 50
    ) -> tuple[list[Event], PageStart | None]: ...


class WebhookEndpoints(Protocol):
    """A merchant's endpoints (at most a cap, counted in one item) and their secrets."""

    @property
    def table(self) -> str: ...

    def counter_key(self, merchant_id: str) -> ItemKey: ...

    def count_of(self, counter: Mapping[str, object] | None) -> int: ...

    def start_count(self, merchant_id: str) -> int: ...

    def create_entries(
        self, endpoint: WebhookEndpoint, secret: str, cap: int
    ) -> list[WriteEntry]: ...

    def delete_entries(self, merchant_id: str, endpoint_id: str) -> list[WriteEntry]: ...

    def roll_entry(
        self, merchant_id: str, endpoint_id: str, secret: str, old_expires_ms: int | None
    ) -> WriteEntry: ...

    def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None: ...

    def list_for_merchant(self, merchant_id: str) -> list[WebhookEndpoint]: ...

    def secrets(self, endpoint_ids: list[str], now_ms: int) -> dict[str, tuple[str, ...]]: ...


class Deliveries(Protocol):
    """Deliveries of events to endpoints, each claimed before every attempt."""

    def start(
        self,
        event: Event,
        endpoint: WebhookEndpoint,
        now_ms: int,
        lease_ms: int,
        again: bool = False,
    ) -> Delivery | None: ...

    def claim(self, delivery: Delivery, now_ms: int, lease_ms: int) -> Delivery | None: ...

    def record(
        self,
        delivery: Delivery,
        now_ms: int,
        outcome: DeliveryStatus,
        next_ms: int | None,
        attempt: Attempt,
    ) -> None: ...

    def due_page(
        self, shard: int, now_ms: int, start: PageStart | None, limit: int = 50
    ) -> tuple[list[Delivery], PageStart | None]: ...

    def for_event(self, event_id: str) -> list[Delivery]: ...


class WebhookPoster(Protocol):
    """One signed POST of a webhook to a merchant's URL."""

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt: ...
