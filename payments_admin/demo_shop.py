"""The demo shop: a merchant's checkout page and its small server, served by ``make run``.

It plays the merchant of the browser checkout: its page (``demo_shop.html``) embeds the
platform's card fields with ``payments.js`` and the demo merchant's publishable key; the
customer's browser tokenizes the card with the platform directly, and this server receives
only the token. It charges the token with the secret key (an ``Idempotency-Key`` per token,
so a repeated "Pay" never charges twice) and reports the outcome; a pending charge is
looked at again until the bank has answered.

Every request it receives is logged with its body: that is how a reader (and the browser
tests) can see that no card number ever reaches the merchant's side.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import logging
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from payments_admin.bootstrap import DEMO_PUBLISHABLE_KEY, DEMO_SECRET_KEY

PAGE = Path(__file__).with_name("demo_shop.html")
log = logging.getLogger("demo_shop")

# The cart is the server's: the browser never says how much to charge.
CART: tuple[tuple[str, int, int], ...] = (
    ("Coffee beans, 1 kg", 1, 2500),
    ("Ceramic mug", 2, 1200),
)
CURRENCY = "USD"
TOKEN_ID = re.compile(r"tok_[A-Za-z0-9_-]{1,64}")
CHARGE_ID = re.compile(r"ch_[A-Za-z0-9_-]{1,64}")
MAX_BODY = 4096
# Long enough for a charge the bank answers late (the platform answers 202 within ~4 s).
API_TIMEOUT_SECONDS = 30


def cart_total() -> int:
    return sum(quantity * price for _, quantity, price in CART)


@dataclass(frozen=True)
class Outcome:
    """What the shop page shows of a charge."""

    status: str  # succeeded, pending, declined, failed
    charge_id: str | None = None
    message: str = ""
    decline_code: str | None = None
    card: str | None = None

    def body(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


class PlatformClient:
    """The merchant's server-side calls to the platform, with its secret key."""

    def __init__(self, api_url: str, secret_key: str) -> None:
        self._api = api_url.rstrip("/")
        self._key = secret_key

    def _call(self, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self._key}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if key is not None:
            headers["Idempotency-Key"] = key
        request = urllib.request.Request(self._api + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=API_TIMEOUT_SECONDS) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def charge(self, token: str) -> Outcome:
        status, payload = self._call(
            "POST",
            "/charge",
            {
                "token": token,
                "amount": cart_total(),
                "currency": CURRENCY,
                "description": "Demo shop order",
            },
            key=f"demo-shop-{token}",
        )
        return _outcome(status, payload)

    def status(self, charge_id: str) -> Outcome:
        status, payload = self._call("GET", f"/charge/{charge_id}")
        return _outcome(status, payload)


def _card(charge: dict[str, Any]) -> str | None:
    card = charge.get("card") or {}
    if not card:
        return None
    return f"{card.get('brand', 'card')} ending in {card.get('last4', '????')}"


def _outcome(status: int, payload: dict[str, Any]) -> Outcome:
    data = payload.get("data")
    if status in (200, 201, 202) and isinstance(data, dict):
        state = data.get("status")
        if state == "succeeded":
            return Outcome("succeeded", data.get("id"), "Payment succeeded.", card=_card(data))
        if state == "pending":
            return Outcome(
                "pending",
                data.get("id"),
                "Payment pending: the bank has not answered yet.",
                card=_card(data),
            )
        decline = data.get("failure_code")
        return Outcome(
            "declined" if decline != "processing_error" else "failed",
            data.get("id"),
            data.get("failure_message") or "The payment failed.",
            decline_code=decline,
        )
    error = payload.get("error") or {}
    if error.get("code") == "card_declined":
        reason = str(error.get("decline_code") or "generic_decline")
        return Outcome(
            "declined",
            error.get("charge"),
            f"Payment declined: {reason.replace('_', ' ')} ({reason}).",
            decline_code=reason,
        )
    return Outcome("failed", error.get("charge"), error.get("message") or "The payment failed.")


class ShopHandler(BaseHTTPRequestHandler):
    server: ShopServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # one line per request is written by _log below, with the body

    def _log(self, status: int, body: bytes) -> None:
        log.info(
            json.dumps(
                {
                    "method": self.command,
                    "path": self.path,
                    "status": status,
                    "body": body.decode("utf-8", "replace")[:MAX_BODY],
                }
            )
        )

    def _send(self, status: int, body: bytes, content_type: str, received: bytes = b"") -> None:
        self._log(status, received)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: dict[str, Any], received: bytes = b"") -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", received)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/":
            self._send(200, self.server.page, "text/html; charset=utf-8")
            return
        match = re.fullmatch(r"/orders/([^/?]+)", self.path)
        if match and CHARGE_ID.fullmatch(match.group(1)):
            self._json(200, self.server.platform.status(match.group(1)).body())
            return
        self._json(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        length = self.headers.get("Content-Length", "0")
        size = int(length) if length.isdigit() else -1
        if not 0 <= size <= MAX_BODY:
            self.close_connection = True
            self._json(413, {"error": "body too large"})
            return
        received = self.rfile.read(size)
        if self.path != "/pay":
            self._json(404, {"error": "not found"}, received)
            return
        try:
            token = json.loads(received).get("token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not TOKEN_ID.fullmatch(token):
            self._json(400, {"error": "a token (tok_...) is required"}, received)
            return
        self._json(200, self.server.platform.charge(token).body(), received)


class ShopServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, api_url: str, platform: PlatformClient) -> None:
        super().__init__(("127.0.0.1", port), ShopHandler)
        self.platform = platform
        self.page = render_page(api_url, DEMO_PUBLISHABLE_KEY)


def render_page(api_url: str, publishable_key: str) -> bytes:
    rows = "\n".join(
        f"<tr><td>{html.escape(name)}</td><td>{quantity}</td>"
        f"<td class=num>{_money(quantity * price)}</td></tr>"
        for name, quantity, price in CART
    )
    text = (
        PAGE.read_text(encoding="utf-8")
        .replace("__API_URL__", html.escape(api_url.rstrip("/")))
        .replace("__PUBLISHABLE_KEY__", html.escape(publishable_key))
        .replace("__CART_ROWS__", rows)
        .replace("__TOTAL__", _money(cart_total()))
    )
    return text.encode()


def _money(minor: int) -> str:
    return f"{CURRENCY} {minor // 100}.{minor % 100:02d}"


def main(argv: list[str] | None = None) -> int:
    from payments_admin.stack import watch_parent

    parser = argparse.ArgumentParser(description="The demo shop of the local stack.")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    watch_parent()
    server = ShopServer(args.port, args.api, PlatformClient(args.api, DEMO_SECRET_KEY))
    log.info(json.dumps({"serving": f"http://127.0.0.1:{args.port}", "api": args.api}))
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
