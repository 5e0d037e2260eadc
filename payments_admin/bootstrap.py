"""Create what the local stage needs before it serves: tables, KMS keys, the demo merchant.

Locally this runs against moto server; deployed, Pulumi creates tables and keys (from the
same ``chalicelib.tables`` definitions) and only merchants are created with the CLI. The
demo merchant's secret key is printed in the README, so ``bootstrap`` refuses to run
anywhere but the local stage on a loopback endpoint.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

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


class NotLocalStage(Exception):
    """Bootstrap was pointed at something other than the local stack."""


LOCAL_STAGE = "local"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def check_local(container: Container) -> None:
    """Refuse unless the stage is ``local`` *and* DynamoDB is served on loopback (moto).

    Both, because a stage name is only a word: ``PAYMENTS_STAGE=local`` with real AWS
    credentials and no endpoint override would otherwise create the demo merchant in AWS.
    """
    stage = container.settings.stage
    endpoint = urlsplit(container.dynamodb.meta.endpoint_url).hostname or ""
    if stage != LOCAL_STAGE or endpoint not in _LOOPBACK:
        raise NotLocalStage(
            f"refusing to bootstrap stage {stage!r} at {endpoint}: bootstrap creates the demo "
            "merchant, whose secret key is published in the README, so it runs only on the "
            "local stack (stage 'local', DynamoDB on 127.0.0.1). Deployed stages get their "
            "tables and KMS keys from Pulumi; create merchants there with "
            "`payments-admin create-merchant NAME`."
        )


def ensure_demo_merchant(container: Container) -> None:
    check_local(container)
    if container.api_keys.get(hash_key(DEMO_SECRET_KEY)) is None:
        container.merchant_service.create_merchant(
            "Demo Merchant",
            merchant_id=DEMO_MERCHANT_ID,
            secret_key=DEMO_SECRET_KEY,
            publishable_key=DEMO_PUBLISHABLE_KEY,
        )


def demo_shop_origin() -> str:
    """The demo shop's origin on this stack (``PAYMENTS_SHOP_PORT``, 8010 by default)."""
    return f"http://127.0.0.1:{int(os.environ.get('PAYMENTS_SHOP_PORT') or 8010)}"


def bootstrap(container: Container) -> None:
    """Tables, keys and the demo merchant; safe to run again. Local stage only."""
    check_local(container)
    create_tables(container.dynamodb, container.settings.table_prefix)
    ensure_kms_keys(container.kms, container.settings)
    ensure_demo_merchant(container)
    # The demo shop's checkout page may embed the demo merchant's card fields.
    container.checkout.allow(DEMO_MERCHANT_ID, demo_shop_origin())
