"""The bank client's classification of answers, against real sockets (no mocks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.adapters.bank_client import BankClient, CardDetails
from payments_admin.stack import free_port

CARD = CardDetails("4242424242424242", 12, 2031, "123")
ANSWERS: dict[str, tuple[int, bytes, float]] = {
    "/approve/authorizations": (200, b'{"status": "approved", "authorization_code": "ABC123"}', 0),
    "/decline/authorizations": (200, b'{"status": "declined", "decline_code": "lost_card"}', 0),
    "/garbage/authorizations": (200, b"<html>oops</html>", 0),
    "/weird/authorizations": (200, b'{"status": "maybe"}', 0),
    "/error/authorizations": (503, b"{}", 0),
    "/slow/authorizations": (200, b'{"status": "approved"}', 1.5),
    "/missing/authorizations/ch_1": (404, b'{"error": "not_found"}', 0),
}


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        status, body, delay = ANSWERS.get(self.path, (404, b"{}", 0))
        time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def client(base: str) -> BankClient:
    return BankClient(base, connect_timeout=0.5, read_timeout=0.5)


@pytest.mark.parametrize(
    ("prefix", "kind", "detail"),
    [
        ("approve", "approved", "ABC123"),
        ("decline", "declined", "lost_card"),
        ("garbage", "error", None),
        ("weird", "error", None),
        ("error", "error", None),
        ("slow", "unknown", None),
    ],
)
def test_authorization_outcomes(server: str, prefix: str, kind: str, detail: str | None) -> None:
    outcome = client(f"{server}/{prefix}").authorize("ch_1", 100, "USD", CARD)
    assert outcome.kind == kind
    assert detail in (None, outcome.authorization_code, outcome.decline_code)


def test_status_of_an_unknown_reference(server: str) -> None:
    assert client(f"{server}/missing").authorization_status("ch_1").kind == "not_found"


def test_connection_refused_is_a_definite_error() -> None:
    assert client(f"http://127.0.0.1:{free_port()}").authorize("ch_1", 1, "USD", CARD).kind == (
        "error"
    )


def test_connection_dropped_after_sending_is_unknown() -> None:
    """The bank accepted the request and hung up: it may have acted, so no blind retry."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def accept_and_drop() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()

    threading.Thread(target=accept_and_drop, daemon=True).start()
    port = listener.getsockname()[1]
    outcome = client(f"http://127.0.0.1:{port}").authorize("ch_1", 1, "USD", CARD)
    listener.close()
    assert outcome.kind == "unknown"


def test_card_details_never_show_the_number() -> None:
    assert "4242" not in repr(CARD) and "123" not in repr(CARD)
