"""Use cases of the events and webhook-endpoint routes (secret key only, merchant-scoped)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from chalicelib import models
from chalicelib.adapters.dynamo import FirstRead, WriteConflict
from chalicelib.domain.charges import ObjectRef
from chalicelib.domain.events import EVENT_TYPES
from chalicelib.domain.webhook_urls import Resolver, UnresolvableHost, UnsafeUrl, check
from chalicelib.domain.webhooks import Event, WebhookEndpoint
from chalicelib.errors import ApiError
from chalicelib.ids import iso, new_id, now_utc
from chalicelib.models import (
    EventList,
    ListEventsQuery,
    NewWebhookEndpoint,
    RollSecretRequest,
    WebhookEndpointList,
    WebhookEndpointRequest,
)
from chalicelib.services.contention import patiently
from chalicelib.services.recording import Record, Reply

if TYPE_CHECKING:
    from chalicelib.ports import EventLog, WebhookEndpoints

# Each endpoint gets every event of its types: a bound on the fan-out of one event.
MAX_ENDPOINTS = 16
# invalid_url when the host name has no DNS record: nothing says it is not public.
UNRESOLVABLE_URL_MESSAGE = (
    "url's host name does not resolve (no DNS record for it): check the name, or create "
    "the endpoint once the name resolves."
)


def check_url(url: str, allow_local: bool, resolve: Resolver) -> None:
    """400 ``invalid_url`` unless webhooks may be sent to ``url`` (``domain.webhook_urls``)."""
    try:
        check(url, allow_local=allow_local, resolve=resolve)
    except UnresolvableHost:
        raise ApiError("invalid_url", param="url", message=UNRESOLVABLE_URL_MESSAGE) from None
    except UnsafeUrl:
        raise ApiError("invalid_url", param="url") from None


def event_resource(event: Event) -> models.Event:
    return models.Event.model_validate_json(event.body)


def endpoint_resource(endpoint: WebhookEndpoint, status: str = "enabled") -> models.WebhookEndpoint:
    return models.WebhookEndpoint(
        id=endpoint.endpoint_id,
        url=endpoint.url,
        events=list(endpoint.events),
        status=status,
        created_at=endpoint.created_at,
    )


class EventService:
    def __init__(
        self,
        events: EventLog,
        endpoints: WebhookEndpoints,
        allow_local: bool,
        resolve: Resolver,
    ) -> None:
        self._events = events
        self._endpoints = endpoints
        self._allow_local = allow_local
        self._resolve = resolve
        self.endpoint_creation = EndpointCreation(endpoints, allow_local, resolve)

    # ---- events --------------------------------------------------------------------------

    def get(self, merchant_id: str, event_id: str) -> models.Event:
        event = self._events.get_for(merchant_id, event_id)
        if event is None:
            raise ApiError("resource_missing", param="id")
        return event_resource(event)

    def list(self, merchant_id: str, query: ListEventsQuery) -> EventList:
        anchor = None
        if query.starting_after is not None:
            anchor = self._events.get_for(merchant_id, query.starting_after)
            if anchor is None:
                raise ApiError("invalid_starting_after", param="starting_after")
        events, has_more = self._events.list_for_merchant(
            merchant_id, query.type, query.page_size, anchor
        )
        return EventList(items=[event_resource(e) for e in events], has_more=has_more)

    # ---- webhook endpoints ---------------------------------------------------------------

    def list_endpoints(self, merchant_id: str) -> WebhookEndpointList:
        endpoints = self._endpoints.list_for_merchant(merchant_id)
        return WebhookEndpointList(items=[endpoint_resource(e) for e in endpoints], has_more=False)

    def roll_secret(
        self, merchant_id: str, endpoint_id: str, request: RollSecretRequest, record: Record
    ) -> Reply:
        """A new signing secret, shown in this response only. The old one keeps signing
        deliveries beside it for ``expire_old_in_hours``; a secret rolled before and still
        in its grace period stops at once (only the newest old secret is kept)."""
        endpoint = self._endpoints.get(merchant_id, endpoint_id)
        if endpoint is None:
            raise ApiError("resource_missing", param="id")
        secret = f"whsec_{secrets.token_urlsafe(32)}"
        hours = request.expire_old_in_hours
        old_expires_ms = int((time.time() + hours * 3600) * 1000) if hours else None
        reply = Reply(
            200,
            data=NewWebhookEndpoint(**endpoint_resource(endpoint).model_dump(), secret=secret),
            object_id=endpoint_id,
        )
        entry = self._endpoints.roll_entry(merchant_id, endpoint_id, secret, old_expires_ms)
        try:
            record.finish(reply, [entry])
        except WriteConflict:
            raise ApiError("resource_missing", param="id") from None  # deleted meanwhile
        return reply

    def send_test(self, merchant_id: str, endpoint_id: str, record: Record) -> Reply:
        """202: a ``test.ping`` event (about the endpoint, without its secret) is written to
        the outbox for this endpoint only; the delivery functions sign and send it."""
        endpoint = self._endpoints.get(merchant_id, endpoint_id)
        if endpoint is None:
            raise ApiError("resource_missing", param="id")
        about = endpoint_resource(endpoint).model_dump(mode="json")
        entry, event = self._events.test_ping_entry(merchant_id, endpoint_id, iso(now_utc()), about)
        reply = Reply(202, data=event_resource(event), object_id=event.event_id)
        record.finish(reply, [entry])
        return reply

    def delete_endpoint(self, merchant_id: str, endpoint_id: str, record: Record) -> Reply:
        """Delete an endpoint and its secret: nothing more is delivered to it.

        The merchant's count goes down in the same commit, tried again while it loses to
        concurrent changes of the count (then 429 ``lock_timeout``)."""
        endpoint = self._endpoints.get(merchant_id, endpoint_id)
        if endpoint is None:
            raise ApiError("resource_missing", param="id")
        reply = Reply(200, data=endpoint_resource(endpoint, "deleted"), object_id=endpoint_id)
        entries = self._endpoints.delete_entries(merchant_id, endpoint_id)
        try:
            patiently(lambda: record.finish(reply, entries))
        except WriteConflict as conflict:
            if not conflict.any_in(range(1)):
                raise ApiError("resource_missing", param="id") from None  # deleted meanwhile
            # No counter item yet (endpoints older than it): count them, then delete.
            self._endpoints.start_count(merchant_id)
            try:
                patiently(lambda: record.finish(reply, entries))
            except WriteConflict:
                raise ApiError("resource_missing", param="id") from None
        return reply


class EndpointCreation:
    """POST /webhook_endpoints as an idempotent command (see ``web.pipeline``).

    Creation is one commit: the endpoint, its secret, the merchant's count and, with an
    Idempotency-Key, the completed key record. A commit that keeps losing to concurrent
    changes of the count is tried again for a bounded time, then answered 429
    ``lock_timeout``, not stored: the same key may be retried.

    A replay answers the same endpoint with ``secret: null``: the secret is never stored
    where the API can read it (the key record would be such a place), so a client that lost
    the first answer rolls the secret (``POST /webhook_endpoints/{id}/roll_secret``) to get
    a new one.
    """

    def __init__(self, endpoints: WebhookEndpoints, allow_local: bool, resolve: Resolver) -> None:
        self._endpoints = endpoints
        self._allow_local = allow_local
        self._resolve = resolve

    def first_read(
        self, merchant_id: str, request: WebhookEndpointRequest
    ) -> FirstRead[Mapping[str, object]]:
        """The merchant's endpoint count. The URL is checked first, like the request's
        shape: a refused URL is not stored for replay (a name may resolve later)."""
        check_url(request.url, self._allow_local, self._resolve)
        return FirstRead(self._endpoints.table, self._endpoints.counter_key(merchant_id), dict)

    def create(
        self,
        merchant_id: str,
        request: WebhookEndpointRequest,
        record: Record,
        counter: Mapping[str, object] | None,
    ) -> Reply:
        """A new endpoint and its signing secret, shown in this response only."""
        count = (
            self._endpoints.count_of(counter)
            if counter is not None
            # No counter item yet: a new merchant, or one whose endpoints predate it.
            else self._endpoints.start_count(merchant_id)
        )
        if count >= MAX_ENDPOINTS:
            raise ApiError("too_many_webhook_endpoints")
        endpoint = WebhookEndpoint(
            merchant_id=merchant_id,
            endpoint_id=new_id("we"),
            url=request.url,
            events=tuple(request.events or EVENT_TYPES),
            created_at=iso(now_utc()),
        )
        secret = f"whsec_{secrets.token_urlsafe(32)}"
        created = endpoint_resource(endpoint)
        reply = Reply(
            201,
            data=NewWebhookEndpoint(**created.model_dump(), secret=secret),
            object_id=created.id,
            replayed_as=Reply(201, data=NewWebhookEndpoint(**created.model_dump(), secret=None)),
        )
        entries = self._endpoints.create_entries(endpoint, secret, MAX_ENDPOINTS)
        try:
            patiently(lambda: record.finish(reply, entries))
        except WriteConflict:
            # Only the count is conditional, and it exists (read or started above): the
            # merchant has MAX_ENDPOINTS already.
            raise ApiError("too_many_webhook_endpoints") from None
        return reply

    def resume(self, merchant_id: str, ref: ObjectRef, record: Record) -> Reply:
        # Creation binds no key ahead of its commit (there is no in-progress record to
        # resume): the pipeline never gets here for this command.
        raise RuntimeError("a webhook endpoint creation has no recovery point to resume")
