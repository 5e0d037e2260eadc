"""Use cases of the events and webhook-endpoint routes (secret key only, merchant-scoped)."""

from __future__ import annotations

import secrets
from typing import Any

from chalicelib.adapters.dynamo import WriteConflict
from chalicelib.domain.events import EVENT_TYPES
from chalicelib.domain.webhook_urls import UnsafeUrl, check
from chalicelib.errors import ApiError
from chalicelib.ids import iso, new_id, now_utc
from chalicelib.models import (
    Event,
    EventList,
    ListEventsQuery,
    NewWebhookEndpoint,
    WebhookEndpoint,
    WebhookEndpointList,
    WebhookEndpointRequest,
)
from chalicelib.services.recording import Record, Reply

# Each endpoint gets every event of its types: a bound on the fan-out of one event.
MAX_ENDPOINTS = 16


def event_resource(item: dict[str, Any]) -> Event:
    return Event.model_validate_json(item["body"])


def endpoint_resource(item: dict[str, Any], status: str = "enabled") -> WebhookEndpoint:
    return WebhookEndpoint(
        id=item["endpoint_id"],
        url=item["url"],
        events=item["events"],
        status=status,  # type: ignore[arg-type]
        created_at=item["created_at"],
    )


class EventService:
    def __init__(self, events: Any, endpoints: Any, allow_local: bool, resolve: Any) -> None:
        self._events = events
        self._endpoints = endpoints
        self._allow_local = allow_local
        self._resolve = resolve

    # ---- events --------------------------------------------------------------------------

    def get(self, merchant_id: str, event_id: str) -> Event:
        item = self._events.get_for(merchant_id, event_id)
        if item is None:
            raise ApiError("resource_missing", param="id")
        return event_resource(item)

    def list(self, merchant_id: str, query: ListEventsQuery) -> EventList:
        cursor = None
        if query.starting_after is not None:
            anchor = self._events.get_for(merchant_id, query.starting_after)
            if anchor is None:
                raise ApiError("invalid_starting_after", param="starting_after")
            cursor = anchor["list_sk"]
        items, has_more = self._events.list_for_merchant(
            merchant_id, query.type, query.page_size, cursor
        )
        return EventList(items=[event_resource(i) for i in items], has_more=has_more)

    # ---- webhook endpoints ---------------------------------------------------------------

    def create_endpoint(
        self, merchant_id: str, request: WebhookEndpointRequest, record: Record
    ) -> Reply:
        """A new endpoint and its signing secret, shown in this response only."""
        try:
            check(request.url, allow_local=self._allow_local, resolve=self._resolve)
        except UnsafeUrl:
            raise ApiError("invalid_url", param="url") from None
        endpoint = {
            "merchant_id": merchant_id,
            "endpoint_id": new_id("we"),
            "url": request.url,
            "events": list(request.events or EVENT_TYPES),
            "created_at": iso(now_utc()),
        }
        secret = f"whsec_{secrets.token_urlsafe(32)}"
        created = endpoint_resource(endpoint)
        reply = Reply(
            201,
            data=NewWebhookEndpoint(**created.model_dump(), secret=secret),
            object_id=created.id,
        )
        try:
            record.finish(reply, self._endpoints.create_entries(endpoint, secret, MAX_ENDPOINTS))
        except WriteConflict:
            # Only the count is conditional: the merchant has MAX_ENDPOINTS already.
            raise ApiError("too_many_webhook_endpoints") from None
        return reply

    def list_endpoints(self, merchant_id: str) -> WebhookEndpointList:
        items = self._endpoints.list_for_merchant(merchant_id)
        return WebhookEndpointList(items=[endpoint_resource(i) for i in items], has_more=False)

    def delete_endpoint(self, merchant_id: str, endpoint_id: str, record: Record) -> Reply:
        """Delete an endpoint and its secret: nothing more is delivered to it."""
        item = self._endpoints.get(merchant_id, endpoint_id)
        if item is None:
            raise ApiError("resource_missing", param="id")
        reply = Reply(200, data=endpoint_resource(item, "deleted"), object_id=endpoint_id)
        try:
            record.finish(reply, self._endpoints.delete_entries(merchant_id, endpoint_id))
        except WriteConflict:
            raise ApiError("resource_missing", param="id") from None  # deleted meanwhile
        return reply
