"""Create what a stage needs before it serves: tables, KMS keys, the demo merchant.

Locally this runs against moto server; deployed, Pulumi creates tables and keys (from the
same ``chalicelib.tables`` definitions) and only merchants are created with the CLI.
"""

from __future__ import annotations

from typing import Any

from chalicelib import tables
from chalicelib.container import Container
from chalicelib.services.authentication import hash_key
from chalicelib.settings import Settings

# The demo merchant's keys are fixed so the README's curl walk-through works as written.
# They exist only on the local stack.
DEMO_MERCHANT_ID = "mer_DemoMerchantLocal0000000000"
DEMO_SECRET_KEY = "sk_test_lGhflpqdoGJES8ThFm2lXkNNfOuZGaPl"
DEMO_PUBLISHABLE_KEY = "pk_test_azQWGtxsEXEC4Xz3PQLVxkqpZsc8vdJ3"


def create_tables(dynamodb: Any, prefix: str) -> None:
    """Create every table of ``chalicelib.tables`` that does not exist yet."""
    existing = set(dynamodb.list_tables().get("TableNames", []))
    for table in tables.TABLES:
        name = tables.physical_name(prefix, table)
        if name in existing:
            continue
        dynamodb.create_table(**tables.create_table_params(prefix, table))
        dynamodb.get_waiter("table_exists").wait(TableName=name)
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )


def ensure_kms_keys(kms: Any, settings: Settings) -> None:
    """The data-key (AES) and fingerprint (HMAC) keys under the aliases settings name."""
    aliases = {a["AliasName"] for a in kms.list_aliases().get("Aliases", [])}
    wanted = [
        (settings.kms_key_id, {"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT"}),
        (settings.hmac_key_id, {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}),
    ]
    for alias, spec in wanted:
        if not alias.startswith("alias/") or alias in aliases:
            continue
        key_id = kms.create_key(Description=f"payments {alias}", **spec)["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)


def ensure_demo_merchant(container: Container) -> None:
    if container.api_keys.get(hash_key(DEMO_SECRET_KEY)) is None:
        container.merchant_service.create_merchant(
            "Demo Merchant",
            merchant_id=DEMO_MERCHANT_ID,
            secret_key=DEMO_SECRET_KEY,
            publishable_key=DEMO_PUBLISHABLE_KEY,
        )


def bootstrap(container: Container) -> None:
    """Tables, keys and the demo merchant; safe to run again."""
    create_tables(container.dynamodb, container.settings.table_prefix)
    ensure_kms_keys(container.kms, container.settings)
    ensure_demo_merchant(container)
