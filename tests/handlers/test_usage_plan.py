"""Each merchant's API Gateway key in the stage's usage plan, against moto's API Gateway.

Deployed, the authorizer names the merchant's usage identifier and API Gateway answers 403
unless an enabled API key of that value is in the usage plan. The plan here is a real one
on the session's moto server, made as the Pulumi program makes it (a REST API's stage).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.services.authentication import usage_identifier_key
from tests.handlers.test_keys import admin


@pytest.fixture
def gateway(services: Any) -> Any:
    """boto3's API Gateway client on the session's moto (``AWS_ENDPOINT_URL_API_GATEWAY``)."""
    return services.apigateway


@pytest.fixture
def plan_id(gateway: Any) -> str:
    """A fresh usage plan per test, so attachments of one test never satisfy another."""
    api = gateway.create_rest_api(name="payments-test-api")
    plan = gateway.create_usage_plan(
        name="payments-test-merchants",
        throttle={"rateLimit": 100.0, "burstLimit": 200},
        apiStages=[{"apiId": api["id"], "stage": "api"}],
    )
    return str(plan["id"])


@pytest.fixture
def deployed(services: Any, plan_id: str) -> Any:
    """The app's composition root as a deployed stage sees it: a usage plan configured."""
    from chalicelib.container import Container

    return Container(replace(services.settings, usage_plan_id=plan_id))


def all_keys(gateway: Any) -> list[dict[str, Any]]:
    pages = gateway.get_paginator("get_api_keys").paginate(includeValues=True)
    return [key for page in pages for key in page["items"]]


def keys_of_value(gateway: Any, value: str) -> list[dict[str, Any]]:
    return [key for key in all_keys(gateway) if key["value"] == value]


def plan_keys_of_value(gateway: Any, plan_id: str, value: str) -> list[dict[str, Any]]:
    pages = gateway.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan_id)
    return [key for page in pages for key in page["items"] if key["value"] == value]


def assert_registered_once(gateway: Any, plan_id: str, merchant_id: str) -> None:
    value = usage_identifier_key(merchant_id)
    (key,) = keys_of_value(gateway, value)
    assert key["enabled"] is True
    (plan_key,) = plan_keys_of_value(gateway, plan_id, value)
    assert plan_key["id"] == key["id"]
    assert plan_key["type"] == "API_KEY"


def test_create_merchant_puts_its_key_in_the_usage_plan(
    deployed: Any, gateway: Any, plan_id: str
) -> None:
    merchant = deployed.merchant_service.create_merchant("Deployed Merchant")
    assert_registered_once(gateway, plan_id, merchant.merchant_id)
    (key,) = keys_of_value(gateway, merchant.merchant_id)
    assert key["name"] == merchant.merchant_id


def test_registering_again_creates_nothing_twice(deployed: Any, gateway: Any, plan_id: str) -> None:
    merchant = deployed.merchant_service.create_merchant("Twice")
    again = deployed.usage_plan.attach(merchant.merchant_id)
    assert (again.key_created, again.attached, again.enabled) == (False, False, True)
    (synced,) = [
        r for r in deployed.merchant_service.sync_usage_plan() if r.value == merchant.merchant_id
    ]
    assert (synced.key_created, synced.attached) == (False, False)
    assert synced.api_key_id == again.api_key_id
    assert_registered_once(gateway, plan_id, merchant.merchant_id)


def test_sync_registers_merchants_created_before_the_plan(
    services: Any, deployed: Any, gateway: Any, plan_id: str
) -> None:
    older = [services.merchant_service.create_merchant(f"Older {n}") for n in range(3)]
    assert all(not keys_of_value(gateway, m.merchant_id) for m in older)

    results = {r.value: r for r in deployed.merchant_service.sync_usage_plan()}

    for merchant in older:
        result = results[merchant.merchant_id]
        assert (result.key_created, result.attached, result.enabled) == (True, True, True)
        assert_registered_once(gateway, plan_id, merchant.merchant_id)
    rerun = {r.value: r for r in deployed.merchant_service.sync_usage_plan()}
    assert not [r for r in rerun.values() if r.key_created or r.attached]
    for merchant in older:
        assert_registered_once(gateway, plan_id, merchant.merchant_id)


