"""The browser checkout in headless Chromium: the demo shop of the local stack, its card
fields in the platform's iframe, and pages of other origins.

Each test types a contract test card into the iframe as a customer would and checks what
the shop's page shows, what the merchant's side received (never a card number) and what
the browser let a page do across origins.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from payments_admin.bootstrap import DEMO_MERCHANT_ID, DEMO_PUBLISHABLE_KEY, DEMO_SECRET_KEY
from payments_admin.demo_shop import cart_total
from payments_admin.stack import ROOT
from tests.browser.conftest import PageServer
from tests.helpers import FUTURE_YEAR, VISA, HttpApi, card

pytestmark = pytest.mark.integration

SCREENSHOT = ROOT / "docs" / "checkout.png"
EXPIRY = f"12{FUTURE_YEAR % 100:02d}"
INSUFFICIENT_FUNDS = "4000000000009995"
SLOW_CARD = "4000000000001000"
CHARGE_ID = re.compile(r"ch_[A-Za-z0-9_-]+")
# Messages posted to the merchant's page, as its own scripts could see them.
RECORD_MESSAGES = """
window.__messages = [];
window.addEventListener("message", (e) => window.__messages.push(
  {origin: e.origin, data: JSON.stringify(e.data)}));
"""


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def fill_card(frame: Any, number: str, expiry: str = EXPIRY, cvv: str = "123") -> None:
    frame.get_by_label("Card number", exact=True).press_sequentially(number)
    frame.get_by_label("Expiration date", exact=True).press_sequentially(expiry)
    frame.get_by_label("Security code", exact=True).press_sequentially(cvv)


class Traffic:
    """Every request the browser made, with its body."""

    def __init__(self, context: Any) -> None:
        self.requests: list[tuple[str, str, str]] = []
        self.responses: list[Any] = []
        context.on("request", self._request)
        context.on("response", self._response)

    def _response(self, response: Any) -> None:
        self.responses.append(response)

    def _request(self, request: Any) -> None:
        body = request.post_data_buffer or b""
        self.requests.append((request.method, request.url, body.decode("utf-8", "replace")))

    def to(self, origin: str) -> list[tuple[str, str, str]]:
        return [r for r in self.requests if r[1].startswith(origin + "/")]


def _shop(context: Any, stack: Any) -> tuple[Any, Any, Traffic]:
    traffic = Traffic(context)
    page = context.new_page()
    page.add_init_script(RECORD_MESSAGES)
    page.goto(stack.shop_url)
    expect(page.locator("#pay")).to_be_enabled()
    return page, page.frame_locator("#card iframe"), traffic


def _shop_log(stack: Any) -> str:
    return (Path(stack.log_dir) / "shop.log").read_text()


def _assert_no_card_number_on_the_merchant_side(
    stack: Any, page: Any, traffic: Traffic, number: str
) -> None:
    spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    sent_to_shop = traffic.to(stack.shop_url)
    # The control: the shop did receive the payment, as a token.
    assert any(m == "POST" and u.endswith("/pay") and "tok_" in b for m, u, b in sent_to_shop)
    for method, url, body in sent_to_shop:
        assert number not in url + body and spaced not in url + body, (method, url)
    log = _shop_log(stack)
    assert '"path": "/pay"' in log and "tok_" in log
    assert number not in log and spaced not in log
    for message in page.evaluate("() => window.__messages"):
        assert number not in message["data"] and spaced not in message["data"], message


def test_a_test_card_pays_and_the_shop_shows_it(context: Any, stack: Any, api_url: str) -> None:
    page, frame, traffic = _shop(context, stack)
    # The name field is off unless the merchant asks for it.
    expect(frame.get_by_label("Cardholder name", exact=True)).to_be_hidden()
    fill_card(frame, VISA)
    expect(frame.get_by_label("Card number", exact=True)).to_have_value("4242 4242 4242 4242")
    expect(frame.get_by_label("Expiration date", exact=True)).to_have_value(
        f"{EXPIRY[:2]} / {EXPIRY[2:]}"
    )
    expect(frame.locator("#brand")).to_have_text("Visa")
    page.locator("h1").click()  # no focus ring in the picture
    page.locator("main").screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    page.locator("#pay").click()
    outcome = page.locator("#outcome")
    expect(outcome).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(outcome).to_contain_text("visa ending in 4242")
    match = CHARGE_ID.search(outcome.inner_text())
    assert match is not None
    charge = HttpApi(api_url).get(f"/charge/{match.group(0)}", key=DEMO_SECRET_KEY)
    assert charge.data["status"] == "succeeded"
    assert charge.data["amount"] == cart_total()
    _assert_no_card_number_on_the_merchant_side(stack, page, traffic, VISA)


def test_a_declined_card_shows_its_reason_on_a_phone(browser: Any, stack: Any) -> None:
    phone = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2)
    phone.set_default_timeout(30_000)
    try:
        page, frame, traffic = _shop(phone, stack)
        box = page.locator("#card iframe").bounding_box()
        assert box is not None and 300 <= box["width"] <= 375
        # Keyboard only: the fields follow each other in tab order.
        number = frame.get_by_label("Card number", exact=True)
        number.focus()
        number.press_sequentially(INSUFFICIENT_FUNDS)
        number.press("Tab")
        expect(frame.get_by_label("Expiration date", exact=True)).to_be_focused()
        page.keyboard.type(EXPIRY)
        page.keyboard.press("Tab")
        expect(frame.get_by_label("Security code", exact=True)).to_be_focused()
        page.keyboard.type("123")
        cvv_box = frame.get_by_label("Security code", exact=True).bounding_box()
        assert cvv_box is not None and cvv_box["x"] + cvv_box["width"] <= 375
        page.locator("#pay").click()
        outcome = page.locator("#outcome")
        expect(outcome).to_have_attribute("data-status", "declined", timeout=30_000)
        expect(outcome).to_contain_text("Payment declined: insufficient funds (insufficient_funds)")
        _assert_no_card_number_on_the_merchant_side(stack, page, traffic, INSUFFICIENT_FUNDS)
    finally:
        phone.close()


def test_an_invalid_number_shows_the_field_error_before_any_request(
    context: Any, stack: Any, api_url: str
) -> None:
    page, frame, traffic = _shop(context, stack)
    number = frame.get_by_label("Card number", exact=True)
    number.press_sequentially("4242424242424241")  # fails the Luhn check
    number.press("Tab")
    error = frame.locator("#number-error")
    expect(error).to_have_text("The card number is not valid.")
    expect(number).to_have_attribute("aria-invalid", "true")
    expect(number).to_have_attribute("aria-describedby", "number-error")
    frame.get_by_label("Expiration date", exact=True).press_sequentially(EXPIRY)
    frame.get_by_label("Security code", exact=True).press_sequentially("123")
    page.locator("#pay").click()
    outcome = page.locator("#outcome")
    expect(outcome).to_have_attribute("data-status", "invalid")
    expect(outcome).to_have_text("The card number is not valid.")
    expect(number).to_be_focused()
    assert not [r for r in traffic.requests if r[1].startswith(f"{api_url}/token")]
    assert not [r for r in traffic.to(stack.shop_url) if r[0] == "POST"]
    # An expired date and a short code are refused the same way, field by field.
    number.fill("")
    number.press_sequentially(VISA)
    expiry = frame.get_by_label("Expiration date", exact=True)
    expiry.fill("")
    expiry.press_sequentially("0120")
    expiry.press("Tab")
    expect(frame.locator("#expiry-error")).to_have_text("The card has expired.")
    cvv = frame.get_by_label("Security code", exact=True)
    cvv.fill("12")
    cvv.press("Tab")
    expect(frame.locator("#cvv-error")).to_have_text(
        "The security code is not valid for this card."
    )
    assert not [r for r in traffic.requests if r[1].startswith(f"{api_url}/token")]


def test_the_slow_card_shows_pending_then_succeeded(context: Any, stack: Any) -> None:
    page, frame, traffic = _shop(context, stack)
    fill_card(frame, SLOW_CARD)
    page.locator("#pay").click()
    outcome = page.locator("#outcome")
    expect(outcome).to_have_attribute("data-status", "pending", timeout=30_000)
    expect(outcome).to_contain_text("pending")
    expect(outcome).to_have_attribute("data-status", "succeeded", timeout=60_000)
    _assert_no_card_number_on_the_merchant_side(stack, page, traffic, SLOW_CARD)


def test_the_merchant_page_cannot_read_the_card_fields(context: Any, stack: Any) -> None:
    page, frame, _ = _shop(context, stack)
    fill_card(frame, VISA)
    attempt = page.evaluate(
        """() => {
          const frame = document.querySelector("#card iframe");
          const result = {contentDocument: frame.contentDocument};
          try {
            result.value = frame.contentWindow.document.getElementById("number").value;
          } catch (e) { result.error = e.name; }
          try { result.frames = window.frames[0].document.title; }
          catch (e) { result.framesError = e.name; }
          return result;
        }"""
    )
    assert attempt == {
        "contentDocument": None,
        "error": "SecurityError",
        "framesError": "SecurityError",
    }
    # Its messages carry no card data either: only readiness and sizes so far.
    for message in page.evaluate("() => window.__messages"):
        assert VISA not in message["data"] and "4242 4242" not in message["data"]
        assert json.loads(message["data"])["type"] in ("payments:ready", "payments:resize")


@pytest.fixture
def unregistered_page(api_url: str) -> Iterator[PageServer]:
    """A page of an origin no merchant registered, trying the demo merchant's key."""
    html = f"""<!doctype html><meta charset="utf-8"><div id="card"></div>
<iframe id="lying" src="{api_url}/elements/card?key={DEMO_PUBLISHABLE_KEY}&origin=__SHOP__">
</iframe>
<script src="{api_url}/js/v1/payments.js"></script>
<script>
window.results = {{messages: []}};
window.addEventListener("message", (e) => window.results.messages.push(e.origin));
Payments("{DEMO_PUBLISHABLE_KEY}").mount("#card", {{timeout: 4000}})
  .then(() => {{ results.mount = "ready"; }}, (e) => {{ results.mount = e.code; }});
fetch("{api_url}/token", {{method: "POST", body: JSON.stringify({json.dumps(card())}),
  headers: {{"Authorization": "Bearer {DEMO_PUBLISHABLE_KEY}",
             "Content-Type": "application/json"}}}})
  .then((r) => {{ results.fetch = "read " + r.status; }},
        (e) => {{ results.fetch = "blocked " + e.name; }});
</script>"""
    server = PageServer(html).start()
    try:
        yield server
    finally:
        server.stop()


