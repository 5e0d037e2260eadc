"""Pulumi entry point: one stage of the payment platform (see infra.py).

Config (``pulumi config set <key> <value>``):

* ``bankUrl`` (required; ``--secret`` recommended)
* ``stage`` (default: the stack name), ``lambdaPackage`` (default
  ``build/chalice/deployment.zip``, relative to the project root)
* ``bankReadTimeout`` ("3"), ``tokenTtlSeconds`` ("900"), ``logRetentionDays`` (30),
  ``authorizerTtlSeconds`` (the app's own), ``tableDeletionProtection`` (true),
  ``apiStageName`` ("api"), ``manageApiGatewayAccount`` (false)
"""

import sys
from pathlib import Path

import pulumi

sys.path.insert(0, str(Path(__file__).resolve().parent))

import infra  # noqa: E402

config = pulumi.Config()
stage = config.get("stage") or pulumi.get_stack()

lambda_package = Path(config.get("lambdaPackage") or infra.DEFAULT_LAMBDA_PACKAGE)
if not lambda_package.is_absolute():
    lambda_package = infra.PROJECT_ROOT / lambda_package
if not lambda_package.is_file():
    raise FileNotFoundError(
        f"{lambda_package} does not exist: run `chalice package` first "
        "(cd chalice_app && chalice package --stage <stage> ../build/chalice)"
    )

platform = infra.PaymentsPlatform(
    "payments",
    infra.PaymentsPlatformArgs(
        stage=stage,
        bank_url=config.require_secret("bankUrl"),
        chalice_app=infra.load_chalice_app(infra.CHALICE_DIR / "app.py"),
        lambda_package=lambda_package,
        bank_read_timeout=config.get("bankReadTimeout") or "3",
        token_ttl_seconds=config.get("tokenTtlSeconds") or "900",
        log_retention_days=config.get_int("logRetentionDays") or 30,
        authorizer_ttl_seconds=config.get_int("authorizerTtlSeconds"),
        table_deletion_protection=config.get_bool("tableDeletionProtection") is not False,
        api_stage_name=config.get("apiStageName") or "api",
        manage_apigateway_account=config.get_bool("manageApiGatewayAccount") or False,
    ),
)

pulumi.export("api_url", platform.api_url)
pulumi.export("rest_api_id", platform.rest_api.id)
pulumi.export("table_names", platform.table_names)
pulumi.export("table_prefix", f"payments-{stage}-")
pulumi.export("kms_key_id", platform.data_key.arn)
pulumi.export("kms_key_alias", platform.data_key_alias.name)
pulumi.export("hmac_key_id", platform.hmac_key.arn)
pulumi.export("hmac_key_alias", platform.hmac_key_alias.name)
pulumi.export("function_names", {key: fn.name for key, fn in platform.functions.items()})
