"""The payment platform as one Pulumi component: tables, keys, Lambdas, API Gateway.

Nothing here repeats what the application already declares:

* the DynamoDB tables come from ``chalicelib.tables.TABLES``;
* the REST API (routes, authorizer, its TTL) is Chalice's own swagger generated from the
  Chalice app object, with the Lambda invoke ARNs substituted;
* the handler strings and the reconcile schedule are read from the Chalice app;
* the gateway-response envelopes use the codes and types of ``chalicelib.errors``.

This directory must never get an ``__init__.py``: with the repository root on
``sys.path`` it would shadow the real ``pulumi`` package.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pulumi_aws as aws
from chalice.app import Chalice
from chalice.deploy.swagger import SwaggerGenerator

import pulumi

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHALICE_DIR = PROJECT_ROOT / "chalice_app"
DEFAULT_LAMBDA_PACKAGE = PROJECT_ROOT / "build" / "chalice" / "deployment.zip"

if str(CHALICE_DIR) not in sys.path:
    sys.path.insert(0, str(CHALICE_DIR))

tables = importlib.import_module("chalicelib.tables")
errors = importlib.import_module("chalicelib.errors")

RUNTIME = "python3.11"
API_HANDLER = "app.app"
AUTHORIZER_NAME = "api_key_authorizer"
RECONCILER_NAME = "reconcile_pending"

# ---- the Chalice app -------------------------------------------------------------------


def load_chalice_app(app_file: Path | str, module_name: str = "app") -> Chalice:
    """Import a Chalice ``app.py`` by path (its directory is put on ``sys.path``)."""
    app_file = Path(app_file).resolve()
    if str(app_file.parent) not in sys.path:
        sys.path.insert(0, str(app_file.parent))
    loaded = sys.modules.get(module_name)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == app_file:
        # Already imported (e.g. by the handler tests): executing app.py twice would
        # register its routes twice.
        module: ModuleType = loaded
    else:
        spec = importlib.util.spec_from_file_location(module_name, app_file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load a Chalice app from {app_file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # pydantic / dataclasses resolve through it
        spec.loader.exec_module(module)
    app = getattr(module, "app", None)
    if not isinstance(app, Chalice):
        raise TypeError(f"{app_file} defines no `app = Chalice(...)`")
    return app


def authorizer_handler(app: Chalice, name: str = AUTHORIZER_NAME) -> str:
    """The Lambda handler string of the app's built-in authorizer ``name``."""
    for config in app.builtin_auth_handlers:
        if config.name == name:
            return config.handler_string
    raise LookupError(f"the Chalice app has no @app.authorizer() named {name!r}")


def schedule_of(app: Chalice, name: str = RECONCILER_NAME) -> tuple[str, str]:
    """(handler string, schedule expression) of the app's ``@app.schedule`` ``name``."""
    for source in app.event_sources:
        if source.name == name and hasattr(source, "schedule_expression"):
            expression = source.schedule_expression
            if not isinstance(expression, str):
                expression = expression.to_string()
            return source.handler_string, expression
    raise LookupError(f"the Chalice app has no @app.schedule(...) function named {name!r}")


class _InvokeArnSwaggerGenerator(SwaggerGenerator):
    """Chalice's generator with our Lambda invoke ARNs as the integration URIs."""

    def __init__(self, api_invoke_arn: str, authorizer_invoke_arns: dict[str, str]) -> None:
        # The base class wants a region and a deployed-resources map; we use neither.
        self._api_invoke_arn = api_invoke_arn
        self._authorizer_invoke_arns = authorizer_invoke_arns

    def _uri(self, lambda_arn: str | None = None) -> str:
        return self._api_invoke_arn

    def _auth_uri(self, authorizer: Any) -> str:
        try:
            return self._authorizer_invoke_arns[authorizer.name]
        except KeyError:
            raise LookupError(
                f"no Lambda is deployed for the authorizer {authorizer.name!r}"
            ) from None


