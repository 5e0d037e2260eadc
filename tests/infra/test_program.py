"""The Pulumi program under mocks: what each resource is asked to be."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import pulumi
from chalicelib import tables
from payments_infra import app_model, grants, naming
from payments_infra.functions import TRACING_ACTIONS
from tests.infra.conftest import (
    ACCOUNT,
    BANK_URL,
    PROGRAM_DIR,
    REGION,
    Build,
    RecordingMocks,
    key_policy,
    role_policy,
)

FUNCTION = "aws:lambda/function:Function"
API_FUNCTIONS = {"token", "charge", "refund", "holds", "reads", "public", "events"}


def _by_sid(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements}


def _table_arn(logical: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/payments-dev-{logical}"


def _role_arn(key: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/payments-dev-{key}-role"


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def _principals(statement: dict[str, Any]) -> set[str]:
    aws = statement["Principal"].get("AWS", [])
    return {aws} if isinstance(aws, str) else set(aws)


def _functions(mocks: RecordingMocks) -> dict[str, dict[str, Any]]:
    return {f["name"].removeprefix("payments-dev-"): f for f in mocks.of_type(FUNCTION)}


# ---- layout --------------------------------------------------------------------------------


def test_pulumi_is_the_real_package_and_program_dir_is_not_a_package() -> None:
    assert not (PROGRAM_DIR / "__init__.py").exists()
    assert Path(pulumi.__file__).parent != PROGRAM_DIR


def test_one_component_per_concern(mocks: RecordingMocks) -> None:
    components = {t for t, _, _ in mocks.resources if t.startswith("payments:")}
    assert components == {
        f"payments:platform:{name}"
        for name in (
            "FunctionRoles",
            "Keys",
            "DataStore",
            "Functions",
            "Api",
            "Firewall",
            "Operations",
        )
    }


# Each component's name (the program's composition) -> its type.
COMPONENTS = {
    "roles": "FunctionRoles",
    "keys": "Keys",
    "data": "DataStore",
    "functions": "Functions",
    "api": "Api",
    "firewall": "Firewall",
    "operations": "Operations",
}


def test_every_child_name_starts_with_its_components_name(mocks: RecordingMocks) -> None:
    components = {n: t for t, n, _ in mocks.resources if t.startswith("payments:")}
    assert components == {n: f"payments:platform:{t}" for n, t in COMPONENTS.items()}
    children = [(t, n) for t, n, _ in mocks.resources if not t.startswith("payments:")]
    assert children
    for typ, name in children:
        assert name.split("-")[0] in COMPONENTS, (typ, name)


# ---- functions -----------------------------------------------------------------------------


def test_one_function_per_route_group(mocks: RecordingMocks) -> None:
    functions = _functions(mocks)
    assert set(functions) == API_FUNCTIONS | {"authorizer", "reconciler", "delivery", "redriver"}
    for key in API_FUNCTIONS:
        assert functions[key]["handler"] == "app.app"
    assert functions["authorizer"]["handler"] == "app.api_key_authorizer"
    assert functions["reconciler"]["handler"] == "app.reconcile_pending"
    assert functions["delivery"]["handler"] == "app.deliver_events"
    assert functions["redriver"]["handler"] == "app.redrive_deliveries"
    for key, fn in functions.items():
        spec = app_model.FUNCTIONS_BY_KEY[key]
        assert fn["runtime"] == "python3.11"
        assert fn["architectures"] == ["x86_64"]
        assert (fn["memorySize"], fn["timeout"]) == (spec.memory_mb, spec.timeout_s)
        assert fn["role"] == _role_arn(key)
        assert isinstance(fn["code"], pulumi.FileArchive)
        assert fn["tracingConfig"] == {"mode": "Active"}
        # Lambda refuses a reservation leaving < 10 unreserved: none unless configured.
        assert "reservedConcurrentExecutions" not in fn
    assert functions["public"]["handler"] == "app.app"


def test_reserved_concurrency_only_from_config(build: Build) -> None:
    functions = _functions(build(reservedConcurrency='{"reconciler": 2, "charge": 50}'))
    assert functions["reconciler"]["reservedConcurrentExecutions"] == 2
    assert functions["charge"]["reservedConcurrentExecutions"] == 50
    assert "reservedConcurrentExecutions" not in functions["redriver"]
    with pytest.raises(Exception, match="names no function"):
        build(reservedConcurrency='{"sweeper": 1}')
    with pytest.raises(Exception, match="whole number"):
        build(reservedConcurrency='{"reconciler": 0}')


# Routes served without an API key (the browser checkout's files and preflight among them).
PUBLIC_ROUTES = {
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("OPTIONS", "/token"),
    ("GET", "/js/v1/payments.js"),
    ("GET", "/js/v1/payments.mjs"),
    ("GET", "/elements/card"),
}


def test_every_route_is_served_by_its_own_group(openapi: dict[str, Any]) -> None:
    # The expectation is app_model's own table (which fails unless every route of app.py has
    # exactly one function): what is checked here is that the API deployed follows it.
    expected = app_model.route_table(app_model.load_chalice_app())
    assert set(expected.values()) == API_FUNCTIONS
    seen = {}
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            uri = operation["x-amazon-apigateway-integration"]["uri"]
            seen[(method.upper(), path)] = uri.split("function:payments-dev-")[1].split("/")[0]
    assert seen == expected


def test_environment_holds_only_what_each_function_uses(mocks: RecordingMocks) -> None:
    functions = _functions(mocks)
    envs = {k: f["environment"]["variables"] for k, f in functions.items()}
    for env in envs.values():
        assert env["PAYMENTS_STAGE"] == "dev"
        assert env["PAYMENTS_TABLE_PREFIX"] == "payments-dev-"
        assert "PAYMENTS_BANK_URL" not in env  # never a plain URL: SSM only
        assert BANK_URL not in json.dumps(env)
    with_kms = {k for k, env in envs.items() if "PAYMENTS_KMS_KEY_ID" in env}
    with_hmac = {k for k, env in envs.items() if "PAYMENTS_HMAC_KEY_ID" in env}
    with_bank = {k for k, env in envs.items() if "PAYMENTS_BANK_URL_PARAMETER" in env}
    assert (with_kms, with_hmac) == ({"token", "charge"}, {"token"})
    assert with_bank == {"charge", "refund", "holds", "reads", "reconciler"}
    assert envs["charge"]["PAYMENTS_BANK_URL_PARAMETER"] == "/payments/dev/bank-url"
    assert envs["charge"]["PAYMENTS_KMS_KEY_ID"].endswith("key/key-keys-card-data-key")


def test_bank_url_is_a_secure_string_under_the_secrets_key(mocks: RecordingMocks) -> None:
    (parameter,) = mocks.of_type("aws:ssm/parameter:Parameter")
    assert parameter["type"] == "SecureString"
    assert parameter["value"] == BANK_URL
    assert parameter["keyId"].endswith("key/key-keys-secrets-key")
    assert mocks.was_secret("aws:ssm/parameter:Parameter", "keys-bank-url", "value")


def test_public_routes_run_in_a_function_with_no_data_grants(
    mocks: RecordingMocks, openapi: dict[str, Any]
) -> None:
    unauthenticated = {
        (method.upper(), path)
        for path, methods in openapi["paths"].items()
        for method, operation in methods.items()
        if "security" not in operation
    }
    routes = app_model.route_table(app_model.load_chalice_app())
    # The one exception: the card-fields page, framed by browsers that cannot send a key,
    # reads its publishable key's record and the merchant's origins (the token function's
    # grants; it writes nothing).
    assert routes[("GET", "/elements/card")] == "token"
    unauthenticated.discard(("GET", "/elements/card"))
    assert unauthenticated and {routes[r] for r in unauthenticated} == {app_model.PUBLIC}
    assert grants.GRANTS[app_model.PUBLIC] == grants.Grant()
    statements = _by_sid(role_policy(mocks, app_model.PUBLIC))
    assert set(statements) == {"Logs", "Tracing", "AuditLogAppendOnly"}
    env = _functions(mocks)[app_model.PUBLIC]["environment"]["variables"]
    assert not {k for k in env if "KMS" in k or "HMAC" in k or "BANK" in k}


def test_log_retention_is_a_year_by_default(mocks: RecordingMocks) -> None:
    groups = mocks.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert groups and {g["retentionInDays"] for g in groups} == {365}


def test_log_groups_with_retention(build: Build) -> None:
    mocks = build(logRetentionDays="14")
    groups = {
        g["name"]: g["retentionInDays"] for g in mocks.of_type("aws:cloudwatch/logGroup:LogGroup")
    }
    assert groups == {
        **{f"/aws/lambda/payments-dev-{spec.key}": 14 for spec in app_model.FUNCTIONS},
        "/aws/apigateway/payments-dev-api/access": 14,
    }


# ---- IAM: the grant table ------------------------------------------------------------------


def _granted(mocks: RecordingMocks, action: str, resource_suffix: str) -> set[str]:
    holders = set()
    for spec in app_model.FUNCTIONS:
        for statement in role_policy(mocks, spec.key):
            resources = statement["Resource"]
            resources = [resources] if isinstance(resources, str) else resources
            if (
                statement["Effect"] == "Allow"
                and action in _actions(statement)
                and any(r.endswith(resource_suffix) for r in resources)
            ):
                holders.add(spec.key)
    return holders


def test_only_the_charge_function_decrypts_card_data(mocks: RecordingMocks) -> None:
    assert _granted(mocks, "kms:Decrypt", "key/key-keys-card-data-key") == {"charge"}


def test_only_the_token_function_generates_data_keys_and_macs(mocks: RecordingMocks) -> None:
    assert _granted(mocks, "kms:GenerateDataKey", "key/key-keys-card-data-key") == {"token"}
    assert _granted(mocks, "kms:GenerateMac", "key/key-keys-card-fingerprint-key") == {"token"}


def test_reads_refund_and_authorizer_touch_no_kms_and_no_tokens(mocks: RecordingMocks) -> None:
    for key in (
        "reads",
        "refund",
        "holds",
        "authorizer",
        "reconciler",
        "events",
        "delivery",
        "redriver",
    ):
        statements = role_policy(mocks, key)
        assert not any(a.startswith("kms:") for s in statements for a in _actions(s)), key
        assert "TableTokens" not in _by_sid(statements), key


def test_authorizer_reads_api_keys_and_counts_rejections_only(
    mocks: RecordingMocks,
) -> None:
    statements = _by_sid(role_policy(mocks, "authorizer"))
    assert set(statements) == {
        "Logs",
        "TableApiKeys",
        "TableAuthRejections",
        "AuditLogAppendOnly",
        "Tracing",
    }
    assert statements["TableApiKeys"]["Action"] == ["dynamodb:GetItem"]
    assert statements["TableApiKeys"]["Resource"] == _table_arn("ApiKeys")
    assert statements["TableAuthRejections"]["Action"] == ["dynamodb:UpdateItem"]
    # Besides the authorizer, only the state-changing routes, which judge the key again.
    assert _granted(mocks, "dynamodb:GetItem", "table/payments-dev-ApiKeys") == {
        "authorizer",
        "charge",
        "refund",
        "holds",
        "token",
        "events",
    }


def test_only_bank_callers_read_the_bank_url(mocks: RecordingMocks) -> None:
    parameter = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/payments/dev/bank-url"
    assert _granted(mocks, "ssm:GetParameter", parameter) == {
        "charge",
        "refund",
        "holds",
        "reads",
        "reconciler",
    }


def test_indexes_are_granted_per_function(mocks: RecordingMocks) -> None:
    reads = _by_sid(role_policy(mocks, "reads"))["TableChargesIndexes"]["Resource"]
    sweep = _by_sid(role_policy(mocks, "reconciler"))["TableChargesIndexes"]["Resource"]
    assert reads == [f"{_table_arn('Charges')}/index/by_merchant"]
    assert sweep == [f"{_table_arn('Charges')}/index/pending"]


@pytest.mark.parametrize("key", [spec.key for spec in app_model.FUNCTIONS])
def test_no_wildcards_and_audit_log_append_only(mocks: RecordingMocks, key: str) -> None:
    statements = role_policy(mocks, key)
    tracing = _by_sid(statements)["Tracing"]
    # X-Ray's two actions name no resource: IAM accepts only "*" for them.
    assert (tracing["Resource"], _actions(tracing)) == ("*", set(TRACING_ACTIONS))
    for statement in statements:
        assert not any("*" in action for action in _actions(statement))
        if statement is tracing:
            continue
        resources = statement["Resource"]
        for resource in [resources] if isinstance(resources, str) else resources:
            assert resource != "*"
            if resource.startswith(("arn:aws:dynamodb", "arn:aws:kms")):
                assert "*" not in resource
    deny = _by_sid(statements)["AuditLogAppendOnly"]
    assert deny["Effect"] == "Deny"
    assert {"dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= set(deny["Action"])
    assert deny["Resource"] == _table_arn("AuditLog")
    logs = _by_sid(statements)["Logs"]["Resource"]
    assert logs == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/payments-dev-{key}:*"


def test_the_iam_policies_follow_the_grant_table(mocks: RecordingMocks) -> None:
    for key, grant in grants.GRANTS.items():
        statements = _by_sid(role_policy(mocks, key))
        for access in grant.tables:
            statement = statements[f"Table{access.table.name}"]
            assert statement["Action"] == list(access.actions)
            assert statement["Resource"] == _table_arn(access.table.name)


# ---- KMS: keys and key policies ------------------------------------------------------------


def test_keys(mocks: RecordingMocks) -> None:
    keys = {k["description"].split(":")[0]: k for k in mocks.of_type("aws:kms/key:Key")}
    assert set(keys) == {
        "payments-dev-card-data",
        "payments-dev-card-fingerprint",
        "payments-dev-tables",
        "payments-dev-secrets",
        "payments-dev-alarms",
    }
    for name, key in keys.items():
        if name.endswith("fingerprint"):
            assert (key["customerMasterKeySpec"], key["keyUsage"]) == (
                "HMAC_256",
                "GENERATE_VERIFY_MAC",
            )
            assert not key.get("enableKeyRotation")  # KMS cannot rotate HMAC keys
        else:
            assert key["enableKeyRotation"] is True
    aliases = {a["name"]: a["targetKeyId"] for a in mocks.of_type("aws:kms/alias:Alias")}
    assert aliases["alias/payments-dev-card-data"] == "key-keys-card-data-key"
    assert aliases["alias/payments-dev-card-fingerprint"] == "key-keys-card-fingerprint-key"


def test_keys_survive_a_rename_or_a_destroy(mocks: RecordingMocks) -> None:
    # Deleting the card-data key makes every token unreadable: Pulumi refuses to delete a
    # protected resource, and a destroy (or replacement) leaves the key in the account.
    options = mocks.options_of("aws:kms/key:Key")
    assert len(options) == 5
    assert all(o["protect"] and o["retain_on_delete"] for o in options.values()), options


KEY_ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/payments-dev-key-admin"
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:user/deployer"


def test_a_named_role_and_the_deployer_administer_the_keys_not_the_root(
    mocks: RecordingMocks, build: Build
) -> None:
    for key in mocks.of_type("aws:kms/key:Key"):
        assert ":root" not in key["policy"], key["description"]
        admin = _by_sid(json.loads(key["policy"])["Statement"])["KeyAdministrators"]
        assert _principals(admin) == {KEY_ADMIN_ROLE, DEPLOYER}
    role = mocks.named("aws:iam/role:Role", "keys-admin-role")
    (trust,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert trust["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    # A deployer that is an assumed role administers as its role, not as one session.
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/ci-42"
    assert naming.principal_arn(session) == f"arn:aws:iam::{ACCOUNT}:role/Deploy"
    trusted = f"arn:aws:iam::{ACCOUNT}:role/SecurityTeam"
    configured = build(
        deployerArn=f"arn:aws:iam::{ACCOUNT}:role/Deploy", keyAdminTrustedArns=f'["{trusted}"]'
    )
    policy = json.loads(configured.named("aws:kms/key:Key", "keys-card-data-key")["policy"])
    admin = _by_sid(policy["Statement"])["KeyAdministrators"]
    assert _principals(admin) == {KEY_ADMIN_ROLE, f"arn:aws:iam::{ACCOUNT}:role/Deploy"}
    role = configured.named("aws:iam/role:Role", "keys-admin-role")
    (trust,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"AWS": [trusted]} and "Condition" not in trust


def _admin_has_no_use(statements: list[dict[str, Any]]) -> None:
    admin = _by_sid(statements)["KeyAdministrators"]
    assert _principals(admin) == {KEY_ADMIN_ROLE, DEPLOYER}
    use = {
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:GenerateMac",
        "kms:ReEncryptFrom",
    }
    assert not _actions(admin) & use
    assert not any("*" in action for action in _actions(admin))


def test_card_data_key_policy(mocks: RecordingMocks) -> None:
    statements = key_policy(mocks, "card-data")
    _admin_has_no_use(statements)
    users = {
        a: _principals(s)
        for s in statements
        if s["Sid"] != "KeyAdministrators"
        for a in _actions(s)
    }
    assert users == {
        "kms:GenerateDataKey": {_role_arn("token")},
        "kms:Decrypt": {_role_arn("charge")},
    }
    for statement in statements[1:]:
        condition = statement["Condition"]
        assert condition["StringLike"] == {
            "kms:EncryptionContext:merchant_id": "mer_*",
            "kms:EncryptionContext:token_id": "tok_*",
        }
        assert condition["ForAllValues:StringEquals"] == {
            "kms:EncryptionContextKeys": ["merchant_id", "token_id"]
        }


def test_fingerprint_key_policy(mocks: RecordingMocks) -> None:
    statements = key_policy(mocks, "card-fingerprint")
    _admin_has_no_use(statements)
    users = {a: _principals(s) for s in statements[1:] for a in _actions(s)}
    assert users == {"kms:GenerateMac": {_role_arn("token")}}
    # Only the algorithm the card vault uses, in the key policy and in the role's policy.
    only_sha256 = {"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_256"}}
    assert statements[1]["Condition"] == only_sha256
    assert _by_sid(role_policy(mocks, "token"))["CardFingerprintKey"]["Condition"] == only_sha256


def test_tables_key_is_used_only_through_dynamodb(mocks: RecordingMocks) -> None:
    statements = _by_sid(key_policy(mocks, "tables"))
    _admin_has_no_use(list(statements.values()))
    use = statements["UseThroughDynamoDBInThisAccount"]
    assert use["Condition"]["StringEquals"] == {
        "kms:CallerAccount": ACCOUNT,
        "kms:ViaService": f"dynamodb.{REGION}.amazonaws.com",
    }


def test_secrets_key_decrypts_the_bank_url_for_bank_callers_only(mocks: RecordingMocks) -> None:
    statements = _by_sid(key_policy(mocks, "secrets"))
    readers = statements["BankCallersReadTheBankUrl"]
    assert _principals(readers) == {
        _role_arn(k) for k in ("charge", "refund", "holds", "reads", "reconciler")
    }
    assert readers["Condition"]["StringEquals"] == {
        "kms:ViaService": f"ssm.{REGION}.amazonaws.com",
        "kms:EncryptionContext:PARAMETER_ARN": (
            f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/payments/dev/bank-url"
        ),
    }


# ---- tables --------------------------------------------------------------------------------


def test_tables_from_the_definitions_encrypted_with_the_platform_key(mocks: RecordingMocks) -> None:
    created = {t["name"]: t for t in mocks.of_type("aws:dynamodb/table:Table")}
    assert set(created) == {tables.physical_name("payments-dev-", t) for t in tables.TABLES}
    for table in tables.TABLES:
        got = created[tables.physical_name("payments-dev-", table)]
        assert got["billingMode"] == "PAY_PER_REQUEST"
        assert (got["hashKey"], got.get("rangeKey")) == (table.hash_key, table.range_key)
        assert {a["name"] for a in got["attributes"]} == set(table.key_attributes())
        assert got["serverSideEncryption"] == {
            "enabled": True,
            "kmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/key-keys-tables-key",
        }
        assert got["pointInTimeRecovery"] == {"enabled": True}
        assert got["deletionProtectionEnabled"] is True
        assert {g["name"] for g in got.get("globalSecondaryIndexes", [])} == {
            i.name for i in table.indexes
        }


def test_deletion_protection_is_configurable(build: Build) -> None:
    mocks = build(tableDeletionProtection="false")
    assert all(
        t["deletionProtectionEnabled"] is False for t in mocks.of_type("aws:dynamodb/table:Table")
    )


# ---- API Gateway ---------------------------------------------------------------------------


def test_authorizer_attached_and_merchant_key_from_the_authorizer(
    mocks: RecordingMocks, openapi: dict[str, Any]
) -> None:
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            if (method.upper(), path) in PUBLIC_ROUTES:
                assert "security" not in operation
            else:
                assert operation["security"] == [{"api_key_authorizer": []}, {"api_key": []}]
    authorizer = openapi["securityDefinitions"]["api_key_authorizer"]
    custom = authorizer["x-amazon-apigateway-authorizer"]
    assert (custom["type"], custom["authorizerResultTtlInSeconds"]) == ("token", 5)
    assert custom["authorizerUri"].endswith("function:payments-dev-authorizer/invocations")
    assert openapi["x-amazon-apigateway-api-key-source"] == "AUTHORIZER"
    rest_api = mocks.named("aws:apigateway/restApi:RestApi", "api-rest-api")
    assert rest_api["apiKeySource"] == "AUTHORIZER"
    assert json.loads(rest_api["body"]) == openapi


def test_authorizer_ttl_override(build: Build) -> None:
    openapi = build(authorizerTtlSeconds="0").outputs["openapi"]
    custom = openapi["securityDefinitions"]["api_key_authorizer"]["x-amazon-apigateway-authorizer"]
    assert custom["authorizerResultTtlInSeconds"] == 0
    with pytest.raises(Exception, match="authorizerTtlSeconds must be 0 to 5"):
        build(authorizerTtlSeconds="60")


def test_gateway_responses_defined_once_with_request_id(
    mocks: RecordingMocks, openapi: dict[str, Any]
) -> None:
    assert not mocks.of_type("aws:apigateway/response:Response")
    responses = openapi["x-amazon-apigateway-gateway-responses"]
    for spec in responses.values():
        assert spec["responseParameters"]["gatewayresponse.header.X-Request-Id"] == (
            "context.requestId"
        )
        body = spec["responseTemplates"]["application/json"]
        assert '"request_id": "$context.requestId"' in body
    unauthorized = json.loads(responses["UNAUTHORIZED"]["responseTemplates"]["application/json"])
    assert (responses["UNAUTHORIZED"]["statusCode"], unauthorized["error"]["code"]) == (
        "401",
        "invalid_api_key",
    )
    for kind in ("THROTTLED", "QUOTA_EXCEEDED"):
        throttled = responses[kind]
        error = json.loads(throttled["responseTemplates"]["application/json"])["error"]
        assert throttled["statusCode"] == "429"
        assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limited")
        assert throttled["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"
    denied = json.loads(responses["ACCESS_DENIED"]["responseTemplates"]["application/json"])
    assert (responses["ACCESS_DENIED"]["statusCode"], denied["error"]["code"]) == (
        "403",
        "secret_key_required",
    )
    assert "statusCode" not in responses["DEFAULT_5XX"]


def test_stage_throttling_from_config_tighter_on_token(build: Build) -> None:
    mocks = build(throttleRate="500", throttleBurst="1000", tokenThrottleRate="50")
    settings = {
        m["methodPath"]: m["settings"]
        for m in mocks.of_type("aws:apigateway/methodSettings:MethodSettings")
    }
    assert settings["*/*"]["throttlingRateLimit"] == 500
    assert settings["*/*"]["throttlingBurstLimit"] == 1000
    assert settings["token/POST"]["throttlingRateLimit"] == 50
    assert settings["token/POST"]["throttlingBurstLimit"] == 400  # default kept


def test_per_merchant_usage_plan(build: Build, mocks: RecordingMocks) -> None:
    (plan,) = mocks.of_type("aws:apigateway/usagePlan:UsagePlan")
    assert plan["throttleSettings"] == {"rateLimit": 100, "burstLimit": 200}
    (stage,) = plan["apiStages"]
    assert (stage["apiId"], stage["stage"]) == ("abc123", "api")
    assert stage["throttles"] == [{"path": "/token/POST", "rateLimit": 20, "burstLimit": 40}]
    configured = build(merchantRate="10", merchantTokenBurst="4")
    (plan,) = configured.of_type("aws:apigateway/usagePlan:UsagePlan")
    assert plan["throttleSettings"]["rateLimit"] == 10
    assert plan["apiStages"][0]["throttles"][0]["burstLimit"] == 4


def test_each_function_is_invocable_for_its_own_routes_only(mocks: RecordingMocks) -> None:
    execution_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:abc123"
    permissions: dict[str, set[str]] = {}
    for permission in mocks.of_type("aws:lambda/permission:Permission"):
        permissions.setdefault(permission["function"], set()).add(permission["sourceArn"])
    routes = app_model.route_table(app_model.load_chalice_app())
    for key in set(routes.values()):
        # A path parameter becomes a wildcard: /charge/{charge_id} -> /charge/*
        assert permissions[f"payments-dev-{key}"] == {
            f"{execution_arn}/*/{method}{re.sub(r'{[^}]+}', '*', path)}"
            for (method, path), owner in routes.items()
            if owner == key
        }, key
    # One example written out, so a wrong wildcard rule cannot pass on both sides.
    assert permissions["payments-dev-reads"] == {
        f"{execution_arn}/*/GET/charge/*",
        f"{execution_arn}/*/GET/charges",
    }
    assert permissions["payments-dev-authorizer"] == {f"{execution_arn}/authorizers/*"}
    assert permissions["payments-dev-reconciler"] == {
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/payments-dev-reconcile-pending"
    }
    assert "payments-dev-delivery" not in permissions  # invoked by its stream mapping


def test_stage_with_access_logs_and_tracing(mocks: RecordingMocks) -> None:
    stage = mocks.named("aws:apigateway/stage:Stage", "api-stage")
    assert stage["stageName"] == "api"
    assert stage["xrayTracingEnabled"] is True
    fields = json.loads(stage["accessLogSettings"]["format"])
    assert fields["ip"] == "$context.identity.sourceIp"


def test_the_account_wide_logging_role_is_only_checked_by_default(
    mocks: RecordingMocks, build: Build
) -> None:
    # One setting per account and region: a stack that owned it would overwrite another's,
    # and destroying it would break every other stack's access logs.
    (account,) = mocks.of_type("aws:apigateway/account:Account")
    assert account == {}  # a read of the existing setting (``Account.get``), nothing set
    assert not mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert "payments-dev-apigateway-logs" not in {
        r["name"] for r in mocks.of_type("aws:iam/role:Role")
    }
    with pytest.raises(Exception, match="no CloudWatch role"):
        build(mocks=RecordingMocks(account_cloudwatch_role=""))
    managed = build(manageApiGatewayAccount="true")
    (account,) = managed.of_type("aws:apigateway/account:Account")
    assert account["cloudwatchRoleArn"].endswith("role/payments-dev-apigateway-logs")
    kept = {n: o for t, n in managed.options if (o := managed.options[(t, n)])["retain_on_delete"]}
    assert {
        "api-apigateway-account",
        "api-apigateway-cloudwatch-role",
        "api-apigateway-cloudwatch-policy",
    } <= set(kept)


def test_tls_1_2_at_least(mocks: RecordingMocks, build: Build) -> None:
    rest_api = mocks.named("aws:apigateway/restApi:RestApi", "api-rest-api")
    assert rest_api["securityPolicy"] == "TLS_1_2"
    assert not rest_api.get("disableExecuteApiEndpoint")
    assert not mocks.of_type("aws:apigateway/domainName:DomainName")
    certificate = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abc"
    custom = build(domainName="pay.example.com", certificateArn=certificate)
    rest_api = custom.named("aws:apigateway/restApi:RestApi", "api-rest-api")
    assert rest_api["disableExecuteApiEndpoint"] is True
    (domain,) = custom.of_type("aws:apigateway/domainName:DomainName")
    assert (domain["domainName"], domain["securityPolicy"]) == ("pay.example.com", "TLS_1_2")
    assert domain["regionalCertificateArn"] == certificate
    (mapping,) = custom.of_type("aws:apigateway/basePathMapping:BasePathMapping")
    assert (mapping["restApi"], mapping["stageName"]) == ("abc123", "api")
    enhanced = build(tlsSecurityPolicy="SecurityPolicy_TLS13_1_2_2021_06")
    rest_api = enhanced.named("aws:apigateway/restApi:RestApi", "api-rest-api")
    assert rest_api["endpointAccessMode"] == "STRICT"
    with pytest.raises(Exception, match="together"):
        build(domainName="pay.example.com")


# ---- operations ----------------------------------------------------------------------------


def test_schedules_target_the_reconciler_and_the_redriver(mocks: RecordingMocks) -> None:
    rules = {
        r["name"]: r["scheduleExpression"]
        for r in mocks.of_type("aws:cloudwatch/eventRule:EventRule")
        if "scheduleExpression" in r
    }
    assert rules == {
        "payments-dev-reconcile-pending": "rate(5 minutes)",
        # Each run polls for due retries for most of the minute (the first two retries
        # are due 20 s and 60 s after the first attempt).
        "payments-dev-redrive-deliveries": "rate(1 minute)",
    }
    targets = {
        t["arn"]
        for t in mocks.of_type("aws:cloudwatch/eventTarget:EventTarget")
        if ":lambda:" in t["arn"]
    }
    assert targets == {
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:payments-dev-{key}"
        for key in ("reconciler", "redriver")
    }


def test_scheduled_runs_are_never_retried_late(mocks: RecordingMocks) -> None:
    # EventBridge invokes asynchronously: by default a throttled run is retried for 6 hours.
    configs = {
        c["functionName"]: c
        for c in mocks.of_type("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
    }
    assert set(configs) == {"payments-dev-reconciler", "payments-dev-redriver"}
    for config in configs.values():
        assert config["maximumRetryAttempts"] == 0
    assert configs["payments-dev-reconciler"]["maximumEventAgeInSeconds"] == 300
    assert configs["payments-dev-redriver"]["maximumEventAgeInSeconds"] == 60


EVENTS_STREAM = f"{_table_arn('Events')}/stream/2026-01-01T00:00:00.000"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:payments-dev-delivery-dlq"


def test_the_events_table_has_a_stream_of_new_images(mocks: RecordingMocks) -> None:
    created = {t["name"]: t for t in mocks.of_type("aws:dynamodb/table:Table")}
    events = created["payments-dev-Events"]
    assert (events["streamEnabled"], events["streamViewType"]) == (True, "NEW_IMAGE")
    assert events["ttl"] == {"attributeName": "ttl", "enabled": True}  # kept 30 days
    assert [n for n, t in created.items() if t.get("streamEnabled")] == ["payments-dev-Events"]


def test_the_stream_feeds_the_delivery_function_with_a_dead_letter_queue(
    mocks: RecordingMocks,
) -> None:
    (mapping,) = mocks.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
    assert mapping["eventSourceArn"] == EVENTS_STREAM
    assert mapping["functionName"].endswith("function:payments-dev-delivery")
    assert mapping["startingPosition"] == "TRIM_HORIZON"
    assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["bisectBatchOnFunctionError"] is True
    assert mapping["destinationConfig"]["onFailure"]["destinationArn"] == DLQ_ARN
    (queue,) = mocks.of_type("aws:sqs/queue:Queue")
    assert queue["name"] == "payments-dev-delivery-dlq"
    assert queue["sqsManagedSseEnabled"] is True
    assert queue["messageRetentionSeconds"] == 14 * 24 * 3600


def test_delivery_grants_read_the_stream_and_the_delivery_tables_only(
    mocks: RecordingMocks,
) -> None:
    statements = _by_sid(role_policy(mocks, "delivery"))
    assert set(statements) == {
        "Logs",
        "StreamEvents",
        "TableEvents",
        "TableWebhookEndpoints",
        "TableWebhookSecrets",
        "TableDeliveries",
        "DeadLetterQueue",
        "AuditLogAppendOnly",
        "Tracing",
    }
    stream = statements["StreamEvents"]
    assert stream["Resource"] == EVENTS_STREAM
    # AWS's documented set for a DynamoDB stream event source, ListStreams included.
    assert set(stream["Action"]) == {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    }
    assert statements["DeadLetterQueue"] == {
        "Sid": "DeadLetterQueue",
        "Effect": "Allow",
        "Action": ["sqs:SendMessage"],
        "Resource": DLQ_ARN,
    }
    assert statements["TableWebhookEndpoints"]["Action"] == ["dynamodb:Query"]
    # Of events, only taking one out of the undelivered index once its deliveries exist.
    assert statements["TableEvents"]["Action"] == ["dynamodb:UpdateItem"]
    # Nothing of Tokens, Charges, new events or any KMS key.
    for statement in statements.values():
        assert not any(a.startswith("kms:") for a in _actions(statement))
    text = json.dumps(list(statements.values()))
    assert "Tokens" not in text and "table/payments-dev-Charges" not in text


def test_only_the_delivery_functions_read_webhook_secrets(mocks: RecordingMocks) -> None:
    secrets = "table/payments-dev-WebhookSecrets"
    assert _granted(mocks, "dynamodb:GetItem", secrets) == {"delivery", "redriver"}
    assert _granted(mocks, "dynamodb:PutItem", secrets) == {"events"}


def test_every_settler_writes_events_and_only_settlers_do(mocks: RecordingMocks) -> None:
    """... and the webhook endpoint routes, for a test.ping (POST /webhook_endpoints/{id}/test)."""
    assert _granted(mocks, "dynamodb:PutItem", "table/payments-dev-Events") == {
        "charge",
        "refund",
        "holds",
        "reads",
        "reconciler",
        "events",
    }


def test_alarms(mocks: RecordingMocks) -> None:
    alarms = {
        a["name"].removeprefix("payments-dev-"): a
        for a in mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    expected = {
        "api-5xx-rate",
        "api-latency-p99",
        "pending-too-old",
        "delivery-dead-letters",
        "delivery-dead-letters-old",
        "delivery-iterator-age",
        "audit-write-failed",
        *(f"{spec.key}-{kind}" for spec in app_model.FUNCTIONS for kind in ("errors", "throttles")),
        *(
            f"table-{table.name.lower()}-{kind}"
            for table in tables.TABLES
            for kind in ("throttles", "system-errors")
        ),
    }
    assert set(alarms) == expected
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:payments-dev-alarms"
    assert all(a["alarmActions"] == [topic] for a in alarms.values())

    # The authorizer raises for every 401: its alarm counts only real failures, from its log.
    authorizer = alarms["authorizer-errors"]
    assert (authorizer["namespace"], authorizer["metricName"]) == (
        "Payments",
        "payments-dev-authorizer-failures",
    )
    filters = {
        f["pattern"]: f for f in mocks.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")
    }
    assert set(filters) == {'"[ERROR]" -Unauthorized', '"Task timed out"'}
    # The excluded term is what the runtime logs for the authorizer's 401.
    from chalicelib.web.authorizer import Unauthorized

    assert type(Unauthorized()).__name__ == str(Unauthorized()) == "Unauthorized"
    for log_filter in filters.values():
        assert log_filter["logGroupName"] == "/aws/lambda/payments-dev-authorizer"
        assert log_filter["metricTransformation"]["name"] == "payments-dev-authorizer-failures"

    latency = alarms["api-latency-p99"]
    assert (latency["metricName"], latency["extendedStatistic"]) == ("Latency", "p99")
    assert latency["threshold"] == 5000
    assert latency["dimensions"] == {"ApiName": "payments-dev-api", "Stage": "api"}

    iterator = alarms["delivery-iterator-age"]
    assert (iterator["metricName"], iterator["statistic"]) == ("IteratorAge", "Maximum")
    assert iterator["dimensions"] == {"FunctionName": "payments-dev-delivery"}

    audit = alarms["audit-write-failed"]
    assert (audit["namespace"], audit["metricName"]) == ("Payments", "AuditWriteFailed")
    assert audit["dimensions"] == {"function": "authorizer"}

    oldest = alarms["delivery-dead-letters-old"]
    assert oldest["metricName"] == "ApproximateAgeOfOldestMessage"
    assert oldest["threshold"] < 14 * 24 * 3600  # before the queue's retention drops it

    charges = alarms["table-charges-system-errors"]
    metrics_used = {q["metric"]["metricName"] for q in charges["metricQueries"] if "metric" in q}
    dimensions = [q["metric"]["dimensions"] for q in charges["metricQueries"] if "metric" in q]
    assert metrics_used == {"SystemErrors"}
    assert {d["Operation"] for d in dimensions} >= {"GetItem", "Query", "TransactWriteItems"}
    assert all(d["TableName"] == "payments-dev-Charges" for d in dimensions)
    throttles = alarms["table-charges-throttles"]
    assert {q["metric"]["metricName"] for q in throttles["metricQueries"] if "metric" in q} == {
        "ReadThrottleEvents",
        "WriteThrottleEvents",
    }

    rate = alarms["api-5xx-rate"]
    (expression,) = [q for q in rate["metricQueries"] if q.get("returnData")]
    assert "errors / requests" in expression["expression"]
    assert {q["metric"]["metricName"] for q in rate["metricQueries"] if "metric" in q} == {
        "5XXError",
        "Count",
    }
    assert alarms["charge-throttles"]["metricName"] == "Throttles"
    assert alarms["charge-errors"]["dimensions"] == {"FunctionName": "payments-dev-charge"}

    dead_letters = alarms["delivery-dead-letters"]
    assert dead_letters["dimensions"] == {"QueueName": "payments-dev-delivery-dlq"}
    assert (dead_letters["metricName"], dead_letters["threshold"]) == (
        "ApproximateNumberOfMessagesVisible",
        0,
    )

    pending = alarms["pending-too-old"]
    assert (pending["namespace"], pending["metricName"]) == ("Payments", "OldestPendingAgeSeconds")
    assert pending["dimensions"] == {"Stage": "dev"}
    # Settle window (the charge and refund functions' 15 s timeout) + one 5-minute sweep.
    assert pending["threshold"] == 15 + 300
    assert pending["treatMissingData"] == "breaching"


def test_the_alarm_topic_is_encrypted_and_subscribed_from_config(
    mocks: RecordingMocks, build: Build
) -> None:
    (topic,) = mocks.of_type("aws:sns/topic:Topic")
    assert topic["kmsMasterKeyId"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/key-keys-alarms-key"
    publishers = _by_sid(key_policy(mocks, "alarms"))["ServicesPublishToTheAlarmTopic"]
    assert set(publishers["Principal"]["Service"]) == {
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
    }
    assert not mocks.of_type("aws:sns/topicSubscription:TopicSubscription")
    configured = build(
        alarmEmail="ops@example.com",
        alarmSubscriptions='[{"protocol": "https", "endpoint": "https://pager.example.com/x"}]',
    )
    subscriptions = {
        (s["protocol"], s["endpoint"])
        for s in configured.of_type("aws:sns/topicSubscription:TopicSubscription")
    }
    assert subscriptions == {
        ("email", "ops@example.com"),
        ("https", "https://pager.example.com/x"),
    }


def test_key_policy_grant_and_audit_policy_changes_are_sent_to_the_topic(
    mocks: RecordingMocks,
) -> None:
    rules = {
        r["name"].removeprefix("payments-dev-"): json.loads(r["eventPattern"])
        for r in mocks.of_type("aws:cloudwatch/eventRule:EventRule")
        if "eventPattern" in r
    }
    assert set(rules) == {"key-policy-changes", "key-grants", "audit-policy-changes"}
    key_arns = {
        f"arn:aws:kms:{REGION}:{ACCOUNT}:key/key-keys-{name}-key"
        for name in ("card-data", "card-fingerprint", "tables", "secrets", "alarms")
    }
    policy = rules["key-policy-changes"]["detail"]
    assert "PutKeyPolicy" in policy["eventName"]
    assert set(policy["resources"]["ARN"]) == key_arns
    grants_rule = rules["key-grants"]["detail"]
    assert grants_rule["eventName"] == ["CreateGrant"]
    # DynamoDB grants itself the tables key: only the other keys' grants are news.
    assert set(grants_rule["resources"]["ARN"]) == key_arns - {
        f"arn:aws:kms:{REGION}:{ACCOUNT}:key/key-keys-tables-key"
    }
    audit = rules["audit-policy-changes"]["detail"]
    assert audit["requestParameters"]["resourceArn"] == [_table_arn("AuditLog")]
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:payments-dev-alarms"
    targets = [t for t in mocks.of_type("aws:cloudwatch/eventTarget:EventTarget")]
    assert sum(t["arn"] == topic for t in targets) == 3
    (topic_policy,) = mocks.of_type("aws:sns/topicPolicy:TopicPolicy")
    services = {
        service
        for statement in json.loads(topic_policy["policy"])["Statement"]
        for service in statement["Principal"]["Service"]
    }
    assert services == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}


def test_pending_alarm_threshold_from_config(build: Build) -> None:
    mocks = build(pendingAgeAlarmSeconds="900")
    (pending,) = [
        a
        for a in mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if a["name"].endswith("pending-too-old")
    ]
    assert pending["threshold"] == 900


# ---- stage names ---------------------------------------------------------------------------


def test_stage_defaults_to_the_stack_and_is_validated(build: Build) -> None:
    mocks = build(stack="prod")
    assert "payments-prod-charge" in {f["name"] for f in mocks.of_type(FUNCTION)}
    with pytest.raises(Exception, match="must match"):
        build(stage="Prod_EU")
    with pytest.raises(Exception, match="must match"):
        build(stage="x" * (naming.MAX_STAGE_LENGTH + 1))


def test_the_local_stacks_stage_name_is_refused(build: Build) -> None:
    with pytest.raises(Exception, match="local stack"):
        build(stage="local")
    with pytest.raises(Exception, match="local stack"):
        build(stack="local")


def test_no_function_is_told_to_accept_loopback_webhooks(mocks: RecordingMocks) -> None:
    for fn in mocks.of_type(FUNCTION):
        assert "PAYMENTS_LOCAL_WEBHOOKS" not in fn["environment"]["variables"], fn["name"]


# ---- the firewall --------------------------------------------------------------------------


def _rules(acl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["name"]: rule for rule in acl["rules"]}


def test_a_web_acl_limits_each_client_address_before_the_authorizer(
    mocks: RecordingMocks, build: Build
) -> None:
    (acl,) = mocks.of_type("aws:wafv2/webAcl:WebAcl")
    assert acl["scope"] == "REGIONAL"
    assert "allow" in acl["defaultAction"]
    rules = _rules(acl)
    managed = {
        r["statement"]["managedRuleGroupStatement"]["name"]
        for r in rules.values()
        if "managedRuleGroupStatement" in r["statement"]
    }
    assert managed == {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesAmazonIpReputationList"}
    per_ip = rules["per-ip"]["statement"]["rateBasedStatement"]
    token = rules["token-per-ip"]["statement"]["rateBasedStatement"]
    assert (per_ip["aggregateKeyType"], token["aggregateKeyType"]) == ("IP", "IP")
    assert token["limit"] < per_ip["limit"]
    match = token["scopeDownStatement"]["byteMatchStatement"]
    assert (match["positionalConstraint"], match["searchString"]) == ("ENDS_WITH", "/token")
    assert "uriPath" in match["fieldToMatch"]
    assert "scopeDownStatement" not in per_ip
    # Rate-limited: the API's own 429 envelope, with Retry-After.
    for name in ("per-ip", "token-per-ip"):
        response = rules[name]["action"]["block"]["customResponse"]
        assert response["responseCode"] == 429
        assert response["responseHeaders"][0]["name"] == "Retry-After"
        (body,) = acl["customResponseBodies"]
        assert body["key"] == response["customResponseBodyKey"]
        assert json.loads(body["content"])["error"]["code"] == "rate_limited"
    (association,) = mocks.of_type("aws:wafv2/webAclAssociation:WebAclAssociation")
    assert association["resourceArn"] == (
        f"arn:aws:apigateway:{REGION}::/restapis/abc123/stages/api"
    )
    assert association["webAclArn"].startswith(f"arn:aws:wafv2:{REGION}:{ACCOUNT}:regional/")
    configured = _rules(
        build(wafRateLimit="5000", wafTokenRateLimit="100").of_type("aws:wafv2/webAcl:WebAcl")[0]
    )
    assert configured["per-ip"]["statement"]["rateBasedStatement"]["limit"] == 5000
    assert configured["token-per-ip"]["statement"]["rateBasedStatement"]["limit"] == 100


# ---- the audit log -------------------------------------------------------------------------


def test_the_audit_log_resource_policy_leaves_changes_to_the_break_glass_role(
    mocks: RecordingMocks, build: Build
) -> None:
    (resource_policy,) = mocks.of_type("aws:dynamodb/resourcePolicy:ResourcePolicy")
    assert resource_policy["resourceArn"] == _table_arn("AuditLog")
    statements = _by_sid(json.loads(resource_policy["policy"])["Statement"])
    break_glass = f"arn:aws:iam::{ACCOUNT}:role/payments-dev-audit-break-glass"
    changes = statements["NoChangeButBreakGlass"]
    assert (changes["Effect"], changes["Principal"]) == ("Deny", "*")
    assert {
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:PartiQLUpdate",
        "dynamodb:PartiQLDelete",
    } <= _actions(changes)
    assert changes["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": break_glass}}
    puts = statements["OnlyAppendersPut"]
    assert (puts["Effect"], _actions(puts)) == (
        "Deny",
        {"dynamodb:PutItem", "dynamodb:PartiQLInsert"},
    )
    # The appenders are the functions the grant table lets put audit records, nobody else.
    appenders = {
        key
        for key, grant in grants.GRANTS.items()
        for access in grant.tables
        if access.table == tables.AUDIT_LOG and grants.PUT in access.actions
    }
    assert appenders and appenders == _granted(
        mocks, "dynamodb:PutItem", "table/payments-dev-AuditLog"
    )
    assert set(puts["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]) == {
        break_glass,
        *(_role_arn(key) for key in appenders),
    }
    operator = f"arn:aws:iam::{ACCOUNT}:role/PaymentsOperator"
    configured = build(operatorArns=f'["{operator}"]')
    (resource_policy,) = configured.of_type("aws:dynamodb/resourcePolicy:ResourcePolicy")
    puts = _by_sid(json.loads(resource_policy["policy"])["Statement"])["OnlyAppendersPut"]
    assert operator in puts["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    role = mocks.named("aws:iam/role:Role", "data-audit-break-glass-role")
    (trust,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert trust["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


def test_money_tables_are_protected(mocks: RecordingMocks, build: Build) -> None:
    options = mocks.options_of("aws:dynamodb/table:Table")
    assert len(options) == len(tables.TABLES)
    assert all(o["protect"] and o["retain_on_delete"] for o in options.values())
    unprotected = build(tableDeletionProtection="false").options_of("aws:dynamodb/table:Table")
    assert not any(o["protect"] for o in unprotected.values())


def test_missing_package_is_a_clear_error(build: Build) -> None:
    with pytest.raises(Exception, match="make package"):
        build(lambdaPackage="/nonexistent/deployment.zip")