def test_a_key_made_by_hand_is_adopted_not_duplicated(
    services: Any, deployed: Any, gateway: Any, plan_id: str
) -> None:
    """An operator's earlier key of the right value (another name) is the one attached."""
    merchant = services.merchant_service.create_merchant("Hand Made")
    by_hand = gateway.create_api_key(name="hand-made", value=merchant.merchant_id, enabled=True)

    result = deployed.usage_plan.attach(merchant.merchant_id)

    assert (result.api_key_id, result.key_created, result.attached) == (by_hand["id"], False, True)
    assert_registered_once(gateway, plan_id, merchant.merchant_id)


def test_a_disabled_key_is_reported_and_left_disabled(
    services: Any, deployed: Any, gateway: Any, plan_id: str
) -> None:
    merchant = services.merchant_service.create_merchant("Blocked")
    gateway.create_api_key(name=merchant.merchant_id, value=merchant.merchant_id, enabled=False)

    (result,) = [
        r for r in deployed.merchant_service.sync_usage_plan() if r.value == merchant.merchant_id
    ]

    assert (result.enabled, result.attached) == (False, True)
    (key,) = keys_of_value(gateway, merchant.merchant_id)
    assert key["enabled"] is False


def test_locally_no_usage_plan_is_touched(services: Any, gateway: Any) -> None:
    """No plan configured (the local stage): merchants are created with no API Gateway key."""
    assert services.settings.usage_plan_id is None and services.usage_plan is None
    before = len(all_keys(gateway))
    merchant = services.merchant_service.create_merchant("Local Only")
    assert merchant.merchant_id
    assert not keys_of_value(gateway, merchant.merchant_id)
    assert len(all_keys(gateway)) == before
    from chalicelib.services.merchants import UsagePlanNotConfigured

    with pytest.raises(UsagePlanNotConfigured):
        services.merchant_service.sync_usage_plan()


# ---- the operator's commands, in their own process -------------------------------------


def test_cli_create_merchant_and_sync_with_a_plan(stack: Any, gateway: Any, plan_id: str) -> None:
    env = {"PAYMENTS_USAGE_PLAN_ID": plan_id}
    created = admin(stack, "create-merchant", "CLI Merchant", env=env)
    assert created.returncode == 0, created.stderr
    merchant_id = json.loads(created.stdout)["merchant_id"]
    assert_registered_once(gateway, plan_id, merchant_id)

    first = admin(stack, "sync-usage-plan", env=env)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["usage_plan_id"] == plan_id
    assert summary["merchants"] >= 1 and merchant_id not in summary["disabled"]
    second = admin(stack, "sync-usage-plan", env=env)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == {**summary, "keys_created": 0, "keys_attached": 0}
    assert_registered_once(gateway, plan_id, merchant_id)


def test_cli_sync_on_the_local_stage_does_nothing(stack: Any, gateway: Any) -> None:
    before = all_keys(gateway)
    result = admin(stack, "sync-usage-plan")
    assert (result.returncode, result.stdout) == (0, "")
    assert "nothing to do" in result.stderr
    assert all_keys(gateway) == before


@pytest.mark.parametrize("command", [["create-merchant", "No Plan"], ["sync-usage-plan"]])
def test_cli_refuses_a_deployed_stage_without_a_plan(
    stack: Any, services: Any, gateway: Any, command: list[str]
) -> None:
    """A merchant made there without its API Gateway key would get 403 on every request."""
    count = len(services.api_keys.merchant_ids())
    before = all_keys(gateway)
    # The session's tables, so a merchant written despite the refusal would be seen here.
    result = admin(
        stack, "--stage", "dev", *command, env={"PAYMENTS_TABLE_PREFIX": "payments-local-"}
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert "PAYMENTS_USAGE_PLAN_ID" in result.stderr
    assert len(services.api_keys.merchant_ids()) == count
    assert all_keys(gateway) == before