def _refused_tokenizations(services: Any) -> int:
    """Audit records of the demo merchant's POST /token refused for their origin."""
    response = services.dynamodb.scan(
        TableName=services.settings.table("AuditLog"),
        FilterExpression="merchant_id = :m AND error_code = :c AND #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":m": {"S": DEMO_MERCHANT_ID},
            ":c": {"S": "origin_not_allowed"},
            ":s": {"N": "403"},
        },
    )
    return len(response["Items"])


def test_a_page_of_an_unregistered_origin_cannot_tokenize(
    context: Any, stack: Any, api_url: str, services: Any, unregistered_page: PageServer
) -> None:
    refused_before = _refused_tokenizations(services)
    unregistered_page.html = unregistered_page.html.replace("__SHOP__", stack.shop_url)
    traffic = Traffic(context)
    page = context.new_page()
    page.goto(unregistered_page.origin + "/")
    page.wait_for_function("() => window.results.mount && window.results.fetch", timeout=30_000)
    results = page.evaluate("() => window.results")
    # The browser blocked both: no card fields, and the token answer unreadable.
    assert results["mount"] == "mount_failed"
    assert results["fetch"] == "blocked TypeError"
    # Even a frame that claims to serve the shop is refused by frame-ancestors: the
    # card fields never load there, so they never say they are ready.
    time.sleep(1)
    api_origin = api_url.rstrip("/")
    assert api_origin not in page.evaluate("() => window.results.messages")
    # The browser did send it, and the platform refused it itself (403): its audit record.
    assert ("POST", f"{api_url}/token") in [(m, u) for m, u, _ in traffic.requests]
    assert _refused_tokenizations(services) == refused_before + 1
    page_answers = [r for r in traffic.responses if "/elements/card" in r.url]
    assert sorted(r.status for r in page_answers) == [200, 403]


