"""Fault injection for recovery tests, from outside the app: proxies and SIGKILL.

The app under test is a real ``chalice local`` process (``Victim``) whose DynamoDB and bank
endpoints point at proxies in the test process. A proxy forwards every request unchanged
unless a rule matches; a rule can SIGKILL the victim before or after forwarding, drop the
answer, delay the request, or answer with an AWS error instead of forwarding; or, after
forwarding (the bank has acted), answer a 5xx, garbage, reset the connection, or answer too
late. A proxy can also go ``down`` (nothing listens: connection refused, the request is never
sent). Nothing of the project's own code is replaced.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import urllib3

from payments_admin.stack import APP_DIR, HOST, _wait_http, chalice_local_command, free_port

# A held request goes on after this long whatever happens (a failed test must not hang).
HOLD_AT_MOST = 30.0

_upstream = urllib3.PoolManager(maxsize=32, retries=False, timeout=urllib3.Timeout(30))


@dataclass
class Rule:
    """What to do with the next ``times`` requests that ``matches``."""

    matches: Callable[[str, str, dict[str, str], bytes], bool]
    # Before forwarding: "kill_before", "delay", "answer". After forwarding (the upstream
    # acted): "kill_after"; "drop_after" (close the client's connection without answering:
    # a lost answer, the victim lives on); "answer_after" (``answer`` instead of upstream's);
    # "reset_after" (the connection reset, no answer); "late_after" (upstream's answer after
    # ``delay`` s); "down_after" (the proxy goes down - nothing listens - then upstream's
    # answer, or ``answer`` if given, closing the connection). "hold": wait for
    # ``gate_before`` before forwarding and for ``gate_after`` before answering
    # (``arrived``/``forwarded`` tell when).
    action: str
    times: int = 1
    delay: float = 0.0
    answer: tuple[int, dict[str, str], bytes] | None = None
    hits: int = 0
    gate_before: threading.Event = field(default_factory=threading.Event)
    gate_after: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    forwarded: threading.Event = field(default_factory=threading.Event)


@dataclass
class Proxy:
    """An HTTP proxy to ``upstream`` with rules."""

    upstream: str
    victim: Victim | None = None
    rules: list[Rule] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Every request received, whatever became of it: (method, path, body).
    journal: list[tuple[str, str, bytes]] = field(default_factory=list)
    _connections: set[socket.socket] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def down(self, keep: socket.socket | None = None) -> None:
        """Stop listening and close the open connections (but ``keep``): from now on a
        connection is refused, so a request is never sent."""
        with self.lock:
            server, self._server = self._server, None
            open_connections = [c for c in self._connections if c is not keep]
        if server is not None:
            server.shutdown()
            server.server_close()
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def up(self) -> None:
        if self._server is None:
            self._listen()

    def add(self, rule: Rule) -> Rule:
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def _take(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Rule | None:
        with self.lock:
            self.journal.append((method, path, body))
            for rule in self.rules:
                if rule.hits < rule.times and rule.matches(method, path, headers, body):
                    rule.hits += 1
                    return rule
        return None

    def start(self) -> Proxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with proxy.lock:
                    proxy._connections.add(self.connection)

            def finish(self) -> None:
                with proxy.lock:
                    proxy._connections.discard(self.connection)
                super().finish()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                rule = proxy._take(self.command, self.path, headers, body)
                action = rule.action if rule is not None else None
                if rule is not None and rule.action == "kill_before":
                    proxy.victim.kill()  # type: ignore[union-attr]
                    self.close_connection = True
                    return
                if rule is not None and rule.action == "answer":
                    assert rule.answer is not None
                    self._reply(*rule.answer)
                    return
                if rule is not None and rule.action == "delay":
                    time.sleep(rule.delay)
                if rule is not None and rule.action == "hold":
                    rule.arrived.set()
                    rule.gate_before.wait(HOLD_AT_MOST)
                forwarded = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                response = _upstream.request(
                    self.command, proxy.upstream + self.path, body=body or None, headers=forwarded
                )
                if rule is not None and rule.action == "hold":
                    rule.forwarded.set()
                    rule.gate_after.wait(HOLD_AT_MOST)
                if rule is not None and rule.action in ("kill_after", "drop_after"):
                    if rule.action == "kill_after":
                        proxy.victim.kill()  # type: ignore[union-attr]
                    self.close_connection = True
                    return
                if action == "answer_after":
                    assert rule is not None and rule.answer is not None
                    self._reply(*rule.answer)
                    return
                if action == "reset_after":
                    # SO_LINGER 0: close() sends a RST, the client sees its connection reset.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    return
                if action == "late_after":
                    assert rule is not None
                    time.sleep(rule.delay)
                if action == "down_after":
                    # Down before answering, and the answer closes its connection: the
                    # client's next request finds nothing listening.
                    proxy.down(keep=self.connection)
                    self.close_connection = True
                    if rule is not None and rule.answer is not None:
                        self._reply(*rule.answer)
                    else:
                        self._reply(response.status, dict(response.headers), response.data)
                    return
                self._reply(response.status, dict(response.headers), response.data)

            def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                skip = {"content-length", "transfer-encoding", "connection", "date", "server"}
                for name, value in headers.items():
                    if name.lower() not in skip:
                        self.send_header(name, value)
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self._handler = Handler
        self._listen()
        return self

    def _listen(self) -> None:
        server = ThreadingHTTPServer((HOST, self.port), self._handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server: ThreadingHTTPServer | None = server

    def stop(self) -> None:
        self.down()


def dynamodb_call(operation: str, needle: bytes = b"") -> Callable[..., bool]:
    """Matches a DynamoDB API call (``X-Amz-Target``) whose body contains ``needle``."""

    def matches(method: str, path: str, headers: dict[str, str], body: bytes) -> bool:
        return headers.get("x-amz-target", "").endswith(f".{operation}") and needle in body

    return matches


def bank_call(method: str, prefix: str) -> Callable[..., bool]:
    def matches(m: str, path: str, headers: dict[str, str], body: bytes) -> bool:
        return m == method and path.startswith(prefix)

    return matches


def aws_error(code: str, message: str, **extra: Any) -> tuple[int, dict[str, str], bytes]:
    import json

    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **extra}
    return 400, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body).encode()


class Victim:
    """A ``chalice local`` process of the app, reaching DynamoDB and the bank via proxies."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.env = env
        self.log = open(log_dir / f"victim-{self.port}.log", "ab")  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None
        self.killed = False
        self.kills = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def down(self, keep: socket.socket | None = None) -> None:
        """Stop listening and close the open connections (but ``keep``): from now on a
        connection is refused, so a request is never sent."""
        with self.lock:
            server, self._server = self._server, None
            open_connections = [c for c in self._connections if c is not keep]
        if server is not None:
            server.shutdown()
            server.server_close()
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def up(self) -> None:
        if self._server is None:
            self._listen()

    def start(self) -> Victim:
        if self.process is not None:
            self.process.wait()
        self.killed = False
        self.process = subprocess.Popen(
            chalice_local_command(self.port),
            cwd=APP_DIR,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_http(f"{self.url}/health", self.process, "victim chalice local", 60)
        return self

    def kill(self) -> None:
        """SIGKILL, as a crashed or timed-out function dies: no cleanup of any kind."""
        with self._lock:
            if self.process is None or self.killed:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.killed = True
            self.kills += 1
        self.process.wait()

    def alive(self) -> bool:
        # Not Popen.poll(): it answers "running" while another thread is reaping the process.
        with self._lock:
            return self.process is not None and not self.killed

    def stop(self) -> None:
        self.kill()
        self.log.close()
