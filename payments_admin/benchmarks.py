"""The figures of docs/benchmarks.md and its chart, from what ``make bench`` and ``make soak`` save.

``make bench`` writes docs/benchmarks.json, ``make soak`` docs/soak.json; either one then
fills the report's generated blocks from both, so neither loses the other's figures. The
report's prose (what is measured, how, and why the targets) is written in the report itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from payments_admin import doc_blocks

# Lambda allocates CPU in proportion to memory: 1,769 MB is one full vCPU.
FULL_VCPU_MB = 1769
MEMORY_OPTIONS_MB = (256, 512, 1024, 1769)
# us-east-1, x86: per GB-second and per request.
PRICE_GB_SECOND = 0.0000166667
PRICE_PER_REQUEST = 0.0000002
# Deployed round trips (same region), assumed for the duration model: DynamoDB single-digit
# ms, KMS ~10 ms, the bank's own answer time excluded (it is the same for every size).
DYNAMODB_MS = 5.0
KMS_MS = 10.0

LABELS = {
    "floor": "floor (GetItem + PutItem + bank)",
    "token": "POST /token",
    "charge": "POST /charge (with key)",
    "refund": "POST /refund (with key)",
    "get": "GET /charge/{id}",
    "list": "GET /charges",
}

# Measured for CPU and round trips only (no latency phases).
CPU_ONLY_LABELS = {"charge_nokey": "POST /charge (no Idempotency-Key)"}


def _load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def _phase(bench: dict[str, Any], operation: str, concurrency: int) -> dict[str, Any]:
    return next(
        p
        for p in bench["phases"]
        if p["operation"] == operation and p["concurrency"] == concurrency
    )


def _cpu(bench: dict[str, Any], operation: str) -> dict[str, float]:
    """CPU per request from the interleaved one-client pass."""
    return bench["cpu"][operation]


def _x_floor(bench: dict[str, Any], operation: str) -> float:
    """The operation's CPU over the floor's: the median of paired rounds when measured so."""
    cpu = _cpu(bench, operation)
    if "x_floor" in cpu:
        return float(cpu["x_floor"])
    return float(cpu["cpu_ms"]) / float(_cpu(bench, "floor")["cpu_ms"])


def _throughput(bench: dict[str, Any]) -> tuple[float, float, float, str]:
    """Floor's and charge's requests/s at 8 clients, their ratio, and the rounds' ratios."""
    if "throughput" in bench:
        t = bench["throughput"]
        rounds = ", ".join(f"{r:.0%}" for r in t["ratio_rounds"])
        return t["floor_rps"], t["charge_rps"], t["ratio"], rounds
    floor, charge = _phase(bench, "floor", 8)["rps"], _phase(bench, "charge", 8)["rps"]
    return floor, charge, charge / floor, ""


def _spread(cpu: dict[str, Any]) -> str:
    rounds = cpu.get("cpu_ms_rounds") or []
    return f"{min(rounds):.1f}-{max(rounds):.1f}" if rounds else ""


def lambda_duration_ms(cpu_ms: float, io_ms: float, memory_mb: int) -> float:
    """CPU stretched by the memory's share of a vCPU, plus the time spent waiting on I/O."""
    return cpu_ms * max(1.0, FULL_VCPU_MB / memory_mb) + io_ms


def cost_per_million(duration_ms: float, memory_mb: int) -> float:
    return 1e6 * (duration_ms / 1000 * memory_mb / 1024 * PRICE_GB_SECOND + PRICE_PER_REQUEST)


# Doubling memory is worth it while it shortens a request by at least this much.
WORTH_RELATIVE = 0.2
WORTH_MS = 5.0


def choose_memory(cpu_ms: float, io_ms: float) -> int:
    """The smallest size after which doubling memory shortens the request by < 20% or < 5 ms.

    Past that point the extra GB-seconds pay for CPU the request no longer waits on.
    """
    for small, large in zip(MEMORY_OPTIONS_MB, MEMORY_OPTIONS_MB[1:], strict=False):
        now = lambda_duration_ms(cpu_ms, io_ms, small)
        saved = now - lambda_duration_ms(cpu_ms, io_ms, large)
        if saved < WORTH_MS or saved / now < WORTH_RELATIVE:
            return small
    return MEMORY_OPTIONS_MB[-1]


