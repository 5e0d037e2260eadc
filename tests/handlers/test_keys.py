"""Operator key management: roll, expiry, list, revoke, and the audit of every key event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.ids import parse_iso
from chalicelib.services.authentication import hash_key
from chalicelib.services.merchants import KeyAlreadyRolled, KeyNotFound
from payments_admin.stack import ROOT
from tests.helpers import card, rejection_counts


def admin(stack: Any, *args: str, env: dict[str, str] | None = None) -> Any:
    """The real ``payments-admin`` in its own process, pointed at the session's stack."""
    return subprocess.run(
        [sys.executable, "-m", "payments_admin.cli", *args],
        cwd=ROOT,
        env={**os.environ, **stack.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def audit_of(services: Any, merchant_id: str) -> list[dict[str, Any]]:
    from chalicelib.adapters.dynamo import from_item

    table = services.settings.table("AuditLog")
    pages = services.dynamodb.get_paginator("scan").paginate(TableName=table)
    records = [from_item(i) for page in pages for i in page["Items"]]
    return [r for r in records if r.get("merchant_id") == merchant_id]


def wait_until(iso_time: str) -> None:
    from chalicelib.ids import now_utc

    delay = (parse_iso(iso_time) - now_utc()).total_seconds()
    if delay > 0:
        time.sleep(delay + 0.05)


def test_roll_keeps_the_old_key_until_its_expiry_and_not_after(
    api: Any, services: Any, merchant: Any
) -> None:
    rolled = services.merchant_service.roll_key(merchant.secret_key, timedelta(seconds=1.5))
    assert rolled.key.startswith("sk_test_") and rolled.key != merchant.secret_key
    assert rolled.merchant_id == merchant.merchant_id
    # During the grace period both keys work, for the same merchant's objects.
    token = api.post("/token", card(), key=rolled.key)
    assert token.status == 201
    assert api.get("/charges", key=merchant.secret_key).status == 200
    assert api.get("/charges", key=rolled.key).status == 200
    assert rolled.old_key_expires_at is not None
    wait_until(rolled.old_key_expires_at)
    response = api.get("/charges", key=merchant.secret_key)
    assert response.status == 401
    assert response.json["error"]["code"] == "invalid_api_key"
    assert api.get("/charges", key=rolled.key).status == 200
    # The publishable key was not rolled.
    assert api.post("/token", card(), key=merchant.publishable_key).status == 201


def test_expired_key_rejection_names_the_key(api: Any, services: Any, merchant: Any) -> None:
    services.merchant_service.roll_key(merchant.secret_key, timedelta(0))
    before = rejection_counts(services)
    assert api.get("/charges", key=merchant.secret_key).status == 401
    changed = [v for k, v in rejection_counts(services).items() if v != before.get(k)]
    assert len(changed) == 1
    (record,) = changed
    assert record["reason"] == "expired_key"
    assert record["key_hash_prefix"] == hash_key(merchant.secret_key)[:12]
    assert record["merchant_id"] == merchant.merchant_id
    assert record["key_id"].startswith("key_")


def test_a_key_is_rolled_once(services: Any, merchant: Any) -> None:
    rolled = services.merchant_service.roll_key(merchant.secret_key, timedelta(hours=1))
    with pytest.raises(KeyAlreadyRolled) as raised:
        services.merchant_service.roll_key(merchant.secret_key, timedelta(hours=1))
    assert raised.value.rolled_to == rolled.key_id
    with pytest.raises(KeyNotFound):
        services.merchant_service.roll_key("sk_test_noSuchKeyAnywhere00000000000", timedelta(0))
    with pytest.raises(ValueError):
        services.merchant_service.roll_key(rolled.key, timedelta(days=8))


def test_a_revoked_key_can_be_rolled_and_stays_dead(api: Any, services: Any, merchant: Any) -> None:
    """After a leak: revoke at once, then give the merchant a new secret key."""
    services.merchant_service.revoke_key(merchant.secret_key)
    rolled = services.merchant_service.roll_key(merchant.secret_key, timedelta(hours=24))
    assert rolled.old_key_expires_at is None
    assert api.get("/charges", key=merchant.secret_key).status == 401
    assert api.get("/charges", key=rolled.key).status == 200


def test_revoke_ends_a_grace_period_at_once(api: Any, services: Any, merchant: Any) -> None:
    rolled = services.merchant_service.roll_key(merchant.secret_key, timedelta(hours=24))
    assert api.get("/charges", key=merchant.secret_key).status == 200
    services.merchant_service.revoke_key(merchant.secret_key)
    assert api.get("/charges", key=merchant.secret_key).status == 401
    assert api.get("/charges", key=rolled.key).status == 200


def test_every_key_event_is_audited(services: Any, merchant: Any) -> None:
    rolled = services.merchant_service.roll_key(merchant.secret_key, timedelta(hours=2))
    services.merchant_service.revoke_key(rolled.key)
    services.merchant_service.revoke_key(rolled.key)  # already revoked: nothing written
    records = audit_of(services, merchant.merchant_id)
    actions = sorted(r["action"] for r in records)
    assert actions == [
        "api_key.create",  # secret
        "api_key.create",  # publishable
        "api_key.create",  # the rolled one
        "api_key.revoke",
        "api_key.roll",
    ]
    roll = next(r for r in records if r["action"] == "api_key.roll")
    assert roll["object_id"] == rolled.key_id
    assert roll["key_id"] == rolled.old_key_id
    assert roll["expires_at"] == rolled.old_key_expires_at
    revoke = next(r for r in records if r["action"] == "api_key.revoke")
    assert revoke["key_id"] == rolled.key_id
    text = repr(records)
    assert merchant.secret_key not in text and rolled.key not in text


def test_cli_roll_key_prints_the_new_key_once_and_list_keys_never(
    stack: Any, http_api: Any, services: Any, merchant: Any
) -> None:
    rolled = admin(stack, "roll-key", merchant.secret_key, "--expire-old-in", "0")
    assert rolled.returncode == 0, rolled.stderr
    (line,) = rolled.stdout.splitlines()
    out = json.loads(line)
    new_key = out["key"]
    assert new_key.startswith("sk_test_")
    assert out["merchant_id"] == merchant.merchant_id
    # 0 = the old key is dead now.
    assert http_api.get("/charges", key=merchant.secret_key).status == 401
    assert http_api.get("/charges", key=new_key).status == 200

    listed = admin(stack, "list-keys", merchant.merchant_id)
    assert listed.returncode == 0, listed.stderr
    keys = [json.loads(row) for row in listed.stdout.splitlines()]
    for secret in (merchant.secret_key, merchant.publishable_key, new_key):
        assert secret not in listed.stdout + listed.stderr
        # Nor any run of its random part longer than the last 4 characters.
        body = secret.split("_", 2)[2]
        assert all(body[i : i + 5] not in listed.stdout for i in range(len(body) - 4))
        assert hash_key(secret) not in listed.stdout
    by_id = {k["key_id"]: k for k in keys}
    assert set(by_id) >= {out["key_id"], out["old_key_id"]}
    old, new = by_id[out["old_key_id"]], by_id[out["key_id"]]
    assert (old["type"], old["status"], old["last4"]) == (
        "secret",
        "expired",
        merchant.secret_key[-4:],
    )
    assert old["expires_at"] == out["old_key_expires_at"]
    assert old["rolled_to"] == out["key_id"]
    assert (new["type"], new["status"], new["last4"], new["expires_at"]) == (
        "secret",
        "active",
        new_key[-4:],
        None,
    )
    assert {k["type"] for k in keys} == {"secret", "publishable"}
    assert all(k["created_at"].endswith("Z") for k in keys)


def test_cli_roll_key_default_grace_is_24_hours(stack: Any, merchant: Any) -> None:
    from chalicelib.ids import now_utc

    result = admin(stack, "roll-key", merchant.publishable_key)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["key"].startswith("pk_test_")
    remaining = parse_iso(out["old_key_expires_at"]) - now_utc()
    assert timedelta(hours=23, minutes=59) < remaining <= timedelta(hours=24)


@pytest.mark.parametrize("hours", ["-1", "169", "soon"])
def test_cli_roll_key_refuses_a_bad_grace_period(stack: Any, merchant: Any, hours: str) -> None:
    result = admin(stack, "roll-key", merchant.secret_key, "--expire-old-in", hours)
    assert result.returncode == 2
    assert "HOURS" in result.stderr
    assert merchant.secret_key not in result.stderr


def test_cli_errors(stack: Any) -> None:
    unknown = admin(stack, "roll-key", "sk_test_noSuchKeyAnywhere00000000000")
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert "no such key" in unknown.stderr
    nobody = admin(stack, "list-keys", "mer_nobody")
    assert nobody.returncode == 1 and "no keys" in nobody.stderr


def test_bootstrap_refuses_a_deployed_stage(stack: Any, services: Any) -> None:
    """Even with the session's moto as endpoint, stage 'dev' gets no demo merchant."""
    result = admin(stack, "--stage", "dev", "bootstrap", env={"PAYMENTS_TABLE_PREFIX": ""})
    assert result.returncode == 2
    assert "refusing to bootstrap stage 'dev'" in result.stderr
    assert "local" in result.stderr
    assert result.stdout == ""
    tables = services.dynamodb.list_tables()["TableNames"]
    assert not [t for t in tables if t.startswith("payments-dev-")]


def test_bootstrap_refuses_local_stage_name_on_real_aws(
    services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stage name alone is not trusted: no loopback endpoint, no demo merchant."""
    from chalicelib.container import Container
    from payments_admin.bootstrap import NotLocalStage, bootstrap

    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB")
    aws = Container(services.settings)
    with pytest.raises(NotLocalStage, match="local stack"):
        bootstrap(aws)


def test_bootstrap_still_runs_locally(stack: Any) -> None:
    result = admin(stack, "bootstrap")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"status": "ok"}
