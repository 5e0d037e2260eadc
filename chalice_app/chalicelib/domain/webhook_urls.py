"""Which webhook URLs the platform may POST to (server-side request forgery rules).

A webhook URL makes our servers send requests where a merchant says, so it must never name
something inside our network: a private, loopback, link-local (cloud metadata at
169.254.169.254) or otherwise non-public address, whether written as an address or as a
name that resolves to one. Names are resolved by the caller (``resolve``), when the
endpoint is created and again before every delivery (a name may be re-pointed later).
With ``allow_local`` (the local stack's own setting, ``Settings.local_webhooks``),
``http(s)://127.0.0.1:<port>`` is accepted too: the test receivers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import NamedTuple
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
LOCAL_HOST = "127.0.0.1"
# Names that are never public, whatever a resolver says.
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Resolver = Callable[[str, int], Iterable[str]]


class UnsafeUrl(ValueError):
    """The URL may not receive webhooks."""


class UnresolvableHost(UnsafeUrl):
    """The URL's host name has no address (yet): nothing says it is not public."""


class Target(NamedTuple):
    """Where a checked URL is delivered: scheme, host name, port, checked addresses, path."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]
    path: str


def is_public(address: str) -> bool:
    """Whether an IP address is globally routable (never ours, nor anyone's private net)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(str(embedded))
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def _ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check(url: str, *, allow_local: bool, resolve: Resolver) -> Target:
    """Where ``url`` is delivered, or ``UnsafeUrl``.

    https with a public host; every address a name resolves to must be public (one private
    answer is enough to refuse: the connection could use it).
    """
    if not (0 < len(url) <= MAX_URL_LENGTH) or not all("!" <= ch <= "~" for ch in url):
        raise UnsafeUrl("not a printable ASCII URL of at most 2048 characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise UnsafeUrl("bad port") from None
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("credentials in the URL")
    if not host:
        raise UnsafeUrl("no host")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if allow_local and host == LOCAL_HOST and port is not None and scheme in ("http", "https"):
        return Target(scheme, host, port, (LOCAL_HOST,), path)
    if scheme != "https":
        raise UnsafeUrl("not https")
    port = port or 443
    if _ip_literal(host):
        if not is_public(host):
            raise UnsafeUrl("not a public address")
        return Target(scheme, host, port, (host,), path)
    if "." not in host.strip(".") or host.rstrip(".").endswith(_LOCAL_SUFFIXES):
        raise UnsafeUrl("not a public name")
    try:
        addresses = tuple(dict.fromkeys(resolve(host, port)))
    except OSError:
        raise UnresolvableHost("the name does not resolve") from None
    if not addresses or not all(is_public(a) for a in addresses):
        raise UnsafeUrl("the name resolves to a non-public address")
    return Target(scheme, host, port, addresses, path)