def build_openapi(
    app: Chalice,
    api_invoke_arn: str,
    authorizer_invoke_arns: dict[str, str],
    *,
    authorizer_ttl_seconds: int | None = None,
    gateway_responses: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The swagger 2.0 document of ``app``, as ``chalice package``/``deploy`` would make it.

    ``authorizer_ttl_seconds`` (when not None) overrides the app's ``ttl_seconds``.
    ``gateway_responses`` are embedded as ``x-amazon-apigateway-gateway-responses``.
    """
    doc = _InvokeArnSwaggerGenerator(api_invoke_arn, authorizer_invoke_arns).generate_swagger(app)
    if authorizer_ttl_seconds is not None:
        for definition in doc.get("securityDefinitions", {}).values():
            authorizer = definition.get("x-amazon-apigateway-authorizer")
            if authorizer is not None:
                authorizer["authorizerResultTtlInSeconds"] = authorizer_ttl_seconds
    if gateway_responses:
        doc["x-amazon-apigateway-gateway-responses"] = gateway_responses
    return doc


# ---- gateway responses -----------------------------------------------------------------


def _envelope(code: str, message: str | None = None) -> str:
    """The API's error envelope (``chalicelib.errors``) for a response API Gateway makes."""
    spec = errors.CATALOGUE[code]
    body = {
        "error": {"type": spec.type, "code": spec.code, "message": message or spec.message},
        "request_id": "$context.requestId",
    }
    return json.dumps(body)


def gateway_responses() -> dict[str, dict[str, Any]]:
    """Response type -> {statusCode, responseParameters, responseTemplates}."""
    headers = {"gatewayresponse.header.Content-Type": "'application/json'"}

    def response(status: int, template: str) -> dict[str, Any]:
        return {
            "statusCode": str(status),
            "responseParameters": dict(headers),
            "responseTemplates": {"application/json": template},
        }

    generic_4xx = json.dumps(
        {
            "error": {
                "type": errors.INVALID_REQUEST,
                "code": "invalid_request",
                "message": "__MESSAGE__",
            },
            "request_id": "$context.requestId",
        }
    ).replace('"__MESSAGE__"', "$context.error.messageString")
    return {
        "UNAUTHORIZED": response(401, _envelope("invalid_api_key")),
        "ACCESS_DENIED": response(403, _envelope("secret_key_required")),
        "MISSING_AUTHENTICATION_TOKEN": response(
            404, _envelope("resource_missing", message="Unrecognized request URL.")
        ),
        "REQUEST_TOO_LARGE": response(413, _envelope("request_too_large")),
        "THROTTLED": response(429, _envelope("rate_limited")),
        "UNSUPPORTED_MEDIA_TYPE": response(415, _envelope("unsupported_media_type")),
        # The DEFAULT_* types keep API Gateway's own status code (none is set).
        "DEFAULT_4XX": {
            "responseParameters": dict(headers),
            "responseTemplates": {"application/json": generic_4xx},
        },
        "DEFAULT_5XX": {
            "responseParameters": dict(headers),
            "responseTemplates": {"application/json": _envelope("internal_error")},
        },
    }


ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "path": "$context.path",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "merchantId": "$context.authorizer.merchant_id",
        "errorType": "$context.error.responseType",
        "authorizerRequestId": "$context.authorizer.requestId",
        "authorizerStatus": "$context.authorizer.status",
    },
    separators=(",", ":"),
)

# ---- IAM: least privilege per function --------------------------------------------------


@dataclass(frozen=True)
class TableGrant:
    """DynamoDB actions one function may perform on one table (and ``Query`` on indexes)."""

    table: Any  # chalicelib.tables.Table
    actions: tuple[str, ...]
    indexes: tuple[Any, ...] = ()  # chalicelib.tables.Index, queried


_GET, _PUT, _UPDATE, _DELETE = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
_QUERY, _CHECK = "dynamodb:Query", "dynamodb:ConditionCheckItem"

