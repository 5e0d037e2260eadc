"""Identifiers and timestamps in the contract's formats."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def new_id(prefix: str) -> str:
    """A random identifier with a type prefix: 160 bits, never derived from input."""
    return f"{prefix}_{secrets.token_urlsafe(20)}"


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z suffix."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """The moment ``iso`` wrote (``fromisoformat`` reads its "Z" as UTC since Python 3.11)."""
    return datetime.fromisoformat(text)
