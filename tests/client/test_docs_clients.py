"""docs/clients.md as merchants copy it: its webhook receiver accepts what the platform signs
(the platform's own signer) and refuses the rest; its links resolve in the repository.

(tests/integration/test_python_client.py runs the guide's walk-through against the stack.)"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.events import sign
from payments_admin.stack import ROOT
from tests.client.conftest import charge

GUIDE = ROOT / "docs" / "clients.md"
SECRET = "whsec_docs"


def python_blocks(path: Path = GUIDE) -> list[str]:
    return re.findall(r"```python\n(.*?)\n```", path.read_text(), flags=re.DOTALL)


def snippet(containing: str) -> str:
    (block,) = [b for b in python_blocks() if containing in b]
    return block


@pytest.fixture
def receiver() -> Iterator[tuple[ThreadingHTTPServer, list[Any]]]:
    namespace: dict[str, Any] = {"__name__": "docs_snippet"}  # not __main__: do not serve
    exec(compile(snippet("ThreadingHTTPServer"), str(GUIDE), "exec"), namespace)  # noqa: S102
    handled: list[Any] = []
    namespace["WEBHOOK_SECRET"] = SECRET
    namespace["handle"] = handled.append
    server = ThreadingHTTPServer(("127.0.0.1", 0), namespace["Webhooks"])
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server, handled
    finally:
        server.shutdown()
        server.server_close()


def post(server: ThreadingHTTPServer, body: bytes, signature: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    try:
        connection.request("POST", "/", body, {"Payments-Signature": signature})
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_guides_receiver_handles_a_signed_event_once(receiver: Any) -> None:
    server, handled = receiver
    body = (
        b'{"id":"evt_9","object":"event","type":"charge.succeeded",'
        b'"created_at":"2026-11-26T23:00:00.123Z","data":{"object":'
        + json.dumps(charge("ch_9")).encode()
        + b"}}"
    )
    signature = sign(SECRET, int(time.time()), body)
    assert post(server, body, signature) == 200
    assert post(server, body, signature) == 200  # delivered again: handled once
    assert [(e.id, e.data.object.id) for e in handled] == [("evt_9", "ch_9")]


def test_the_guides_receiver_refuses_what_does_not_verify(receiver: Any) -> None:
    server, handled = receiver
    body = b'{"id":"evt_1","object":"event"}'
    now = int(time.time())
    assert post(server, body, sign("whsec_other", now, body)) == 400
    assert post(server, body + b" ", sign(SECRET, now, body)) == 400
    assert post(server, body, sign(SECRET, now - 301, body)) == 400
    assert handled == []


def test_every_python_block_of_the_guide_compiles() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 4
    for block in blocks:
        compile(block, str(GUIDE), "exec")


def test_the_guide_links_only_to_files_in_the_repository() -> None:
    for target in re.findall(r"\]\(([^)#\s]+)", GUIDE.read_text()):
        assert not re.match(r"[a-z]+://", target), target
        assert (GUIDE.parent / target).resolve().exists(), target
