"""GET /events, GET /events/{id} and the webhook-endpoint routes (contract "Events and
webhooks"), through the test client and over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.dynamo import from_item
from chalicelib.domain.events import event_id
from tests.helpers import charge_body, tokenize

DECLINED = "4000000000000002"
RECEIVER = "https://93.184.216.34/hooks"


def charge(api: Any, key: str, number: str = "4242424242424242") -> str:
    response = api.post("/charge", charge_body(tokenize(api, key, number)), key=key)
    return response.data["id"] if response.status == 201 else response.error["charge"]


def test_each_outcome_is_an_event_newest_first(api: Any, merchant: Any) -> None:
    key = merchant.secret_key
    succeeded, failed = charge(api, key), charge(api, key, DECLINED)
    refund = api.post("/refund", {"charge_id": succeeded, "amount": 100}, key=key).data
    response = api.get("/events", key=key)
    assert response.status == 200
    listing = response.data
    assert (listing["object"], listing["has_more"]) == ("list", False)
    seen = [(e["type"], e["data"]["object"]["id"]) for e in listing["items"]]
    assert seen == [
        ("refund.succeeded", refund["id"]),
        ("charge.failed", failed),
        ("charge.succeeded", succeeded),
    ]
    event = listing["items"][2]
    assert set(event) == {"id", "object", "type", "created_at", "data"}
    assert event["object"] == "event" and event["id"].startswith("evt_")
    # The charge as the API answered it then.
    assert event["data"]["object"]["status"] == "succeeded"
    assert event["data"]["object"]["amount_refunded"] == 0
    one = api.get(f"/events/{event['id']}", key=key)
    assert (one.status, one.data) == (200, event)


def test_a_charge_answered_at_once_has_no_pending_event(api: Any, merchant: Any) -> None:
    charge(api, merchant.secret_key)
    pending = api.get("/events?type=charge.pending", key=merchant.secret_key).data
    assert pending["items"] == []


def test_paging_and_type_filter(api: Any, merchant: Any) -> None:
    key = merchant.secret_key
    charges = [charge(api, key) for _ in range(3)]
    charge(api, key, DECLINED)
    page = api.get("/events?type=charge.succeeded&limit=2", key=key).data
    assert [e["data"]["object"]["id"] for e in page["items"]] == charges[:0:-1]
    assert page["has_more"] is True
    rest = api.get(
        f"/events?type=charge.succeeded&limit=2&starting_after={page['items'][-1]['id']}", key=key
    ).data
    assert [e["data"]["object"]["id"] for e in rest["items"]] == charges[:1]
    assert rest["has_more"] is False


@pytest.mark.parametrize(
    ("query", "code", "param"),
    [
        ("limit=0", "invalid_limit", "limit"),
        ("type=charge.refunded", "invalid_type", "type"),
        ("starting_after=evt_unknown", "invalid_starting_after", "starting_after"),
        ("colour=red", "unknown_parameter", "colour"),
    ],
)
def test_bad_list_queries(api: Any, merchant: Any, query: str, code: str, param: str) -> None:
    response = api.get(f"/events?{query}", key=merchant.secret_key)
    assert (response.status, response.error["code"], response.error["param"]) == (
        400,
        code,
        param,
    )


@pytest.mark.parametrize("event", ["evt_unknown", "not-an-id", "ch_abc"])
def test_an_unknown_event_is_404(api: Any, merchant: Any, event: str) -> None:
    response = api.get(f"/events/{event}", key=merchant.secret_key)
    assert (response.status, response.error["code"], response.error["param"]) == (
        404,
        "resource_missing",
        "id",
    )


def test_another_merchants_event_is_404_and_not_listed(
    api: Any, merchant: Any, services: Any
) -> None:
    other = services.merchant_service.create_merchant("Other")
    charge_id = charge(api, merchant.secret_key)
    evt = event_id(charge_id, "charge.succeeded")
    assert api.get(f"/events/{evt}", key=merchant.secret_key).status == 200
    assert api.get(f"/events/{evt}", key=other.secret_key).status == 404
    assert api.get("/events", key=other.secret_key).data["items"] == []
    response = api.get(f"/events?starting_after={evt}", key=other.secret_key)
    assert response.error["code"] == "invalid_starting_after"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/events"),
        ("GET", "/events/evt_x"),
        ("POST", "/webhook_endpoints"),
        ("GET", "/webhook_endpoints"),
        ("DELETE", "/webhook_endpoints/we_x"),
    ],
)
def test_secret_key_only(http_api: Any, merchant: Any, method: str, path: str) -> None:
    body = {"url": RECEIVER} if method == "POST" else None
    response = http_api.request(method, path, body, key=merchant.publishable_key)
    assert (response.status, response.error["code"]) == (403, "secret_key_required")
    assert http_api.request(method, path, body, key=None).status == 401


def test_create_list_delete_an_endpoint(api: Any, merchant: Any, services: Any) -> None:
    key = merchant.secret_key
    created = api.post(
        "/webhook_endpoints", {"url": RECEIVER, "events": ["charge.succeeded"]}, key=key
    )
    assert created.status == 201, created.text
    endpoint = created.data
    assert set(endpoint) == {"id", "object", "url", "events", "status", "secret", "created_at"}
    assert endpoint["id"].startswith("we_") and endpoint["secret"].startswith("whsec_")
    assert (endpoint["object"], endpoint["status"], endpoint["events"]) == (
        "webhook_endpoint",
        "enabled",
        ["charge.succeeded"],
    )
    every = api.post("/webhook_endpoints", {"url": RECEIVER}, key=key).data
    assert len(every["events"]) == 8

    listing = api.get("/webhook_endpoints", key=key)
    assert listing.status == 200
    assert [e["id"] for e in listing.data["items"]] == [endpoint["id"], every["id"]]
    assert endpoint["secret"] not in listing.text and "secret" not in listing.data["items"][0]
    # The secret is kept apart from the endpoint, where no route reads it.
    items = services.dynamodb.scan(TableName=services.webhook_endpoints.table)["Items"]
    assert endpoint["secret"] not in str(items)

    deleted = api.request("DELETE", f"/webhook_endpoints/{endpoint['id']}", key=key)
    assert deleted.status == 200
    assert {**deleted.data, "status": "enabled"} == {
        k: v for k, v in endpoint.items() if k != "secret"
    }
    assert deleted.data["status"] == "deleted"
    assert services.webhook_endpoints.secrets([endpoint["id"]], 0) == {}
    assert [e["id"] for e in api.get("/webhook_endpoints", key=key).data["items"]] == [every["id"]]
    again = api.request("DELETE", f"/webhook_endpoints/{endpoint['id']}", key=key)
    assert (again.status, again.error["code"], again.error["param"]) == (
        404,
        "resource_missing",
        "id",
    )


def test_endpoints_are_merchant_scoped(api: Any, merchant: Any, services: Any) -> None:
    other = services.merchant_service.create_merchant("Other")
    mine = api.post("/webhook_endpoints", {"url": RECEIVER}, key=merchant.secret_key).data
    assert api.get("/webhook_endpoints", key=other.secret_key).data["items"] == []
    response = api.request("DELETE", f"/webhook_endpoints/{mine['id']}", key=other.secret_key)
    assert (response.status, response.error["code"]) == (404, "resource_missing")


def test_creating_and_deleting_endpoints_is_audited(api: Any, merchant: Any, services: Any) -> None:
    key = merchant.secret_key
    endpoint = api.post("/webhook_endpoints", {"url": RECEIVER}, key=key).data
    api.request("DELETE", f"/webhook_endpoints/{endpoint['id']}", key=key)
    scanned = services.dynamodb.scan(TableName=services.settings.table("AuditLog"))["Items"]
    actions = {
        (r["action"], r.get("object_id"))
        for r in map(from_item, scanned)
        if r.get("merchant_id") == merchant.merchant_id
    }
    assert {
        ("webhook_endpoint.create", endpoint["id"]),
        ("webhook_endpoint.delete", endpoint["id"]),
    } <= actions
    assert endpoint["secret"] not in str(scanned)


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({}, "missing_parameter", "url"),
        ({"url": RECEIVER, "colour": "red"}, "unknown_parameter", "colour"),
        ({"url": 42}, "invalid_url", "url"),
        ({"url": RECEIVER, "events": ["charge.refunded"]}, "invalid_events", "events"),
    ],
)
def test_bad_endpoint_requests(
    api: Any, merchant: Any, body: dict[str, Any], code: str, param: str
) -> None:
    response = api.post("/webhook_endpoints", body, key=merchant.secret_key)
    assert (response.status, response.error["code"], response.error["param"]) == (
        400,
        code,
        param,
    )


def test_at_most_16_endpoints(http_api: Any, merchant: Any) -> None:
    key = merchant.secret_key
    for _ in range(16):
        assert http_api.post("/webhook_endpoints", {"url": RECEIVER}, key=key).status == 201
    response = http_api.post("/webhook_endpoints", {"url": RECEIVER}, key=key)
    assert (response.status, response.error["code"]) == (409, "too_many_webhook_endpoints")


def test_a_declined_refund_is_a_refund_failed_event(api: Any, merchant: Any) -> None:
    key = merchant.secret_key
    charge_id = charge(api, key, "4000000000005126")
    refund = api.post("/refund", {"charge_id": charge_id}, key=key)
    assert refund.status == 402
    (event,) = api.get("/events?type=refund.failed", key=key).data["items"]
    assert event["data"]["object"]["id"] == refund.error["refund"]
    assert event["data"]["object"]["status"] == "failed"


def test_a_charge_has_at_most_one_pending_event(api: Any, merchant: Any, services: Any) -> None:
    from chalicelib.services.recording import SettlerRecord
    from tests.integration.test_pending import _write_ahead_only

    charge_id = _write_ahead_only(services, merchant, 300)
    item = services.charges.get_charge(merchant.merchant_id, charge_id)
    for _ in range(2):  # e.g. a request answered 202, then a resumed retry answering 202
        reply = services.settlement.conclude_pending(item, SettlerRecord(services.dynamodb))
        assert reply.status == 202
    pending = api.get("/events?type=charge.pending", key=merchant.secret_key).data["items"]
    assert [e["data"]["object"]["id"] for e in pending] == [charge_id]


def test_a_batch_reads_each_merchants_endpoints_once(merchant: Any, services: Any) -> None:
    """The delivery function reads a merchant's endpoints once per stream batch."""
    from chalicelib.adapters.event_store import event_to_item
    from chalicelib.domain.webhooks import Event

    queried: list[str] = []

    def count(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "Query":
            queried.append(str(params.get("TableName")))

    events = [
        Event(
            event_id=f"evt_b{n}",
            merchant_id=merchant.merchant_id,
            type="charge.succeeded",
            created_at="2026-01-01T00:00:00.000Z",
            body="{}",
        )
        for n in range(3)
    ]
    records = [
        {
            "eventName": "INSERT",
            "dynamodb": {"NewImage": event_to_item(e), "SequenceNumber": str(n)},
        }
        for n, e in enumerate(events)
    ]
    services.dynamodb.meta.events.register("before-parameter-build.dynamodb.Query", count)
    try:
        assert services.delivery.handle_records(records) == []
    finally:
        services.dynamodb.meta.events.unregister("before-parameter-build.dynamodb.Query", count)
    assert len(queried) == 1 and queried[0].endswith("WebhookEndpoints")
