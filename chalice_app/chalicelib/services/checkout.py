"""Browser checkout: the origins a merchant registers, and the checks that use them.

Operators register origins (``payments-admin allow-origin``); each change is written in one
transaction with its audit record. Routes ask ``allowed_origins`` for the card-fields
page's ``frame-ancestors`` and for the ``Origin`` of a browser's ``POST /token``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib.adapters.dynamo import WriteConflict
from chalicelib.domain.keys import AuditEntry
from chalicelib.domain.origins import add_origin, parse_origin
from chalicelib.ids import iso, new_id, now_utc
from chalicelib.services.recording import commit_with

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from chalicelib.ports import ApiKeys, AuditTrail, CheckoutOriginStore

# Operators changing one merchant's list at once: each round one wins, the others re-read
# and try again after a short random pause (so n at once need about n rounds).
_ATTEMPTS = 30


class InvalidOrigin(ValueError):
    """Not an origin this stack accepts (see ``domain.origins.parse_origin``)."""


class UnknownMerchant(LookupError):
    """No key record names this merchant."""


class OriginNotRegistered(LookupError):
    """``remove-origin`` of an origin the merchant does not have."""


class CheckoutOriginService:
    def __init__(
        self,
        origins: CheckoutOriginStore,
        api_keys: ApiKeys,
        audit_log: AuditTrail,
        client: DynamoDBClient,
        *,
        local: bool,
    ) -> None:
        self._origins = origins
        self._api_keys = api_keys
        self._audit_log = audit_log
        self._client = client
        self._local = local

    def allowed_origins(self, merchant_id: str) -> tuple[str, ...]:
        return self._origins.get(merchant_id).origins

    def is_allowed(self, merchant_id: str, origin: str) -> bool:
        return origin in self.allowed_origins(merchant_id)

    def allow(self, merchant_id: str, text: str) -> tuple[str, ...]:
        """Register an origin (at most ``MAX_ORIGINS``); the list after the change."""
        origin = parse_origin(text, local=self._local)
        if origin is None:
            raise InvalidOrigin(text)
        if not self._api_keys.list_for_merchant(merchant_id):
            raise UnknownMerchant(merchant_id)
        return self._change(merchant_id, origin, "checkout_origin.allow", add_origin)

    def remove(self, merchant_id: str, origin: str) -> tuple[str, ...]:
        """Unregister an origin; the list after the change."""

        def without(current: tuple[str, ...], origin: str) -> tuple[str, ...]:
            if origin not in current:
                raise OriginNotRegistered(origin)
            return tuple(o for o in current if o != origin)

        return self._change(merchant_id, origin, "checkout_origin.remove", without)

    def _change(
        self,
        merchant_id: str,
        origin: str,
        action: str,
        change: Callable[[tuple[str, ...], str], tuple[str, ...]],
    ) -> tuple[str, ...]:
        for _ in range(_ATTEMPTS):
            current = self._origins.get(merchant_id)
            changed = change(current.origins, origin)
            if changed == current.origins:
                return changed  # already so: nothing to write, nothing to audit
            at = iso(now_utc())
            writes = [
                self._origins.put_entry(merchant_id, changed, current, at),
                self._audit_log.entry(
                    AuditEntry(
                        at=at,
                        request_id=new_id("req"),
                        merchant_id=merchant_id,
                        action=action,
                        object_id=origin,
                        status=200,
                    )
                ),
            ]
            try:
                commit_with(self._client, writes, ())
            except WriteConflict:
                time.sleep(random.uniform(0.005, 0.05))
                continue
            return changed
        raise WriteConflict([0])