def _sizing(bench: dict[str, Any]) -> str:
    calls = bench["calls"]
    api_ops = ("token", "charge", "refund", "get", "list")
    cpu = {op: _cpu(bench, op)["cpu_ms"] for op in api_ops}
    io = {op: calls[op]["dynamodb"] * DYNAMODB_MS + calls[op]["kms"] * KMS_MS for op in api_ops}
    rows = {f"api: {LABELS[op]}": (cpu[op], io[op]) for op in api_ops}
    authorizer = (bench.get("authorizer_cpu_ms", 0.0), DYNAMODB_MS)
    rows["authorizer (hash + one GetItem)"] = authorizer
    api_choice = max(choose_memory(*rows[f"api: {LABELS[op]}"]) for op in api_ops)
    cold = bench["cold_start"]["app"]
    init_cpu = cold["import_cpu_ms"] + cold["first_cpu_ms"]
    lines = [
        "| function / route | CPU ms | I/O ms | "
        + " | ".join(f"{m} MB: ms / $ per M" for m in MEMORY_OPTIONS_MB)
        + " | smallest worth it |",
        "| --- | ---: | ---: | " + " | ".join("---:" for _ in MEMORY_OPTIONS_MB) + " | ---: |",
    ]
    for name, (cpu_ms, io_ms) in rows.items():
        cells = []
        for memory in MEMORY_OPTIONS_MB:
            duration = lambda_duration_ms(cpu_ms, io_ms, memory)
            cells.append(f"{duration:.0f} / {cost_per_million(duration, memory):.2f}")
        lines.append(
            f"| {name} | {cpu_ms:.1f} | {io_ms:.0f} | "
            + " | ".join(cells)
            + f" | {choose_memory(cpu_ms, io_ms)} MB |"
        )
    lines += [
        "",
        f"Cold start CPU (import {cold['import_cpu_ms']:.0f} ms + first token "
        f"{cold['first_cpu_ms']:.0f} ms): "
        + ", ".join(
            f"{init_cpu * max(1.0, FULL_VCPU_MB / m):.0f} ms at {m} MB" for m in MEMORY_OPTIONS_MB
        )
        + f". Sizes from this run: **api {api_choice} MB**, "
        f"**authorizer {choose_memory(*authorizer)} MB**.",
    ]
    return "\n".join(lines)


def _targets(bench: dict[str, Any], soak: dict[str, Any] | None) -> str:
    floor_cpu = _cpu(bench, "floor")["cpu_ms"]
    charge_cpu = _cpu(bench, "charge")["cpu_ms"]
    token_cpu = _cpu(bench, "token")["cpu_ms"]
    charge_x, token_x = _x_floor(bench, "charge"), _x_floor(bench, "token")
    floor_rps, charge_rps, rps_ratio, rps_rounds = _throughput(bench)

    def row(name: str, floor: str, ours: str, ok: bool) -> str:
        return f"| {name} | {floor} | {ours} | {'met' if ok else '**not met**'} |"

    lines = [
        "| target | floor | platform | |",
        "| --- | ---: | ---: | --- |",
        row(
            "approved charge CPU (serving process) <= 2x floor",
            f"{floor_cpu:.2f} ms",
            f"{charge_cpu:.2f} ms ({charge_x:.2f}x)",
            charge_x <= 2,
        ),
        row(
            "token CPU <= 1.5x floor",
            f"{floor_cpu:.2f} ms",
            f"{token_cpu:.2f} ms ({token_x:.2f}x)",
            token_x <= 1.5,
        ),
        row(
            "charges/s at concurrency 8 >= 50% of floor",
            f"{floor_rps:.0f}/s",
            f"{charge_rps:.0f}/s ({rps_ratio:.0%})"
            + (f"; rounds {rps_rounds}" if rps_rounds else ""),
            rps_ratio >= 0.5,
        ),
    ]
    if soak:
        early, late = soak["early"].get("p10", 0.0), soak["late"].get("p10", 0.0)
        lines += [
            row(
                f"same charge latency with {soak['charges']:,} charges as with "
                f"{soak['early']['charges_before']}",
                "",
                f"p10 {early:.1f} -> {late:.1f} ms",
                late <= early * 1.5 + 5,
            ),
            row(
                f"moto memory < 1 GB after {soak['charges']:,} charges",
                "",
                f"{soak['moto_rss_mb'][-1][1]:.0f} MB",
                soak["moto_rss_mb"][-1][1] < 1024,
            ),
        ]
    if "charge_nokey" in bench["cpu"]:
        nokey = _cpu(bench, "charge_nokey")["cpu_ms"]
        lines += [
            "",
            f"Approved charge without Idempotency-Key: {nokey:.2f} ms "
            f"({_x_floor(bench, 'charge_nokey'):.2f}x the floor).",
        ]
    return "\n".join(lines)


