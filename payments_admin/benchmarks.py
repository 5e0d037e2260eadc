"""docs/benchmarks.md's generated blocks and chart, from docs/benchmarks.json and docs/soak.json.

``make bench`` writes the first, ``make soak`` the second; either then renders the report from
both. What is measured and why is written in the report's prose, not here.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from payments_admin import doc_blocks

# Lambda allocates CPU in proportion to memory: 1,769 MB is one full vCPU.
FULL_VCPU_MB = 1769
MEMORY_OPTIONS_MB = (256, 512, 1024, 1769)
# us-east-1, x86: per GB-second and per request.
PRICE_GB_SECOND = 0.0000166667
PRICE_PER_REQUEST = 0.0000002
# Deployed waits per call in the duration model; the bank's is the same at every size.
DYNAMODB_MS = 5.0
KMS_MS = 10.0
# Doubling memory is worth it while it shortens a request by at least this much.
WORTH_RELATIVE = 0.2
WORTH_MS = 5.0

LABELS = {
    "floor": "floor (GetItem + PutItem + bank)",
    "token": "POST /token",
    "charge": "POST /charge (with key)",
    "refund": "POST /refund (with key)",
    "get": "GET /charge/{id}",
    "list": "GET /charges",
    "charge_nokey": "POST /charge (no Idempotency-Key)",
}
# The operations measured at every concurrency; the last label is measured for CPU only.
PHASE_OPERATIONS = tuple(LABELS)[:-1]
API_OPERATIONS = PHASE_OPERATIONS[1:]
OWN_CODE = "Chalice dispatch and the route's own code"
BREAKDOWN_ORDER = (
    "GetItem (authenticate)",
    "BatchGetItem",
    "TransactWriteItems (write-ahead)",
    "PutItem",
    "bank call",
    "TransactWriteItems (final)",
    OWN_CODE,
)


def lambda_duration_ms(cpu_ms: float, io_ms: float, memory_mb: int) -> float:
    """CPU stretched by the memory's share of a vCPU, plus the time spent waiting on I/O."""
    return cpu_ms * max(1.0, FULL_VCPU_MB / memory_mb) + io_ms


def cost_per_million(duration_ms: float, memory_mb: int) -> float:
    return 1e6 * (duration_ms / 1000 * memory_mb / 1024 * PRICE_GB_SECOND + PRICE_PER_REQUEST)


def choose_memory(cpu_ms: float, io_ms: float) -> int:
    """The smallest size after which doubling memory shortens the request by < 20% or < 5 ms."""
    for small, large in zip(MEMORY_OPTIONS_MB, MEMORY_OPTIONS_MB[1:], strict=False):
        now = lambda_duration_ms(cpu_ms, io_ms, small)
        saved = now - lambda_duration_ms(cpu_ms, io_ms, large)
        if saved < WORTH_MS or saved / now < WORTH_RELATIVE:
            return small
    return MEMORY_OPTIONS_MB[-1]


def paired_ratios(values: Sequence[float], floors: Sequence[float]) -> list[float]:
    """Each round's value over the floor's of the same round."""
    return [v / f for v, f in zip(values, floors, strict=True)]


