"""Webhook endpoints under concurrency and over their whole life, over HTTP against the
session's stack: the cap, idempotent creation, secret rolls and test events."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from chalicelib.services.events import MAX_ENDPOINTS
from tests.handlers.test_webhook_endpoint_count import counted, endpoints_without_counter
from tests.helpers import VISA, charge_body, tokenize
from tests.integration.test_concurrency import fire
from tests.integration.test_webhooks import subscribe
from tests.receiver import Delivery, Receiver, receivers, verify_from_docs

pytestmark = pytest.mark.integration

PUBLIC = "https://93.184.216.34/hooks"


def endpoint_ids(api: Any, key: str) -> list[str]:
    return [e["id"] for e in api.get("/webhook_endpoints", key=key).data["items"]]


def test_the_cap_holds_under_a_burst_of_concurrent_creations(http_api: Any, merchant: Any) -> None:
    key = merchant.secret_key
    responses = fire(40, lambda: http_api.post("/webhook_endpoints", {"url": PUBLIC}, key=key))
    statuses = [r.status for r in responses]
    assert set(statuses) <= {201, 409}, [r.text for r in responses if r.status not in (201, 409)]
    assert statuses.count(201) == MAX_ENDPOINTS
    assert {r.error["code"] for r in responses if r.status == 409} == {"too_many_webhook_endpoints"}
    assert len(endpoint_ids(http_api, key)) == MAX_ENDPOINTS


def test_endpoints_older_than_the_counter_are_counted_once_under_concurrent_creations(
    http_api: Any, services: Any, merchant: Any
) -> None:
    """Every creation of the burst finds no counter item and counts the endpoints; one
    count is written, and the cap holds over the older endpoints too."""
    key, older = merchant.secret_key, 10
    endpoints_without_counter(services, merchant.merchant_id, older)
    responses = fire(30, lambda: http_api.post("/webhook_endpoints", {"url": PUBLIC}, key=key))
    statuses = [r.status for r in responses]
    assert set(statuses) <= {201, 409}, [r.text for r in responses if r.status not in (201, 409)]
    assert statuses.count(201) == MAX_ENDPOINTS - older
    assert {r.error["code"] for r in responses if r.status == 409} == {"too_many_webhook_endpoints"}
    assert (
        len(endpoint_ids(http_api, key)) == MAX_ENDPOINTS == counted(services, merchant.merchant_id)
    )


def test_a_deleted_endpoint_frees_its_place(http_api: Any, merchant: Any) -> None:
    key = merchant.secret_key
    created = [
        http_api.post("/webhook_endpoints", {"url": PUBLIC}, key=key) for _ in range(MAX_ENDPOINTS)
    ]
    assert {r.status for r in created} == {201}
    assert http_api.post("/webhook_endpoints", {"url": PUBLIC}, key=key).status == 409
    gone = created[0].data["id"]
    assert http_api.request("DELETE", f"/webhook_endpoints/{gone}", key=key).status == 200
    # Deleting it again changes nothing: still one free place, not two.
    assert http_api.request("DELETE", f"/webhook_endpoints/{gone}", key=key).status == 404
    assert http_api.post("/webhook_endpoints", {"url": PUBLIC}, key=key).status == 201
    refused = http_api.post("/webhook_endpoints", {"url": PUBLIC}, key=key)
    assert (refused.status, refused.error["code"]) == (409, "too_many_webhook_endpoints")
    assert len(endpoint_ids(http_api, key)) == MAX_ENDPOINTS


def test_a_replayed_creation_answers_the_same_endpoint_without_its_secret(
    http_api: Any, merchant: Any
) -> None:
    key, body = merchant.secret_key, {"url": PUBLIC, "events": ["charge.succeeded"]}
    idem = {"Idempotency-Key": f"we-{uuid.uuid4()}"}
    first = http_api.post("/webhook_endpoints", body, key=key, headers=idem)
    assert first.status == 201, first.text
    assert first.data["secret"].startswith("whsec_")
    again = http_api.post("/webhook_endpoints", body, key=key, headers=idem)
    assert again.status == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["original-request-id"] == first.json["request_id"]
    assert again.json["request_id"] == first.json["request_id"]
    assert again.data == {**first.data, "secret": None}
    assert first.data["secret"] not in again.text
    assert endpoint_ids(http_api, key) == [first.data["id"]]
    other = http_api.post("/webhook_endpoints", {"url": PUBLIC}, key=key, headers=idem)
    assert (other.status, other.error["code"]) == (422, "idempotency_key_reused")


def test_concurrent_creations_with_one_key_create_one_endpoint(
    http_api: Any, merchant: Any
) -> None:
    key, idem = merchant.secret_key, {"Idempotency-Key": f"we-{uuid.uuid4()}"}
    responses = fire(
        10, lambda: http_api.post("/webhook_endpoints", {"url": PUBLIC}, key=key, headers=idem)
    )
    assert {r.status for r in responses} <= {201, 409}, [r.text for r in responses]
    created = {r.data["id"] for r in responses if r.status == 201}
    assert len(created) == 1
    assert endpoint_ids(http_api, key) == list(created)
    secrets = [r.data["secret"] for r in responses if r.status == 201]
    assert len([s for s in secrets if s is not None]) == 1  # shown to one answer only


def test_a_host_that_does_not_resolve_is_told_so(http_api: Any, merchant: Any) -> None:
    # RFC 6761: names under .invalid never resolve.
    url = "https://hooks.merchant-that-does-not-exist.invalid/webhooks"
    response = http_api.post("/webhook_endpoints", {"url": url}, key=merchant.secret_key)
    assert (response.status, response.error["code"], response.error["param"]) == (
        400,
        "invalid_url",
        "url",
    )
    assert "does not resolve" in response.error["message"]
    assert "public" not in response.error["message"]
    # Not stored for replay: the same key works once the name resolves (here: another URL).
    idem = {"Idempotency-Key": f"we-{uuid.uuid4()}"}
    refused = http_api.post(
        "/webhook_endpoints", {"url": url}, key=merchant.secret_key, headers=idem
    )
    assert refused.status == 400 and "idempotent-replayed" not in refused.headers


def charge_and_wait(api: Any, key: str, receiver: Receiver) -> Delivery:
    token = tokenize(api, key, VISA)
    charge = api.post("/charge", charge_body(token), key=key)
    assert charge.status == 201
    (delivery,) = receiver.wait_for(charge.data["id"], 1)
    return delivery


def test_a_rolled_secret_signs_beside_the_old_one_until_it_expires(
    http_api: Any, merchant: Any
) -> None:
    key = merchant.secret_key
    with receivers([]) as (receiver,):
        endpoint = subscribe(http_api, key, receiver.url, ["charge.succeeded"])
        path = f"/webhook_endpoints/{endpoint['id']}/roll_secret"
        rolled = http_api.post(path, {"expire_old_in_hours": 24}, key=key)
        assert rolled.status == 200, rolled.text
        assert rolled.data["secret"].startswith("whsec_")
        assert rolled.data["secret"] != endpoint["secret"]
        assert {**rolled.data, "secret": None} == {**endpoint, "secret": None}
        assert rolled.data["secret"] not in http_api.get("/webhook_endpoints", key=key).text

        delivery = charge_and_wait(http_api, key, receiver)
        header = delivery.headers["payments-signature"]
        assert header.count("v1=") == 2
        assert verify_from_docs(delivery.body, header, rolled.data)  # the new secret
        assert verify_from_docs(delivery.body, header, endpoint)  # the old one, for 24 h

        # Rolled again with no grace: only the newest secret signs from now on.
        newest = http_api.post(path, {"expire_old_in_hours": 0}, key=key)
        assert newest.status == 200
        delivery = charge_and_wait(http_api, key, receiver)
        header = delivery.headers["payments-signature"]
        assert header.count("v1=") == 1
        assert verify_from_docs(delivery.body, header, newest.data)
        assert not verify_from_docs(delivery.body, header, rolled.data)
        assert not verify_from_docs(delivery.body, header, endpoint)


def test_rolling_defaults_to_24_hours_of_grace(http_api: Any, merchant: Any) -> None:
    key = merchant.secret_key
    with receivers([]) as (receiver,):
        endpoint = subscribe(http_api, key, receiver.url, ["charge.succeeded"])
        rolled = http_api.post(f"/webhook_endpoints/{endpoint['id']}/roll_secret", {}, key=key)
        assert rolled.status == 200
        delivery = charge_and_wait(http_api, key, receiver)
        header = delivery.headers["payments-signature"]
        assert verify_from_docs(delivery.body, header, endpoint)
        assert verify_from_docs(delivery.body, header, rolled.data)


@pytest.mark.parametrize("hours", [-1, 169, "24", 1.5, None, True])
def test_a_bad_grace_period_is_refused(http_api: Any, merchant: Any, hours: Any) -> None:
    key = merchant.secret_key
    endpoint = http_api.post("/webhook_endpoints", {"url": PUBLIC}, key=key).data
    response = http_api.post(
        f"/webhook_endpoints/{endpoint['id']}/roll_secret", {"expire_old_in_hours": hours}, key=key
    )
    assert (response.status, response.error["code"], response.error["param"]) == (
        400,
        "invalid_expire_old_in_hours",
        "expire_old_in_hours",
    )


def test_rolling_an_endpoint_that_is_not_yours_or_gone_is_404(
    http_api: Any, merchant: Any, services: Any
) -> None:
    key = merchant.secret_key
    endpoint = http_api.post("/webhook_endpoints", {"url": PUBLIC}, key=key).data
    path = f"/webhook_endpoints/{endpoint['id']}/roll_secret"
    other = services.merchant_service.create_merchant("Other")
    for response in (
        http_api.post(path, {}, key=other.secret_key),
        http_api.post("/webhook_endpoints/we_unknown/roll_secret", {}, key=key),
        http_api.post("/webhook_endpoints/not-an-id/roll_secret", {}, key=key),
    ):
        assert (response.status, response.error["code"]) == (404, "resource_missing")
    assert http_api.post(path, {}, key=merchant.publishable_key).status == 403
    assert http_api.request("DELETE", f"/webhook_endpoints/{endpoint['id']}", key=key).status == 200
    gone = http_api.post(path, {}, key=key)
    assert (gone.status, gone.error["code"]) == (404, "resource_missing")


def test_a_test_event_goes_to_that_endpoint_only(http_api: Any, merchant: Any) -> None:
    key = merchant.secret_key
    with receivers([], []) as (target, other):
        endpoint = subscribe(http_api, key, target.url, ["refund.failed"])
        subscribe(http_api, key, other.url)
        response = http_api.post(f"/webhook_endpoints/{endpoint['id']}/test", key=key)
        assert response.status == 202, response.text
        sent = response.data
        assert (sent["object"], sent["type"]) == ("event", "test.ping")
        assert sent["data"]["object"] == {k: v for k, v in endpoint.items() if k != "secret"}
        (delivery,) = target.wait_for(endpoint["id"], 1)
        assert delivery.event == sent
        assert verify_from_docs(delivery.body, delivery.headers["payments-signature"], endpoint)
        assert endpoint["secret"] not in delivery.body.decode()
        time.sleep(1.5)
        assert other.received == [] and len(target.received) == 1
    assert http_api.get("/events", key=key).data["items"] == []
    one = http_api.get(f"/events/{sent['id']}", key=key)
    assert (one.status, one.error["code"]) == (404, "resource_missing")


def test_a_test_event_for_an_unknown_endpoint_is_404(
    http_api: Any, merchant: Any, services: Any
) -> None:
    endpoint = http_api.post("/webhook_endpoints", {"url": PUBLIC}, key=merchant.secret_key).data
    other = services.merchant_service.create_merchant("Other")
    for key, path in (
        (other.secret_key, f"/webhook_endpoints/{endpoint['id']}/test"),
        (merchant.secret_key, "/webhook_endpoints/we_unknown/test"),
    ):
        response = http_api.post(path, key=key)
        assert (response.status, response.error["code"]) == (404, "resource_missing")
