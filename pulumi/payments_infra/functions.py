"""One Lambda per function of ``app_model.FUNCTIONS``, each with its own role and policy.

All run the one ``chalice package`` artifact. Roles come first (``FunctionRoles``), so the
key policies can name them; the policies and functions follow (``Functions``), generated
from ``grants.GRANTS``. Each function's environment holds only what it uses.

Both components take plain values (names, ARNs, maps of ARNs), so each can be built alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi_aws as aws
from chalice.app import Chalice

import pulumi
from chalicelib import tables

from . import app_model, grants
from .keys import CARD_CONTEXT_CONDITION, MAC_ALGORITHM_CONDITION

TRACING_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")


def trust_policy(service: str) -> str:
    """An assume-role policy letting ``service`` (e.g. ``lambda.amazonaws.com``) take the role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def function_name(name_prefix: str, key: str) -> str:
    return f"{name_prefix}{key}"


@dataclass(frozen=True)
class FunctionRolesArgs:
    name_prefix: str  # payments-<stage>-


class FunctionRoles(pulumi.ComponentResource):
    """One IAM role per function (no permissions yet: ``Functions`` attaches them)."""

    roles: dict[str, aws.iam.Role]  # function key -> its role
    arns: dict[str, pulumi.Output[str]]
    names: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: FunctionRolesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("payments:platform:FunctionRoles", name, None, opts)
        self.roles = {}
        for spec in app_model.FUNCTIONS:
            fn_name = function_name(args.name_prefix, spec.key)
            self.roles[spec.key] = aws.iam.Role(
                f"{name}-{spec.key}-role",
                name=f"{fn_name}-role",
                assume_role_policy=trust_policy("lambda.amazonaws.com"),
                description=f"{spec.description} ({fn_name})",
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.arns = {k: r.arn for k, r in self.roles.items()}
        self.names = {k: r.name for k, r in self.roles.items()}
        self.register_outputs({"role_arns": self.arns, "role_names": self.names})


def policy_statements(
    key: str,
    log_group_arn: str,
    table_arns: dict[str, str],
    card_data_key_arn: str,
    fingerprint_key_arn: str,
    bank_url_parameter_arn: str,
    stream_arns: dict[str, str] | None = None,
    dead_letter_queue_arn: str | None = None,
) -> list[dict[str, Any]]:
    """The IAM statements of function ``key``, from its row of the grant table."""
    grant = grants.GRANTS[key]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:*",
        },
        {
            # Active tracing: Lambda sends the function's segments with its role. Neither
            # action names a resource (IAM accepts only "*" for them).
            "Sid": "Tracing",
            "Effect": "Allow",
            "Action": list(TRACING_ACTIONS),
            "Resource": "*",
        },
    ]
    for access in grant.tables:
        table_arn = table_arns[access.table.name]
        statements.append(
            {
                "Sid": f"Table{access.table.name}",
                "Effect": "Allow",
                "Action": list(access.actions),
                "Resource": table_arn,
            }
        )
        if access.indexes:
            statements.append(
                {
                    "Sid": f"Table{access.table.name}Indexes",
                    "Effect": "Allow",
                    "Action": [grants.QUERY],
                    "Resource": [f"{table_arn}/index/{index.name}" for index in access.indexes],
                }
            )
    if grant.card_data_key:
        statements.append(
            {
                "Sid": "CardDataKey",
                "Effect": "Allow",
                "Action": list(grant.card_data_key),
                "Resource": card_data_key_arn,
                "Condition": CARD_CONTEXT_CONDITION,
            }
        )
    if grant.fingerprint_key:
        statements.append(
            {
                "Sid": "CardFingerprintKey",
                "Effect": "Allow",
                "Action": list(grant.fingerprint_key),
                "Resource": fingerprint_key_arn,
                "Condition": MAC_ALGORITHM_CONDITION,
            }
        )
    if grant.bank:
        statements.append(
            {
                "Sid": "BankUrlParameter",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter"],
                "Resource": bank_url_parameter_arn,
            }
        )
    for table in grant.streams:
        statements.append(
            {
                "Sid": f"Stream{table.name}",
                "Effect": "Allow",
                "Action": list(grants.STREAM_READ),
                "Resource": (stream_arns or {})[table.name],
            }
        )
    if grant.dead_letter_queue:
        statements.append(
            {
                "Sid": "DeadLetterQueue",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": dead_letter_queue_arn,
            }
        )
    statements.append(
        {
            "Sid": "AuditLogAppendOnly",
            "Effect": "Deny",
            "Action": list(grants.AUDIT_LOG_DENIED_ACTIONS),
            "Resource": table_arns[tables.AUDIT_LOG.name],
        }
    )
    return statements


@dataclass(frozen=True)
class FunctionsArgs:
    name_prefix: str
    stage: str
    chalice_app: Chalice  # the handler of each function
    lambda_package: str | Path
    # Function key -> its role (``FunctionRoles``): the ARN the function runs with, the name
    # its policy is attached to.
    role_arns: Mapping[str, pulumi.Input[str]]
    role_names: Mapping[str, pulumi.Input[str]]
    card_data_key_arn: pulumi.Input[str]
    fingerprint_key_arn: pulumi.Input[str]
    bank_url_parameter_arn: pulumi.Input[str]
    bank_url_parameter_name: pulumi.Input[str]
    table_arns: Mapping[str, pulumi.Input[str]]  # logical table name -> ARN
    stream_arns: Mapping[str, pulumi.Input[str]]  # logical table name -> its stream's ARN
    dead_letter_queue_arn: pulumi.Input[str]
    log_retention_days: int = 365
    bank_read_timeout: str = "3"
    token_ttl_seconds: str = "900"
    # Function key -> reserved concurrency. None by default: Lambda refuses any reservation
    # that leaves less than 10 unreserved, and a fresh account's quota is often 10.
    reserved_concurrency: Mapping[str, int] = field(default_factory=dict)