def cpu_summary(bench: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per operation: median CPU and moto CPU over the rounds, their spread, x floor.

    x floor is the median of the rounds' ratios to that round's floor.
    """
    floor = bench["cpu"]["floor"]["cpu_ms"]
    summary = {}
    for op, rounds in bench["cpu"].items():
        summary[op] = {
            "cpu_ms": statistics.median(rounds["cpu_ms"]),
            "moto_cpu_ms": statistics.median(rounds["moto_cpu_ms"]),
            "spread": f"{min(rounds['cpu_ms']):.1f}-{max(rounds['cpu_ms']):.1f}",
            "x_floor": statistics.median(paired_ratios(rounds["cpu_ms"], floor)),
        }
    return summary


def _table(head: str, align: str, rows: Iterable[str]) -> list[str]:
    """A markdown table of rows whose cells are joined by " | "; ``align``: ``l`` or ``r`` each."""
    rule = " | ".join("---" if a == "l" else "---:" for a in align)
    return [f"| {head} |", f"| {rule} |", *(f"| {row} |" for row in rows)]


def _phases(bench: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    """The concurrency phases by operation and number of clients."""
    return {(p["operation"], p["concurrency"]): p for p in bench["phases"]}


def _targets(bench: dict[str, Any], soak: dict[str, Any]) -> str:
    cpu = cpu_summary(bench)
    floor_cpu = f"{cpu['floor']['cpu_ms']:.2f} ms"
    t = bench["throughput"]
    rps_ratios = paired_ratios(t["charge_rps"], t["floor_rps"])
    rps_ratio = statistics.median(rps_ratios)
    early, late = soak["early"]["p10"], soak["late"]["p10"]
    moto_mb = soak["moto_rss_mb"][-1][1]

    def cpu_row(op: str, limit: float) -> tuple[str, str, str, bool]:
        name = "approved charge CPU (serving process)" if op == "charge" else "token CPU"
        ours = f"{cpu[op]['cpu_ms']:.2f} ms ({cpu[op]['x_floor']:.2f}x)"
        return f"{name} <= {limit:g}x floor", floor_cpu, ours, cpu[op]["x_floor"] <= limit

    rows = [
        cpu_row("charge", 2),
        cpu_row("token", 1.5),
        (
            f"charges/s at concurrency {t['clients']} >= 50% of floor",
            f"{statistics.median(t['floor_rps']):.0f}/s",
            f"{statistics.median(t['charge_rps']):.0f}/s ({rps_ratio:.0%}); rounds "
            + ", ".join(f"{r:.0%}" for r in rps_ratios),
            rps_ratio >= 0.5,
        ),
        (
            f"same charge latency with {soak['charges']:,} charges as with "
            f"{soak['early']['charges_before']}",
            "",
            f"p10 {early:.1f} -> {late:.1f} ms",
            late <= early * 1.5 + 5,
        ),
        (
            f"moto memory < 1 GB after {soak['charges']:,} charges",
            "",
            f"{moto_mb:.0f} MB",
            moto_mb < 1024,
        ),
    ]
    nokey = cpu["charge_nokey"]
    return "\n".join(
        [
            *_table(
                "target | floor | platform |",
                "lrrl",
                (
                    f"{n} | {f} | {ours} | {'met' if ok else '**not met**'}"
                    for n, f, ours, ok in rows
                ),
            ),
            "",
            f"Approved charge without Idempotency-Key: {nokey['cpu_ms']:.2f} ms "
            f"({nokey['x_floor']:.2f}x the floor).",
        ]
    )


def _breakdown(bench: dict[str, Any]) -> str:
    floor, charge = bench["cpu_breakdown"]["floor"], bench["cpu_breakdown"]["charge"]
    labels = [k for k in BREAKDOWN_ORDER if k in floor or k in charge]
    labels += sorted(k for k in {**floor, **charge} if k not in labels and k != "total")

    def cell(row: dict[str, float], label: str) -> str:
        return f"{row[label]:.2f}" if label in row else ""

    calls_only = charge["total"] - charge.get(OWN_CODE, 0.0) + floor.get(OWN_CODE, 0.0)
    rows = [f"{label} | {cell(floor, label)} | {cell(charge, label)}" for label in labels]
    total = f"**{charge['total']:.2f}** ({charge['total'] / floor['total']:.2f}x)"
    rows.append(f"**total** | **{floor['total']:.2f}** | {total}")
    return "\n".join(
        [
            *_table(f"| floor | {LABELS['charge']}", "lrr", rows),
            "",
            f"The charge's calls alone, with the floor's own code: {calls_only:.2f} ms "
            f"({calls_only / floor['total']:.2f}x the floor).",
        ]
    )


def _per_request(bench: dict[str, Any]) -> str:
    cpu, calls, phases = cpu_summary(bench), bench["calls"], _phases(bench)
    rows = []
    for op, label in LABELS.items():
        u, c, p = cpu[op], calls[op], phases.get((op, 1))
        latency = (
            f"{p['p50']:.1f} | {p['p95']:.1f} | {p['p99']:.1f} | {p['rps']:.0f}" if p else " | | |"
        )
        rows.append(
            f"{label} | {u['cpu_ms']:.2f} | {u['spread']} | {u['x_floor']:.2f} | "
            f"{u['moto_cpu_ms']:.2f} | {c['dynamodb']} | {c['authorizer']} | {c['kms']} | {latency}"
        )
    head = (
        "operation | CPU ms | rounds | x floor | moto CPU ms | DynamoDB | authorizer | KMS "
        "| p50 ms | p95 ms | p99 ms | req/s"
    )
    return "\n".join(
        [
            *_table(head, "lrlrrrrrrrrr", rows),
            "",
            *_table(
                "operation | calls (besides the authorizer's)",
                "ll",
                (f"{label} | {calls[op]['calls']}" for op, label in LABELS.items()),
            ),
        ]
    )


def _by_concurrency(bench: dict[str, Any]) -> str:
    phases = _phases(bench)
    rows = []
    for op in PHASE_OPERATIONS:
        for c in sorted({c for _, c in phases}):
            p = phases[op, c]
            rows.append(
                f"{LABELS[op]} | {c} | {p['requests']} | {p['p50']:.1f} | {p['p95']:.1f} | "
                f"{p['p99']:.1f} | {p['rps']:.0f} | {p['rps'] / phases['floor', c]['rps']:.0%} | "
                f"{p['cpu_ms']:.2f} | {p['moto_cpu_ms']:.2f} | {p['errors']}"
            )
    head = (
        "operation | clients | requests | p50 ms | p95 ms | p99 ms | req/s | x floor req/s "
        "| CPU ms | moto CPU ms | errors"
    )
    return "\n".join(_table(head, "l" + "r" * 10, rows))


def _cold_start(bench: dict[str, Any]) -> str:
    app, floor = bench["cold_start"]["app"], bench["cold_start"]["floor"]

    def cell(run: dict[str, float], step: str) -> str:
        return f"{run[f'{step}_ms']:.0f} ({run[f'{step}_cpu_ms']:.0f})"

    rows = [
        f"floor | {cell(floor, 'import')} | {cell(floor, 'first')} | ",
        f"platform | {cell(app, 'import')} | token {cell(app, 'first')} | "
        f"charge {cell(app, 'second')}",
    ]
    head = "| import ms (CPU) | first request ms (CPU) | second request ms (CPU)"
    return "\n".join(_table(head, "lrrr", rows))


def _sizing(bench: dict[str, Any]) -> str:
    cpu, calls = cpu_summary(bench), bench["calls"]
    routes = {
        f"api: {LABELS[op]}": (
            cpu[op]["cpu_ms"],
            calls[op]["dynamodb"] * DYNAMODB_MS + calls[op]["kms"] * KMS_MS,
        )
        for op in API_OPERATIONS
    }
    authorizer = (bench["authorizer_cpu_ms"], DYNAMODB_MS)
    rows = []
    for name, (cpu_ms, io_ms) in {**routes, "authorizer (hash + one GetItem)": authorizer}.items():
        cells = []
        for memory in MEMORY_OPTIONS_MB:
            duration = lambda_duration_ms(cpu_ms, io_ms, memory)
            cells.append(f"{duration:.0f} / {cost_per_million(duration, memory):.2f}")
        cells.append(f"{choose_memory(cpu_ms, io_ms)} MB")
        rows.append(" | ".join([name, f"{cpu_ms:.1f}", f"{io_ms:.0f}", *cells]))
    cold = bench["cold_start"]["app"]
    init_cpu = cold["import_cpu_ms"] + cold["first_cpu_ms"]
    head = (
        "function / route | CPU ms | I/O ms | "
        + " | ".join(f"{m} MB: ms / $ per M" for m in MEMORY_OPTIONS_MB)
        + " | smallest worth it"
    )
    return "\n".join(
        [
            *_table(head, "l" + "r" * (3 + len(MEMORY_OPTIONS_MB)), rows),
            "",
            f"Cold start CPU (import {cold['import_cpu_ms']:.0f} ms + first token "
            f"{cold['first_cpu_ms']:.0f} ms): "
            + ", ".join(
                f"{init_cpu * max(1.0, FULL_VCPU_MB / m):.0f} ms at {m} MB"
                for m in MEMORY_OPTIONS_MB
            )
            + f". Sizes from this run: **api {max(choose_memory(*r) for r in routes.values())}"
            f" MB**, **authorizer {choose_memory(*authorizer)} MB**.",
        ]
    )


def _soak(soak: dict[str, Any]) -> str:
    rows = [
        f"{name} | {s['charges_before']:,} | {s['p10']} | {s['p50']:.1f} | {s['p95']:.1f} | "
        f"{s['p99']:.1f} | {s['moto_cpu_ms_per_flow']}"
        for name, s in ((name, soak[name]) for name in ("early", "late"))
    ]
    head = (
        "| charges in the tables | p10 ms | p50 ms | p95 ms | p99 ms "
        "| moto CPU ms per token + charge"
    )
    return "\n".join(
        [
            f"{soak['flows']:,} flows from {soak['clients']} clients, {soak['charges']:,} "
            f"charges, {soak['seconds']:.0f} s ({soak['generated_at']}); errors: "
            f"{soak['errors']}.",
            "",
            *_table(head, "lrrrrrr", rows),
            "",
            "moto server memory (RSS) by charges written: "
            + ", ".join(f"{n:,}: {mb:.0f} MB" for n, mb in soak["moto_rss_mb"])
            + ".",
        ]
    )


def _chart(bench: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops = PHASE_OPERATIONS
    x = range(len(ops))
    phases = _phases(bench)
    levels = sorted({c for _, c in phases})
    width = 0.8 / len(levels)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    for i, c in enumerate(levels):
        label = f"{c} client{'s' if c > 1 else ''}"
        for ax, figure in ((axes[0], "p50"), (axes[1], "rps")):
            heights = [phases[op, c][figure] for op in ops]
            ax.bar([j + i * width for j in x], heights, width, label=label)
    cpu = cpu_summary(bench)
    axes[2].bar(list(x), [cpu[op]["cpu_ms"] for op in ops], 0.4, label="serving process")
    axes[2].bar([j + 0.4 for j in x], [cpu[op]["moto_cpu_ms"] for op in ops], 0.4, label="moto")
    titles = ("p50 latency (ms)", "requests/s", "CPU ms per request (1 client)")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title)
        ax.set_xticks([j + 0.3 for j in x])
        ax.set_xticklabels(ops)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("make bench: the platform beside the floor (local stack)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def blocks(bench: dict[str, Any], soak: dict[str, Any]) -> dict[str, str]:
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
    """Fill docs/benchmarks.md's generated blocks and draw the chart from the saved figures."""
    bench = json.loads((docs / "benchmarks.json").read_text())
    soak = json.loads((docs / "soak.json").read_text())
    _chart(bench, docs / "benchmarks.png")
    report = docs / "benchmarks.md"
    report.write_text(doc_blocks.fill(report.read_text(), blocks(bench, soak)))
