"""Round trips per operation and cold-start import time (``make bench``).

Starts its own local stack on free ports, drives the app in-process through Chalice's
test client, and counts every DynamoDB and KMS call with a botocore ``before-parameter-build`` hook
on the app's own clients. The authorizer's API-key lookup is shown apart: deployed, API
Gateway caches the authorizer's answer per key for its TTL, so most requests skip it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "chalice_app")]

from payments_admin.stack import APP_DIR, LocalStack, Ports  # noqa: E402


class CallCounter:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        table = str(params.get("TableName", ""))
        if model.name == "TransactWriteItems":
            table = "+".join(
                sorted(
                    {
                        next(iter(i.values()))["TableName"].split("-")[-1]
                        for i in params["TransactItems"]
                    }
                )
            )
        self.calls.append((model.service_model.service_name, model.name, table))

    def take(self) -> list[tuple[str, str, str]]:
        calls, self.calls = self.calls, []
        return calls


def describe(calls: list[tuple[str, str, str]]) -> tuple[int, int, int, str]:
    auth = [c for c in calls if c[1] == "GetItem" and c[2].endswith("ApiKeys")]
    own = [c for c in calls if c not in auth]
    dynamo = [c for c in own if c[0] == "dynamodb"]
    kms = [c for c in own if c[0] == "kms"]
    detail = ", ".join(
        f"{n}x {op}({table.split('-')[-1]})" if n > 1 else f"{op}({table.split('-')[-1]})"
        for (svc, op, table), n in Counter(own).items()
    )
    return len(dynamo), len(kms), len(auth), detail


def cold_import_ms(runs: int = 5) -> float:
    code = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=APP_DIR,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(APP_DIR)},
        )
        samples.append(float(out.stdout.strip()) * 1000)
    return statistics.median(samples)


def _webhook_rows(call: Any, services: Any, counter: CallCounter) -> list[tuple[str, Any]]:
    """The events and webhook-endpoint routes, and one event's first delivery."""
    import json
    import time

    from chalicelib.adapters.dynamo import from_item
    from chalicelib.ids import iso, now_utc
    from payments_admin.bootstrap import DEMO_MERCHANT_ID
    from tests.receiver import receivers

    rows: list[tuple[str, Any]] = []
    with receivers([]) as (receiver,):
        resp, calls = call("POST", "/webhook_endpoints", {"url": receiver.url})
        endpoint = json.loads(resp.body)["data"]
        rows.append(("POST /webhook_endpoints", calls))
        rows.append(("GET /webhook_endpoints", call("GET", "/webhook_endpoints")[1]))
        resp, calls = call("GET", "/events?limit=10")
        event_id = json.loads(resp.body)["data"]["items"][0]["id"]
        rows.append(("GET /events (first page)", calls))
        next_page = call("GET", f"/events?starting_after={event_id}")[1]
        rows.append(("GET /events (next page)", next_page))
        rows.append(("GET /events/{id}", call("GET", f"/events/{event_id}")[1]))
        # An event the stack's own worker never sees: what the delivery function does
        # for one new event and one subscribed endpoint that answers 200.
        entry = services.events.entry(
            DEMO_MERCHANT_ID, "ch_bench", "charge.succeeded", iso(now_utc()), {}
        )

        counter.take()
        services.delivery.on_event(from_item(entry["Put"]["Item"]))
        rows.append(("deliver one event to one endpoint (stream handler)", counter.take()))
        time.sleep(0.1)
        path = f"/webhook_endpoints/{endpoint['id']}"
        rows.append(("DELETE /webhook_endpoints/{id}", call("DELETE", path)[1]))
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as logs:
        stack = LocalStack(Ports.free(), Path(logs))
        with stack:
            os.environ.update(stack.env)
            from chalice.test import Client

            from app import app
            from chalicelib.container import get_container
            from payments_admin.bootstrap import DEMO_SECRET_KEY as KEY

            services = get_container()
            counter = CallCounter()
            for client in (services.dynamodb, services.kms):
                client.meta.events.register("before-parameter-build.*", counter)
            http = Client(app, stage_name="local", project_dir=str(APP_DIR)).http
            auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
            import json

            def call(method: str, path: str, body: Any = None, **headers: str) -> Any:
                counter.take()
                response = http.request(
                    method,
                    path,
                    headers={**auth, **headers},
                    body=json.dumps(body).encode() if body else b"",
                )
                return response, counter.take()

            card = {
                "card_number": "4242424242424242",
                "exp_month": 12,
                "exp_year": 2031,
                "cvv": "123",
            }
            rows = []
            resp, calls = call("POST", "/token", card)
            rows.append(("POST /token (cold: data key + HMAC key fetched)", calls))
            resp, calls = call("POST", "/token", card)
            token = json.loads(resp.body)["data"]["id"]
            rows.append(("POST /token (warm data-key cache)", calls))
            resp, calls = call(
                "POST",
                "/charge",
                {"token": token, "amount": 10000, "currency": "USD"},
                **{"Idempotency-Key": str(uuid.uuid4())},
            )
            charge_id = json.loads(resp.body)["data"]["id"]
            rows.append(("POST /charge approved, with Idempotency-Key", calls))
            token2 = json.loads(call("POST", "/token", card)[0].body)["data"]["id"]
            _, calls = call("POST", "/charge", {"token": token2, "amount": 500, "currency": "USD"})
            rows.append(("POST /charge approved, no Idempotency-Key", calls))
            key = str(uuid.uuid4())
            _, _ = call(
                "POST",
                "/refund",
                {"charge_id": charge_id, "amount": 1000},
                **{"Idempotency-Key": key},
            )
            _, calls = call(
                "POST",
                "/refund",
                {"charge_id": charge_id, "amount": 1000},
                **{"Idempotency-Key": key},
            )
            rows.append(("POST /refund replayed (same Idempotency-Key)", calls))
            _, calls = call(
                "POST",
                "/refund",
                {"charge_id": charge_id, "amount": 1000},
                **{"Idempotency-Key": str(uuid.uuid4())},
            )
            rows.append(("POST /refund approved, with Idempotency-Key", calls))
            _, calls = call("POST", "/refund", {"charge_id": charge_id, "amount": 1000})
            rows.append(("POST /refund approved, no Idempotency-Key", calls))
            _, calls = call("GET", f"/charge/{charge_id}")
            rows.append(("GET /charge/{id} (with 3 refunds)", calls))
            _, calls = call("GET", "/charges?limit=10")
            rows.append(("GET /charges (first page)", calls))
            _, calls = call("GET", f"/charges?limit=10&starting_after={charge_id}")
            rows.append(("GET /charges (next page)", calls))
            rows += _webhook_rows(call, services, counter)

            print(f"{'operation':<52} {'DynamoDB':>8} {'KMS':>4} {'authz':>6}  calls")
            for name, calls in rows:
                dynamo, kms, authz, detail = describe(calls)
                print(f"{name:<52} {dynamo:>8} {kms:>4} {authz:>6}  {detail}")
    print(f"\ncold start: import of chalice_app/app.py, median of 5: {cold_import_ms():.0f} ms")
    print("authz = the authorizer's ApiKeys GetItem (cached by API Gateway per key when deployed)")


if __name__ == "__main__":
    main()
