"""API keys: their format, their hashes, and who a presented key belongs to."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from chalicelib.domain.keys import ApiKey, KeyType
from chalicelib.ids import iso, now_utc

if TYPE_CHECKING:
    from chalicelib.ports import ApiKeyReader

_PREFIX = {"secret": "sk", "publishable": "pk"}
_ALPHABET = string.ascii_letters + string.digits
# 32 characters of 62 symbols: about 190 bits of randomness.
_KEY_LENGTH = 32
# The scheme is case-insensitive (RFC 7235); the key is not.
_HEADER = re.compile(r"(?i:bearer) +((?:sk|pk)_(?:test|live)_[A-Za-z0-9]{24,128})")


def generate_key(key_type: KeyType, mode: str = "test") -> str:
    """A new random API key such as ``sk_test_...``."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_KEY_LENGTH))
    return f"{_PREFIX[key_type]}_{mode}_{body}"


def hash_key(key: str) -> str:
    """What is stored instead of the key: its SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_type_of(key: str) -> KeyType:
    return "secret" if key.startswith("sk_") else "publishable"


def usage_identifier_key(merchant_id: str) -> str:
    """The API Gateway API key value that meters ``merchant_id`` (its usage plan's key).

    Deployed, the REST API takes API keys from the authorizer (``AUTHORIZER`` source): the
    merchant never sends it, so it need not be secret, only one per merchant. The authorizer
    names it and ``payments-admin`` registers it in the usage plan, both through this rule.
    """
    return merchant_id


@dataclass(frozen=True)
class Principal:
    """The caller behind a valid key."""

    merchant_id: str
    key_id: str
    key_type: KeyType


# How much of a presented key's SHA-256 a rejection record keeps. A key that matches a key
# record (revoked, expired) is one of a bounded set and is named precisely (12 hex digits,
# plus its key id); anything else is a guess or garbage, and only a 2-hex-digit bucket is
# kept, so that a flood of random keys lands in at most 256 aggregate records per minute.
KNOWN_KEY_PREFIX = 12
UNKNOWN_KEY_PREFIX = 2

RejectionReason = Literal["missing", "malformed", "unknown_key", "revoked_key", "expired_key"]


@dataclass(frozen=True)
class Rejection:
    """Why a presented key was refused; ``key_hash_prefix`` identifies it without revealing it.

    ``key_id``/``merchant_id`` are set when the key is a real (revoked or expired) one.
    """

    reason: RejectionReason
    key_hash_prefix: str | None
    key_id: str | None = None
    merchant_id: str | None = None


def key_state(record: ApiKey, now: datetime) -> Literal["active", "revoked", "expired"]:
    """A key record's effective status: a rolled key is expired from its ``expires_at`` on."""
    if record.status != "active":
        return "revoked"
    expires_at = record.expires_at
    if expires_at is not None and expires_at <= iso(now):
        return "expired"
    return "active"


class Authenticator:
    """Resolves an ``Authorization`` header to a principal, looking the key up by hash.

    The authorizer may reuse an active key's record it read less than ``reuse_seconds`` ago,
    but only for a route that judges the key again itself, before or with its first write
    (the state-changing routes): POST /charge and POST /refund read the record in the batch
    they read anyway (``confirm``), the others put a condition on it in their commit. Reads
    get a fresh lookup. Either way a revoked or expired key is refused on the very next
    request, and no state-changing request of a revoked key gets through even deployed,
    where API Gateway caches the authorizer's policy for its TTL.
    """

    def __init__(
        self, api_keys: ApiKeyReader, reuse_seconds: float = 60.0, max_reused: int = 1024
    ) -> None:
        self._api_keys = api_keys
        self._reuse_seconds = reuse_seconds
        self._max_reused = max_reused
        self._recent: dict[str, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    def authenticate(
        self, header: str | None, now: datetime | None = None, *, reuse: bool = False
    ) -> Principal | Rejection:
        presented = _presented(header)
        if isinstance(presented, Rejection):
            return presented
        key, digest = presented
        record = self._recently_read(digest) if reuse else None
        fresh = record is None
        if fresh:
            record = self._api_keys.get(digest)
        outcome = judge(key, digest, record, now or now_utc())
        if fresh and record is not None and isinstance(outcome, Principal):
            self._remember(digest, record)
        return outcome

    def confirm(
        self, header: str | None, record: ApiKey | None, merchant_id: str
    ) -> Rejection | None:
        """Judge an allowed request's key again, against its record as the route read it.

        None when the key is still valid for ``merchant_id``; else why it is refused (and
        the authorizer stops reusing its record).
        """
        presented = _presented(header)
        if isinstance(presented, Rejection):
            return presented
        key, digest = presented
        outcome = judge(key, digest, record, now_utc())
        if isinstance(outcome, Principal) and outcome.merchant_id == merchant_id:
            return None
        with self._lock:
            self._recent.pop(digest, None)
        if isinstance(outcome, Rejection):
            return outcome
        return Rejection("unknown_key", digest[:UNKNOWN_KEY_PREFIX])

    def _recently_read(self, digest: str) -> ApiKey | None:
        with self._lock:
            entry = self._recent.get(digest)
        if entry is None or time.monotonic() - entry[0] >= self._reuse_seconds:
            return None
        return entry[1]

    def _remember(self, digest: str, record: ApiKey) -> None:
        with self._lock:
            if digest not in self._recent and len(self._recent) >= self._max_reused:
                self._recent.clear()  # a bound, not an LRU: a refill costs one read per key
            self._recent[digest] = (time.monotonic(), record)


def presented_hash(header: str | None) -> str | None:
    """The hash of the key an ``Authorization`` header presents (None if malformed)."""
    presented = _presented(header)
    return None if isinstance(presented, Rejection) else presented[1]


def _presented(header: str | None) -> tuple[str, str] | Rejection:
    """The key a header presents and its hash, or why it is refused before any lookup."""
    if not header:
        return Rejection("missing", None)
    match = _HEADER.fullmatch(header.strip())
    if match is None:
        scheme, _, rest = header.strip().partition(" ")
        presented = rest.strip() if scheme.lower() == "bearer" else header.strip()
        bucket = hash_key(presented)[:UNKNOWN_KEY_PREFIX] if presented else None
        return Rejection("malformed", bucket)
    key = match.group(1)
    return key, hash_key(key)


def judge(key: str, digest: str, record: ApiKey | None, now: datetime) -> Principal | Rejection:
    """Who a presented key belongs to, given its record (None: no such key)."""
    if record is None or record.key_type != key_type_of(key):
        return Rejection("unknown_key", digest[:UNKNOWN_KEY_PREFIX])
    state = key_state(record, now)
    if state != "active":
        return Rejection(
            "revoked_key" if state == "revoked" else "expired_key",
            digest[:KNOWN_KEY_PREFIX],
            key_id=record.key_id,
            merchant_id=record.merchant_id,
        )
    return Principal(record.merchant_id, record.key_id, record.key_type)
