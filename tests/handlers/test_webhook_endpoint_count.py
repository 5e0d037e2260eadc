"""A merchant's webhook endpoints stay counted right when its endpoints are older than its
counter item (the item that holds the count the cap is checked against): the first creation
or deletion counts them, so the cap holds and the count never drifts."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamo import from_item
from chalicelib.adapters.webhooks import endpoint_to_item
from chalicelib.domain.webhooks import WebhookEndpoint
from chalicelib.ids import iso, new_id, now_utc
from chalicelib.services.events import MAX_ENDPOINTS
from tests.helpers import HandlerApi

RECEIVER = "https://93.184.216.34/hooks"


def endpoints_without_counter(services: Any, merchant_id: str, count: int) -> list[str]:
    """``count`` endpoints of the merchant written as items, with no counter item beside them."""
    store = services.webhook_endpoints
    ids = []
    for _ in range(count):
        endpoint = WebhookEndpoint(
            merchant_id=merchant_id,
            endpoint_id=new_id("we"),
            url=RECEIVER,
            events=("charge.succeeded",),
            created_at=iso(now_utc()),
        )
        services.dynamodb.put_item(TableName=store.table, Item=endpoint_to_item(endpoint))
        ids.append(endpoint.endpoint_id)
    assert counted(services, merchant_id) is None
    return ids


def counted(services: Any, merchant_id: str) -> int | None:
    """The count the merchant's counter item holds; None when it has none."""
    store = services.webhook_endpoints
    item = services.dynamodb.get_item(
        TableName=store.table, Key=store.counter_key(merchant_id), ConsistentRead=True
    ).get("Item")
    return from_item(item)["endpoint_count"] if item else None


def listed(api: HandlerApi, key: str) -> int:
    return len(api.get("/webhook_endpoints", key=key).data["items"])


def test_the_first_creation_counts_the_endpoints_older_than_the_counter(
    client: Any, services: Any, merchant: Any
) -> None:
    api, key = HandlerApi(client), merchant.secret_key
    endpoints_without_counter(services, merchant.merchant_id, 5)
    created = api.post("/webhook_endpoints", {"url": RECEIVER}, key=key)
    assert created.status == 201, created.text
    assert counted(services, merchant.merchant_id) == 6 == listed(api, key)
    room = MAX_ENDPOINTS - 6
    assert [
        api.post("/webhook_endpoints", {"url": RECEIVER}, key=key).status for _ in range(room)
    ] == [201] * room
    refused = api.post("/webhook_endpoints", {"url": RECEIVER}, key=key)
    assert (refused.status, refused.error["code"]) == (409, "too_many_webhook_endpoints")
    assert counted(services, merchant.merchant_id) == MAX_ENDPOINTS == listed(api, key)


def test_a_merchant_at_the_cap_before_the_counter_existed_is_refused(
    client: Any, services: Any, merchant: Any
) -> None:
    api, key = HandlerApi(client), merchant.secret_key
    endpoints_without_counter(services, merchant.merchant_id, MAX_ENDPOINTS)
    refused = api.post("/webhook_endpoints", {"url": RECEIVER}, key=key)
    assert (refused.status, refused.error["code"]) == (409, "too_many_webhook_endpoints")
    assert counted(services, merchant.merchant_id) == MAX_ENDPOINTS == listed(api, key)


def test_deleting_an_endpoint_older_than_the_counter_counts_the_others_first(
    client: Any, services: Any, merchant: Any
) -> None:
    api, key = HandlerApi(client), merchant.secret_key
    ids = endpoints_without_counter(services, merchant.merchant_id, MAX_ENDPOINTS)
    deleted = api.request("DELETE", f"/webhook_endpoints/{ids[0]}", key=key)
    assert (deleted.status, deleted.data["status"]) == (200, "deleted")
    assert counted(services, merchant.merchant_id) == MAX_ENDPOINTS - 1 == listed(api, key)
    gone = api.request("DELETE", f"/webhook_endpoints/{ids[0]}", key=key)
    assert (gone.status, gone.error["code"]) == (404, "resource_missing")
    assert api.post("/webhook_endpoints", {"url": RECEIVER}, key=key).status == 201
    refused = api.post("/webhook_endpoints", {"url": RECEIVER}, key=key)
    assert (refused.status, refused.error["code"]) == (409, "too_many_webhook_endpoints")
    assert counted(services, merchant.merchant_id) == MAX_ENDPOINTS == listed(api, key)


def test_a_new_merchant_starts_its_count_at_zero(client: Any, services: Any, merchant: Any) -> None:
    api, key = HandlerApi(client), merchant.secret_key
    assert counted(services, merchant.merchant_id) is None
    assert api.post("/webhook_endpoints", {"url": RECEIVER}, key=key).status == 201
    assert counted(services, merchant.merchant_id) == 1 == listed(api, key)
