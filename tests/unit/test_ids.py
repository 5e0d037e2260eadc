"""Timestamps in the contract's format: milliseconds, UTC, a Z suffix, read back exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from chalicelib.ids import iso, parse_iso


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "2026-01-02T03:04:05.678Z"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05.000Z"),
        (
            datetime(2026, 1, 2, 23, 4, 5, 999999, tzinfo=timezone(timedelta(hours=-5))),
            "2026-01-03T04:04:05.999Z",
        ),
    ],
)
def test_iso_is_utc_milliseconds_truncated(moment: datetime, text: str) -> None:
    assert iso(moment) == text
    assert parse_iso(text) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert parse_iso(text).tzinfo is not None
