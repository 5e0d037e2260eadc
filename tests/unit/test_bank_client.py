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
    "/teapot/authorizations": (418, b"{}", 0),
    "/reversed/authorizations": (200, b'{"status": "declined", "decline_code": "reversed"}', 0),
    "/reversal/authorizations/ch_1/reversal": (200, b'{"status": "reversed"}', 0),
    "/found/authorizations/ch_1": (200, b'{"status": "approved", "authorization_code": "X"}', 0),
    "/broken/authorizations/ch_1": (502, b"<html>bad gateway</html>", 0),
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
        ("garbage", "unknown", None),
        ("weird", "unknown", None),
        ("error", "unknown", None),
        ("teapot", "unknown", None),
        ("slow", "unknown", None),
        ("reversed", "reversed", None),
    ],
)
def test_authorization_outcomes(server: str, prefix: str, kind: str, detail: str | None) -> None:
    outcome = client(f"{server}/{prefix}").authorize("ch_1", 100, "USD", CARD)
    assert outcome.kind == kind
    assert detail in (None, outcome.authorization_code, outcome.decline_code)


def test_status_of_an_unknown_reference(server: str) -> None:
    assert client(f"{server}/missing").authorization_status("ch_1").kind == "not_found"


def test_status_queries_and_reversals(server: str) -> None:
    assert client(f"{server}/found").authorization_status("ch_1").kind == "approved"
    assert client(f"{server}/broken").authorization_status("ch_1").kind == "unknown"
    assert client(f"{server}/reversal").reverse_authorization("ch_1").kind == "reversed"
    # A 404 answers a status query only: elsewhere it is not the bank's word on the reference.
    assert client(f"{server}/missing").reverse_authorization("ch_1").kind == "unknown"


def test_connection_refused_is_not_sent() -> None:
    bank = client(f"http://127.0.0.1:{free_port()}")
    assert bank.authorize("ch_1", 1, "USD", CARD).kind == "not_sent"
    assert bank.authorization_status("ch_1").kind == "not_sent"
    assert bank.reverse_authorization("ch_1").kind == "not_sent"


def test_an_unresolvable_host_is_not_sent() -> None:
    bank = client("http://bank.invalid")
    assert bank.authorize("ch_1", 1, "USD", CARD).kind == "not_sent"


def test_an_answer_cut_short_is_unknown() -> None:
    """Headers promise a body the bank never finishes sending: it may have acted."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def answer_half() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"status": "appr')
        conn.close()

    threading.Thread(target=answer_half, daemon=True).start()
    port = listener.getsockname()[1]
    outcome = client(f"http://127.0.0.1:{port}").authorize("ch_1", 1, "USD", CARD)
    listener.close()
    assert outcome.kind == "unknown"


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
