"""``make bench``: measures the platform beside the floor and fills docs/benchmarks.md.

What is measured, how and why is docs/benchmarks.md's prose; the figures go to
docs/benchmarks.json and payments_admin/benchmarks.py renders them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "chalice_app")]

from payments_admin.benchmarks import OWN_CODE, PHASE_OPERATIONS, write_report  # noqa: E402
from payments_admin.bootstrap import DEMO_SECRET_KEY as KEY  # noqa: E402
from payments_admin.stack import APP_DIR, HOST, LocalStack, Ports, free_port  # noqa: E402

FLOOR_DIR = ROOT / "scripts" / "floor_app"
DOCS = ROOT / "docs"
CARD = {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvv": "123"}
FLOOR_BODY = {"amount": 1000, "currency": "USD", "card": {"number": CARD["card_number"]}}
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
CPU_OPERATIONS = (*PHASE_OPERATIONS, "charge_nokey")
ROUNDS = 7
# CPU times tick in 10 ms: 200 requests per measurement.
CPU_REQUESTS = 200
THROUGHPUT_CLIENTS = 8
# A charge phase charges tokens made just before it; at most 250 of them stay within the 256
# data keys the serving process keeps, as a deployed charge function would not.
THROUGHPUT_REQUESTS = 240
PHASE_REQUESTS = {1: 60, 8: 200, 32: 250}


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- HTTP load ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: dict(AUTH))


@dataclass(frozen=True)
class Answer:
    ms: float
    status: int  # 0: no answer
    body: bytes


class Http:
    """One keep-alive connection per thread to one server, with the server's process id."""

    def __init__(self, port: int, pid: int) -> None:
        self.port, self.pid = port, pid
        self._local = threading.local()

    def send(self, req: Req) -> Answer:
        started = time.perf_counter()
        conn = getattr(self._local, "conn", None) or HTTPConnection(HOST, self.port, timeout=30)
        self._local.conn = conn
        try:
            conn.request(req.method, req.path, body=req.body or None, headers=req.headers)
            response = conn.getresponse()
            status, body = response.status, response.read()
        except (OSError, HTTPException):
            conn.close()
            self._local.conn = None
            status, body = 0, b""
        return Answer((time.perf_counter() - started) * 1000, status, body)

    def send_all(self, requests: list[Req], clients: int) -> tuple[list[Answer], float]:
        """Every request from ``clients`` threads: the answers and the wall seconds."""
        answers: list[Answer] = []
        queue, lock = iter(requests), threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    req = next(queue, None)
                if req is None:
                    return
                answer = self.send(req)
                with lock:
                    answers.append(answer)

        threads = [threading.Thread(target=worker) for _ in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return answers, time.perf_counter() - started

    def data(self, requests: list[Req]) -> list[Any]:
        """The ``data`` of each answer to untimed set-up requests, which must all succeed."""
        answers, _ = self.send_all(requests, 8)
        failed = [a for a in answers if not 200 <= a.status < 300]
        if failed:
            raise RuntimeError(f"{len(failed)} set-up requests failed: {failed[0]}")
        return [json.loads(a.body)["data"] for a in answers]


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


@dataclass(frozen=True)
class Load:
    answers: list[Answer]
    seconds: float
    cpu_ms: float  # the serving process's, per request
    moto_cpu_ms: float  # per request


def timed_load(http: Http, moto_pid: int, requests: list[Req], clients: int) -> Load:
    """The requests after a few untimed ones (connections open, caches warm), with CPU."""
    warm = min(clients, 8)
    http.send_all(requests[:warm], clients)
    time.sleep(0.2)  # the warm-up's stragglers (logs, GC) finish outside the measurement
    cpu0, moto0 = cpu_seconds(http.pid), cpu_seconds(moto_pid)
    answers, seconds = http.send_all(requests[warm:], clients)
    n = len(answers)
    cpu_ms = (cpu_seconds(http.pid) - cpu0) * 1000 / n
    return Load(answers, seconds, cpu_ms, (cpu_seconds(moto_pid) - moto0) * 1000 / n)


class Workload:
    """Each operation's requests, built from what it needs (tokens, charges) made untimed."""

    def __init__(self, api: Http) -> None:
        self.api = api
        self.charges: list[str] = []

    @staticmethod
    def _post(path: str, body: dict[str, Any], idempotent: bool = False) -> Req:
        headers = {**AUTH, "Idempotency-Key": str(uuid.uuid4())} if idempotent else dict(AUTH)
        return Req("POST", path, json.dumps(body).encode(), headers)

    def _charge_bodies(self, n: int) -> list[dict[str, Any]]:
        tokens = self.api.data([self._post("/token", CARD)] * n)
        return [{"token": t["id"], "amount": 10_000, "currency": "USD"} for t in tokens]

    def build(self, operation: str, n: int, clients: int) -> list[Req]:
        if operation == "floor":
            return [self._post("/charge", FLOOR_BODY)] * n
        if operation == "token":
            return [self._post("/token", CARD)] * n
        if operation in ("charge", "charge_nokey"):
            idempotent = operation == "charge"
            return [self._post("/charge", b, idempotent) for b in self._charge_bodies(n)]
        if operation == "refund":
            # Round robin over at least 2 charges per client: concurrent refunds rarely meet.
            made = self.api.data(
                [
                    self._post("/charge", b, True)
                    for b in self._charge_bodies(max(clients * 2, n // 5))
                ]
            )
            self.charges += [c["id"] for c in made]
            body = [{"charge_id": c["id"], "amount": 100} for c in made]
            return [self._post("/refund", body[i % len(body)], True) for i in range(n)]
        if operation == "get":
            return [Req("GET", f"/charge/{self.charges[i % len(self.charges)]}") for i in range(n)]
        return [Req("GET", "/charges?limit=10")] * n


@dataclass(frozen=True)
class Phase:
    operation: str
    concurrency: int
    requests: int
    errors: int
    p50: float
    p95: float
    p99: float
    rps: float
    cpu_ms: float
    moto_cpu_ms: float


def phase(operation: str, clients: int, load: Load) -> Phase:
    latencies = [a.ms for a in load.answers]
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    errors = sum(1 for a in load.answers if not 200 <= a.status < 300)
    result = Phase(
        operation,
        clients,
        len(latencies),
        errors,
        round(statistics.median(latencies), 1),
        round(q[94], 1),
        round(q[98], 1),
        round(len(latencies) / load.seconds, 1),
        round(load.cpu_ms, 2),
        round(load.moto_cpu_ms, 2),
    )
    progress(f"  {result}")
    return result


# ---- in process: round trips, where the CPU goes, the authorizer -------------------------


class Calls:
    """Every AWS call of the hooked boto3 clients, and the CPU spent in each kind of call."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, str]] = []  # (service, operation, tables)
        self.cpu: Counter[str] = Counter()
        self._started = 0.0

    def hook(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.*", self._before)
        client.meta.events.register("after-call.*", self._after)

    def timed(self, label: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return call(*args, **kwargs)
            finally:
                self.cpu[label] += time.process_time() - started

        return wrapper

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self._started = time.process_time()
        if model.name == "TransactWriteItems":
            names = {next(iter(i.values()))["TableName"] for i in params["TransactItems"]}
        elif model.name == "BatchGetItem":
            names = set(params["RequestItems"])
        else:
            names = {str(params.get("TableName", ""))}
        tables = "+".join(sorted(n.split("-")[-1] for n in names))
        self.log.append((model.service_model.service_name, model.name, tables))

    def _after(self, model: Any, **_: Any) -> None:
        _service, operation, tables = self.log[-1]
        if operation == "TransactWriteItems":
            label = f"{operation} ({'final' if 'AuditLog' in tables else 'write-ahead'})"
        elif operation == "GetItem" and tables == "ApiKeys":
            label = "GetItem (authenticate)"
        else:
            label = operation
        self.cpu[label] += time.process_time() - self._started

    def take(self) -> dict[str, Any]:
        """The calls since the last take: counts and a list, the authorizer's apart."""
        calls, self.log = self.log, []
        auth = [c for c in calls if c[1] == "GetItem" and c[2] == "ApiKeys"]
        own = [c for c in calls if c not in auth]
        return {
            "dynamodb": sum(1 for c in own if c[0] == "dynamodb"),
            "kms": sum(1 for c in own if c[0] == "kms"),
            "authorizer": len(auth),
            "calls": ", ".join(
                f"{n}x {op}({tables})" if n > 1 else f"{op}({tables})"
                for (_svc, op, tables), n in Counter(own).items()
            ),
        }


class InProcess:
    """The platform and the floor under Chalice's test client, their calls hooked."""

    def __init__(self) -> None:
        from chalice.test import Client

        from app import app
        from chalicelib.container import get_container

        services = get_container()
        spec = importlib.util.spec_from_file_location("floor_app", FLOOR_DIR / "app.py")
        assert spec is not None and spec.loader is not None
        floor: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(floor)
        self.calls = Calls()
        for client in (services.dynamodb, services.kms, floor.dynamodb):
            self.calls.hook(client)
        services.bank.authorize = self.calls.timed("bank call", services.bank.authorize)
        floor._bank.request = self.calls.timed("bank call", floor._bank.request)
        self.app = Client(app, stage_name="local", project_dir=str(APP_DIR)).http
        self.floor = Client(floor.app, stage_name="local", project_dir=str(FLOOR_DIR)).http

    def send(self, method: str, path: str, body: Any = None, idempotent: bool = False) -> bytes:
        headers = {**AUTH, "Idempotency-Key": str(uuid.uuid4())} if idempotent else AUTH
        data = json.dumps(body).encode() if body is not None else b""
        response = self.app.request(method, path, headers=headers, body=data)
        assert response.status_code < 300, response.body
        return bytes(response.body)

    def call(self, method: str, path: str, body: Any = None, idempotent: bool = False) -> Any:
        return json.loads(self.send(method, path, body, idempotent))["data"]

    def floor_charge(self) -> None:
        body = json.dumps(FLOOR_BODY).encode()
        assert self.floor.request("POST", "/charge", headers=AUTH, body=body).status_code == 201

    def round_trips(self) -> dict[str, dict[str, Any]]:
        """DynamoDB and KMS calls per operation, once past the first token's key fetches."""
        rows: dict[str, dict[str, Any]] = {}
        self.call("POST", "/token", CARD)
        self.calls.take()
        token = self.call("POST", "/token", CARD)
        rows["token"] = self.calls.take()
        # A charge reuses the key record of the recent charge before it in the authorizer.
        self.call("POST", "/charge", {"token": token["id"], "amount": 100, "currency": "USD"})
        for name, idempotent in (("charge", True), ("charge_nokey", False)):
            token = self.call("POST", "/token", CARD)
            self.calls.take()
            charge = self.call(
                "POST",
                "/charge",
                {"token": token["id"], "amount": 10_000, "currency": "USD"},
                idempotent,
            )
            rows[name] = self.calls.take()
        self.call("POST", "/refund", {"charge_id": charge["id"], "amount": 100}, True)
        rows["refund"] = self.calls.take()
        self.call("GET", f"/charge/{charge['id']}")
        rows["get"] = self.calls.take()
        self.call("GET", "/charges?limit=10")
        rows["list"] = self.calls.take()
        self.floor_charge()
        rows["floor"] = self.calls.take()
        return rows

    def breakdown(self, n: int = 200) -> dict[str, dict[str, float]]:
        """CPU per request by kind of call, n charges in a row, for the floor and the charge."""
        results: dict[str, dict[str, float]] = {}

        def charge(token: str) -> None:
            body = {"token": token, "amount": 1000, "currency": "USD"}
            self.send("POST", "/charge", body, idempotent=True)

        for name in ("floor", "charge"):
            if name == "floor":
                tokens, send = [""] * (n + 5), lambda _token: self.floor_charge()
            else:
                tokens = [self.call("POST", "/token", CARD)["id"] for _ in range(n + 5)]
                send = charge
            for token in tokens[:5]:
                send(token)
            self.calls.cpu.clear()
            started = time.process_time()
            for token in tokens[5:]:
                send(token)
            total = (time.process_time() - started) * 1000 / n
            parts = {label: round(s * 1000 / n, 3) for label, s in self.calls.cpu.items()}
            own = total - sum(parts.values())
            results[name] = {"total": round(total, 3), **parts, OWN_CODE: round(own, 3)}
            self.calls.take()
        return results

    @staticmethod
    def authorizer_cpu_ms(runs: int = 200) -> float:
        """CPU of one authorizer call on a read route, which always looks the key up."""
        from chalice.app import AuthRequest

        from chalicelib.container import get_container
        from chalicelib.web.authorizer import authorize

        request = AuthRequest(
            "TOKEN", AUTH["Authorization"], "arn:aws:execute-api:r:a:api/local/GET/charges"
        )
        deps = get_container().pipeline_deps
        authorize(request, deps)
        started = time.process_time()
        for _ in range(runs):
            authorize(request, deps)
        return round((time.process_time() - started) * 1000 / runs, 2)


# ---- cold start ---------------------------------------------------------------------------

# Run in a fresh process: import of the app, then its requests ([path, body, idempotent];
# a body's "token": null takes the id of the answer before). Prints [wall ms, CPU ms] of each.
_COLD_START = """
import json, sys, time, uuid
def clock(): return time.perf_counter() * 1000, time.process_time() * 1000
marks = [clock()]
import app
marks.append(clock())
from chalice.test import Client
client = Client(app.app, stage_name="local", project_dir=sys.argv[1]).http
auth = {"Authorization": "Bearer " + sys.argv[2], "Content-Type": "application/json"}
answer, spent = None, [[b - a for a, b in zip(*marks)]]
for path, body, idempotent in json.loads(sys.argv[3]):
    body = {k: json.loads(answer)["data"]["id"] if v is None else v for k, v in body.items()}
    headers = {**auth, "Idempotency-Key": str(uuid.uuid4())} if idempotent else auth
    started = clock()
    response = client.post(path, headers=headers, body=json.dumps(body))
    spent.append([b - a for a, b in zip(started, clock())])
    assert response.status_code == 201, response.body
    answer = response.body
print(json.dumps(spent))
"""


def cold_start(project_dir: Path, steps: list[Any], env: dict[str, str]) -> dict[str, float]:
    """Median over 3 fresh processes of the import's and each request's wall and CPU ms."""
    runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", _COLD_START, str(project_dir), KEY, json.dumps(steps)],
            cwd=project_dir,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, **env, "PYTHONPATH": str(project_dir), "PAYMENTS_LOG_LEVEL": "INFO"},
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    result = {}
    for i, name in enumerate(("import", "first", "second")[: len(steps) + 1]):
        result[f"{name}_ms"] = round(statistics.median(r[i][0] for r in runs), 1)
        result[f"{name}_cpu_ms"] = round(statistics.median(r[i][1] for r in runs), 1)
    return result


# ---- main -------------------------------------------------------------------------------


def main() -> None:
    started = time.monotonic()
    # One merchant far past its rate limits: this measures the platform, not the limiter.
    for name in ("PAYMENTS_RATE_LIMIT", "PAYMENTS_TOKEN_RATE_LIMIT"):
        os.environ[f"{name}_RPS"], os.environ[f"{name}_BURST"] = "100000", "100000"
    with tempfile.TemporaryDirectory() as logs, LocalStack(Ports.free(), Path(logs)) as stack:
        os.environ.update(stack.env)
        os.environ["PAYMENTS_LOG_LEVEL"] = "WARNING"  # no access line per in-process request
        floor_port = free_port()
        stack.serve_chalice("floor", FLOOR_DIR, floor_port)
        progress("local stack and floor app started")
        progress("in process: round trips, the authorizer, where a charge's CPU goes")
        in_process = InProcess()
        calls = in_process.round_trips()
        authorizer_ms = in_process.authorizer_cpu_ms()
        breakdown = in_process.breakdown()

        api = Http(stack.ports.api, stack.pid_of("chalice"))
        floor = Http(floor_port, stack.pid_of("floor"))
        moto = stack.pid_of("moto")
        work = Workload(api)

        def load(operation: str, n: int, clients: int) -> Load:
            http = floor if operation == "floor" else api
            return timed_load(http, moto, work.build(operation, n, clients), clients)

        cpu: dict[str, dict[str, list[float]]] = {
            op: {"cpu_ms": [], "moto_cpu_ms": []} for op in CPU_OPERATIONS
        }
        throughput: dict[str, Any] = {
            "clients": THROUGHPUT_CLIENTS,
            "floor_rps": [],
            "charge_rps": [],
        }
        for round_ in range(ROUNDS):
            progress(f"round {round_ + 1}/{ROUNDS}: CPU of each operation, then charges/s")
            for op in CPU_OPERATIONS:
                measured = load(op, CPU_REQUESTS + 1, 1)
                cpu[op]["cpu_ms"].append(round(measured.cpu_ms, 2))
                cpu[op]["moto_cpu_ms"].append(round(measured.moto_cpu_ms, 2))
            for op in ("floor", "charge"):
                measured = load(op, THROUGHPUT_REQUESTS + THROUGHPUT_CLIENTS, THROUGHPUT_CLIENTS)
                throughput[f"{op}_rps"].append(round(len(measured.answers) / measured.seconds, 1))
        phases = []
        for clients, n in PHASE_REQUESTS.items():
            for op in PHASE_OPERATIONS:
                phases.append(asdict(phase(op, clients, load(op, n, clients))))
        moto_rss_mb = round(psutil.Process(moto).memory_info().rss / 2**20)
        progress("cold start: fresh processes, import and first requests")
        charge = {"token": None, "amount": 1000, "currency": "USD"}
        cold = {
            "app": cold_start(
                APP_DIR, [["/token", CARD, False], ["/charge", charge, True]], stack.env
            ),
            "floor": cold_start(FLOOR_DIR, [["/charge", FLOOR_BODY, False]], stack.env),
        }
    results = {
        "generated_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "seconds": round(time.monotonic() - started),
        "phases": phases,
        "cpu": cpu,
        "throughput": throughput,
        "calls": calls,
        "authorizer_cpu_ms": authorizer_ms,
        "cpu_breakdown": breakdown,
        "cold_start": cold,
        "moto_rss_mb_after_bench": moto_rss_mb,
    }
    (DOCS / "benchmarks.json").write_text(json.dumps(results, indent=2) + "\n")
    write_report(DOCS)
    progress(f"wrote docs/benchmarks.md and benchmarks.png in {results['seconds']} s")


if __name__ == "__main__":
    main()
