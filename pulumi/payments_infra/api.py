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
from dataclasses import dataclass, field
from typing import Any

import pulumi_aws as aws
from chalice.app import Chalice

import pulumi

from . import app_model
from .functions import Functions, trust_policy

TOKEN_ROUTE: app_model.Route = ("POST", "/token")


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


@dataclass
class ApiArgs:
    name_prefix: str
    stage: str
    chalice_app: Chalice
    functions: Functions
    stage_limits: Limits  # the whole stage, every merchant together
    merchant_limits: Limits  # each merchant (usage plan, per API key)
    api_stage_name: str = "api"
    log_retention_days: int = 30
    authorizer_ttl_seconds: int | None = None
    # API Gateway writes access logs only once the account (per region) has a CloudWatch
    # role; a first deployment in an account needs it. Set false in every other stack of
    # the same account and region (there is one such setting per account and region).
    manage_apigateway_account: bool = True
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

    def __init__(
        self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("payments:platform:Api", name, None, opts)
        self.args = args
        prefix, functions = args.name_prefix, args.functions.functions

        invoke_arns = pulumi.Output.all(**{k: f.invoke_arn for k, f in functions.items()})
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
            "rest-api",
            name=f"{prefix}api",
            description=f"Payment API ({args.stage})",
            body=body,
            api_key_source="AUTHORIZER",
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(
                types="REGIONAL"
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._permissions()
        self.deployment = aws.apigateway.Deployment(
            "deployment",
            rest_api=self.rest_api.id,
            description=f"Payment API ({args.stage})",
            triggers={"body": body.apply(lambda text: hashlib.sha256(text.encode()).hexdigest())},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.access_log_group = aws.cloudwatch.LogGroup(
            "api-access-logs",
            name=f"/aws/apigateway/{prefix}api/access",
            retention_in_days=args.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )
        stage_depends: list[pulumi.Resource] = []
        self.account: aws.apigateway.Account | None = None
        if args.manage_apigateway_account:
            self.account = self._apigateway_account()
            stage_depends.append(self.account)
        self.stage = aws.apigateway.Stage(
            "stage",
            rest_api=self.rest_api.id,
            deployment=self.deployment.id,
            stage_name=args.api_stage_name,
            access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
                destination_arn=self.access_log_group.arn,
                format=app_model.ACCESS_LOG_FORMAT,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=stage_depends),
        )
        self._throttling()
        self.api_url = self.stage.invoke_url
        self.register_outputs({"api_url": self.api_url, "usage_plan_id": self.usage_plan.id})

    def _permissions(self) -> None:
        """API Gateway may invoke each function for its own routes only."""
        execution_arn = self.rest_api.execution_arn
        routes = app_model.route_table(self.args.chalice_app)
        self.permissions: dict[str, aws.lambda_.Permission] = {}
        for route, key in sorted(routes.items()):
            label = source_arn_path(route).replace("/", "-").replace("*", "id").lower()
            self.permissions[f"{key}:{label}"] = aws.lambda_.Permission(
                f"invoke-{key}-{label}",
                action="lambda:InvokeFunction",
                function=self.args.functions.functions[key].name,
                principal="apigateway.amazonaws.com",
                source_arn=pulumi.Output.concat(execution_arn, "/*/", source_arn_path(route)),
                opts=pulumi.ResourceOptions(parent=self),
            )
        for spec in app_model.FUNCTIONS:
            if spec.authorizer:
                self.permissions[spec.key] = aws.lambda_.Permission(
                    f"invoke-{spec.key}",
                    action="lambda:InvokeFunction",
                    function=self.args.functions.functions[spec.key].name,
                    principal="apigateway.amazonaws.com",
                    source_arn=pulumi.Output.concat(execution_arn, "/authorizers/*"),
                    opts=pulumi.ResourceOptions(parent=self),
                )

    def _throttling(self) -> None:
        stage_limits, merchant = self.args.stage_limits, self.args.merchant_limits
        self.method_settings: dict[str, aws.apigateway.MethodSettings] = {}
        for label, path, throttle in (
            ("all", "*/*", stage_limits.default),
            ("token", method_path(TOKEN_ROUTE), stage_limits.token),
        ):
            self.method_settings[label] = aws.apigateway.MethodSettings(
                f"throttle-{label}",
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
            "merchant-usage-plan",
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

    def _apigateway_account(self) -> aws.apigateway.Account:
        role = aws.iam.Role(
            "apigateway-cloudwatch-role",
            name=f"{self.args.name_prefix}apigateway-logs",
            assume_role_policy=trust_policy("apigateway.amazonaws.com"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        attachment = aws.iam.RolePolicyAttachment(
            "apigateway-cloudwatch-policy",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
            opts=pulumi.ResourceOptions(parent=self),
        )
        return aws.apigateway.Account(
            "apigateway-account",
            cloudwatch_role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
        )
