"""Envelope, request ids, authentication and the request-shape errors (contract 1, 2)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from chalicelib.services.authentication import hash_key
from payments_admin.bootstrap import DEMO_PUBLISHABLE_KEY, DEMO_SECRET_KEY
from tests.helpers import card, charge_body


def assert_error(response: Any, status: int, code: str, param: str | None = None) -> None:
    assert response.status == status, response.text
    body = response.json
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    if param is not None:
        assert body["error"]["param"] == param
    assert body["request_id"] == response.headers["x-request-id"]


def test_health_needs_no_key_and_carries_the_request_id(api: Any) -> None:
    response = api.get("/health")
    assert response.status == 200
    assert response.json["data"] == {"status": "ok"}
    assert response.json["request_id"].startswith("req_")
    assert response.headers["x-request-id"] == response.json["request_id"]


def test_request_ids_are_unique(api: Any) -> None:
    ids = {api.get("/health").json["request_id"] for _ in range(5)}
    assert len(ids) == 5


def test_missing_key_is_401(api: Any) -> None:
    assert api.post("/charge", charge_body("tok_x")).status == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer sk_test_thisKeyDoesNotExistAnywhere000000",
        "Bearer not-a-key",
        "Basic " + DEMO_SECRET_KEY,
        DEMO_SECRET_KEY,
        "Bearer ",
    ],
)
def test_unknown_or_malformed_key_is_401(api: Any, header: str) -> None:
    response = api.post("/charge", charge_body("tok_x"), headers={"Authorization": header})
    assert response.status == 401


def test_401_body_is_the_envelope(api: Any) -> None:
    response = api.post("/token", card(), key="sk_test_thisKeyDoesNotExistAnywhere000000")
    assert_error(response, 401, "invalid_api_key")


def test_revoked_key_is_401_on_the_next_request_without_an_authorizer_cache(
    api: Any, services: Any
) -> None:
    """Locally (and in the test client) nothing caches the authorizer's answer, so the very
    next request is refused (a read route looks the key up afresh; the state-changing ones
    judge it again themselves: tests/handlers/test_key_reuse.py). Deployed, API Gateway
    caches a policy per key for the authorizer's TTL: see the test below and docs/api.md."""
    merchant = services.merchant_service.create_merchant("Soon Revoked")
    assert api.get("/charges", key=merchant.secret_key).status == 200
    assert services.merchant_service.revoke_key(merchant.secret_key) is not None
    assert api.get("/charges", key=merchant.secret_key).status == 401
    # The publishable key of the same merchant is unaffected.
    assert api.post("/token", card(), key=merchant.publishable_key).status == 201


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/charge", charge_body("tok_x")),
        ("POST", "/refund", {"charge_id": "ch_x"}),
        ("GET", "/charges", None),
        ("GET", "/charge/ch_x", None),
    ],
)
def test_publishable_key_on_a_secret_route_is_403(
    api: Any, method: str, path: str, body: Any
) -> None:
    response = api.request(method, path, body, key=DEMO_PUBLISHABLE_KEY)
    assert response.status == 403


def test_publishable_key_may_tokenize(api: Any) -> None:
    assert api.post("/token", card(), key=DEMO_PUBLISHABLE_KEY).status == 201


def test_invalid_json_is_400(api: Any) -> None:
    response = api.post("/charge", b"{not json", key=DEMO_SECRET_KEY)
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null", b""])
def test_a_body_that_is_not_an_object_is_400(api: Any, body: bytes) -> None:
    response = api.request(
        "POST", "/token", body, key=DEMO_SECRET_KEY, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "invalid_json")


def test_unknown_parameter(api: Any) -> None:
    response = api.post("/token", card(nickname="x"), key=DEMO_SECRET_KEY)
    assert_error(response, 400, "unknown_parameter", "nickname")


def test_missing_parameter(api: Any) -> None:
    body = card()
    del body["cvv"]
    response = api.post("/token", body, key=DEMO_SECRET_KEY)
    assert_error(response, 400, "missing_parameter", "cvv")


def test_wrong_method_is_405_in_the_envelope(api: Any) -> None:
    response = api.request("PUT", "/charge", {}, key=DEMO_SECRET_KEY)
    assert_error(response, 405, "method_not_allowed")


def test_non_json_content_type_is_415(api: Any) -> None:
    response = api.post(
        "/token", card(), key=DEMO_SECRET_KEY, headers={"Content-Type": "text/plain"}
    )
    assert_error(response, 415, "unsupported_media_type")


def test_body_over_64_kib_is_413(api: Any) -> None:
    response = api.post("/token", card(cardholder_name="x" * 70_000), key=DEMO_SECRET_KEY)
    assert_error(response, 413, "request_too_large")


