"""Each Pulumi component built alone, from plain values, under ``pulumi.runtime.set_mocks``.

The whole program (``test_program.py``) wires the components by their outputs; here each
one gets made-up names and ARNs of another account (``FAKE_ACCOUNT``), so every value a
test finds in a resource came from the component's arguments, and a component that
reached for another component (or created its resources) would fail to build or be
seen registering them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pulumi
from chalicelib import tables
from payments_infra import app_model, grants
from payments_infra.api import Api, ApiArgs, Limits, Throttle
from payments_infra.datastore import DataStore, DataStoreArgs
from payments_infra.firewall import Firewall, FirewallArgs
from payments_infra.functions import FunctionRoles, FunctionRolesArgs, Functions, FunctionsArgs
from payments_infra.keys import TABLES_KEY, Keys, KeysArgs
from payments_infra.operations import Operations, OperationsArgs
from tests.infra.conftest import ACCOUNT, REGION, RecordingMocks

C = TypeVar("C", bound=pulumi.ComponentResource)

FAKE_ACCOUNT = "999999999999"  # not the mocks' account: values here come from the args
PREFIX = "payments-alone-"
FUNCTION_KEYS = [spec.key for spec in app_model.FUNCTIONS]
TABLE_NAMES = [table.name for table in tables.TABLES]
STREAM_TABLES = [table.name for table in tables.TABLES if table.stream_view_type]
KEY_NAMES = ["card-data", "card-fingerprint", TABLES_KEY, "secrets", "alarms"]


def role_arn(key: str) -> str:
    return f"arn:aws:iam::{FAKE_ACCOUNT}:role/fake-{key}-role"


def function_arn(key: str) -> str:
    return f"arn:aws:lambda:{REGION}:{FAKE_ACCOUNT}:function:fake-{key}"


def invoke_arn(key: str) -> str:
    return (
        f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
        f"{function_arn(key)}/invocations"
    )


def table_arn(logical: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{FAKE_ACCOUNT}:table/fake-{logical}"


def stream_arn(logical: str) -> str:
    return f"{table_arn(logical)}/stream/fake-label"


def key_arn(name: str) -> str:
    return f"arn:aws:kms:{REGION}:{FAKE_ACCOUNT}:key/fake-{name}"


DLQ_ARN = f"arn:aws:sqs:{REGION}:{FAKE_ACCOUNT}:fake-dlq"
PARAMETER_ARN = f"arn:aws:ssm:{REGION}:{FAKE_ACCOUNT}:parameter/fake/bank-url"


@dataclass
class Built(Generic[C]):
    mocks: RecordingMocks
    component: C
    outputs: dict[str, Any]  # what ``resolve`` asked for, resolved

    def types(self) -> set[str]:
        return {typ for typ, _, _ in self.mocks.resources}


def alone(
    make: Callable[[], C], resolve: Callable[[C], Mapping[str, Any]] | None = None
) -> Built[C]:
    """Build one component in a program of its own; resolve the outputs ``resolve`` names."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="payments", stack="alone", preview=False)
    made: list[C] = []
    resolved: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> Any:
        pulumi.runtime.register_stack_transformation(mocks.remember_options)
        component = make()
        made.append(component)
        wanted = dict(resolve(component)) if resolve else {}
        return pulumi.Output.all(**wanted).apply(resolved.update)

    run()
    (component,) = made
    _declared_outputs_are_set(component)
    return Built(mocks, component, resolved)


def _declared_outputs_are_set(component: pulumi.ComponentResource) -> None:
    declared = set(type(component).__annotations__)
    assert declared, type(component).__name__
    missing = {name for name in declared if not hasattr(component, name)}
    assert not missing, (type(component).__name__, missing)


def _components(built: Built[Any]) -> set[str]:
    return {t for t in built.types() if t.startswith("payments:")}


def _statements(document: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(document)["Statement"]}


def _principals(statement: dict[str, Any]) -> set[str]:
    aws = statement["Principal"]["AWS"]
    return {aws} if isinstance(aws, str) else set(aws)


# ---- FunctionRoles ---------------------------------------------------------------------


