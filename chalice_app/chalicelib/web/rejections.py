"""Refused API keys: one rejection record per refusal, by the authorizer or by a route."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chalicelib import metrics
from chalicelib.ids import iso, now_utc
from chalicelib.services.authentication import Rejection

if TYPE_CHECKING:
    from chalicelib.web.pipeline import PipelineDeps

log = logging.getLogger("platform.authorizer")


def record(deps: PipelineDeps, outcome: Rejection, source: str, request_id: str) -> None:
    """Count the rejection; a failed audit write is logged and measured, never raised.

    The caller still gets its 401: turning it into a 500 (AUTHORIZER_FAILURE) would let a
    flood of bad keys that throttles the audit table take the API down for everyone.
    """
    try:
        deps.rejections.record(
            at=iso(now_utc()),
            request_id=request_id,
            source=source,
            reason=outcome.reason,
            key_hash_prefix=outcome.key_hash_prefix,
            key_id=outcome.key_id,
            merchant_id=outcome.merchant_id,
        )
    except Exception:
        log.warning(
            "rejected-authentication audit write failed",
            exc_info=True,
            extra={"request_id": request_id},
        )
        metrics.emit(metrics.AUDIT_WRITE_FAILED, function="authorizer")