@pytest.fixture
def module_page(api_url: str, services: Any) -> Iterator[tuple[PageServer, Any]]:
    """A registered merchant page that imports the ES module and asks for the name field."""
    merchant = services.merchant_service.create_merchant("Module Shop")
    html = f"""<!doctype html><meta charset="utf-8"><div id="card"></div>
<script type="module">
import {{ Payments }} from "{api_url}/js/v1/payments.mjs";
const payments = Payments("{merchant.publishable_key}");
await payments.mount(document.getElementById("card"), {{name: true}});
window.tokenize = () => payments.tokenize().then((t) => ({{token: t}}), (e) => ({{error: e}}));
window.ready = true;
</script>"""
    server = PageServer(html).start()
    services.checkout.allow(merchant.merchant_id, server.origin)
    try:
        yield server, merchant
    finally:
        server.stop()


def test_the_es_module_mounts_with_a_name_field_and_resolves_to_the_token(
    context: Any, api_url: str, services: Any, module_page: tuple[PageServer, Any]
) -> None:
    server, merchant = module_page
    page = context.new_page()
    page.goto(server.origin + "/")
    page.wait_for_function("() => window.ready === true", timeout=30_000)
    frame = page.frame_locator("#card iframe")
    frame.get_by_label("Cardholder name", exact=True).fill("Ana Perez")
    fill_card(frame, "378282246310005", cvv="1234")  # amex: 4-digit code, 4-6-5 groups
    expect(frame.get_by_label("Card number", exact=True)).to_have_value("3782 822463 10005")
    result = page.evaluate("() => window.tokenize()")
    token = result["token"]
    assert set(token) == {"id", "object", "card"} and token["object"] == "token"
    assert token["card"] == {
        "brand": "amex",
        "last4": "0005",
        "exp_month": int(EXPIRY[:2]),
        "exp_year": 2000 + int(EXPIRY[2:]),
    }
    # The token is the merchant's: its server charges it with the secret key.
    charge = HttpApi(api_url).post(
        "/charge",
        {"token": token["id"], "amount": 1500, "currency": "USD"},
        key=merchant.secret_key,
    )
    assert charge.status == 201, charge.text
    # A token is single use: tokenizing again gives a new one.
    again = page.evaluate("() => window.tokenize()")
    assert again["token"]["id"] != token["id"]
    # A refusal by the server arrives as {code, param, message}: here the key was revoked.
    services.merchant_service.revoke_key(merchant.publishable_key)
    refused = page.evaluate("() => window.tokenize()")
    assert refused["error"]["code"] == "invalid_api_key"
    assert refused["error"]["message"]
    # Nothing but the token page and its module crossed to the merchant's server.
    assert [(m, p) for m, p, _ in server.received] == [("GET", "/")]
