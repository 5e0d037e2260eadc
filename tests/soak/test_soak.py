"""Soak: 10,000 charges against one local stack (``make soak``; excluded from ``make test``).

Flows token -> charge (-> refund every third) from several clients over HTTP. A charge's
latency, sampled by one client alone with 10 charges in the tables and again at the end,
must not grow with the data, and moto's memory must stay under 1 GB. The figures go to
docs/soak.json and into docs/benchmarks.md.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from payments_admin.benchmarks import write_report
from payments_admin.bootstrap import DEMO_SECRET_KEY
from payments_admin.stack import HOST, LocalStack

pytestmark = pytest.mark.soak

CHARGES = int(os.environ.get("PAYMENTS_SOAK_CHARGES", "10000"))
CLIENTS = 8
SAMPLE = 40
DOCS = Path(__file__).resolve().parents[2] / "docs"
CARD = json.dumps(
    {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvv": "123"}
)


class Client:
    def __init__(self, port: int) -> None:
        self._conn = http.client.HTTPConnection(HOST, port, timeout=30)
        self._auth = {"Authorization": f"Bearer {DEMO_SECRET_KEY}"}

    def post(self, path: str, body: str, **headers: str) -> tuple[int, Any]:
        self._conn.request(
            "POST",
            path,
            body=body,
            headers={**self._auth, "Content-Type": "application/json", **headers},
        )
        response = self._conn.getresponse()
        return response.status, json.loads(response.read())

    def flow(self, refund: bool) -> float:
        """token -> charge (-> refund); the charge's latency in ms."""
        status, token = self.post("/token", CARD)
        assert status == 201, token
        body = json.dumps({"token": token["data"]["id"], "amount": 5000, "currency": "USD"})
        started = time.perf_counter()
        status, charge = self.post("/charge", body, **{"Idempotency-Key": str(uuid.uuid4())})
        elapsed = (time.perf_counter() - started) * 1000
        assert status == 201, charge
        if refund:
            body = json.dumps({"charge_id": charge["data"]["id"], "amount": 1000})
            status, answer = self.post("/refund", body, **{"Idempotency-Key": str(uuid.uuid4())})
            assert status == 201, answer
        return elapsed


def _cpu_ms(process: psutil.Process) -> float:
    times = process.cpu_times()
    return (times.user + times.system) * 1000


def _sample(port: int, charges_before: int, moto: psutil.Process) -> dict[str, Any]:
    """One client alone: a charge's latency, and moto's CPU per token + charge flow."""
    client = Client(port)
    started = _cpu_ms(moto)
    latencies = sorted(client.flow(refund=False) for _ in range(SAMPLE))
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "charges_before": charges_before,
        "p10": round(q[9], 1),
        "p50": round(statistics.median(latencies), 1),
        "p95": round(q[94], 1),
        "p99": round(q[98], 1),
        "moto_cpu_ms_per_flow": round((_cpu_ms(moto) - started) / SAMPLE, 2),
    }


def test_the_local_stack_does_not_slow_down_or_grow_with_its_data(stack: LocalStack) -> None:
    moto = psutil.Process(stack.pid_of("moto"))
    port = stack.ports.api
    warm = Client(port)
    for _ in range(10):
        warm.flow(refund=False)
    early = _sample(port, 10, moto)
    done = 10 + SAMPLE
    rss: list[tuple[int, float]] = [(done, moto.memory_info().rss / 2**20)]
    errors: list[str] = []
    lock = threading.Lock()
    started = time.monotonic()
    checkpoint = max(1000, CHARGES // 10)

    def worker() -> None:
        nonlocal done
        client = Client(port)
        while True:
            with lock:
                if done >= CHARGES - SAMPLE or errors:
                    return
                done += 1
                n = done
            try:
                client.flow(refund=n % 3 == 0)
            except Exception as exc:  # noqa: BLE001 - reported below, with the count
                with lock:
                    errors.append(f"flow {n}: {exc!r}"[:300])
                return
            if n % checkpoint == 0:
                with lock:
                    rss.append((n, moto.memory_info().rss / 2**20))
                print(f"soak: {n} charges, moto {rss[-1][1]:.0f} MB", flush=True)

    threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:3]
    late = _sample(port, done, moto)
    done += SAMPLE
    rss.append((done, moto.memory_info().rss / 2**20))
    results = {
        "generated_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "charges": done,
        "flows": done,
        "clients": CLIENTS,
        "seconds": round(time.monotonic() - started),
        "errors": len(errors),
        "early": early,
        "late": late,
        "moto_rss_mb": [(n, round(mb)) for n, mb in rss],
    }
    DOCS.mkdir(exist_ok=True)
    (DOCS / "soak.json").write_text(json.dumps(results, indent=2) + "\n")
    write_report(DOCS)
    # The machine is shared and other work inflates any one sample; the fast tail (p10) is
    # what a charge costs when it is not kept waiting. The bound still fails by far for
    # upstream moto, whose charges grew from tens of ms to seconds over such a run.
    assert late["p10"] <= early["p10"] * 1.5 + 5, (early, late)
    assert late["moto_cpu_ms_per_flow"] <= early["moto_cpu_ms_per_flow"] * 1.5, (early, late)
    assert rss[-1][1] < 1024, rss
