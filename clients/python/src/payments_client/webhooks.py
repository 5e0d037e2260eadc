"""Verifying a webhook delivery: ``construct_event(raw_body, signature_header, secret)``.

A delivery carries ``Payments-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]``, each
``v1`` the HMAC-SHA256 of ``"<t>.<raw body>"`` under one of the endpoint's secrets. While a
secret is being rolled a delivery carries one ``v1`` per live secret, so any ``v1`` that
verifies is enough. The timestamp must be within ``tolerance`` seconds of now, so that a
captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Optional, Union

from payments_client.errors import SignatureError
from payments_client.models import Event

SIGNATURE_HEADER = "Payments-Signature"
DEFAULT_TOLERANCE = 300
SCHEME = "v1"


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            timestamps.append(value)
        elif name == SCHEME:
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise SignatureError("the signature header has no single valid timestamp", header)
    if not signatures:
        raise SignatureError(f"the signature header has no {SCHEME} signature", header)
    return int(timestamps[0]), signatures


def compute_signature(payload: bytes, timestamp: int, secret: str) -> str:
    """The ``v1`` signature of ``payload`` sent at ``timestamp`` under ``secret`` (hex)."""
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_header(
    payload: Union[bytes, str],
    header: Optional[str],
    secret: str,
    tolerance: Optional[int] = DEFAULT_TOLERANCE,
    now: Optional[float] = None,
) -> None:
    """Raise ``SignatureError`` unless ``header`` signs ``payload`` with ``secret`` in time.

    ``tolerance=None`` skips the age check (only for tests of stored deliveries).
    """
    if not header:
        raise SignatureError("no signature header", header)
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    timestamp, signatures = _parse_header(header)
    expected = compute_signature(payload, timestamp, secret)
    # As bytes: compare_digest refuses str with characters outside ASCII.
    wanted = expected.encode()
    if not any(
        hmac.compare_digest(wanted, candidate.encode("utf-8", "replace"))
        for candidate in signatures
    ):
        raise SignatureError("no signature matches the payload under this secret", header)
    if tolerance is not None:
        age = (time.time() if now is None else now) - timestamp
        if abs(age) > tolerance:
            raise SignatureError(
                f"the signature's timestamp is {int(abs(age))} s from now (tolerance "
                f"{tolerance} s)",
                header,
            )


def construct_event(
    payload: Union[bytes, str],
    sig_header: Optional[str],
    secret: str,
    tolerance: Optional[int] = DEFAULT_TOLERANCE,
) -> Event:
    """The delivered ``Event`` once its signature verifies; ``SignatureError`` otherwise.

    ``payload`` must be the raw request body exactly as received (bytes, before any JSON
    parsing): re-serialized JSON does not verify.
    """
    verify_header(payload, sig_header, secret, tolerance)
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise SignatureError("the signed payload is not JSON", sig_header) from exc
    return Event.model_validate(data)
