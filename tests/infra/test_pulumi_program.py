"""The Pulumi program, proven with ``pulumi.runtime.set_mocks`` (no CLI, no AWS).

The mocks record every resource the program registers, with its inputs fully resolved,
so the assertions read plain dicts: table definitions, policies, environment variables.
"""

from __future__ import annotations

import importlib.util
import json
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest

import pulumi

ROOT = Path(__file__).resolve().parents[2]
PROGRAM_DIR = ROOT / "pulumi"
STUB_APP = Path(__file__).resolve().with_name("stub_app.py")
REAL_APP = ROOT / "chalice_app" / "app.py"
REGION, ACCOUNT = "eu-west-1", "123456789012"
MISSING_PACKAGE = "/nonexistent/build/chalice/deployment.zip"
BANK_URL = "https://bank.example.test"


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


infra = _load("payments_infra", PROGRAM_DIR / "infra.py")
tables = infra.tables
errors = infra.errors


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # pulumi's secret-value signature key


def _unsecret(value: Any) -> Any:
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return _unsecret(value["value"])
        return {k: _unsecret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsecret(v) for v in value]
    return value


class RecordingMocks(pulumi.runtime.Mocks):
    """Gives every resource an id and the ARNs AWS would; remembers what was asked."""

    def __init__(self) -> None:
        self.resources: list[tuple[str, str, dict[str, Any]]] = []
        self.raw: dict[tuple[str, str], dict[str, Any]] = {}

    def was_secret(self, typ: str, name: str, key: str) -> bool:
        raw = self.raw[(typ, name)].get(key)
        return isinstance(raw, dict) and SECRET_SIG in raw

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = _unsecret(dict(args.inputs))
        self.resources.append((args.typ, args.name, inputs))
        self.raw[(args.typ, inputs.get("name", args.name))] = dict(args.inputs)
        name = inputs.get("name", args.name)
        state = dict(inputs)
        rid = f"{args.name}-id"
        arn = f"arn:aws:{args.typ.split(':')[1]}:{REGION}:{ACCOUNT}:{args.name}"
        if args.typ == "aws:dynamodb/table:Table":
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        elif args.typ == "aws:kms/key:Key":
            rid = f"key-{args.name}"
            arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{rid}"
            state["keyId"] = rid
        elif args.typ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
            state["invokeArn"] = (
                f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"
            )
        elif args.typ == "aws:apigateway/restApi:RestApi":
            rid = "abc123"
            state["executionArn"] = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{rid}"
            state["rootResourceId"] = "root"
        elif args.typ == "aws:apigateway/stage:Stage":
            state["invokeUrl"] = (
                f"https://abc123.execute-api.{REGION}.amazonaws.com/{inputs['stageName']}"
            )
        elif args.typ == "aws:cloudwatch/logGroup:LogGroup":
            arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"
        elif args.typ == "aws:iam/role:Role":
            arn = f"arn:aws:iam::{ACCOUNT}:role/{name}"
        elif args.typ == "aws:cloudwatch/eventRule:EventRule":
            arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"
        state.setdefault("arn", arn)
        state.setdefault("name", name)
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        return {}

    def of_type(self, typ: str) -> list[dict[str, Any]]:
        return [inputs for t, _, inputs in self.resources if t == typ]

    def named(self, typ: str, name: str) -> dict[str, Any]:
        (found,) = [inputs for t, n, inputs in self.resources if t == typ and n == name]
        return found


def _build(app: Any, **overrides: Any) -> tuple[RecordingMocks, dict[str, Any]]:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="payments", stack="test", preview=False)
    resolved: dict[str, Any] = {}

    @pulumi.runtime.test
    def build() -> pulumi.Output:
        args = {
            "stage": "dev",
            "bank_url": BANK_URL,
            "chalice_app": app,
            "lambda_package": MISSING_PACKAGE,
            **overrides,
        }
        platform = infra.PaymentsPlatform("payments", infra.PaymentsPlatformArgs(**args))
        return pulumi.Output.all(
            api_url=platform.api_url,
            openapi=platform.openapi,
            table_names=platform.table_names,
            data_key_arn=platform.data_key.arn,
            hmac_key_arn=platform.hmac_key.arn,
        ).apply(resolved.update)

    build()
    return mocks, resolved