def test_function_roles_alone() -> None:
    built = alone(
        lambda: FunctionRoles("roles", FunctionRolesArgs(name_prefix=PREFIX)),
        lambda c: {"arns": c.arns, "names": c.names},
    )
    assert built.types() == {"payments:platform:FunctionRoles", "aws:iam/role:Role"}
    roles = {r["name"]: r for r in built.mocks.of_type("aws:iam/role:Role")}
    assert set(roles) == {f"{PREFIX}{key}-role" for key in FUNCTION_KEYS}
    (trust,) = json.loads(roles[f"{PREFIX}charge-role"]["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert built.outputs["names"] == {key: f"{PREFIX}{key}-role" for key in FUNCTION_KEYS}
    assert built.outputs["arns"]["charge"].endswith(f":role/{PREFIX}charge-role")


# ---- Keys ------------------------------------------------------------------------------


def test_keys_alone_name_the_roles_they_are_given() -> None:
    built = alone(
        lambda: Keys(
            "keys",
            KeysArgs(
                name_prefix=PREFIX,
                stage="alone",
                account_id=FAKE_ACCOUNT,
                region=REGION,
                role_arns={key: role_arn(key) for key in FUNCTION_KEYS},
                bank_url="https://bank.alone.test",
                deployer_arn=f"arn:aws:iam::{FAKE_ACCOUNT}:role/deployer",
            ),
        ),
        lambda c: {"arns": c.arns, "parameter": c.bank_url_parameter.name},
    )
    assert _components(built) == {"payments:platform:Keys"}
    assert "aws:lambda/function:Function" not in built.types()
    assert set(built.outputs["arns"]) == set(KEY_NAMES)
    assert built.outputs["parameter"] == "/payments/alone/bank-url"
    policies = {
        k["description"].split(":")[0].removeprefix(PREFIX): _statements(k["policy"])
        for k in built.mocks.of_type("aws:kms/key:Key")
    }
    assert set(policies) == set(KEY_NAMES)
    assert _principals(policies["card-data"]["UseDecrypt"]) == {role_arn("charge")}
    assert _principals(policies["card-data"]["UseGenerateDataKey"]) == {role_arn("token")}
    assert _principals(policies["card-fingerprint"]["UseGenerateMac"]) == {role_arn("token")}
    readers = policies["secrets"]["BankCallersReadTheBankUrl"]
    assert _principals(readers) == {role_arn(key) for key in grants.bank_callers()}
    assert readers["Condition"]["StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"] == (
        f"arn:aws:ssm:{REGION}:{FAKE_ACCOUNT}:parameter/payments/alone/bank-url"
    )
    tables_use = policies[TABLES_KEY]["UseThroughDynamoDBInThisAccount"]
    assert tables_use["Condition"]["StringEquals"]["kms:CallerAccount"] == FAKE_ACCOUNT
    options = built.mocks.options_of("aws:kms/key:Key")
    assert len(options) == len(KEY_NAMES)
    assert all(o["protect"] and o["retain_on_delete"] for o in options.values())


# ---- DataStore -------------------------------------------------------------------------


def test_data_store_alone_encrypts_with_the_key_it_is_given() -> None:
    tables_key = key_arn(TABLES_KEY)
    operator = f"arn:aws:iam::{FAKE_ACCOUNT}:role/operator"
    built = alone(
        lambda: DataStore(
            "data",
            DataStoreArgs(
                name_prefix=PREFIX,
                kms_key_arn=tables_key,
                account_id=FAKE_ACCOUNT,
                role_arns={key: role_arn(key) for key in FUNCTION_KEYS},
                operator_arns=(operator,),
            ),
        ),
        lambda c: {
            "names": c.names,
            "streams": c.stream_arns,
            "audit": c.audit_log_arn,
            "dlq": c.dead_letter_queue.name,
        },
    )
    assert _components(built) == {"payments:platform:DataStore"}
    assert "aws:kms/key:Key" not in built.types()
    created = built.mocks.of_type("aws:dynamodb/table:Table")
    assert {t["name"] for t in created} == {
        tables.physical_name(PREFIX, table) for table in tables.TABLES
    }
    assert {t["serverSideEncryption"]["kmsKeyArn"] for t in created} == {tables_key}
    assert set(built.outputs["names"]) == set(TABLE_NAMES)
    assert set(built.outputs["streams"]) == set(STREAM_TABLES)
    assert built.outputs["audit"].endswith(
        f":table/{tables.physical_name(PREFIX, tables.AUDIT_LOG)}"
    )
    assert built.outputs["dlq"] == f"{PREFIX}delivery-dlq"
    (resource_policy,) = built.mocks.of_type("aws:dynamodb/resourcePolicy:ResourcePolicy")
    puts = _statements(resource_policy["policy"])["OnlyAppendersPut"]
    appenders = set(puts["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])
    break_glass = built.mocks.named("aws:iam/role:Role", "data-audit-break-glass-role")
    assert appenders == {
        *(role_arn(key) for key in _audit_appenders()),
        operator,
        f"arn:aws:iam::{ACCOUNT}:role/{break_glass['name']}",  # the mocks' ARN of its role
    }


def _audit_appenders() -> set[str]:
    return {
        key
        for key, grant in grants.GRANTS.items()
        for access in grant.tables
        if access.table == tables.AUDIT_LOG and grants.PUT in access.actions
    }


# ---- Functions -------------------------------------------------------------------------


def _functions_args(package: Path) -> FunctionsArgs:
    return FunctionsArgs(
        name_prefix=PREFIX,
        stage="alone",
        chalice_app=app_model.load_chalice_app(),
        lambda_package=package,
        role_arns={key: role_arn(key) for key in FUNCTION_KEYS},
        role_names={key: f"fake-{key}-role" for key in FUNCTION_KEYS},
        card_data_key_arn=key_arn("card-data"),
        fingerprint_key_arn=key_arn("card-fingerprint"),
        bank_url_parameter_arn=PARAMETER_ARN,
        bank_url_parameter_name="/fake/bank-url",
        table_arns={logical: table_arn(logical) for logical in TABLE_NAMES},
        stream_arns={logical: stream_arn(logical) for logical in STREAM_TABLES},
        dead_letter_queue_arn=DLQ_ARN,
        reserved_concurrency={"charge": 7},
    )


def test_functions_alone_run_with_the_roles_and_keys_they_are_given(fake_package: Path) -> None:
    built = alone(
        lambda: Functions("functions", _functions_args(fake_package)),
        lambda c: {"arns": c.arns, "invoke_arns": c.invoke_arns, "logs": c.log_group_names},
    )
    assert built.types() == {
        "payments:platform:Functions",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:lambda/function:Function",
    }
    functions = {
        f["name"].removeprefix(PREFIX): f
        for f in built.mocks.of_type("aws:lambda/function:Function")
    }
    assert set(functions) == set(FUNCTION_KEYS)
    for key, function in functions.items():
        assert function["role"] == role_arn(key)
        spec = app_model.FUNCTIONS_BY_KEY[key]
        assert (function["memorySize"], function["timeout"]) == (spec.memory_mb, spec.timeout_s)
    assert functions["reconciler"]["handler"] == "app.reconcile_pending"
    assert functions["charge"]["reservedConcurrentExecutions"] == 7
    env = functions["charge"]["environment"]["variables"]
    assert env["PAYMENTS_KMS_KEY_ID"] == key_arn("card-data")
    assert env["PAYMENTS_BANK_URL_PARAMETER"] == "/fake/bank-url"
    token_env = functions["token"]["environment"]["variables"]
    assert token_env["PAYMENTS_HMAC_KEY_ID"] == key_arn("card-fingerprint")

    policies = {
        p["role"]: _statements(p["policy"])
        for p in built.mocks.of_type("aws:iam/rolePolicy:RolePolicy")
    }
    assert set(policies) == {f"fake-{key}-role" for key in FUNCTION_KEYS}
    charge = policies["fake-charge-role"]
    assert charge["TableCharges"]["Resource"] == table_arn("Charges")
    assert charge["CardDataKey"]["Resource"] == key_arn("card-data")
    assert charge["BankUrlParameter"]["Resource"] == PARAMETER_ARN
    assert charge["AuditLogAppendOnly"]["Resource"] == table_arn("AuditLog")
    assert policies["fake-token-role"]["CardFingerprintKey"]["Resource"] == key_arn(
        "card-fingerprint"
    )
    delivery = policies["fake-delivery-role"]
    assert delivery["StreamEvents"]["Resource"] == stream_arn("Events")
    assert delivery["DeadLetterQueue"]["Resource"] == DLQ_ARN

    assert built.outputs["arns"]["charge"].endswith(f":function:{PREFIX}charge")
    assert built.outputs["invoke_arns"]["charge"].endswith(f":function:{PREFIX}charge/invocations")
    assert built.outputs["logs"]["charge"] == f"/aws/lambda/{PREFIX}charge"


# ---- Api -------------------------------------------------------------------------------


def _api_args(**overrides: Any) -> ApiArgs:
    limits = Limits(default=Throttle(10, 20), token=Throttle(2, 4))
    values: dict[str, Any] = {
        "name_prefix": PREFIX,
        "stage": "alone",
        "chalice_app": app_model.load_chalice_app(),
        "invoke_arns": {key: invoke_arn(key) for key in FUNCTION_KEYS},
        "function_names": {key: f"fake-{key}" for key in FUNCTION_KEYS},
        "stage_limits": limits,
        "merchant_limits": limits,
        "api_stage_name": "v1",
        **overrides,
    }
    return ApiArgs(**values)


def test_api_alone_integrates_the_functions_it_is_given() -> None:
    built = alone(
        lambda: Api("api", _api_args()),
        lambda c: {"openapi": c.openapi, "url": c.api_url, "role": c.account_role_arn},
    )
    assert _components(built) == {"payments:platform:Api"}
    assert not {"aws:lambda/function:Function", "aws:iam/role:Role"} & built.types()
    openapi = built.outputs["openapi"]
    routes = app_model.route_table(app_model.load_chalice_app())
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            integration = operation["x-amazon-apigateway-integration"]
            assert integration["uri"] == invoke_arn(routes[(method.upper(), path)])
    authorizer = openapi["securityDefinitions"]["api_key_authorizer"]
    assert authorizer["x-amazon-apigateway-authorizer"]["authorizerUri"] == invoke_arn("authorizer")
    rest_api = built.mocks.named("aws:apigateway/restApi:RestApi", "api-rest-api")
    assert json.loads(rest_api["body"]) == openapi
    permissions: dict[str, set[str]] = {}
    for permission in built.mocks.of_type("aws:lambda/permission:Permission"):
        permissions.setdefault(permission["function"], set()).add(permission["sourceArn"])
    assert set(permissions) == {f"fake-{key}" for key in set(routes.values()) | {"authorizer"}}
    execution_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:abc123"  # the mocks' REST API
    assert permissions["fake-authorizer"] == {f"{execution_arn}/authorizers/*"}
    assert permissions["fake-reads"] == {
        f"{execution_arn}/*/GET/charge/*",
        f"{execution_arn}/*/GET/charges",
    }
    assert built.outputs["url"].endswith("/v1")
    assert built.mocks.named("aws:apigateway/stage:Stage", "api-stage")["stageName"] == "v1"
    (plan,) = built.mocks.of_type("aws:apigateway/usagePlan:UsagePlan")
    assert plan["throttleSettings"] == {"rateLimit": 10, "burstLimit": 20}
    assert built.outputs["role"]  # the account's logging role, read and checked


# ---- Firewall --------------------------------------------------------------------------


def test_firewall_alone_guards_the_stage_it_is_given() -> None:
    stage = f"arn:aws:apigateway:{REGION}::/restapis/fake/stages/v1"
    built = alone(
        lambda: Firewall(
            "firewall",
            FirewallArgs(name_prefix=PREFIX, stage_arn=stage, rate_limit=900, token_rate_limit=90),
        ),
        lambda c: {"acl": c.web_acl.arn},
    )
    assert built.types() == {
        "payments:platform:Firewall",
        "aws:wafv2/webAcl:WebAcl",
        "aws:wafv2/webAclAssociation:WebAclAssociation",
    }
    (association,) = built.mocks.of_type("aws:wafv2/webAclAssociation:WebAclAssociation")
    assert association["resourceArn"] == stage
    assert association["webAclArn"] == built.outputs["acl"]
    (acl,) = built.mocks.of_type("aws:wafv2/webAcl:WebAcl")
    limits = {
        rule["name"]: rule["statement"]["rateBasedStatement"]["limit"]
        for rule in acl["rules"]
        if "rateBasedStatement" in rule["statement"]
    }
    assert limits == {"per-ip": 900, "token-per-ip": 90}


# ---- Operations ------------------------------------------------------------------------


def test_operations_alone_watch_the_resources_they_are_given() -> None:
    app = app_model.load_chalice_app()
    built = alone(
        lambda: Operations(
            "operations",
            OperationsArgs(
                name_prefix=PREFIX,
                stage="alone",
                account_id=FAKE_ACCOUNT,
                chalice_app=app,
                function_arns={key: function_arn(key) for key in FUNCTION_KEYS},
                function_names={key: f"fake-{key}" for key in FUNCTION_KEYS},
                log_group_names={key: f"/fake/{key}" for key in FUNCTION_KEYS},
                rest_api_name="fake-api",
                api_stage_name="v1",
                table_names={logical: f"fake-{logical}" for logical in TABLE_NAMES},
                stream_arns={logical: stream_arn(logical) for logical in STREAM_TABLES},
                audit_log_table_arn=table_arn("AuditLog"),
                dead_letter_queue_arn=DLQ_ARN,
                dead_letter_queue_name="fake-dlq",
                key_arns={name: key_arn(name) for name in KEY_NAMES},
                alarms_key_arn=key_arn("alarms"),
                pending_age_alarm_seconds=600,
            ),
        ),
        lambda c: {"topic": c.alarm_topic.arn},
    )
    assert _components(built) == {"payments:platform:Operations"}
    assert (
        not {
            "aws:lambda/function:Function",
            "aws:dynamodb/table:Table",
            "aws:kms/key:Key",
            "aws:apigateway/restApi:RestApi",
        }
        & built.types()
    )

    targets = {t["arn"] for t in built.mocks.of_type("aws:cloudwatch/eventTarget:EventTarget")} - {
        built.outputs["topic"]
    }
    assert targets == {function_arn("reconciler"), function_arn("redriver")}
    configs = built.mocks.of_type("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
    assert {c["functionName"] for c in configs} == {"fake-reconciler", "fake-redriver"}
    (mapping,) = built.mocks.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
    assert (mapping["functionName"], mapping["eventSourceArn"]) == (
        function_arn("delivery"),
        stream_arn("Events"),
    )
    assert mapping["destinationConfig"]["onFailure"]["destinationArn"] == DLQ_ARN

    (topic,) = built.mocks.of_type("aws:sns/topic:Topic")
    assert topic["kmsMasterKeyId"] == key_arn("alarms")
    (topic_policy,) = built.mocks.of_type("aws:sns/topicPolicy:TopicPolicy")
    for statement in json.loads(topic_policy["policy"])["Statement"]:
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": FAKE_ACCOUNT}}

    alarms = {
        a["name"].removeprefix(PREFIX): a
        for a in built.mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    assert alarms["api-latency-p99"]["dimensions"] == {"ApiName": "fake-api", "Stage": "v1"}
    assert alarms["charge-errors"]["dimensions"] == {"FunctionName": "fake-charge"}
    assert alarms["delivery-dead-letters"]["dimensions"] == {"QueueName": "fake-dlq"}
    assert alarms["pending-too-old"]["threshold"] == 600
    charges = alarms["table-charges-throttles"]["metricQueries"]
    assert {q["metric"]["dimensions"]["TableName"] for q in charges if "metric" in q} == {
        "fake-Charges"
    }
    filters = built.mocks.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")
    assert {f["logGroupName"] for f in filters} == {"/fake/authorizer"}

    rules = {
        r["name"].removeprefix(PREFIX): json.loads(r["eventPattern"])["detail"]
        for r in built.mocks.of_type("aws:cloudwatch/eventRule:EventRule")
        if "eventPattern" in r
    }
    assert set(rules["key-policy-changes"]["resources"]["ARN"]) == {
        key_arn(name) for name in KEY_NAMES
    }
    assert set(rules["key-grants"]["resources"]["ARN"]) == {
        key_arn(name) for name in KEY_NAMES if name != TABLES_KEY
    }
    assert rules["audit-policy-changes"]["requestParameters"]["resourceArn"] == [
        table_arn("AuditLog")
    ]