_BREAKDOWN_ORDER = (
    "GetItem (authenticate)",
    "BatchGetItem",
    "TransactWriteItems (write-ahead)",
    "PutItem",
    "bank call",
    "TransactWriteItems (final)",
    "Chalice dispatch and the route's own code",
)


def _breakdown(bench: dict[str, Any]) -> str:
    parts = bench.get("cpu_breakdown")
    if not parts:
        return "Not measured in this run."
    floor, charge = parts["floor"], parts["charge"]
    labels = [k for k in _BREAKDOWN_ORDER if k in floor or k in charge]
    labels += sorted(k for k in {**floor, **charge} if k not in labels and k != "total")

    def cell(row: dict[str, float], label: str) -> str:
        return f"{row[label]:.2f}" if label in row else ""

    own = "Chalice dispatch and the route's own code"
    calls_only = charge["total"] - charge.get(own, 0.0) + floor.get(own, 0.0)
    return "\n".join(
        [
            "| | floor | POST /charge (with key) |",
            "| --- | ---: | ---: |",
            *(f"| {label} | {cell(floor, label)} | {cell(charge, label)} |" for label in labels),
            f"| **total** | **{floor['total']:.2f}** | **{charge['total']:.2f}** "
            f"({charge['total'] / floor['total']:.2f}x) |",
            "",
            f"The charge's calls alone, with the floor's own code: {calls_only:.2f} ms "
            f"({calls_only / floor['total']:.2f}x the floor).",
        ]
    )


