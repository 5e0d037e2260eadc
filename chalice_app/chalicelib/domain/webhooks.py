"""Records of the outbox and its webhooks: events, endpoints, deliveries and attempts.

What the event and delivery services reason about, without storage keys: the adapters
(``adapters/event_store.py``, ``adapters/webhooks.py``) translate them to and from items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DeliveryStatus = Literal["pending", "delivered", "failed"]
PENDING: DeliveryStatus = "pending"
DELIVERED: DeliveryStatus = "delivered"
FAILED: DeliveryStatus = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One event of the outbox, as written with the change it describes."""

    event_id: str
    merchant_id: str
    type: str  # one of ``domain.events.EVENT_TYPES``, or ``TEST_PING``
    created_at: str  # ISO 8601, UTC
    # The event object as JSON: exactly the bytes a webhook delivers and signs, and what
    # ``GET /events`` answers.
    body: str
    # A test ping's one endpoint; None for the merchant's events (every subscribed endpoint).
    endpoint_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookEndpoint:
    """A merchant's webhook endpoint: where events of the subscribed types are POSTed."""

    merchant_id: str
    endpoint_id: str
    url: str
    events: tuple[str, ...]  # subscribed event types
    created_at: str  # ISO 8601, UTC


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """What one POST got: a status code, or an error (no answer, refused URL)."""

    status_code: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One event's delivery to one endpoint: its attempts so far and its state.

    A pending delivery is claimed before each attempt (``attempts`` counts the claims) and
    is due again at ``next_attempt_ms``: the next retry, or the end of the lease of an
    attempt under way.
    """

    event_id: str
    endpoint_id: str
    merchant_id: str
    url: str
    status: DeliveryStatus
    attempts: int
    first_attempt_ms: int  # epoch milliseconds
    next_attempt_ms: int
    last_attempt_ms: int | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    finished_ms: int | None = None  # set once delivered or failed


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryOutcome:
    """The recorded result of one attempt (or of a delivery that could not be attempted)."""

    event_id: str
    endpoint_id: str
    attempt: int
    status: DeliveryStatus
    status_code: int | None = None
    error: str | None = None
