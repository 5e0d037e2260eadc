"""CloudWatch metrics in embedded metric format (EMF): one JSON log line per emission.

Lambda sends stdout to CloudWatch Logs, which extracts the metrics from such lines: no
PutMetricData call, no extra permission, no latency. The alarms in pulumi/ read the
names below, so the metric and its alarm cannot drift apart.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

NAMESPACE = "Payments"
STAGE_DIMENSION = "Stage"

# A rejected authentication that could not be recorded (the caller still gets its 401),
# with dimension ``function`` = ``authorizer``.
AUDIT_WRITE_FAILED = "AuditWriteFailed"

# The sweep's metrics: name -> (SweepReport field, CloudWatch unit).
OLDEST_PENDING_AGE = "OldestPendingAgeSeconds"
SWEEP_METRICS: dict[str, tuple[str, str]] = {
    "PendingExamined": ("examined", "Count"),
    "PendingSettled": ("settled", "Count"),
    "PendingStillPending": ("still_pending", "Count"),
    OLDEST_PENDING_AGE: ("oldest_pending_age_seconds", "Seconds"),
}


def emf_line(stage: str, values: dict[str, tuple[float, str]], now_ms: int | None = None) -> str:
    """One EMF document: ``values`` maps metric name -> (value, unit)."""
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000) if now_ms is None else now_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[STAGE_DIMENSION]],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in values.items()],
                }
            ],
        },
        STAGE_DIMENSION: stage,
    }
    document.update({name: value for name, (value, _) in values.items()})
    return json.dumps(document, separators=(",", ":"))


def emit_sweep(report: Any, stage: str, out: TextIO | None = None) -> None:
    """Emit one sweep's report (a ``SweepReport``) as metrics."""
    values = {
        name: (float(getattr(report, field)), unit) for name, (field, unit) in SWEEP_METRICS.items()
    }
    print(emf_line(stage, values), file=out or sys.stdout, flush=True)


def emit(name: str, value: float = 1, unit: str = "Count", **dimensions: str) -> None:
    """One metric data point, e.g. ``emit("AuditWriteFailed", function="authorizer")``."""
    line = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit}],
                }
            ],
        },
        name: value,
        **dimensions,
    }
    print(json.dumps(line, separators=(",", ":")), flush=True)
