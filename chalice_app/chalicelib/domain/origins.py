"""Checkout origins: which web pages may embed a merchant's card fields and call
``POST /token`` from a browser.

Pure rules, no I/O. An origin is kept exactly as a browser sends it in its ``Origin``
header (lower-case scheme and host, no default port, no path), so that checking a request
is a plain string comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_ORIGINS = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutOrigins:
    """A merchant's registered origins, and the version a rewrite of them must find (0: none
    registered yet), so two operators changing the list at once cannot lose a change."""

    merchant_id: str
    origins: tuple[str, ...] = ()
    version: int = 0
    updated_at: str | None = None  # ISO 8601, UTC; None while nothing is registered


_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_PORT = re.compile(r"[1-9][0-9]{0,4}")
# The only http origins a local stack accepts: its demo shop and test pages on loopback.
_LOCAL_HOSTS = ("127.0.0.1", "localhost")


def _port(text: str) -> bool:
    return bool(_PORT.fullmatch(text)) and int(text) <= 65535


def parse_origin(text: str, *, local: bool) -> str | None:
    """The origin if ``text`` is one this stack accepts, written as browsers write it.

    ``https://host[:port]`` anywhere (no path, no user, no default port 443, lower case);
    ``http://127.0.0.1:<port>`` and ``http://localhost:<port>`` only where ``local``.
    None for anything else.
    """
    if not isinstance(text, str) or len(text) > 300 or not text.isascii():
        return None
    scheme, sep, rest = text.partition("://")
    if not sep or not rest:
        return None
    host, colon, port = rest.partition(":")
    if colon and not _port(port):
        return None
    if scheme == "https":
        if not _HOST.fullmatch(host) or len(host) > 253 or port == "443":
            return None
        return text
    if scheme == "http" and local and host in _LOCAL_HOSTS and colon:
        return text
    return None


def add_origin(current: tuple[str, ...], origin: str) -> tuple[str, ...]:
    """``current`` with ``origin`` appended (unchanged if present); raises past the cap."""
    if origin in current:
        return current
    if len(current) >= MAX_ORIGINS:
        raise TooManyOrigins
    return (*current, origin)


class TooManyOrigins(Exception):
    """A merchant has the maximum number of checkout origins already."""
