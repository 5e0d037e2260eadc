"""API key records and audit entries: what the services reason about, without storage keys.

A key is known only by its SHA-256 (``key_hash``): the key itself is shown once, when it is
created, and stored nowhere. Audit entries are append-only traces of state changes and key
events; they never hold a body, a key or card data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

KeyType = Literal["secret", "publishable"]
# As stored. A rolled key stays ``active`` until its ``expires_at``: the effective state
# (``services.authentication.key_state``) derives ``expired`` from the clock.
KeyStatus = Literal["active", "revoked"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """One API key's record (ApiKeys table), looked up by the hash of the presented key."""

    key_hash: str = field(repr=False)
    key_id: str
    merchant_id: str
    key_type: KeyType
    status: KeyStatus
    created_at: str  # ISO 8601, UTC
    merchant_name: str = ""
    # Shown by list-keys so an operator can tell keys apart (4 of 32 random characters).
    last4: str | None = field(default=None, repr=False)
    rolled_from: str | None = None  # the key id this key replaced
    rolled_to: str | None = None  # the key id that replaced this key (once only)
    expires_at: str | None = None  # end of a rolled key's grace period
    revoked_at: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One append-only audit record: a state-changing request's outcome, or a key event."""

    at: str  # ISO 8601, UTC
    request_id: str
    action: str  # "charge.create", "api_key.roll", ...
    status: int  # the HTTP status answered (or that an operator's action stands for)
    merchant_id: str | None = None  # None: the request was not authenticated
    key_id: str | None = None
    route: str | None = None
    object_id: str | None = None
    error_code: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    reason: str | None = None
    key_hash_prefix: str | None = None
    expires_at: str | None = None
