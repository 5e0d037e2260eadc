"""Rejected authentications: aggregated audit, and a failing audit write is still a 401."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from chalicelib.web.authorizer import route_of
from tests.helpers import HandlerApi, rejection_counts


def test_a_failing_audit_write_is_still_a_401_logged_and_measured(
    client: Any, services: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real fault (the aggregate table does not exist), not a mock."""
    from chalicelib.adapters.audit_log import RejectedAuthLog
    from chalicelib.container import Container, reset_container
    from chalicelib.logs import JsonFormatter

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("platform.authorizer").addHandler(handler)
    broken = Container(services.settings)
    broken.auth_rejections = RejectedAuthLog(broken.dynamodb, "no-such-table")  # type: ignore[misc]
    reset_container(broken)
    capsys.readouterr()
    try:
        response = HandlerApi(client).get("/charges", key="sk_test_unknownKeyWhileAuditIsDown000")
    finally:
        reset_container(services)
        logging.getLogger("platform.authorizer").removeHandler(handler)
    assert response.status == 401, response.text
    assert response.error["code"] == "invalid_api_key"
    (record,) = records
    failure = json.loads(JsonFormatter().format(record))
    assert failure["level"] == "WARNING"
    assert failure["error"] == "ResourceNotFoundException"
    assert failure["request_id"] == response.json["request_id"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    (metric,) = [line for line in lines if "_aws" in line]
    assert metric["AuditWriteFailed"] == 1
    assert metric["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == "AuditWriteFailed"
    assert "unknownKeyWhileAuditIsDown" not in json.dumps([failure, *lines])


def test_repeated_rejections_are_one_record_with_a_count(api: Any, services: Any) -> None:
    presented = "sk_test_triedManyTimesButNeverValid00"
    before = rejection_counts(services)
    for _ in range(5):
        assert api.post("/charge", {}, key=presented).status == 401
    after = rejection_counts(services)
    changed = {k: v for k, v in after.items() if v != before.get(k)}
    # Five tries within (almost always) one minute: one record counting five. A minute
    # boundary in between splits them over two records, still counting five.
    assert 1 <= len(changed) <= 2
    assert sum(v["count"] - before.get(k, {}).get("count", 0) for k, v in changed.items()) == 5
    record = next(iter(changed.values()))
    assert record["route"] == "POST /charge"
    assert record["first_at"] <= record["last_at"]
    assert "ttl" not in record  # audit records are kept (>= 1 year), never expired


@pytest.mark.parametrize(
    ("arn", "route"),
    [
        ("arn:aws:execute-api:eu-west-1:1:abc/api/GET/charges", "GET /charges"),
        ("arn:aws:execute-api:eu-west-1:1:abc/api/GET/charge/ch_1", "GET /charge/*"),
        ("arn:aws:execute-api:eu-west-1:1:abc/api/GET/charge/ch_2", "GET /charge/*"),
        ("arn:aws:execute-api:eu-west-1:1:abc/api/POST/token", "POST /token"),
        ("arn:aws:execute-api:eu-west-1:1:abc/api/DELETE/token", "other"),
        ("arn:aws:execute-api:eu-west-1:1:abc/api/GET/charge/a/b", "other"),
        ("garbage", "other"),
    ],
)
def test_the_source_is_the_route_template(chalice_app: Any, arn: str, route: str) -> None:
    """Path parameters are folded, so varying an id cannot mint a new record per request."""
    assert route_of(arn) == route
