"""Browser checkout over HTTP: origins, CORS on POST /token, 403s, 415s, the card-fields page
and payments.js; in-process (Chalice's test client) and through the local gateway."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from chalicelib.domain.origins import MAX_ORIGINS, TooManyOrigins
from chalicelib.services.checkout import InvalidOrigin, OriginNotRegistered, UnknownMerchant
from tests.helpers import HttpApi, card, charge_body, tokenize

SHOP = "https://shop.example.com"
OTHER = "https://evil.example.net"
CORS_HEADERS = (
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
)


def _registered(services: Any, merchant: Any, origin: str = SHOP) -> Any:
    services.checkout.allow(merchant.merchant_id, origin)
    return merchant


def _token_count(services: Any) -> int:
    name = services.settings.table("Tokens")
    return int(services.dynamodb.scan(TableName=name, Select="COUNT")["Count"])


def _audit(services: Any, merchant_id: str) -> list[dict[str, Any]]:
    response = services.dynamodb.scan(
        TableName=services.settings.table("AuditLog"),
        FilterExpression="merchant_id = :m",
        ExpressionAttributeValues={":m": {"S": merchant_id}},
    )
    return [{k: next(iter(v.values())) for k, v in item.items()} for item in response["Items"]]


def test_a_registered_origin_tokenizes_and_gets_its_cors_headers(
    api: Any, services: Any, merchant: Any
) -> None:
    _registered(services, merchant)
    response = api.post("/token", card(), key=merchant.publishable_key, headers={"Origin": SHOP})
    assert response.status == 201, response.text
    assert response.headers["access-control-allow-origin"] == SHOP
    assert response.headers["vary"] == "Origin"
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
    # Validation errors are readable by the page too.
    bad = api.post(
        "/token", card(card_number="4242"), key=merchant.publishable_key, headers={"Origin": SHOP}
    )
    assert bad.status == 400 and bad.error["code"] == "invalid_card_number"
    assert bad.headers["access-control-allow-origin"] == SHOP


def test_an_unregistered_origin_is_refused_and_creates_nothing(
    api: Any, services: Any, merchant: Any
) -> None:
    _registered(services, merchant)
    before = _token_count(services)
    response = api.post("/token", card(), key=merchant.publishable_key, headers={"Origin": OTHER})
    assert response.status == 403, response.text
    assert response.error["code"] == "origin_not_allowed"
    assert response.error["type"] == "permission_error"
    assert "access-control-allow-origin" not in response.headers
    assert _token_count(services) == before
    # Another merchant's origin is not this merchant's.
    other = services.merchant_service.create_merchant("Other")
    services.checkout.allow(other.merchant_id, OTHER)
    assert (
        api.post("/token", card(), key=merchant.publishable_key, headers={"Origin": OTHER}).status
        == 403
    )
    assert _token_count(services) == before


def test_a_merchant_without_origins_refuses_every_browser(api: Any, merchant: Any) -> None:
    response = api.post("/token", card(), key=merchant.publishable_key, headers={"Origin": SHOP})
    assert response.status == 403 and response.error["code"] == "origin_not_allowed"
    # Server-to-server (no Origin) is not a browser: tokenizing works as before.
    assert api.post("/token", card(), key=merchant.publishable_key).status == 201


def test_a_secret_key_from_a_browser_is_refused_on_every_route(
    api: Any, services: Any, merchant: Any
) -> None:
    _registered(services, merchant)
    token = tokenize(api, merchant.secret_key)
    calls = [
        ("POST", "/token", card()),
        ("POST", "/charge", charge_body(token)),
        ("POST", "/refund", {"charge_id": "ch_unknown"}),
        ("GET", "/charges", None),
        ("GET", "/charge/ch_unknown", None),
        ("GET", "/events", None),
        ("GET", "/webhook_endpoints", None),
    ]
    for method, path, body in calls:
        response = api.request(
            method, path, body, key=merchant.secret_key, headers={"Origin": SHOP}
        )
        assert response.status == 403, (path, response.text)
        assert response.error["code"] == "secret_key_in_browser", path
        for name in CORS_HEADERS:
            assert name not in response.headers, (path, name)
    # The token was not charged by the refused request.
    assert api.post("/charge", charge_body(token), key=merchant.secret_key).status == 201


def test_secret_key_routes_never_send_cors_headers(api: Any, merchant: Any) -> None:
    token = tokenize(api, merchant.secret_key)
    for response in (
        api.post("/charge", charge_body(token), key=merchant.secret_key),
        api.get("/charges", key=merchant.secret_key),
        api.get("/charges", key=merchant.publishable_key, headers={"Origin": SHOP}),
        api.get("/health", headers={"Origin": SHOP}),
    ):
        for name in CORS_HEADERS:
            assert name not in response.headers, (name, response.status)


def test_a_preflight_of_any_other_route_gets_no_cors_headers(http_api: HttpApi) -> None:
    # Over HTTP only: the local gateway answers it (Chalice's test client has no gateway).
    for path in ("/charges", "/charge", "/refund", "/charge/ch_x", "/events", "/health"):
        response = http_api.request(
            "OPTIONS",
            path,
            headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"},
        )
        assert response.status == 405, (path, response.text)
        assert response.error["code"] == "method_not_allowed"
        for name in CORS_HEADERS:
            assert name not in response.headers, (path, name)


def test_the_preflight_allows_the_method_and_headers_for_any_origin(api: Any) -> None:
    for origin in (SHOP, OTHER):
        response = api.request(
            "OPTIONS",
            "/token",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert response.status == 204, response.text
        assert response.headers["access-control-allow-methods"] == "POST"
        allowed = {
            h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
        }
        assert allowed == {"authorization", "content-type", "idempotency-key"}
        assert response.headers["access-control-allow-origin"] == "*"
        assert "Origin" in response.headers["vary"]


def test_the_card_page_itself_may_tokenize_from_the_platform_origin(
    http_api: HttpApi, api_url: str, merchant: Any
) -> None:
    # The hosted card fields run on the API's own origin: a same-origin request.
    response = http_api.post(
        "/token", card(), key=merchant.publishable_key, headers={"Origin": api_url}
    )
    assert response.status == 201, response.text
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "application/json, text/plain",
        "*/*",
        "",
    ],
)
def test_a_body_that_is_not_json_in_utf8_is_415(api: Any, merchant: Any, content_type: str) -> None:
    headers = {"Content-Type": content_type}
    for method, path, key in (
        ("POST", "/token", merchant.publishable_key),
        ("POST", "/charge", merchant.secret_key),
        ("GET", "/charges", merchant.secret_key),
    ):
        response = api.request(method, path, card(), key=key, headers=headers)
        assert response.status == 415, (method, path, content_type, response.text)
        assert response.error["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", 'Application/JSON; charset="UTF-8"'],
)
def test_json_in_utf8_is_accepted(api: Any, merchant: Any, content_type: str) -> None:
    response = api.post(
        "/token", card(), key=merchant.publishable_key, headers={"Content-Type": content_type}
    )
    assert response.status == 201, response.text


def test_the_card_page_is_framed_only_by_the_registered_origins(
    api: Any, services: Any, merchant: Any
) -> None:
    _registered(services, merchant)
    _registered(services, merchant, "https://checkout.example.com:8443")
    response = api.get(f"/elements/card?key={merchant.publishable_key}&origin={SHOP}")
    assert response.status == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    ancestors = re.search(r"frame-ancestors ([^;]*)", policy)
    assert ancestors is not None
    assert ancestors.group(1).split() == [SHOP, "https://checkout.example.com:8443"]
    assert "script-src 'nonce-" in policy and "unsafe-inline" not in policy
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    for label in ("Card number", "Expiration date", "Security code"):
        assert f">{label}" in page
    assert "MM / YY" in page
    # The name field exists only on request.
    assert '"name": false' in page
    named = api.get(f"/elements/card?key={merchant.publishable_key}&origin={SHOP}&name=1")
    assert '"name": true' in named.text and "Cardholder name" in named.text


def test_the_card_page_refuses_other_parents_and_keys(
    api: Any, services: Any, merchant: Any
) -> None:
    _registered(services, merchant)
    pk = merchant.publishable_key
    cases = [
        (f"/elements/card?key={pk}&origin={OTHER}", 403, "origin_not_allowed"),
        (f"/elements/card?key={pk}", 403, "origin_not_allowed"),
        (f"/elements/card?key={merchant.secret_key}&origin={SHOP}", 403, "secret_key_in_browser"),
        (f"/elements/card?key=pk_test_{'x' * 32}&origin={SHOP}", 401, "invalid_api_key"),
        ("/elements/card?origin=x", 400, "missing_parameter"),
        (f"/elements/card?key={pk}&origin={SHOP}&debug=1", 400, "unknown_parameter"),
    ]
    for path, status, code in cases:
        response = api.get(path)
        assert response.status == status, (path, response.text)
        assert response.error["code"] == code, path
        assert pk not in response.text and merchant.secret_key not in response.text


def test_the_library_is_served_as_a_script_and_as_a_module(api: Any) -> None:
    classic = api.get("/js/v1/payments.js")
    module = api.get("/js/v1/payments.mjs")
    for response in (classic, module):
        assert response.status == 200
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        assert "max-age=31536000" in response.headers["cache-control"]
        assert "function Payments(" in response.text
    assert "export" not in classic.text.split("*/", 1)[1]
    # Only the module needs CORS (a browser fetches module scripts in CORS mode).
    assert "access-control-allow-origin" not in classic.headers
    assert module.headers["access-control-allow-origin"] == "*"
    assert "export { Payments }" in module.text and "export default Payments" in module.text


def test_origins_are_checked_capped_and_audited(services: Any, merchant: Any) -> None:
    checkout = services.checkout
    mid = merchant.merchant_id
    for bad in (
        "http://shop.example.com",
        "https://shop.example.com/",
        "https://Shop.com",
        "https://shop.example.com:443",
        "https://*.example.com",
        "shop.example.com",
        "http://127.0.0.1",
    ):
        with pytest.raises(InvalidOrigin):
            checkout.allow(mid, bad)
    # The local stack also takes its loopback pages (the demo shop, test pages).
    assert checkout.allow(mid, "http://127.0.0.1:8010") == ("http://127.0.0.1:8010",)
    with pytest.raises(UnknownMerchant):
        checkout.allow("mer_nobody", SHOP)
    for n in range(1, MAX_ORIGINS):
        checkout.allow(mid, f"https://shop{n}.example.com")
    assert checkout.allow(mid, "https://shop1.example.com") == checkout.allowed_origins(mid)
    with pytest.raises(TooManyOrigins):
        checkout.allow(mid, "https://one-too-many.example.com")
    assert len(checkout.remove(mid, "https://shop1.example.com")) == MAX_ORIGINS - 1
    with pytest.raises(OriginNotRegistered):
        checkout.remove(mid, "https://shop1.example.com")
    actions = [
        r for r in _audit(services, mid) if r.get("action", "").startswith("checkout_origin")
    ]
    assert sum(r["action"] == "checkout_origin.allow" for r in actions) == MAX_ORIGINS
    assert [r["object_id"] for r in actions if r["action"] == "checkout_origin.remove"] == [
        "https://shop1.example.com"
    ]


def test_concurrent_changes_keep_every_origin(services: Any, merchant: Any) -> None:
    mid = merchant.merchant_id
    origins = [f"https://concurrent{n}.example.com" for n in range(6)]
    barrier = threading.Barrier(len(origins))
    errors: list[BaseException] = []

    def allow(origin: str) -> None:
        barrier.wait()
        try:
            services.checkout.allow(mid, origin)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=allow, args=(o,)) for o in origins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(services.checkout.allowed_origins(mid)) == sorted(origins)