def _per_request(bench: dict[str, Any]) -> str:
    lines = [
        "| operation | CPU ms | rounds | x floor | moto CPU ms | DynamoDB | authorizer | KMS "
        "| p50 ms | p95 ms | p99 ms | req/s |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for op, label in LABELS.items():
        p, c, u = _phase(bench, op, 1), bench["calls"][op], _cpu(bench, op)
        lines.append(
            f"| {label} | {u['cpu_ms']:.2f} | {_spread(u)} | {_x_floor(bench, op):.2f} | "
            f"{u['moto_cpu_ms']:.2f} | {c['dynamodb']} | {c['authorizer']} | {c['kms']} | "
            f"{p['p50']:.1f} | {p['p95']:.1f} | {p['p99']:.1f} | {p['rps']:.0f} |"
        )
    for op, label in CPU_ONLY_LABELS.items():
        if op in bench["cpu"]:
            u, c = _cpu(bench, op), bench["calls"][op]
            lines.append(
                f"| {label} | {u['cpu_ms']:.2f} | {_spread(u)} | {_x_floor(bench, op):.2f} | "
                f"{u['moto_cpu_ms']:.2f} | {c['dynamodb']} | {c['authorizer']} | {c['kms']} | "
                "| | | |"
            )
    every = {**LABELS, **{k: v for k, v in CPU_ONLY_LABELS.items() if k in bench["calls"]}}
    lines += ["", "| operation | calls (besides the authorizer's) |", "| --- | --- |"]
    lines += [f"| {label} | {bench['calls'][op]['calls']} |" for op, label in every.items()]
    return "\n".join(lines)


def _by_concurrency(bench: dict[str, Any]) -> str:
    levels = sorted({p["concurrency"] for p in bench["phases"]})
    lines = [
        "| operation | clients | requests | p50 ms | p95 ms | p99 ms | req/s | x floor req/s "
        "| CPU ms | moto CPU ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for op, label in LABELS.items():
        for c in levels:
            p, f = _phase(bench, op, c), _phase(bench, "floor", c)
            lines.append(
                f"| {label} | {c} | {p['requests']} | {p['p50']:.1f} | {p['p95']:.1f} | "
                f"{p['p99']:.1f} | {p['rps']:.0f} | {p['rps'] / f['rps']:.0%} | "
                f"{p['cpu_ms']:.2f} | {p['moto_cpu_ms']:.2f} | {p['errors']} |"
            )
    return "\n".join(lines)


def _cold_start(bench: dict[str, Any]) -> str:
    app, floor = bench["cold_start"]["app"], bench["cold_start"]["floor"]
    return "\n".join(
        [
            "| | import ms (CPU) | first request ms (CPU) | second request ms (CPU) |",
            "| --- | ---: | ---: | ---: |",
            f"| floor | {floor['import_ms']:.0f} ({floor['import_cpu_ms']:.0f}) | "
            f"{floor['first_ms']:.0f} ({floor['first_cpu_ms']:.0f}) | |",
            f"| platform | {app['import_ms']:.0f} ({app['import_cpu_ms']:.0f}) | "
            f"token {app['first_ms']:.0f} ({app['first_cpu_ms']:.0f}) | "
            f"charge {app['second_ms']:.0f} ({app['second_cpu_ms']:.0f}) |",
        ]
    )


def _soak(soak: dict[str, Any] | None) -> str:
    if not soak:
        return "Not run yet on this machine: `make soak` fills this section."
    lines = [
        f"{soak['flows']:,} flows from {soak['clients']} clients, {soak['charges']:,} charges, "
        f"{soak['seconds']:.0f} s ({soak['generated_at']}); errors: {soak['errors']}.",
        "",
        "| | charges in the tables | p10 ms | p50 ms | p95 ms | p99 ms "
        "| moto CPU ms per token + charge |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in ("early", "late"):
        s = soak[name]
        lines.append(
            f"| {name} | {s['charges_before']:,} | {s.get('p10', '')} | {s['p50']:.1f} | "
            f"{s['p95']:.1f} | {s['p99']:.1f} | {s.get('moto_cpu_ms_per_flow', '')} |"
        )
    lines += [
        "",
        "moto server memory (RSS) by charges written: "
        + ", ".join(f"{n:,}: {mb:.0f} MB" for n, mb in soak["moto_rss_mb"])
        + ".",
    ]
    return "\n".join(lines)


def _chart(bench: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops = list(LABELS)
    levels = sorted({p["concurrency"] for p in bench["phases"]})
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    x = range(len(ops))
    width = 0.8 / len(levels)
    for i, c in enumerate(levels):
        axes[0].bar(
            [j + i * width for j in x],
            [_phase(bench, op, c)["p50"] for op in ops],
            width,
            label=f"{c} client{'s' if c > 1 else ''}",
        )
        axes[1].bar(
            [j + i * width for j in x],
            [_phase(bench, op, c)["rps"] for op in ops],
            width,
            label=f"{c} client{'s' if c > 1 else ''}",
        )
    axes[0].set_title("p50 latency (ms)")
    axes[1].set_title("requests/s")
    serving = [_cpu(bench, op)["cpu_ms"] for op in ops]
    moto = [_cpu(bench, op)["moto_cpu_ms"] for op in ops]
    axes[2].bar(list(x), serving, 0.4, label="serving process")
    axes[2].bar([j + 0.4 for j in x], moto, 0.4, label="moto server")
    axes[2].set_title("CPU ms per request (1 client)")
    for ax in axes:
        ax.set_xticks([j + 0.3 for j in x])
        ax.set_xticklabels(ops)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("make bench: the platform beside the floor (local stack)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def blocks(bench: dict[str, Any], soak: dict[str, Any] | None) -> dict[str, str]:
    """The report's generated blocks, by name."""
    machine = bench["machine"]
    return {
        "bench-run": f"Measured by `make bench` on {bench['generated_at']} ({machine['cpus']} "
        f"CPUs, Python {machine['python']}, {bench['seconds']} s); moto server memory at the "
        f"end: {bench['moto_rss_mb_after_bench']} MB.",
        "bench-targets": _targets(bench, soak),
        "bench-breakdown": _breakdown(bench),
        "bench-per-request": _per_request(bench),
        "bench-concurrency": _by_concurrency(bench),
        "bench-cold-start": _cold_start(bench),
        "bench-sizing": _sizing(bench),
        "bench-soak": _soak(soak),
    }


def write_report(docs: Path) -> None:
    """Fill docs/benchmarks.md's generated blocks (and draw the chart) from saved figures."""
    bench = _load(docs / "benchmarks.json")
    if bench is None:
        return
    _chart(bench, docs / "benchmarks.png")
    report = docs / "benchmarks.md"
    report.write_text(doc_blocks.fill(report.read_text(), blocks(bench, _load(docs / "soak.json"))))
