"""The stack configuration (``pulumi config set <key> <value>``), read and checked once.

| key | default | meaning |
| --- | --- | --- |
| ``bankUrl`` | required (``--secret``) | the bank's base URL, stored as an SSM SecureString |
| ``stage`` | the stack name | lowercase, <= 16 characters, never ``local`` (``naming.py``) |
| ``lambdaPackage`` | ``build/chalice/deployment.zip`` | ``make package`` output |
| ``apiStageName`` | ``api`` | API Gateway stage (the URL path prefix) |
| ``manageApiGatewayAccount`` | ``false`` | create the account's CloudWatch role for API logs |
| ``tlsSecurityPolicy`` | ``TLS_1_2`` | TLS policy of the execute-api endpoint |
| ``domainName`` / ``certificateArn`` | unset | custom domain (TLS 1.2); execute-api disabled |
| ``throttleRate`` / ``throttleBurst`` | 1000 / 2000 | whole stage, every route |
| ``tokenThrottleRate`` / ``tokenThrottleBurst`` | 200 / 400 | whole stage, ``POST /token`` |
| ``merchantRate`` / ``merchantBurst`` | 100 / 200 | each merchant, every route |
| ``merchantTokenRate`` / ``merchantTokenBurst`` | 20 / 40 | each merchant, ``POST /token`` |
| ``wafRateLimit`` / ``wafTokenRateLimit`` | 30000 / 600 | per client IP and 5 minutes (WAF) |
| ``reservedConcurrency`` | ``{}`` | function key -> reserved concurrency (JSON object) |
| ``pendingAgeAlarmSeconds`` | settle window + one sweep period | the pending alarm |
| ``latencyAlarmMs`` | 5000 | API p99 latency alarm |
| ``alarmEmail`` | unset | e-mail address subscribed to the alarm topic |
| ``alarmSubscriptions`` | ``[]`` | more subscriptions: ``[{"protocol": ..., "endpoint": ...}]`` |
| ``bankReadTimeout``, ``tokenTtlSeconds`` | 3, 900 | passed to the functions |
| ``logRetentionDays`` | 365 | Lambda and access logs |
| ``authorizerTtlSeconds`` | the app's own (5) | authorizer result cache, 0 to 5 s |
| ``tableDeletionProtection`` | true | tables protected from deletion (and Pulumi ``protect``) |
| ``deployerArn`` | the caller's role or user | administers the keys (with the key-admin role) |
| ``keyAdminTrustedArns`` | the account (with MFA) | who may assume the key-administrator role |
| ``breakGlassTrustedArns`` | the account (with MFA) | who may assume the audit break-glass role |
| ``operatorArns`` | ``[]`` | operators' roles (``payments-admin``): may append audit records |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from . import PROJECT_ROOT, app_model, naming
from .api import Limits, Throttle

# The contract: a revoked key stops reading within 5 s, whatever the gateway caches.
MAX_AUTHORIZER_TTL_SECONDS = 5


@dataclass(frozen=True)
class Subscription:
    protocol: str
    endpoint: str


@dataclass(frozen=True)
class StackConfig:
    stage: str
    bank_url: pulumi.Output[str]
    lambda_package: Path
    api_stage_name: str
    manage_apigateway_account: bool
    stage_limits: Limits
    merchant_limits: Limits
    pending_age_alarm_seconds: int | None
    bank_read_timeout: str
    token_ttl_seconds: str
    log_retention_days: int
    authorizer_ttl_seconds: int | None
    table_deletion_protection: bool
    tls_security_policy: str = "TLS_1_2"
    domain_name: str | None = None
    certificate_arn: str | None = None
    waf_rate_limit: int = 30000
    waf_token_rate_limit: int = 600
    reserved_concurrency: dict[str, int] = field(default_factory=dict)
    latency_alarm_ms: int = 5000
    alarm_subscriptions: tuple[Subscription, ...] = ()
    deployer_arn: str | None = None
    key_admin_trusted_arns: tuple[str, ...] = ()
    break_glass_trusted_arns: tuple[str, ...] = ()
    operator_arns: tuple[str, ...] = ()

    @property
    def name_prefix(self) -> str:
        return naming.name_prefix(self.stage)


def _limits(config: pulumi.Config, prefix: str, default: Throttle, token: Throttle) -> Limits:
    def read(name: str, fallback: Throttle) -> Throttle:
        return Throttle(
            rate=config.get_float(f"{name}Rate") or fallback.rate,
            burst=config.get_int(f"{name}Burst") or fallback.burst,
        )

    token_key = f"{prefix}Token" if prefix else "tokenThrottle"
    return Limits(default=read(prefix or "throttle", default), token=read(token_key, token))


def _reserved_concurrency(value: Any) -> dict[str, int]:
    """Function key -> reserved concurrency; unknown keys and values below 1 are refused."""
    reserved = dict(value or {})
    unknown = sorted(set(reserved) - set(app_model.FUNCTIONS_BY_KEY))
    if unknown:
        raise ValueError(f"reservedConcurrency names no function: {unknown}")
    for key, count in reserved.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError(f"reservedConcurrency.{key} must be a whole number >= 1")
    return reserved


def _subscriptions(config: pulumi.Config) -> tuple[Subscription, ...]:
    found = [Subscription("email", email)] if (email := config.get("alarmEmail")) else []
    for entry in config.get_object("alarmSubscriptions") or []:
        found.append(Subscription(str(entry["protocol"]), str(entry["endpoint"])))
    return tuple(found)


def _arns(config: pulumi.Config, key: str) -> tuple[str, ...]:
    return tuple(str(arn) for arn in config.get_object(key) or [])


def read(config: pulumi.Config | None = None) -> StackConfig:
    config = config or pulumi.Config()
    stage = naming.validate_deployed_stage(config.get("stage") or pulumi.get_stack())
    package = Path(config.get("lambdaPackage") or app_model.DEFAULT_LAMBDA_PACKAGE)
    if not package.is_absolute():
        package = PROJECT_ROOT / package
    if not package.is_file():
        raise FileNotFoundError(f"{package} does not exist: run `make package` first")
    domain_name, certificate_arn = config.get("domainName"), config.get("certificateArn")
    if bool(domain_name) != bool(certificate_arn):
        raise ValueError("domainName and certificateArn are set together, or neither")
    authorizer_ttl = config.get_int("authorizerTtlSeconds")
    if authorizer_ttl is not None and not 0 <= authorizer_ttl <= MAX_AUTHORIZER_TTL_SECONDS:
        # A revoked key may keep reading for as long as API Gateway caches the authorizer.
        raise ValueError(
            f"authorizerTtlSeconds must be 0 to {MAX_AUTHORIZER_TTL_SECONDS}: the contract makes "
            "a revocation effective for reads within that many seconds"
        )
    return StackConfig(
        stage=stage,
        bank_url=config.require_secret("bankUrl"),
        lambda_package=package,
        api_stage_name=config.get("apiStageName") or "api",
        manage_apigateway_account=config.get_bool("manageApiGatewayAccount") is True,
        stage_limits=_limits(config, "", Throttle(1000, 2000), Throttle(200, 400)),
        merchant_limits=_limits(config, "merchant", Throttle(100, 200), Throttle(20, 40)),
        pending_age_alarm_seconds=config.get_int("pendingAgeAlarmSeconds"),
        bank_read_timeout=config.get("bankReadTimeout") or "3",
        token_ttl_seconds=config.get("tokenTtlSeconds") or "900",
        log_retention_days=config.get_int("logRetentionDays") or 365,
        authorizer_ttl_seconds=authorizer_ttl,
        table_deletion_protection=config.get_bool("tableDeletionProtection") is not False,
        tls_security_policy=config.get("tlsSecurityPolicy") or "TLS_1_2",
        domain_name=domain_name,
        certificate_arn=certificate_arn,
        waf_rate_limit=config.get_int("wafRateLimit") or 30000,
        waf_token_rate_limit=config.get_int("wafTokenRateLimit") or 600,
        reserved_concurrency=_reserved_concurrency(config.get_object("reservedConcurrency")),
        latency_alarm_ms=config.get_int("latencyAlarmMs") or 5000,
        alarm_subscriptions=_subscriptions(config),
        deployer_arn=config.get("deployerArn"),
        key_admin_trusted_arns=_arns(config, "keyAdminTrustedArns"),
        break_glass_trusted_arns=_arns(config, "breakGlassTrustedArns"),
        operator_arns=_arns(config, "operatorArns"),
    )
