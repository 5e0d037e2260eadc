"""Headless Chromium for the browser tests, driven by Playwright.

The browser is the one the project installs itself: npm ``@sparticuz/chromium`` in
``browser/`` (``make test`` runs ``npm ci`` there), whose ``executablePath()`` unpacks it.
Playwright's own browser download is never used.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from payments_admin.stack import ROOT

BROWSER_DIR = ROOT / "browser"
# Flags for a machine with no display and no outside network: without the network ones,
# Chromium keeps trying to reach Google's hosts at start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    if not (BROWSER_DIR / "node_modules" / "@sparticuz" / "chromium").exists():
        raise RuntimeError(
            "the test browser is not installed: run `make install` (npm ci in browser/)"
        )
    result = subprocess.run(
        ["node", "executable-path.mjs"],
        cwd=BROWSER_DIR,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module. Not per session: Playwright's sync API keeps an asyncio
    loop running in this thread while it is open, which other tests' loops would meet."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 520, "height": 900})
    context.set_default_timeout(30_000)
    try:
        yield context
    finally:
        context.close()


@dataclass
class PageServer:
    """A page of some merchant's site, on a loopback origin of its own (a free port)."""

    html: str
    received: list[tuple[str, str, bytes]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def origin(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> PageServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                owner.received.append((self.command, self.path, self.rfile.read(length)))

            def do_GET(self) -> None:  # noqa: N802
                self._record()
                body = owner.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
