"""Use case: deliver every event to every subscribed endpoint, at least once.

* The outbox stream (``handle_records``): for each new event, the merchant's subscribed
  endpoints get a delivery item (created once, claimed for its first attempt) and a POST.
  A record whose handling fails is reported back, so the stream hands it over again; a
  delivery that exists already is not attempted twice (its schedule owns it).
* The re-driver (``redrive``): attempts whose time has come - retries, and first attempts
  whose worker died (their lease ran out); and events that the stream has not handed over
  ``outbox_grace_seconds`` after they were written (a lost record, a batch given up on):
  their deliveries are created and attempted as the stream would have.
* An operator's resend (``resend``): the same event, again, to the endpoints subscribed now.

Every attempt is signed with the endpoint's secret at the time it is sent (and with the
previous one too while a roll's grace period lasts). Endpoints that
answer 2xx within the timeout got it; others are retried on ``retry_schedule`` (seconds
after the first attempt), then the delivery is marked ``failed``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.adapters.event_store import UNDELIVERED_SHARDS
from chalicelib.adapters.webhooks import DUE_SHARDS
from chalicelib.domain.events import SIGNATURE_HEADER, next_attempt_at, sign
from chalicelib.domain.webhooks import (
    DELIVERED,
    FAILED,
    PENDING,
    Attempt,
    Delivery,
    DeliveryOutcome,
    DeliveryStatus,
    Event,
    WebhookEndpoint,
)
from chalicelib.ids import iso

if TYPE_CHECKING:
    from chalicelib.adapters.event_store import StreamRecord
    from chalicelib.ports import Deliveries, EventLog, WebhookEndpoints, WebhookPoster

log = logging.getLogger("platform.delivery")

_PARALLEL_ATTEMPTS = 8

# Each merchant's endpoints, read once per batch of events.
_Endpoints = dict[str, list[WebhookEndpoint]]


@dataclass
class RedriveReport:
    attempted: int = 0
    delivered: int = 0
    failed: int = 0
    passes: int = 0


def _now_ms() -> int:
    return int(time.time() * 1000)


class DeliveryService:
    def __init__(
        self,
        events: EventLog,
        endpoints: WebhookEndpoints,
        deliveries: Deliveries,
        sender: WebhookPoster,
        retry_schedule: tuple[float, ...],
        timeout_seconds: float,
        poll_seconds: float,
        outbox_grace_seconds: float,
    ) -> None:
        self._events = events
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._sender = sender
        self._schedule = retry_schedule
        # No second worker takes a claimed delivery before its attempt has surely ended.
        self._lease_ms = int((timeout_seconds + 5) * 1000)
        self._poll = poll_seconds
        self._outbox_grace = outbox_grace_seconds

    # ---- the outbox stream ---------------------------------------------------------------

    def handle_records(self, records: Iterable[StreamRecord]) -> list[str]:
        """Deliver the events of stream records; the sequence numbers to be handed back.

        As a stream consumer must: on the first record that fails, it and every later one
        are handed back (in order), nothing before it.
        """
        records = list(records)
        # A batch is mostly one merchant's events: its endpoints are read once per batch,
        # not once per event (one Query instead of up to ten).
        endpoints: _Endpoints = {}
        for index, record in enumerate(records):
            try:
                event = self._events.from_stream(record)
                if event is None:
                    continue  # a TTL expiry (REMOVE): nothing to deliver
                self.on_event(event, endpoints)
            except Exception:
                log.exception("stream record not handled; it will be handed over again")
                return [r["dynamodb"]["SequenceNumber"] for r in records[index:]]
        return []

    def on_event(self, event: Event, endpoints: _Endpoints | None = None) -> list[DeliveryOutcome]:
        """First attempts of one new event, to each subscribed endpoint (in parallel)."""
        started = self._start(event, again=False, endpoints=endpoints)
        # Its deliveries exist from here on; their own schedule retries them.
        self._events.mark_handed_over(event.event_id)
        return self._attempt_all(started, {event.event_id: event})

    def _start(
        self, event: Event, again: bool, endpoints: _Endpoints | None = None
    ) -> list[Delivery]:
        """Delivery items of ``event`` for the endpoints subscribed to its type, claimed.

        ``endpoints``, when given, keeps each merchant's endpoints for the next events.
        """
        now = _now_ms()
        started = []
        merchant_id = event.merchant_id
        known = {} if endpoints is None else endpoints
        if merchant_id not in known:
            known[merchant_id] = self._endpoints.list_for_merchant(merchant_id)
        for endpoint in known[merchant_id]:
            if event.endpoint_id is not None:  # a test ping: that endpoint only
                if endpoint.endpoint_id != event.endpoint_id:
                    continue
            elif event.type not in endpoint.events:
                continue
            delivery = self._deliveries.start(event, endpoint, now, self._lease_ms, again)
            if delivery is not None:
                started.append(delivery)
        return started

    # ---- retries -------------------------------------------------------------------------

    def redrive(self, budget_seconds: float | None = None) -> RedriveReport:
        """Attempt every due delivery; with a budget, look again every poll interval.

        A scheduled function runs once a minute: polling within its run is what lets the
        first retries come within seconds of their due time.
        """
        report = RedriveReport()
        deadline = time.monotonic() + (budget_seconds or 0)
        while True:
            report.passes += 1
            for outcome in self._redrive_once():
                report.attempted += 1
                report.delivered += outcome.status == DELIVERED
                report.failed += outcome.status == FAILED
            if budget_seconds is None or time.monotonic() + self._poll > deadline:
                return report
            time.sleep(self._poll)

    def _redrive_once(self) -> list[DeliveryOutcome]:
        outcomes = self._hand_over_undelivered()
        now = _now_ms()
        claimed = []
        for shard in range(DUE_SHARDS):
            start = None
            while True:
                due, start = self._deliveries.due_page(shard, now, start)
                for delivery in due:
                    taken = self._deliveries.claim(delivery, now, self._lease_ms)
                    if taken is not None:
                        claimed.append(taken)
                if start is None:
                    break
        events: dict[str, Event | None] = {}
        for delivery in claimed:
            if delivery.event_id not in events:
                events[delivery.event_id] = self._events.get(delivery.event_id)
        return outcomes + self._attempt_all(claimed, events)

    def _hand_over_undelivered(self) -> list[DeliveryOutcome]:
        """First attempts of events the stream has not handed over within the grace period.

        A delivery the stream's handler created meanwhile is not created (nor attempted)
        twice: ``DeliveryStore.start`` is conditional.
        """
        before = iso(datetime.fromtimestamp(time.time() - self._outbox_grace, UTC))
        outcomes: list[DeliveryOutcome] = []
        endpoints: _Endpoints = {}
        for shard in range(UNDELIVERED_SHARDS):
            start = None
            while True:
                events, start = self._events.undelivered_page(shard, before, start)
                for event in events:
                    log.warning(json.dumps({"event": "outbox_redrive", "event_id": event.event_id}))
                    outcomes += self.on_event(event, endpoints)
                if start is None:
                    break
        return outcomes

    # ---- operator ------------------------------------------------------------------------

    def resend(self, event_id: str) -> list[DeliveryOutcome] | None:
        """Deliver an event again to the endpoints subscribed now; None if no such event."""
        event = self._events.get(event_id)
        if event is None:
            return None
        return self._attempt_all(self._start(event, again=True), {event_id: event})

    def deliveries(self, event_id: str) -> list[Delivery]:
        return self._deliveries.for_event(event_id)

    # ---- attempts ------------------------------------------------------------------------

    def _attempt_all(
        self, claimed: list[Delivery], events: dict[str, Event | None]
    ) -> list[DeliveryOutcome]:
        if not claimed:
            return []
        secrets = self._endpoints.secrets(sorted({c.endpoint_id for c in claimed}), _now_ms())
        jobs = [(c, events.get(c.event_id), secrets.get(c.endpoint_id)) for c in claimed]
        if len(jobs) == 1:
            return [self._attempt(*jobs[0])]
        with ThreadPoolExecutor(max_workers=min(_PARALLEL_ATTEMPTS, len(jobs))) as pool:
            return list(pool.map(lambda job: self._attempt(*job), jobs))

    def _attempt(
        self, delivery: Delivery, event: Event | None, secret: tuple[str, ...] | None
    ) -> DeliveryOutcome:
        """One signed POST of a claimed delivery, and its recorded result."""
        if event is None or secret is None:
            # The event expired, or the endpoint was deleted (its secret with it).
            refused = Attempt(error="event expired" if event is None else "endpoint deleted")
            self._deliveries.record(delivery, _now_ms(), FAILED, None, refused)
            return self._outcome(delivery, FAILED, refused)
        body = event.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Payments-Webhooks/1.0",
            SIGNATURE_HEADER: sign(secret[0], int(time.time()), body, *secret[1:]),
        }
        attempt = self._sender.post(delivery.url, body, headers)
        now = _now_ms()
        status: DeliveryStatus
        if attempt.delivered:
            status, next_ms = DELIVERED, None
        else:
            due = next_attempt_at(
                delivery.first_attempt_ms / 1000, delivery.attempts, now / 1000, self._schedule
            )
            status, next_ms = (FAILED, None) if due is None else (PENDING, int(due * 1000))
        self._deliveries.record(delivery, now, status, next_ms, attempt)
        return self._outcome(delivery, status, attempt)

    def _outcome(
        self, delivery: Delivery, status: DeliveryStatus, attempt: Attempt
    ) -> DeliveryOutcome:
        outcome = DeliveryOutcome(
            event_id=delivery.event_id,
            endpoint_id=delivery.endpoint_id,
            attempt=delivery.attempts,
            status=status,
            status_code=attempt.status_code,
            error=attempt.error,
        )
        level = logging.WARNING if status == FAILED else logging.INFO
        log.log(level, json.dumps({"event": "webhook_attempt", **asdict(outcome)}))
        return outcome
