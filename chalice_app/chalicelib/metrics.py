"""Metrics as CloudWatch Embedded Metric Format lines on stdout.

Lambda ships stdout to CloudWatch Logs, which turns these lines into metrics: no API call,
no client, nothing that can fail or slow the request that emits one.
"""

from __future__ import annotations

import json
import sys
import time

NAMESPACE = "Payments"


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
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stdout.flush()
