"""The REST API: Chalice's Swagger body, stage with access logs and throttling, usage plan.

* Each route's integration points at its own function (``app_model.build_openapi``), and
  each function may be invoked by API Gateway only for its own routes.
* Gateway responses are defined once, in the body.
* Throttling: the stage has an overall limit (burst and rate, tighter on ``POST /token``);
  the usage plan limits each merchant separately (the authorizer returns the merchant's
  usage-plan key, API key source ``AUTHORIZER``). Both answer 429 ``rate_limited``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi_aws as aws
from chalice.app import Chalice

import pulumi

from . import app_model
from .functions import trust_policy

TOKEN_ROUTE: app_model.Route = ("POST", "/token")
# The import id of the account-wide API Gateway setting (any id reads the one setting).
ACCOUNT_SETTING_ID = "api-gateway-account"
NO_ACCOUNT_ROLE = (
    "API Gateway has no CloudWatch role in this account and region, so access logs would be "
    "dropped: set one once per account (docs/deploy.md, 'First deploy'), or set "
    "manageApiGatewayAccount to true in exactly one stack of the account"
)


@dataclass(frozen=True)
class Throttle:
    """A token bucket: ``rate`` requests per second, bursts of up to ``burst``."""

    rate: float
    burst: int


@dataclass(frozen=True)
class Limits:
    """A default bucket and a tighter one for ``POST /token`` (card testers' favourite)."""

    default: Throttle
    token: Throttle


@dataclass(frozen=True)
class ApiArgs:
    name_prefix: str
    stage: str
    chalice_app: Chalice  # its routes and authorizer make the API body
    # Function key -> what the integrations call, and the name a permission names.
    invoke_arns: Mapping[str, pulumi.Input[str]]
    function_names: Mapping[str, pulumi.Input[str]]
    stage_limits: Limits  # the whole stage, every merchant together
    merchant_limits: Limits  # each merchant (usage plan, per API key)
    api_stage_name: str = "api"
    log_retention_days: int = 365
    authorizer_ttl_seconds: int | None = None
    # API Gateway writes access logs only once the account (per region) has a CloudWatch
    # role. There is one such setting per account and region, so by default no stack owns
    # it: the program checks that it is set (docs/deploy.md, "First deploy"). True makes
    # this stack set it, and leaves it in place when the stack is destroyed.
    manage_apigateway_account: bool = False
    # TLS of the execute-api endpoint (PCI DSS: TLS 1.2 at least). With a custom domain
    # (both set), the domain serves TLS 1.2 and the execute-api endpoint is disabled.
    tls_security_policy: str = "TLS_1_2"
    domain_name: str | None = None
    certificate_arn: str | None = None
    gateway_responses: dict[str, dict[str, Any]] = field(
        default_factory=app_model.gateway_responses
    )


def method_path(route: app_model.Route) -> str:
    """A route as a stage method-settings path: ``token/POST``."""
    method, path = route
    return f"{path.lstrip('/')}/{method}"


def source_arn_path(route: app_model.Route) -> str:
    """A route as the tail of an execute-api ARN: ``POST/charge/*`` (params become ``*``)."""
    method, path = route
    return f"{method}{re.sub(r'{[^}]+}', '*', path)}"


class Api(pulumi.ComponentResource):
    """The REST API of one stage."""

    openapi: pulumi.Output[dict[str, Any]]  # the Swagger body, integrations resolved
    rest_api: aws.apigateway.RestApi
    deployment: aws.apigateway.Deployment
    access_log_group: aws.cloudwatch.LogGroup
    # The account-wide API Gateway setting: created, or read (``Account.get``) and checked.
    account: aws.apigateway.Account
    account_role_arn: pulumi.Output[str]
    stage: aws.apigateway.Stage
    permissions: dict[str, aws.lambda_.Permission]  # "<function>:<route>" or authorizer key
    method_settings: dict[str, aws.apigateway.MethodSettings]
    usage_plan: aws.apigateway.UsagePlan
    domain: aws.apigateway.DomainName | None = None  # with a custom domain only
    api_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("payments:platform:Api", name, None, opts)
        self.args = args
        self._name = name
        prefix = args.name_prefix

        invoke_arns = pulumi.Output.all(**args.invoke_arns)
        self.openapi = invoke_arns.apply(
            lambda arns: app_model.build_openapi(
                args.chalice_app,
                arns,
                authorizer_ttl_seconds=args.authorizer_ttl_seconds,
                gateway_responses=args.gateway_responses,
            )
        )
        body = self.openapi.apply(lambda doc: json.dumps(doc, sort_keys=True))
        self.rest_api = aws.apigateway.RestApi(
            f"{name}-rest-api",
            name=f"{prefix}api",
            description=f"Payment API ({args.stage})",
            body=body,
            api_key_source="AUTHORIZER",
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(
                types="REGIONAL"
            ),
            security_policy=args.tls_security_policy,
            # The enhanced policies (SecurityPolicy_*) require an access mode.
            endpoint_access_mode=(
                "STRICT" if args.tls_security_policy.startswith("SecurityPolicy_") else None
            ),
            disable_execute_api_endpoint=bool(args.domain_name),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._permissions()
        self.deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.rest_api.id,
            description=f"Payment API ({args.stage})",
            triggers={"body": body.apply(lambda text: hashlib.sha256(text.encode()).hexdigest())},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.access_log_group = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{prefix}api/access",
            retention_in_days=args.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.account = (
            self._apigateway_account()
            if args.manage_apigateway_account
            else self._apigateway_account_precheck()
        )
        self.stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=self.rest_api.id,
            deployment=self.deployment.id,
            stage_name=args.api_stage_name,
            access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
                destination_arn=self.access_log_group.arn,
                format=app_model.ACCESS_LOG_FORMAT,
            ),
            xray_tracing_enabled=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.account]),
        )
        self._throttling()
        self.api_url = self._custom_domain() if args.domain_name else self.stage.invoke_url
        self.register_outputs(
            {
                "api_url": self.api_url,
                "rest_api_id": self.rest_api.id,
                "rest_api_name": self.rest_api.name,
                "stage_arn": self.stage.arn,
                "stage_name": self.stage.stage_name,
                "usage_plan_id": self.usage_plan.id,
                # Awaited here, so a failed precheck fails the deployment.
                "account_role_arn": self.account_role_arn,
            }
        )

    def _permissions(self) -> None:
        """API Gateway may invoke each function for its own routes only."""
        execution_arn = self.rest_api.execution_arn
        routes = app_model.route_table(self.args.chalice_app)
        self.permissions = {}
        for route, key in sorted(routes.items()):
            label = source_arn_path(route).replace("/", "-").replace("*", "id").lower()
            self.permissions[f"{key}:{label}"] = aws.lambda_.Permission(
                f"{self._name}-invoke-{key}-{label}",
                action="lambda:InvokeFunction",
                function=self.args.function_names[key],
                principal="apigateway.amazonaws.com",
                source_arn=pulumi.Output.concat(execution_arn, "/*/", source_arn_path(route)),
                opts=pulumi.ResourceOptions(parent=self),
            )
        for spec in app_model.FUNCTIONS:
            if spec.authorizer:
                self.permissions[spec.key] = aws.lambda_.Permission(
                    f"{self._name}-invoke-{spec.key}",
                    action="lambda:InvokeFunction",
                    function=self.args.function_names[spec.key],
                    principal="apigateway.amazonaws.com",
                    source_arn=pulumi.Output.concat(execution_arn, "/authorizers/*"),
                    opts=pulumi.ResourceOptions(parent=self),
                )

    def _throttling(self) -> None:
        stage_limits, merchant = self.args.stage_limits, self.args.merchant_limits
        self.method_settings = {}
        for label, path, throttle in (
            ("all", "*/*", stage_limits.default),
            ("token", method_path(TOKEN_ROUTE), stage_limits.token),
        ):
            self.method_settings[label] = aws.apigateway.MethodSettings(
                f"{self._name}-throttle-{label}",
                rest_api=self.rest_api.id,
                stage_name=self.stage.stage_name,
                method_path=path,
                settings=aws.apigateway.MethodSettingsSettingsArgs(
                    throttling_rate_limit=throttle.rate,
                    throttling_burst_limit=throttle.burst,
                    metrics_enabled=True,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        # One plan for every merchant: API Gateway keeps a bucket per API key, that is per
        # merchant (payments-admin registers each merchant's key in this plan).
        self.usage_plan = aws.apigateway.UsagePlan(
            f"{self._name}-merchant-usage-plan",
            name=f"{self.args.name_prefix}merchants",
            description="Per-merchant rate limits (one API key per merchant)",
            throttle_settings=aws.apigateway.UsagePlanThrottleSettingsArgs(
                rate_limit=merchant.default.rate, burst_limit=merchant.default.burst
            ),
            api_stages=[
                aws.apigateway.UsagePlanApiStageArgs(
                    api_id=self.rest_api.id,
                    stage=self.stage.stage_name,
                    throttles=[
                        aws.apigateway.UsagePlanApiStageThrottleArgs(
                            path="/" + method_path(TOKEN_ROUTE),
                            rate_limit=merchant.token.rate,
                            burst_limit=merchant.token.burst,
                        )
                    ],
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _custom_domain(self) -> pulumi.Output[str]:
        """The API on its own domain, TLS 1.2 at least; the stage at the domain's root."""
        args = self.args
        domain = aws.apigateway.DomainName(
            f"{self._name}-domain",
            domain_name=args.domain_name,
            regional_certificate_arn=args.certificate_arn,
            endpoint_configuration=aws.apigateway.DomainNameEndpointConfigurationArgs(
                types="REGIONAL"
            ),
            security_policy="TLS_1_2",
            opts=pulumi.ResourceOptions(parent=self),
        )
        mapping = aws.apigateway.BasePathMapping(
            f"{self._name}-base-path",
            rest_api=self.rest_api.id,
            stage_name=self.stage.stage_name,
            domain_name=domain.domain_name,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.domain = domain
        return pulumi.Output.concat("https://", mapping.domain_name)

    def _apigateway_account_precheck(self) -> aws.apigateway.Account:
        """Reads the account's API Gateway setting: a deployment fails unless a CloudWatch
        role is set (without it the stage's access logs are silently dropped)."""
        account = aws.apigateway.Account.get(
            f"{self._name}-account-precheck",
            ACCOUNT_SETTING_ID,
            opts=pulumi.ResourceOptions(parent=self),
        )

        def check(role_arn: str | None) -> str:
            if not role_arn:
                raise ValueError(NO_ACCOUNT_ROLE)
            return role_arn

        self.account_role_arn = account.cloudwatch_role_arn.apply(check)
        return account

    def _apigateway_account(self) -> aws.apigateway.Account:
        # Account-wide: kept when this stack is destroyed, since other stacks' logs use it.
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        role = aws.iam.Role(
            f"{self._name}-apigateway-cloudwatch-role",
            name=f"{self.args.name_prefix}apigateway-logs",
            assume_role_policy=trust_policy("apigateway.amazonaws.com"),
            opts=kept,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{self._name}-apigateway-cloudwatch-policy",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
            opts=kept,
        )
        account = aws.apigateway.Account(
            f"{self._name}-apigateway-account",
            cloudwatch_role_arn=role.arn,
            opts=pulumi.ResourceOptions.merge(
                kept, pulumi.ResourceOptions(depends_on=[attachment])
            ),
        )
        self.account_role_arn = account.cloudwatch_role_arn
        return account