def test_body_just_under_the_limit_is_read(api: Any) -> None:
    body = card()
    body["cardholder_name"] = "x" * 60_000
    response = api.post("/token", body, key=DEMO_SECRET_KEY)
    assert_error(response, 400, "invalid_cardholder_name", "cardholder_name")


def test_deployed_revocation_takes_at_most_the_authorizer_ttl(chalice_app: Any) -> None:
    """The bound docs/api.md promises for reads by a revoked key when deployed (5 s)."""
    (authorizer,) = {
        entry.authorizer.name: entry.authorizer
        for routes in chalice_app.routes.values()
        for entry in routes.values()
        if entry.authorizer is not None
    }.values()
    assert 0 < authorizer.config.ttl_seconds <= 5


def test_the_api_document_is_served_without_a_key(api: Any) -> None:
    from payments_admin.api_docs import OPENAPI_PATH

    response = api.get("/openapi.json")
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"].startswith("req_")
    assert response.text == OPENAPI_PATH.read_text()


def _audit_records(services: Any) -> list[dict[str, Any]]:
    from chalicelib.adapters.dynamo import from_item

    table = services.settings.table("AuditLog")
    pages = services.dynamodb.get_paginator("scan").paginate(TableName=table)
    return [from_item(item) for page in pages for item in page["Items"]]


def test_rejected_authentication_is_audited_without_the_key(api: Any, services: Any) -> None:
    from tests.helpers import rejection_counts

    presented = "sk_test_auditedButUnknownKey0000000000"
    before = rejection_counts(services)
    assert api.get("/charges", key=presented).status == 401
    after = rejection_counts(services)
    changed = {k: v for k, v in after.items() if v["count"] != before.get(k, {}).get("count")}
    assert len(changed) == 1, changed
    (record,) = changed.values()
    assert record["reason"] == "unknown_key"
    assert record["key_hash_prefix"] == hash_key(presented)[:2]
    assert record["route"] == "GET /charges"
    assert record["first_request_id"].startswith("req_")
    assert presented not in repr(after)


def test_state_changing_requests_are_audited(api: Any, services: Any, merchant: Any) -> None:
    ok = api.post("/token", card(), key=merchant.secret_key, headers={"User-Agent": "audit/1"})
    bad = api.post("/token", card(cvv="1"), key=merchant.secret_key)
    records = {
        r["request_id"]: r
        for r in _audit_records(services)
        if r.get("merchant_id") == merchant.merchant_id
    }
    first = records[ok.json["request_id"]]
    assert first["action"] == "token.create"
    assert first["object_id"] == ok.data["id"]
    assert first["status"] == 201
    assert first["key_id"].startswith("key_")
    assert first["user_agent"] == "audit/1"
    second = records[bad.json["request_id"]]
    assert (second["status"], second["error_code"]) == (400, "invalid_cvv")
    for record in records.values():
        text = repr(record)
        assert "4242424242424242" not in text and merchant.secret_key not in text


def test_audit_records_refuse_overwrite(services: Any) -> None:
    from chalicelib.adapters.dynamo import is_condition_failure
    from chalicelib.domain.keys import AuditEntry

    record = AuditEntry(
        at="2026-01-01T00:00:00.000Z",
        request_id="req_fixed_for_overwrite_test",
        action="test",
        status=200,
    )
    try:
        services.audit_log.append(record)
    except Exception as exc:  # a rerun of the session against the same moto: already there
        assert is_condition_failure(exc)
    with pytest.raises(Exception) as raised:
        services.audit_log.append(dataclasses.replace(record, status=500))
    assert is_condition_failure(raised.value)


def test_keys_are_stored_only_as_hashes(services: Any, merchant: Any) -> None:
    from chalicelib.adapters.dynamo import from_item

    table = services.settings.table("ApiKeys")
    items = [from_item(i) for i in services.dynamodb.scan(TableName=table)["Items"]]
    mine = [i for i in items if i["merchant_id"] == merchant.merchant_id]
    assert {i["key_hash"] for i in mine} == {
        hash_key(merchant.secret_key),
        hash_key(merchant.publishable_key),
    }
    assert merchant.secret_key not in repr(items)


def test_an_internal_fault_is_a_500_envelope_without_details(
    client: Any, services: Any, merchant: Any
) -> None:
    """A real fault (a KMS key that does not exist), not a mock: 500, generic message."""
    import dataclasses

    from chalicelib.container import Container, reset_container
    from tests.helpers import HandlerApi

    broken = Container(dataclasses.replace(services.settings, kms_key_id="alias/missing-key"))
    reset_container(broken)
    try:
        response = HandlerApi(client).post("/token", card(), key=merchant.secret_key)
    finally:
        reset_container(services)
    assert_error(response, 500, "internal_error")
    assert response.error["type"] == "api_error"
    assert "missing-key" not in response.text and "Traceback" not in response.text