def settle_window_seconds() -> int:
    """How long a request may still reach the bank: the longest bank-calling API timeout."""
    return max(
        spec.timeout_s
        for spec in app_model.FUNCTIONS
        if spec.serves_api and grants.GRANTS[spec.key].bank
    )


class Functions(pulumi.ComponentResource):
    """Log group, role policy and Lambda function of every function."""

    # Each keyed by function key.
    functions: dict[str, aws.lambda_.Function]
    log_groups: dict[str, aws.cloudwatch.LogGroup]
    role_policies: dict[str, aws.iam.RolePolicy]
    policies: dict[str, pulumi.Output[dict[str, Any]]]  # the role policies' documents
    arns: dict[str, pulumi.Output[str]]
    names: dict[str, pulumi.Output[str]]
    invoke_arns: dict[str, pulumi.Output[str]]  # what API Gateway integrations call
    log_group_names: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: FunctionsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("payments:platform:Functions", name, None, opts)
        self.args = args
        self._name = name
        self.log_groups, self.role_policies, self.functions, self.policies = {}, {}, {}, {}
        code = pulumi.FileArchive(str(args.lambda_package))
        for spec in app_model.FUNCTIONS:
            self._create(spec, code)
        self.arns = {k: f.arn for k, f in self.functions.items()}
        self.names = {k: f.name for k, f in self.functions.items()}
        self.invoke_arns = {k: f.invoke_arn for k, f in self.functions.items()}
        self.log_group_names = {k: g.name for k, g in self.log_groups.items()}
        self.register_outputs(
            {
                "function_arns": self.arns,
                "function_names": self.names,
                "invoke_arns": self.invoke_arns,
                "log_group_names": self.log_group_names,
            }
        )

    def environment(self, key: str) -> dict[str, pulumi.Input[str]]:
        """Only what function ``key`` reads; nothing sensitive (the bank URL is in SSM)."""
        grant, args = grants.GRANTS[key], self.args
        env: dict[str, pulumi.Input[str]] = {
            "PAYMENTS_STAGE": self.args.stage,
            "PAYMENTS_TABLE_PREFIX": self.args.name_prefix,
            "PAYMENTS_TOKEN_TTL_SECONDS": str(self.args.token_ttl_seconds),
        }
        if grant.card_data_key:
            env["PAYMENTS_KMS_KEY_ID"] = args.card_data_key_arn
        if grant.fingerprint_key:
            env["PAYMENTS_HMAC_KEY_ID"] = args.fingerprint_key_arn
        if grant.bank:
            env["PAYMENTS_BANK_URL_PARAMETER"] = args.bank_url_parameter_name
            env["PAYMENTS_BANK_READ_TIMEOUT"] = str(self.args.bank_read_timeout)
            # Leases, the bank-call deadline and the settle window all derive from it.
            env["PAYMENTS_FUNCTION_TIMEOUT_SECONDS"] = str(settle_window_seconds())
        return env

    def _create(self, spec: app_model.FunctionSpec, code: pulumi.Archive) -> None:
        args = self.args
        fn_name = function_name(args.name_prefix, spec.key)
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{self._name}-{spec.key}-logs",
            name=f"/aws/lambda/{fn_name}",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        document = pulumi.Output.all(
            log_group=log_group.arn,
            tables=pulumi.Output.all(**args.table_arns),
            card=args.card_data_key_arn,
            fingerprint=args.fingerprint_key_arn,
            parameter=args.bank_url_parameter_arn,
            streams=pulumi.Output.all(**args.stream_arns),
            dlq=args.dead_letter_queue_arn,
        ).apply(
            lambda r: {
                "Version": "2012-10-17",
                "Statement": policy_statements(
                    spec.key,
                    r["log_group"],
                    r["tables"],
                    r["card"],
                    r["fingerprint"],
                    r["parameter"],
                    r["streams"],
                    r["dlq"],
                ),
            }
        )
        policy = aws.iam.RolePolicy(
            f"{self._name}-{spec.key}-policy",
            name=f"{fn_name}-policy",
            role=args.role_names[spec.key],
            policy=document.apply(lambda doc: json.dumps(doc)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.functions[spec.key] = aws.lambda_.Function(
            f"{self._name}-{spec.key}-function",
            name=fn_name,
            description=spec.description,
            runtime=app_model.RUNTIME,
            architectures=[app_model.ARCHITECTURE],
            handler=app_model.handler_of(args.chalice_app, spec),
            code=code,
            role=args.role_arns[spec.key],
            memory_size=spec.memory_mb,
            timeout=spec.timeout_s,
            reserved_concurrent_executions=args.reserved_concurrency.get(spec.key),
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=self.environment(spec.key)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, policy]),
        )
        self.log_groups[spec.key] = log_group
        self.role_policies[spec.key] = policy
        self.policies[spec.key] = document
