"""The reconciler's metrics in CloudWatch embedded metric format."""

from __future__ import annotations

import io
import json

from chalicelib import metrics
from chalicelib.services.settlement import SweepReport


def test_sweep_report_becomes_one_emf_document() -> None:
    out = io.StringIO()
    report = SweepReport(examined=3, settled=2, still_pending=1, oldest_pending_age_seconds=42.5)
    metrics.emit_sweep(report, "dev", out=out)
    (line,) = out.getvalue().splitlines()
    document = json.loads(line)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Payments"
    assert directive["Dimensions"] == [["Stage"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "PendingExamined": "Count",
        "PendingSettled": "Count",
        "PendingStillPending": "Count",
        "OldestPendingAgeSeconds": "Seconds",
    }
    assert isinstance(document["_aws"]["Timestamp"], int)
    assert document["Stage"] == "dev"
    assert document["OldestPendingAgeSeconds"] == 42.5
    assert (document["PendingExamined"], document["PendingSettled"]) == (3, 2)
    # Every metric the directive declares has its value as a top-level member (EMF rule).
    assert all(m["Name"] in document for m in directive["Metrics"])


def test_every_sweep_metric_reads_a_report_field() -> None:
    fields = set(vars(SweepReport()))
    assert {field for field, _ in metrics.SWEEP_METRICS.values()} <= fields