# ApiKeys is read by the authorizer only; the API function gets the merchant from the
# authorizer context. Writes to ApiKeys are an operator task (payments-admin).
TABLE_GRANTS: dict[str, tuple[TableGrant, ...]] = {
    "api": (
        TableGrant(tables.TOKENS, (_GET, _PUT, _UPDATE, _CHECK)),
        TableGrant(tables.CHARGES, (_GET, _PUT, _UPDATE, _CHECK, _QUERY), tables.CHARGES.indexes),
        TableGrant(tables.IDEMPOTENCY_KEYS, (_GET, _PUT, _UPDATE, _DELETE, _CHECK)),
        TableGrant(tables.AUDIT_LOG, (_PUT,)),
    ),
    "authorizer": (
        TableGrant(tables.API_KEYS, (_GET,)),
        TableGrant(tables.AUDIT_LOG, (_PUT,)),
    ),
    "reconciler": (
        TableGrant(tables.CHARGES, (_GET, _UPDATE, _CHECK, _QUERY), (tables.PENDING_INDEX,)),
        TableGrant(tables.AUDIT_LOG, (_PUT,)),
    ),
}

# The audit log is append-only for every function, whatever any Allow says.
AUDIT_LOG_DENIED_ACTIONS = (
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
)


def _trust_policy(service: str) -> str:
    """An assume-role policy letting ``service`` (e.g. ``lambda.amazonaws.com``) take the role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


# ---- the component ---------------------------------------------------------------------


@dataclass
class PaymentsPlatformArgs:
    """Inputs of one stage of the platform."""

    stage: str
    bank_url: pulumi.Input[str]
    chalice_app: Chalice
    lambda_package: str | Path = DEFAULT_LAMBDA_PACKAGE
    bank_read_timeout: str = "3"
    token_ttl_seconds: str = "900"
    log_retention_days: int = 30
    # None keeps the app's own @app.authorizer(ttl_seconds=...).
    authorizer_ttl_seconds: int | None = None
    table_deletion_protection: bool = True
    api_stage_name: str = "api"
    # From `make bench` (docs/benchmarks.md, "Lambda memory sizing"): at 1,024 MB a charge's
    # CPU stops dominating its time and a cold start is ~0.4 s instead of ~0.9 s at 512 MB.
    api_memory_mb: int = 1024
    # API Gateway needs an account-wide (per region) CloudWatch role before a stage can
    # write access logs. Turn on in exactly one stack per account and region.
    manage_apigateway_account: bool = False

    @property
    def name_prefix(self) -> str:
        return f"payments-{self.stage}-"


@dataclass(frozen=True)
class _FunctionSpec:
    key: str  # "api" | "authorizer" | "reconciler"
    handler: str
    timeout: int
    memory: int
    description: str


class PaymentsPlatform(pulumi.ComponentResource):
    """Every AWS resource of one stage of the payment API."""

    def __init__(
        self,
        name: str,
        args: PaymentsPlatformArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("payments:platform:PaymentsPlatform", name, None, opts)
        self.args = args
        prefix = args.name_prefix

        self.tables = self._create_tables(prefix)
        self.data_key, self.data_key_alias = self._create_data_key(prefix)
        self.hmac_key, self.hmac_key_alias = self._create_hmac_key(prefix)

        app = args.chalice_app
        reconcile_handler, self.schedule_expression = schedule_of(app)
        specs = [
            _FunctionSpec("api", API_HANDLER, 15, args.api_memory_mb, "Payment API"),
            _FunctionSpec("authorizer", authorizer_handler(app), 5, 256, "API key authorizer"),
            _FunctionSpec("reconciler", reconcile_handler, 60, 256, "Pending-charge sweep"),
        ]
        self.environment = self._environment(prefix)
        self.log_groups: dict[str, aws.cloudwatch.LogGroup] = {}
        self.roles: dict[str, aws.iam.Role] = {}
        self.role_policies: dict[str, aws.iam.RolePolicy] = {}
        self.functions: dict[str, aws.lambda_.Function] = {}
        for spec in specs:
            self._create_function(prefix, spec)

        self._create_api(prefix)
        self._create_schedule(prefix)

        self.table_names = {logical: t.name for logical, t in self.tables.items()}
        self.register_outputs(
            {
                "api_url": self.api_url,
                "rest_api_id": self.rest_api.id,
                "table_names": self.table_names,
                "data_key_arn": self.data_key.arn,
                "hmac_key_arn": self.hmac_key.arn,
            }
        )

    @property
    def _child(self) -> pulumi.ResourceOptions:
        """Fresh options for a child (one ResourceOptions object is never shared)."""
        return pulumi.ResourceOptions(parent=self)

    # ---- data ----------------------------------------------------------------------------

    def _create_tables(self, prefix: str) -> dict[str, aws.dynamodb.Table]:
        created = {}
        for table in tables.TABLES:
            gsis = [
                aws.dynamodb.TableGlobalSecondaryIndexArgs(
                    name=index.name,
                    projection_type="ALL",
                    key_schemas=[
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                            attribute_name=index.hash_key, key_type="HASH"
                        ),
                        *(
                            [
                                aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                                    attribute_name=index.range_key, key_type="RANGE"
                                )
                            ]
                            if index.range_key
                            else []
                        ),
                    ],
                )
                for index in table.indexes
            ]
            created[table.name] = aws.dynamodb.Table(
                f"table-{table.name}",
                name=tables.physical_name(prefix, table),
                billing_mode="PAY_PER_REQUEST",
                hash_key=table.hash_key,
                range_key=table.range_key,
                attributes=[
                    aws.dynamodb.TableAttributeArgs(name=attr, type="S")
                    for attr in table.key_attributes()
                ],
                global_secondary_indexes=gsis or None,
                ttl=(
                    aws.dynamodb.TableTtlArgs(attribute_name=table.ttl_attribute, enabled=True)
                    if table.ttl_attribute
                    else None
                ),
                point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
                server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
                deletion_protection_enabled=self.args.table_deletion_protection,
                opts=pulumi.ResourceOptions(
                    parent=self, protect=self.args.table_deletion_protection
                ),
            )
        return created

    def _create_data_key(self, prefix: str) -> tuple[aws.kms.Key, aws.kms.Alias]:
        key = aws.kms.Key(
            "data-key",
            description=f"{prefix}card-data: envelope encryption of card data",
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=self._child,
        )
        alias = aws.kms.Alias(
            "data-key-alias",
            name=f"alias/{prefix}card-data",
            target_key_id=key.key_id,
            opts=self._child,
        )
        return key, alias

    def _create_hmac_key(self, prefix: str) -> tuple[aws.kms.Key, aws.kms.Alias]:
        key = aws.kms.Key(
            "hmac-key",
            description=f"{prefix}card-fingerprint: HMAC of card numbers",
            key_usage="GENERATE_VERIFY_MAC",
            customer_master_key_spec="HMAC_256",
            deletion_window_in_days=30,
            opts=self._child,
        )
        alias = aws.kms.Alias(
            "hmac-key-alias",
            name=f"alias/{prefix}card-fingerprint",
            target_key_id=key.key_id,
            opts=self._child,
        )
        return key, alias

    # ---- functions -----------------------------------------------------------------------

    def _environment(self, prefix: str) -> dict[str, pulumi.Input[str]]:
        return {
            "PAYMENTS_STAGE": self.args.stage,
            "PAYMENTS_TABLE_PREFIX": prefix,
            "PAYMENTS_KMS_KEY_ID": self.data_key.arn,
            "PAYMENTS_HMAC_KEY_ID": self.hmac_key.arn,
            "PAYMENTS_BANK_URL": self.args.bank_url,
            "PAYMENTS_BANK_READ_TIMEOUT": str(self.args.bank_read_timeout),
            "PAYMENTS_TOKEN_TTL_SECONDS": str(self.args.token_ttl_seconds),
        }

    def _policy_statements(self, key: str, log_group: aws.cloudwatch.LogGroup) -> list[Any]:
        statements: list[Any] = [
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": log_group.arn.apply(lambda arn: f"{arn}:*"),
            }
        ]
        for grant in TABLE_GRANTS[key]:
            table_arn = self.tables[grant.table.name].arn
            statements.append(
                {
                    "Sid": f"Table{grant.table.name}",
                    "Effect": "Allow",
                    "Action": list(grant.actions),
                    "Resource": table_arn,
                }
            )
            if grant.indexes:
                statements.append(
                    {
                        "Sid": f"Table{grant.table.name}Indexes",
                        "Effect": "Allow",
                        "Action": [_QUERY],
                        "Resource": [
                            pulumi.Output.concat(table_arn, "/index/", index.name)
                            for index in grant.indexes
                        ],
                    }
                )
        if key == "api":
            statements += [
                {
                    "Sid": "CardDataKey",
                    "Effect": "Allow",
                    "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                    "Resource": self.data_key.arn,
                },
                {
                    "Sid": "CardFingerprintKey",
                    "Effect": "Allow",
                    "Action": ["kms:GenerateMac"],
                    "Resource": self.hmac_key.arn,
                },
            ]
        statements.append(
            {
                "Sid": "AuditLogAppendOnly",
                "Effect": "Deny",
                "Action": list(AUDIT_LOG_DENIED_ACTIONS),
                "Resource": self.tables[tables.AUDIT_LOG.name].arn,
            }
        )
        return statements

    def _create_function(self, prefix: str, spec: _FunctionSpec) -> None:
        function_name = f"{prefix}{spec.key}"
        log_group = aws.cloudwatch.LogGroup(
            f"{spec.key}-logs",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=self.args.log_retention_days,
            opts=self._child,
        )
        role = aws.iam.Role(
            f"{spec.key}-role",
            name=f"{function_name}-role",
            assume_role_policy=_trust_policy("lambda.amazonaws.com"),
            description=f"{spec.description} ({function_name})",
            opts=self._child,
        )
        policy = aws.iam.RolePolicy(
            f"{spec.key}-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {"Version": "2012-10-17", "Statement": self._policy_statements(spec.key, log_group)}
            ),
            opts=self._child,
        )
        function = aws.lambda_.Function(
            f"{spec.key}-function",
            name=function_name,
            description=spec.description,
            runtime=RUNTIME,
            handler=spec.handler,
            code=pulumi.FileArchive(str(self.args.lambda_package)),
            role=role.arn,
            memory_size=spec.memory,
            timeout=spec.timeout,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=self.environment),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, policy]),
        )
        self.log_groups[spec.key] = log_group
        self.roles[spec.key] = role
        self.role_policies[spec.key] = policy
        self.functions[spec.key] = function

    # ---- API Gateway ---------------------------------------------------------------------

    def _create_api(self, prefix: str) -> None:
        app = self.args.chalice_app
        api_fn, auth_fn = self.functions["api"], self.functions["authorizer"]
        self.gateway_responses_spec = gateway_responses()

        self.openapi = pulumi.Output.all(api_fn.invoke_arn, auth_fn.invoke_arn).apply(
            lambda arns: build_openapi(
                app,
                arns[0],
                {AUTHORIZER_NAME: arns[1]},
                authorizer_ttl_seconds=self.args.authorizer_ttl_seconds,
                # Also in the body: an overwrite PUT of the body resets every gateway
                # response it does not define, so the Response resources alone would be
                # lost on the next API change.
                gateway_responses=self.gateway_responses_spec,
            )
        )
        body = self.openapi.apply(lambda doc: json.dumps(doc, sort_keys=True))
        self.rest_api = aws.apigateway.RestApi(
            "rest-api",
            name=f"{prefix}api",
            description=f"Payment API ({self.args.stage})",
            body=body,
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(
                types="REGIONAL"
            ),
            opts=self._child,
        )

        self.gateway_responses: dict[str, aws.apigateway.Response] = {}
        for response_type, spec in self.gateway_responses_spec.items():
            self.gateway_responses[response_type] = aws.apigateway.Response(
                f"gateway-response-{response_type.lower().replace('_', '-')}",
                rest_api_id=self.rest_api.id,
                response_type=response_type,
                status_code=spec.get("statusCode"),
                response_parameters=spec["responseParameters"],
                response_templates=spec["responseTemplates"],
                opts=self._child,
            )

        execution_arn = self.rest_api.execution_arn
        self.api_permission = aws.lambda_.Permission(
            "api-invoke-permission",
            action="lambda:InvokeFunction",
            function=api_fn.name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(execution_arn, "/*"),
            opts=self._child,
        )
        self.authorizer_permission = aws.lambda_.Permission(
            "authorizer-invoke-permission",
            action="lambda:InvokeFunction",
            function=auth_fn.name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(execution_arn, "/authorizers/*"),
            opts=self._child,
        )

        responses_digest = hashlib.sha256(
            json.dumps(self.gateway_responses_spec, sort_keys=True).encode()
        ).hexdigest()
        self.deployment = aws.apigateway.Deployment(
            "deployment",
            rest_api=self.rest_api.id,
            description=f"Payment API ({self.args.stage})",
            triggers={
                "body": body.apply(lambda text: hashlib.sha256(text.encode()).hexdigest()),
                "gateway_responses": responses_digest,
            },
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(self.gateway_responses.values())
            ),
        )

        self.access_log_group = aws.cloudwatch.LogGroup(
            "api-access-logs",
            name=f"/aws/apigateway/{prefix}api/access",
            retention_in_days=self.args.log_retention_days,
            opts=self._child,
        )
        stage_depends: list[pulumi.Resource] = []
        if self.args.manage_apigateway_account:
            stage_depends.append(self._create_apigateway_account())
        self.stage = aws.apigateway.Stage(
            "stage",
            rest_api=self.rest_api.id,
            deployment=self.deployment.id,
            stage_name=self.args.api_stage_name,
            access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
                destination_arn=self.access_log_group.arn,
                format=ACCESS_LOG_FORMAT,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=stage_depends),
        )
        self.api_url = self.stage.invoke_url

    def _create_apigateway_account(self) -> aws.apigateway.Account:
        role = aws.iam.Role(
            "apigateway-cloudwatch-role",
            assume_role_policy=_trust_policy("apigateway.amazonaws.com"),
            opts=self._child,
        )
        attachment = aws.iam.RolePolicyAttachment(
            "apigateway-cloudwatch-policy",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
            opts=self._child,
        )
        return aws.apigateway.Account(
            "apigateway-account",
            cloudwatch_role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
        )

    # ---- schedule ------------------------------------------------------------------------

    def _create_schedule(self, prefix: str) -> None:
        reconciler = self.functions["reconciler"]
        self.schedule_rule = aws.cloudwatch.EventRule(
            "reconcile-schedule",
            name=f"{prefix}reconcile-pending",
            description="Settle pending charges and refunds with the bank",
            schedule_expression=self.schedule_expression,
            opts=self._child,
        )
        self.schedule_target = aws.cloudwatch.EventTarget(
            "reconcile-target",
            rule=self.schedule_rule.name,
            arn=reconciler.arn,
            opts=self._child,
        )
        self.schedule_permission = aws.lambda_.Permission(
            "reconcile-invoke-permission",
            action="lambda:InvokeFunction",
            function=reconciler.name,
            principal="events.amazonaws.com",
            source_arn=self.schedule_rule.arn,
            opts=self._child,
        )
