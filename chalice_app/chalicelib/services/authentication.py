"""API keys: their format, their hashes, and who a presented key belongs to."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any, Literal

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


@dataclass(frozen=True)
class Principal:
    """The caller behind a valid key."""

    merchant_id: str
    key_id: str
    key_type: KeyType


@dataclass(frozen=True)
class Rejection:
    """Why a presented key was refused; ``key_hash_prefix`` identifies it without revealing it."""

    reason: Literal["missing", "malformed", "unknown_key", "revoked_key"]
    key_hash_prefix: str | None


class Authenticator:
    """Resolves an ``Authorization`` header to a principal, looking the key up by hash."""

    def __init__(self, api_keys: Any) -> None:
        self._api_keys = api_keys

    def authenticate(self, header: str | None) -> Principal | Rejection:
        if not header:
            return Rejection("missing", None)
        match = _HEADER.fullmatch(header.strip())
        if match is None:
            scheme, _, rest = header.strip().partition(" ")
            presented = rest.strip() if scheme.lower() == "bearer" else header.strip()
            return Rejection("malformed", hash_key(presented)[:12] if presented else None)
        key = match.group(1)
        digest = hash_key(key)
        record = self._api_keys.get(digest)
        if record is None or record.get("key_type") != key_type_of(key):
            return Rejection("unknown_key", digest[:12])
        if record.get("status") != "active":
            return Rejection("revoked_key", digest[:12])
        return Principal(record["merchant_id"], record["key_id"], record["key_type"])
