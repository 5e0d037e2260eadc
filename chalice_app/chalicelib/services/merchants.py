"""Use cases of operators: create a merchant with its keys, revoke a key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.dynamo import UnitOfWork
from chalicelib.ids import iso, new_id, now_utc
from chalicelib.services.authentication import KeyType, generate_key, hash_key, key_type_of


@dataclass(frozen=True)
class NewMerchant:
    merchant_id: str
    secret_key: str
    publishable_key: str


class MerchantService:
    """Key records are written with their audit records in one transaction."""

    def __init__(self, api_keys: Any, audit_log: Any, client: Any) -> None:
        self._api_keys = api_keys
        self._audit_log = audit_log
        self._client = client

    def create_merchant(
        self,
        name: str,
        *,
        merchant_id: str | None = None,
        secret_key: str | None = None,
        publishable_key: str | None = None,
    ) -> NewMerchant:
        """A merchant and its two keys; fixed keys only for the documented demo merchant."""
        merchant = NewMerchant(
            merchant_id=merchant_id or new_id("mer"),
            secret_key=secret_key or generate_key("secret"),
            publishable_key=publishable_key or generate_key("publishable"),
        )
        uow = UnitOfWork(self._client)
        now = iso(now_utc())
        request_id = new_id("req")
        for key in (merchant.secret_key, merchant.publishable_key):
            key_type: KeyType = key_type_of(key)
            key_id = new_id("key")
            uow.add(
                self._api_keys.put_entry(
                    {
                        "key_hash": hash_key(key),
                        "key_id": key_id,
                        "merchant_id": merchant.merchant_id,
                        "merchant_name": name,
                        "key_type": key_type,
                        "status": "active",
                        "created_at": now,
                    }
                ),
                self._audit_log.entry(
                    {
                        "at": now,
                        "request_id": f"{request_id}-{key_type}",
                        "merchant_id": merchant.merchant_id,
                        "key_id": key_id,
                        "action": "api_key.create",
                        "object_id": key_id,
                        "status": 201,
                    }
                ),
            )
        uow.commit()
        return merchant

    def revoke_key(self, key: str) -> dict[str, Any] | None:
        """Revoke a key given as its holder has it; None if no such key."""
        now = iso(now_utc())
        record = self._api_keys.revoke(hash_key(key), now)
        if record is not None:
            self._audit_log.append(
                {
                    "at": now,
                    "request_id": new_id("req"),
                    "merchant_id": record["merchant_id"],
                    "key_id": record["key_id"],
                    "action": "api_key.revoke",
                    "object_id": record["key_id"],
                    "status": 200,
                }
            )
        return record
