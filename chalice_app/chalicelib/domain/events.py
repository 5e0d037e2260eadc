"""Events and webhook rules: types, ids, the signature scheme and the retry schedule.

Pure rules: no DynamoDB, no HTTP. An event describes one state change of one object, and
each object makes each type of event at most once (a charge is pending once, and becomes
final once), so an event's id is derived from its object's id and its type: writing an
event twice is refused by its key, whoever tries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

CHARGE_SUCCEEDED = "charge.succeeded"
CHARGE_FAILED = "charge.failed"
CHARGE_PENDING = "charge.pending"
REFUND_SUCCEEDED = "refund.succeeded"
REFUND_FAILED = "refund.failed"
REFUND_PENDING = "refund.pending"
CHARGE_AUTHORIZED = "charge.authorized"
CHARGE_VOIDED = "charge.voided"
EVENT_TYPES: tuple[str, ...] = (
    CHARGE_SUCCEEDED,
    CHARGE_FAILED,
    CHARGE_PENDING,
    REFUND_SUCCEEDED,
    REFUND_FAILED,
    REFUND_PENDING,
    CHARGE_AUTHORIZED,
    CHARGE_VOIDED,
)

# Sent on request (POST /webhook_endpoints/{id}/test) to one endpoint only, whatever its
# subscribed types; not one of the account's events (not listed, not in EVENT_TYPES).
TEST_PING = "test.ping"

SIGNATURE_HEADER = "Payments-Signature"
# What a receiver should accept between the signature's time and its own clock.
DEFAULT_TOLERANCE_SECONDS = 300


def final_event_type(kind: str, status: str) -> str:
    """``charge.succeeded`` for a charge that succeeded, and so on."""
    return f"{kind}.{status}"


def event_id(object_id: str, event_type: str) -> str:
    """The id of the event of ``event_type`` about ``object_id`` (ours, random): 27 chars."""
    digest = hashlib.sha256(f"{object_id}\n{event_type}".encode()).digest()[:20]
    return "evt_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(secret: str, timestamp: int, body: bytes, *older: str) -> str:
    """The ``Payments-Signature`` header value: ``t=<unix>,v1=<hex HMAC-SHA256>``, and one
    more ``v1`` per ``older`` secret (a rolled secret's grace period): receivers accept any
    ``v1`` that verifies under the secret they hold."""
    signed = f"{timestamp}.".encode() + body
    macs = [hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in (secret, *older)]
    return ",".join([f"t={timestamp}", *(f"v1={mac}" for mac in macs)])


def next_attempt_at(
    first_attempt_at: float, attempts: int, now: float, schedule: tuple[float, ...]
) -> float | None:
    """When to try again after ``attempts`` failed attempts; None once the schedule is spent.

    ``schedule[i]`` is when retry ``i + 1`` is due, in seconds after the first attempt, so
    a late re-driver does not push later retries back (it tries at once when overdue).
    """
    retry = attempts - 1
    if retry >= len(schedule):
        return None
    return max(first_attempt_at + schedule[retry], now)
