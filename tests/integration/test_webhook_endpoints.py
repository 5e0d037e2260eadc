"""Webhook endpoints under concurrency and over their whole life, over HTTP against the
session's stack: the cap, idempotent creation, secret rolls and test events."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.services.events import MAX_ENDPOINTS
from tests.integration.test_concurrency import fire

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
