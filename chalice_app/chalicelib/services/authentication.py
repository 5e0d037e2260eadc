"""API keys: their format, their hashes, and who a presented key belongs to."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from chalicelib.ids import iso, now_utc

KeyType = Literal["secret", "publishable"]
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


def key_state(record: dict[str, Any], now: datetime) -> Literal["active", "revoked", "expired"]:
    """A key record's effective status: a rolled key is expired from its ``expires_at`` on."""
    if record.get("status") != "active":
        return "revoked"
    expires_at = record.get("expires_at")
    if expires_at is not None and expires_at <= iso(now):
        return "expired"
    return "active"


class Authenticator:
    """Resolves an ``Authorization`` header to a principal, looking the key up by hash."""

    def __init__(self, api_keys: Any) -> None:
        self._api_keys = api_keys

    def authenticate(
        self, header: str | None, now: datetime | None = None
    ) -> Principal | Rejection:
        if not header:
            return Rejection("missing", None)
        match = _HEADER.fullmatch(header.strip())
        if match is None:
            scheme, _, rest = header.strip().partition(" ")
            presented = rest.strip() if scheme.lower() == "bearer" else header.strip()
            bucket = hash_key(presented)[:UNKNOWN_KEY_PREFIX] if presented else None
            return Rejection("malformed", bucket)
        key = match.group(1)
        digest = hash_key(key)
        record = self._api_keys.get(digest)
        if record is None or record.get("key_type") != key_type_of(key):
            return Rejection("unknown_key", digest[:UNKNOWN_KEY_PREFIX])
        state = key_state(record, now or now_utc())
        if state != "active":
            return Rejection(
                "revoked_key" if state == "revoked" else "expired_key",
                digest[:KNOWN_KEY_PREFIX],
                key_id=record["key_id"],
                merchant_id=record["merchant_id"],
            )
        return Principal(record["merchant_id"], record["key_id"], record["key_type"])
