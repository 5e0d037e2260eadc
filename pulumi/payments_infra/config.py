"""The stack configuration (``pulumi config set <key> <value>``), read and checked once.

| key | default | meaning |
| --- | --- | --- |
| ``bankUrl`` | required (``--secret``) | the bank's base URL, stored as an SSM SecureString |
| ``stage`` | the stack name | lowercase, <= 16 characters (``naming.py``) |
| ``lambdaPackage`` | ``build/chalice/deployment.zip`` | ``make package`` output |
| ``apiStageName`` | ``api`` | API Gateway stage (the URL path prefix) |
| ``manageApiGatewayAccount`` | ``true`` | the account's CloudWatch role for API logs |
| ``throttleRate`` / ``throttleBurst`` | 1000 / 2000 | whole stage, every route |
| ``tokenThrottleRate`` / ``tokenThrottleBurst`` | 200 / 400 | whole stage, ``POST /token`` |
| ``merchantRate`` / ``merchantBurst`` | 100 / 200 | each merchant, every route |
| ``merchantTokenRate`` / ``merchantTokenBurst`` | 20 / 40 | each merchant, ``POST /token`` |
| ``pendingAgeAlarmSeconds`` | settle window + one sweep period | the pending alarm |
| ``bankReadTimeout``, ``tokenTtlSeconds`` | 3, 900 | passed to the functions |
| ``logRetentionDays`` | 30 | Lambda and access logs |
| ``authorizerTtlSeconds`` | the app's own | authorizer result cache |
| ``tableDeletionProtection`` | true | tables protected from deletion |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from . import app_model, naming
from .api import Limits, Throttle


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


def read(config: pulumi.Config | None = None) -> StackConfig:
    config = config or pulumi.Config()
    stage = naming.validate_stage(config.get("stage") or pulumi.get_stack())
    package = Path(config.get("lambdaPackage") or app_model.DEFAULT_LAMBDA_PACKAGE)
    if not package.is_absolute():
        package = app_model.PROJECT_ROOT / package
    if not package.is_file():
        raise FileNotFoundError(f"{package} does not exist: run `make package` first")
    return StackConfig(
        stage=stage,
        bank_url=config.require_secret("bankUrl"),
        lambda_package=package,
        api_stage_name=config.get("apiStageName") or "api",
        manage_apigateway_account=config.get_bool("manageApiGatewayAccount") is not False,
        stage_limits=_limits(config, "", Throttle(1000, 2000), Throttle(200, 400)),
        merchant_limits=_limits(config, "merchant", Throttle(100, 200), Throttle(20, 40)),
        pending_age_alarm_seconds=config.get_int("pendingAgeAlarmSeconds"),
        bank_read_timeout=config.get("bankReadTimeout") or "3",
        token_ttl_seconds=config.get("tokenTtlSeconds") or "900",
        log_retention_days=config.get_int("logRetentionDays") or 30,
        authorizer_ttl_seconds=config.get_int("authorizerTtlSeconds"),
        table_deletion_protection=config.get_bool("tableDeletionProtection") is not False,
    )
