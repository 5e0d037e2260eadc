"""A merchant's webhook receiver in the test process: records what it gets, answers as told."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from payments_admin.stack import HOST, ROOT

DOCS_SECTION = "### Verifying a webhook's signature"


def docs_verify() -> Any:
    """The ``verify`` function of the Python snippet in docs/api.md, as merchants copy it."""
    text = (ROOT / "docs" / "api.md").read_text()
    section = text[text.index(DOCS_SECTION) :]
    code = section[section.index("```python") + len("```python") : section.index("\n```\n")]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)  # noqa: S102 - our own docs
    return namespace["verify"]


def verify_from_docs(body: bytes, header: str, endpoint: dict[str, Any]) -> bool:
    return bool(docs_verify()(body, header, endpoint["secret"]))


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next of ``statuses`` (then 200) and keeps it."""

    statuses: list[int] = field(default_factory=list)
    received: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.received.append(
                        Delivery({k.lower(): v for k, v in self.headers.items()}, body, time.time())
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}/webhooks"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def about(self, object_id: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.received if d.event["data"]["object"]["id"] == object_id]

    def wait_for(self, object_id: str, count: int, timeout: float = 20) -> list[Delivery]:
        """The deliveries about ``object_id`` once there are ``count`` (fails after timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.about(object_id)
            if len(got) >= count:
                return got
            time.sleep(0.1)
        raise AssertionError(f"{len(self.about(object_id))} deliveries about {object_id}")


@contextmanager
def receivers(*statuses: list[int]) -> Iterator[list[Receiver]]:
    started = [Receiver(list(s)).start() for s in statuses]
    try:
        yield started
    finally:
        for receiver in started:
            receiver.stop()
