"""Use cases of operators: create a merchant, roll, revoke and list its keys, and register
merchants in the stage's usage plan.

Every key record is written in one transaction with its audit record, so no key event
happens without its trace.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from chalicelib.adapters.dynamo import WriteConflict, WriteEntry
from chalicelib.domain.keys import ApiKey, AuditEntry, KeyType
from chalicelib.ids import iso, new_id, now_utc
from chalicelib.services.authentication import (
    generate_key,
    hash_key,
    key_state,
    key_type_of,
    usage_identifier_key,
)
from chalicelib.services.recording import commit_with

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from chalicelib.adapters.usage_plan import PlanKey, UsagePlanKeys
    from chalicelib.ports import ApiKeys, AuditTrail

# Stripe caps a rolled key's grace period at 7 days; a longer one defeats the point of rolling.
MAX_GRACE = timedelta(days=7)


@dataclass(frozen=True)
class NewMerchant:
    merchant_id: str
    secret_key: str
    publishable_key: str


@dataclass(frozen=True)
class RolledKey:
    """The result of a roll: the new key (shown once) and when the old one stops working."""

    key: str
    key_id: str
    merchant_id: str
    old_key_id: str
    old_key_expires_at: str | None  # None: the old key was already revoked


@dataclass(frozen=True, slots=True, kw_only=True)
class KeySummary:
    """What an operator may see of a key: never the key, nor its hash."""

    key_id: str
    type: KeyType
    created_at: str
    expires_at: str | None
    status: Literal["active", "revoked", "expired"]
    last4: str | None
    revoked_at: str | None
    rolled_to: str | None


class KeyNotFound(Exception):
    """No key record for the presented key."""


class KeyAlreadyRolled(Exception):
    """The key was rolled before (or meanwhile); roll its replacement instead."""

    def __init__(self, rolled_to: str | None) -> None:
        self.rolled_to = rolled_to
        super().__init__(f"key already rolled to {rolled_to}")


class UsagePlanNotConfigured(Exception):
    """No usage plan is configured for this stage (``PAYMENTS_USAGE_PLAN_ID``)."""


class MerchantService:
    """Key records are written with their audit records in one transaction."""

    def __init__(
        self,
        api_keys: ApiKeys,
        audit_log: AuditTrail,
        client: DynamoDBClient,
        usage_plan: UsagePlanKeys | None = None,
    ) -> None:
        self._api_keys = api_keys
        self._audit_log = audit_log
        self._client = client
        # None where no usage plan is configured (locally): nothing to register then.
        self._usage_plan = usage_plan

    def create_merchant(
        self,
        name: str,
        *,
        merchant_id: str | None = None,
        secret_key: str | None = None,
        publishable_key: str | None = None,
    ) -> NewMerchant:
        """A merchant and its two keys; fixed keys only for the documented demo merchant.

        Where a usage plan is configured, the merchant's API Gateway key is put in it before
        the key records are written, so the keys shown work deployed at once (without it API
        Gateway answers 403). If anything fails, no merchant exists: at most an API key is
        left that no authorizer answer names, and the operator simply runs it again.
        """
        merchant = NewMerchant(
            merchant_id=merchant_id or new_id("mer"),
            secret_key=secret_key or generate_key("secret"),
            publishable_key=publishable_key or generate_key("publishable"),
        )
        if self._usage_plan is not None:
            self._usage_plan.attach(usage_identifier_key(merchant.merchant_id))
        writes: list[WriteEntry] = []
        now = iso(now_utc())
        request_id = new_id("req")
        for key in (merchant.secret_key, merchant.publishable_key):
            suffix = key_type_of(key)
            self._add_key(writes, key, merchant.merchant_id, name, now, f"{request_id}-{suffix}")
        commit_with(self._client, writes, ())
        return merchant

    def sync_usage_plan(self) -> list[PlanKey]:
        """Register every merchant that has a key record in the usage plan (idempotent).

        For merchants created before the plan existed, or whose registration was cut short.
        """
        if self._usage_plan is None:
            raise UsagePlanNotConfigured
        merchants = self._api_keys.merchant_ids()
        return self._usage_plan.attach_all(usage_identifier_key(m) for m in merchants)

    def roll_key(
        self, key: str, expire_old_in: timedelta, now: datetime | None = None
    ) -> RolledKey:
        """A new key of the same type and merchant; the old one works until ``expire_old_in``.

        A revoked key can be rolled too (it stays dead): that is how a merchant whose only
        secret key was revoked gets a new one. A key is rolled at most once.
        """
        if not timedelta(0) <= expire_old_in <= MAX_GRACE:
            raise ValueError("the grace period must be from 0 to 168 hours")
        moment = now or now_utc()
        old = self._api_keys.get(hash_key(key))
        if old is None or old.key_type != key_type_of(key):
            raise KeyNotFound
        if old.rolled_to:
            raise KeyAlreadyRolled(old.rolled_to)
        state = key_state(old, moment)
        expires_at = iso(moment + expire_old_in) if state == "active" else None
        new_key = generate_key(old.key_type, mode=key.split("_")[1])
        at = iso(moment)
        request_id = new_id("req")
        writes: list[WriteEntry] = []
        new_key_id = self._add_key(
            writes,
            new_key,
            old.merchant_id,
            old.merchant_name,
            at,
            f"{request_id}-create",
            rolled_from=old.key_id,
        )
        writes.extend(
            (
                self._api_keys.roll_entry(old.key_hash, old.status, new_key_id, expires_at),
                self._audit_log.entry(
                    AuditEntry(
                        at=at,
                        request_id=f"{request_id}-roll",
                        merchant_id=old.merchant_id,
                        key_id=old.key_id,
                        action="api_key.roll",
                        object_id=new_key_id,
                        expires_at=expires_at,
                        status=200,
                    )
                ),
            )
        )
        try:
            commit_with(self._client, writes, ())
        except WriteConflict:
            # Rolled or revoked by someone else between our read and our write.
            raise KeyAlreadyRolled(None) from None
        return RolledKey(new_key, new_key_id, old.merchant_id, old.key_id, expires_at)

    def revoke_key(self, key: str) -> ApiKey | None:
        """Revoke a key given as its holder has it; None if no such key.

        Revoking ends a rolled key's grace period at once. An already revoked key is
        returned as it is, with nothing written.
        """
        now = iso(now_utc())
        record = self._api_keys.get(hash_key(key))
        if record is None or record.status != "active":
            return record
        writes = [
            self._api_keys.revoke_entry(record.key_hash, now),
            self._audit_log.entry(
                AuditEntry(
                    at=now,
                    request_id=new_id("req"),
                    merchant_id=record.merchant_id,
                    key_id=record.key_id,
                    action="api_key.revoke",
                    object_id=record.key_id,
                    status=200,
                )
            ),
        ]
        with contextlib.suppress(WriteConflict):  # revoked meanwhile by someone else
            commit_with(self._client, writes, ())
        return replace(record, status="revoked", revoked_at=now)

    def list_keys(self, merchant_id: str, now: datetime | None = None) -> list[KeySummary]:
        """What an operator may see of a merchant's keys: never a key, nor its hash."""
        moment = now or now_utc()
        return [
            KeySummary(
                key_id=record.key_id,
                type=record.key_type,
                created_at=record.created_at,
                expires_at=record.expires_at,
                status=key_state(record, moment),
                last4=record.last4,
                revoked_at=record.revoked_at,
                rolled_to=record.rolled_to,
            )
            for record in self._api_keys.list_for_merchant(merchant_id)
        ]

    def _add_key(
        self,
        writes: list[WriteEntry],
        key: str,
        merchant_id: str,
        name: str,
        at: str,
        request_id: str,
        rolled_from: str | None = None,
    ) -> str:
        """Add a new key record and its audit record to ``writes``; returns the key id."""
        key_type: KeyType = key_type_of(key)
        key_id = new_id("key")
        writes.extend(
            (
                self._api_keys.put_entry(
                    ApiKey(
                        key_hash=hash_key(key),
                        key_id=key_id,
                        merchant_id=merchant_id,
                        merchant_name=name,
                        key_type=key_type,
                        status="active",
                        created_at=at,
                        # 4 of 32 random characters leave about 166 bits unknown.
                        last4=key[-4:],
                        rolled_from=rolled_from,
                    )
                ),
                self._audit_log.entry(
                    AuditEntry(
                        at=at,
                        request_id=request_id,
                        merchant_id=merchant_id,
                        key_id=key_id,
                        action="api_key.create",
                        object_id=key_id,
                        status=201,
                    )
                ),
            )
        )
        return key_id