@pytest.fixture(scope="module")
def stub_app() -> Any:
    return infra.load_chalice_app(STUB_APP, module_name="stub_app")


@pytest.fixture(scope="module")
def program(stub_app: Any) -> tuple[RecordingMocks, dict[str, Any]]:
    return _build(stub_app)


@pytest.fixture(scope="module")
def mocks(program: tuple[RecordingMocks, dict[str, Any]]) -> RecordingMocks:
    return program[0]


@pytest.fixture(scope="module")
def outputs(program: tuple[RecordingMocks, dict[str, Any]]) -> dict[str, Any]:
    return program[1]


def _policy(mocks: RecordingMocks, key: str) -> list[dict[str, Any]]:
    return json.loads(mocks.named("aws:iam/rolePolicy:RolePolicy", f"{key}-policy")["policy"])[
        "Statement"
    ]


def _by_sid(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements}


def _table_arn(logical: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/payments-dev-{logical}"


# ---- the module layout ---------------------------------------------------------------------


def test_pulumi_is_the_real_package_and_program_dir_is_not_a_package() -> None:
    assert not (PROGRAM_DIR / "__init__.py").exists()
    assert Path(pulumi.__file__).parent != PROGRAM_DIR
    assert hasattr(pulumi, "ComponentResource")


def test_independent_of_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    module = _load("payments_infra_cwd", PROGRAM_DIR / "infra.py")
    assert module.PROJECT_ROOT == ROOT
    assert module.DEFAULT_LAMBDA_PACKAGE == ROOT / "build" / "chalice" / "deployment.zip"


# ---- tables --------------------------------------------------------------------------------


def test_one_table_per_definition_with_stage_prefix(mocks: RecordingMocks, outputs) -> None:
    created = {t["name"]: t for t in mocks.of_type("aws:dynamodb/table:Table")}
    expected = {tables.physical_name("payments-dev-", t) for t in tables.TABLES}
    assert set(created) == expected
    assert outputs["table_names"] == {t.name: f"payments-dev-{t.name}" for t in tables.TABLES}

    for table in tables.TABLES:
        got = created[tables.physical_name("payments-dev-", table)]
        assert got["billingMode"] == "PAY_PER_REQUEST"
        assert got["hashKey"] == table.hash_key
        assert got.get("rangeKey") == table.range_key
        assert {(a["name"], a["type"]) for a in got["attributes"]} == {
            (name, "S") for name in table.key_attributes()
        }
        assert got["pointInTimeRecovery"] == {"enabled": True}
        assert got["serverSideEncryption"] == {"enabled": True}
        assert got["deletionProtectionEnabled"] is True
        if table.ttl_attribute:
            assert got["ttl"] == {"attributeName": table.ttl_attribute, "enabled": True}
        else:
            assert "ttl" not in got

        gsis = {g["name"]: g for g in got.get("globalSecondaryIndexes", [])}
        assert set(gsis) == {index.name for index in table.indexes}
        for index in table.indexes:
            keys = [(k["attributeName"], k["keyType"]) for k in gsis[index.name]["keySchemas"]]
            expected_keys = [(index.hash_key, "HASH")]
            if index.range_key:
                expected_keys.append((index.range_key, "RANGE"))
            assert keys == expected_keys
            assert gsis[index.name]["projectionType"] == "ALL"


def test_charges_carries_both_sparse_indexes(mocks: RecordingMocks) -> None:
    charges = mocks.named("aws:dynamodb/table:Table", "table-Charges")
    assert {g["name"] for g in charges["globalSecondaryIndexes"]} == {"by_merchant", "pending"}


def test_deletion_protection_is_configurable(stub_app: Any) -> None:
    mocks, _ = _build(stub_app, table_deletion_protection=False)
    assert all(
        t["deletionProtectionEnabled"] is False for t in mocks.of_type("aws:dynamodb/table:Table")
    )


# ---- KMS -----------------------------------------------------------------------------------


def test_kms_keys(mocks: RecordingMocks) -> None:
    data = mocks.named("aws:kms/key:Key", "data-key")
    assert data["enableKeyRotation"] is True
    assert data["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert data["keyUsage"] == "ENCRYPT_DECRYPT"

    hmac = mocks.named("aws:kms/key:Key", "hmac-key")
    assert hmac["customerMasterKeySpec"] == "HMAC_256"
    assert hmac["keyUsage"] == "GENERATE_VERIFY_MAC"
    assert not hmac.get("enableKeyRotation")  # KMS cannot rotate HMAC keys

    aliases = {a["name"]: a["targetKeyId"] for a in mocks.of_type("aws:kms/alias:Alias")}
    assert aliases == {
        "alias/payments-dev-card-data": "key-data-key",
        "alias/payments-dev-card-fingerprint": "key-hmac-key",
    }


# ---- Lambda --------------------------------------------------------------------------------


def test_three_functions_with_handlers_and_settings(mocks: RecordingMocks) -> None:
    functions = {f["name"]: f for f in mocks.of_type("aws:lambda/function:Function")}
    assert set(functions) == {
        "payments-dev-api",
        "payments-dev-authorizer",
        "payments-dev-reconciler",
    }
    expected = {
        "payments-dev-api": ("app.app", 15),
        "payments-dev-authorizer": ("app.api_key_authorizer", 5),
        "payments-dev-reconciler": ("app.reconcile_pending", 60),
    }
    for name, (handler, timeout) in expected.items():
        fn = functions[name]
        assert fn["handler"] == handler
        assert fn["timeout"] == timeout
        assert fn["runtime"] == "python3.11"
        assert fn["role"] == f"arn:aws:iam::{ACCOUNT}:role/{name}-role"
    assert functions["payments-dev-api"]["memorySize"] == 1024


def test_every_function_gets_the_environment(mocks: RecordingMocks, outputs) -> None:
    for fn in mocks.of_type("aws:lambda/function:Function"):
        assert fn["environment"]["variables"] == {
            "PAYMENTS_STAGE": "dev",
            "PAYMENTS_TABLE_PREFIX": "payments-dev-",
            "PAYMENTS_KMS_KEY_ID": outputs["data_key_arn"],
            "PAYMENTS_HMAC_KEY_ID": outputs["hmac_key_arn"],
            "PAYMENTS_BANK_URL": BANK_URL,
            "PAYMENTS_BANK_READ_TIMEOUT": "3",
            "PAYMENTS_TOKEN_TTL_SECONDS": "900",
        }
    assert outputs["data_key_arn"].startswith("arn:aws:kms:")


def test_code_is_a_file_archive_not_read_under_mocks(mocks: RecordingMocks) -> None:
    # The package path does not exist: mocks receive the archive by path and never open it.
    assert not Path(MISSING_PACKAGE).exists()
    for fn in mocks.of_type("aws:lambda/function:Function"):
        assert isinstance(fn["code"], pulumi.FileArchive)
        assert fn["code"].path == MISSING_PACKAGE


def test_log_groups_with_retention(mocks: RecordingMocks) -> None:
    groups = {
        g["name"]: g["retentionInDays"] for g in mocks.of_type("aws:cloudwatch/logGroup:LogGroup")
    }
    assert groups == {
        "/aws/lambda/payments-dev-api": 30,
        "/aws/lambda/payments-dev-authorizer": 30,
        "/aws/lambda/payments-dev-reconciler": 30,
        "/aws/apigateway/payments-dev-api/access": 30,
    }


# ---- IAM -----------------------------------------------------------------------------------


def test_api_policy(mocks: RecordingMocks) -> None:
    statements = _by_sid(_policy(mocks, "api"))
    charges = statements["TableCharges"]
    assert charges["Resource"] == _table_arn("Charges")
    assert "dynamodb:Query" in charges["Action"]
    assert set(statements["TableChargesIndexes"]["Resource"]) == {
        f"{_table_arn('Charges')}/index/by_merchant",
        f"{_table_arn('Charges')}/index/pending",
    }
    assert statements["TableAuditLog"]["Action"] == ["dynamodb:PutItem"]
    assert "TableApiKeys" not in statements
    assert statements["CardDataKey"]["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert statements["CardDataKey"]["Resource"].endswith("key/key-data-key")
    assert statements["CardFingerprintKey"]["Action"] == ["kms:GenerateMac"]
    assert statements["CardFingerprintKey"]["Resource"].endswith("key/key-hmac-key")
    assert statements["Logs"]["Resource"].endswith("log-group:/aws/lambda/payments-dev-api:*")


def test_authorizer_policy_is_apikeys_read_and_audit_append(mocks: RecordingMocks) -> None:
    statements = _by_sid(_policy(mocks, "authorizer"))
    assert set(statements) == {"Logs", "TableApiKeys", "TableAuditLog", "AuditLogAppendOnly"}
    assert statements["TableApiKeys"]["Action"] == ["dynamodb:GetItem"]
    assert statements["TableApiKeys"]["Resource"] == _table_arn("ApiKeys")
    assert statements["TableAuditLog"]["Action"] == ["dynamodb:PutItem"]


def test_reconciler_policy(mocks: RecordingMocks) -> None:
    statements = _by_sid(_policy(mocks, "reconciler"))
    assert set(statements) == {
        "Logs",
        "TableCharges",
        "TableChargesIndexes",
        "TableAuditLog",
        "AuditLogAppendOnly",
    }
    assert statements["TableChargesIndexes"]["Resource"] == [
        f"{_table_arn('Charges')}/index/pending"
    ]
    assert not any("kms:" in a for s in statements.values() for a in s["Action"])


@pytest.mark.parametrize("key", ["api", "authorizer", "reconciler"])
def test_audit_log_is_append_only_for_every_role(mocks: RecordingMocks, key: str) -> None:
    deny = _by_sid(_policy(mocks, key))["AuditLogAppendOnly"]
    assert deny["Effect"] == "Deny"
    assert {"dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= set(deny["Action"])
    assert deny["Resource"] == _table_arn("AuditLog")


# ---- API Gateway ---------------------------------------------------------------------------


def test_openapi_from_chalice_with_invoke_arns(outputs) -> None:
    doc = outputs["openapi"]
    assert doc["swagger"] == "2.0"
    assert set(doc["paths"]) == {
        "/health",
        "/token",
        "/charge",
        "/charge/{charge_id}",
        "/charges",
        "/refund",
    }
    api_uri = (
        f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:payments-dev-api/invocations"
    )
    for path, methods in doc["paths"].items():
        for method in methods.values():
            integration = method["x-amazon-apigateway-integration"]
            assert integration["type"] == "aws_proxy"
            assert integration["uri"] == api_uri
            if path == "/health":
                assert "security" not in method
            else:
                assert method["security"] == [{"api_key_authorizer": []}]
    authorizer = doc["securityDefinitions"]["api_key_authorizer"]
    assert authorizer["name"] == "Authorization"
    custom = authorizer["x-amazon-apigateway-authorizer"]
    assert custom["type"] == "token"
    assert custom["authorizerResultTtlInSeconds"] == 60
    assert custom["authorizerUri"].endswith("function:payments-dev-authorizer/invocations")
    assert doc["x-amazon-apigateway-gateway-responses"] == infra.gateway_responses()


def test_rest_api_body_is_the_document(mocks: RecordingMocks, outputs) -> None:
    rest_api = mocks.named("aws:apigateway/restApi:RestApi", "rest-api")
    assert json.loads(rest_api["body"]) == outputs["openapi"]
    assert rest_api["name"] == "payments-dev-api"


def test_authorizer_ttl_override(stub_app: Any) -> None:
    _, outputs = _build(stub_app, authorizer_ttl_seconds=0)
    custom = outputs["openapi"]["securityDefinitions"]["api_key_authorizer"]
    assert custom["x-amazon-apigateway-authorizer"]["authorizerResultTtlInSeconds"] == 0


def _template(mocks: RecordingMocks, response_type: str) -> dict[str, Any]:
    (response,) = [
        r
        for r in mocks.of_type("aws:apigateway/response:Response")
        if r["responseType"] == response_type
    ]
    return response


def test_gateway_responses_carry_the_envelope(mocks: RecordingMocks) -> None:
    unauthorized = _template(mocks, "UNAUTHORIZED")
    assert unauthorized["statusCode"] == "401"
    assert unauthorized["restApiId"] == "abc123"
    body = json.loads(unauthorized["responseTemplates"]["application/json"])
    assert body == {
        "error": {
            "type": "authentication_error",
            "code": "invalid_api_key",
            "message": errors.CATALOGUE["invalid_api_key"].message,
        },
        "request_id": "$context.requestId",
    }

    denied = _template(mocks, "ACCESS_DENIED")
    assert denied["statusCode"] == "403"
    body = json.loads(denied["responseTemplates"]["application/json"])
    assert body["error"]["type"] == "permission_error"
    assert body["error"]["code"] == "secret_key_required"
    assert body["request_id"] == "$context.requestId"

    missing = _template(mocks, "MISSING_AUTHENTICATION_TOKEN")
    assert missing["statusCode"] == "404"
    body = json.loads(missing["responseTemplates"]["application/json"])
    assert body["error"] == {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "message": "Unrecognized request URL.",
    }

    default_5xx = _template(mocks, "DEFAULT_5XX")
    assert "statusCode" not in default_5xx
    assert json.loads(default_5xx["responseTemplates"]["application/json"])["error"]["code"] == (
        "internal_error"
    )
    # DEFAULT_4XX splices API Gateway's own (already quoted) message into the envelope.
    default_4xx = _template(mocks, "DEFAULT_4XX")["responseTemplates"]["application/json"]
    assert '"message": $context.error.messageString' in default_4xx
    for response in mocks.of_type("aws:apigateway/response:Response"):
        assert response["responseParameters"] == {
            "gatewayresponse.header.Content-Type": "'application/json'"
        }


def test_lambda_permissions(mocks: RecordingMocks) -> None:
    execution_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:abc123"
    permissions = {p["function"]: p for p in mocks.of_type("aws:lambda/permission:Permission")}
    assert permissions["payments-dev-api"]["sourceArn"] == f"{execution_arn}/*"
    assert permissions["payments-dev-api"]["principal"] == "apigateway.amazonaws.com"
    assert permissions["payments-dev-authorizer"]["sourceArn"] == (f"{execution_arn}/authorizers/*")
    reconciler = permissions["payments-dev-reconciler"]
    assert reconciler["principal"] == "events.amazonaws.com"
    assert reconciler["sourceArn"].endswith("rule/payments-dev-reconcile-pending")


def test_deployment_and_stage_with_access_logs(mocks: RecordingMocks, outputs) -> None:
    deployment = mocks.named("aws:apigateway/deployment:Deployment", "deployment")
    assert deployment["restApi"] == "abc123"
    assert set(deployment["triggers"]) == {"body", "gateway_responses"}

    stage = mocks.named("aws:apigateway/stage:Stage", "stage")
    assert stage["stageName"] == "api"
    assert stage["deployment"] == "deployment-id"
    settings = stage["accessLogSettings"]
    assert settings["destinationArn"].endswith("log-group:/aws/apigateway/payments-dev-api/access")
    fields = json.loads(settings["format"])
    assert {"requestId", "ip", "userAgent", "status", "path"} <= set(fields)
    assert fields["ip"] == "$context.identity.sourceIp"
    assert outputs["api_url"] == f"https://abc123.execute-api.{REGION}.amazonaws.com/api"
    assert not mocks.of_type("aws:apigateway/account:Account")


def test_apigateway_account_role_is_opt_in(stub_app: Any) -> None:
    mocks, _ = _build(stub_app, manage_apigateway_account=True)
    (account,) = mocks.of_type("aws:apigateway/account:Account")
    assert account["cloudwatchRoleArn"].endswith("role/apigateway-cloudwatch-role")


# ---- schedule ------------------------------------------------------------------------------


def test_schedule_rule_targets_reconciler(mocks: RecordingMocks) -> None:
    (rule,) = mocks.of_type("aws:cloudwatch/eventRule:EventRule")
    assert rule["scheduleExpression"] == "rate(5 minutes)"
    (target,) = mocks.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert target["rule"] == rule["name"]
    assert target["arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:payments-dev-reconciler"


# ---- the real app and the entry point ----------------------------------------------------


def _real_app() -> Any:
    if not REAL_APP.exists():
        pytest.skip("chalice_app/app.py does not exist yet")
    try:
        return infra.load_chalice_app(REAL_APP, module_name="app")
    except Exception as exc:  # pragma: no cover - depends on the app's state
        pytest.skip(f"chalice_app/app.py does not import cleanly: {exc!r}")


def test_real_app_declares_what_the_program_expects() -> None:
    app = _real_app()
    assert infra.authorizer_handler(app) == "app.api_key_authorizer"
    assert infra.schedule_of(app) == ("app.reconcile_pending", "rate(5 minutes)")
    doc = infra.build_openapi(app, "API_URI", {"api_key_authorizer": "AUTH_URI"})
    stub_doc = infra.build_openapi(
        infra.load_chalice_app(STUB_APP, module_name="stub_app"),
        "API_URI",
        {"api_key_authorizer": "AUTH_URI"},
    )
    assert {p: set(m) for p, m in doc["paths"].items()} == {
        p: set(m) for p, m in stub_doc["paths"].items()
    }
    assert doc["securityDefinitions"] == stub_doc["securityDefinitions"]


def test_main_program_runs_with_config(tmp_path: Path) -> None:
    _real_app()
    package = tmp_path / "deployment.zip"
    package.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="payments", stack="dev", preview=False)
    config = {
        "payments:bankUrl": BANK_URL,
        "payments:lambdaPackage": str(package),
        "payments:logRetentionDays": "14",
    }
    saved_path = list(sys.path)
    pulumi.runtime.set_all_config(config)

    @pulumi.runtime.test
    def run() -> None:
        runpy.run_path(str(PROGRAM_DIR / "__main__.py"), run_name="__main__")

    try:
        run()
    finally:
        pulumi.runtime.set_all_config({})
        sys.path[:] = saved_path
    functions = mocks.of_type("aws:lambda/function:Function")
    assert {f["name"] for f in functions} == {
        "payments-dev-api",
        "payments-dev-authorizer",
        "payments-dev-reconciler",
    }
    assert all(f["environment"]["variables"]["PAYMENTS_BANK_URL"] == BANK_URL for f in functions)
    # bankUrl is read with require_secret: the environment reaches the engine as a secret.
    assert all(
        mocks.was_secret("aws:lambda/function:Function", f["name"], "environment")
        for f in functions
    )
    assert {g["retentionInDays"] for g in mocks.of_type("aws:cloudwatch/logGroup:LogGroup")} == {14}
