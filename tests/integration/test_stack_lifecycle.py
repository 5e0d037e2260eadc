"""The local stack always stops: a second signal while stopping, a runner killed outright,
and a client that never sends the body it announced."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from payments_admin.chalice_local import READ_TIMEOUT_SECONDS
from payments_admin.stack import ROOT, Ports, port_in_use

pytestmark = pytest.mark.integration


def _ports(ports: Ports) -> list[int]:
    return [ports.api, ports.aws, ports.bank, ports.mb_admin, ports.shop]


def _wait(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.parametrize("how", ["sigterm-twice", "sigkill"])
def test_the_stack_runner_leaves_no_process_behind(how: str, tmp_path: object) -> None:
    ports = Ports.free()
    env = {
        **os.environ,
        "PAYMENTS_API_PORT": str(ports.api),
        "PAYMENTS_AWS_PORT": str(ports.aws),
        "PAYMENTS_BANK_PORT": str(ports.bank),
        "PAYMENTS_MB_ADMIN_PORT": str(ports.mb_admin),
        "PAYMENTS_SHOP_PORT": str(ports.shop),
    }
    runner = subprocess.Popen(
        [sys.executable, "-m", "payments_admin.stack"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert _wait(lambda: _healthy(f"http://127.0.0.1:{ports.api}"), 90), "stack did not start"
        assert all(port_in_use(p) for p in _ports(ports))
        if how == "sigkill":
            runner.kill()
        else:
            # As `kill -TERM -- -<make's group>` does: make forwards it, so the runner gets two.
            runner.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=30)
        freed = _wait(lambda: not any(port_in_use(p) for p in _ports(ports)), 20)
        assert freed, f"ports still held: {[p for p in _ports(ports) if port_in_use(p)]}"
        if how == "sigterm-twice":
            assert runner.returncode == 0
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()


def test_a_body_shorter_than_its_content_length_does_not_hold_a_thread(api_url: str) -> None:
    address = urllib.parse.urlsplit(api_url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Authorization: Bearer sk_test_x\r\nContent-Length: 100\r\n\r\n{"card'
        )
        started = time.monotonic()
        # The server gives up on the missing bytes and closes the connection.
        while sock.recv(4096):
            pass
        waited = time.monotonic() - started
    assert READ_TIMEOUT_SECONDS - 1 <= waited <= READ_TIMEOUT_SECONDS + 10
