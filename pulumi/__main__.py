"""Pulumi entry point: one stage of the payment platform.

Reads the stack configuration (``payments_infra/config.py`` lists every key) and composes
the components: roles -> keys -> data store -> functions -> API -> firewall -> operations.
Each component takes plain values (names, ARNs, maps of ARNs) from those before it.

This directory must never get an ``__init__.py``: with the repository root on ``sys.path``
it would shadow the real ``pulumi`` package.
"""

import sys
from pathlib import Path

import pulumi_aws as aws

import pulumi

sys.path.insert(0, str(Path(__file__).resolve().parent))

from payments_infra import app_model, config, naming  # noqa: E402
from payments_infra.api import Api, ApiArgs  # noqa: E402
from payments_infra.datastore import DataStore, DataStoreArgs  # noqa: E402
from payments_infra.firewall import Firewall, FirewallArgs  # noqa: E402
from payments_infra.functions import (  # noqa: E402
    FunctionRoles,
    FunctionRolesArgs,
    Functions,
    FunctionsArgs,
)
from payments_infra.keys import Keys, KeysArgs  # noqa: E402
from payments_infra.operations import (  # noqa: E402
    Operations,
    OperationsArgs,
    default_pending_age_alarm_seconds,
)

cfg = config.read()
prefix = cfg.name_prefix
app = app_model.load_chalice_app()
identity, region = aws.get_caller_identity(), aws.get_region()

roles = FunctionRoles("roles", FunctionRolesArgs(name_prefix=prefix))
keys = Keys(
    "keys",
    KeysArgs(
        name_prefix=prefix,
        stage=cfg.stage,
        account_id=identity.account_id,
        region=region.region,
        role_arns=roles.arns,
        bank_url=cfg.bank_url,
        deployer_arn=cfg.deployer_arn or naming.principal_arn(identity.arn),
        key_admin_trusted_arns=cfg.key_admin_trusted_arns,
    ),
)
data = DataStore(
    "data",
    DataStoreArgs(
        name_prefix=prefix,
        kms_key_arn=keys.tables.key.arn,
        deletion_protection=cfg.table_deletion_protection,
        account_id=identity.account_id,
        role_arns=roles.arns,
        operator_arns=cfg.operator_arns,
        break_glass_trusted_arns=cfg.break_glass_trusted_arns,
    ),
)
functions = Functions(
    "functions",
    FunctionsArgs(
        name_prefix=prefix,
        stage=cfg.stage,
        chalice_app=app,
        lambda_package=cfg.lambda_package,
        role_arns=roles.arns,
        role_names=roles.names,
        card_data_key_arn=keys.card_data.key.arn,
        fingerprint_key_arn=keys.fingerprint.key.arn,
        bank_url_parameter_arn=keys.bank_url_parameter.arn,
        bank_url_parameter_name=keys.bank_url_parameter.name,
        table_arns=data.arns,
        stream_arns=data.stream_arns,
        dead_letter_queue_arn=data.dead_letter_queue.arn,
        log_retention_days=cfg.log_retention_days,
        bank_read_timeout=cfg.bank_read_timeout,
        token_ttl_seconds=cfg.token_ttl_seconds,
        reserved_concurrency=cfg.reserved_concurrency,
    ),
)
api = Api(
    "api",
    ApiArgs(
        name_prefix=prefix,
        stage=cfg.stage,
        chalice_app=app,
        invoke_arns=functions.invoke_arns,
        function_names=functions.names,
        stage_limits=cfg.stage_limits,
        merchant_limits=cfg.merchant_limits,
        api_stage_name=cfg.api_stage_name,
        log_retention_days=cfg.log_retention_days,
        authorizer_ttl_seconds=cfg.authorizer_ttl_seconds,
        manage_apigateway_account=cfg.manage_apigateway_account,
        tls_security_policy=cfg.tls_security_policy,
        domain_name=cfg.domain_name,
        certificate_arn=cfg.certificate_arn,
    ),
)
firewall = Firewall(
    "firewall",
    FirewallArgs(
        name_prefix=prefix,
        stage_arn=api.stage.arn,
        rate_limit=cfg.waf_rate_limit,
        token_rate_limit=cfg.waf_token_rate_limit,
    ),
)
operations = Operations(
    "operations",
    OperationsArgs(
        name_prefix=prefix,
        stage=cfg.stage,
        account_id=identity.account_id,
        chalice_app=app,
        function_arns=functions.arns,
        function_names=functions.names,
        log_group_names=functions.log_group_names,
        rest_api_name=api.rest_api.name,
        api_stage_name=api.stage.stage_name,
        table_names=data.names,
        stream_arns=data.stream_arns,
        audit_log_table_arn=data.audit_log_arn,
        dead_letter_queue_arn=data.dead_letter_queue.arn,
        dead_letter_queue_name=data.dead_letter_queue.name,
        key_arns=keys.arns,
        alarms_key_arn=keys.alarms.key.arn,
        pending_age_alarm_seconds=(
            cfg.pending_age_alarm_seconds or default_pending_age_alarm_seconds(app)
        ),
        alarm_subscriptions=cfg.alarm_subscriptions,
        latency_alarm_ms=cfg.latency_alarm_ms,
    ),
)

pulumi.export("api_url", api.api_url)
pulumi.export("rest_api_id", api.rest_api.id)
pulumi.export("usage_plan_id", api.usage_plan.id)
pulumi.export("table_names", data.names)
pulumi.export("table_prefix", prefix)
pulumi.export("kms_key_id", keys.card_data.key.arn)
pulumi.export("kms_key_alias", keys.card_data.alias.name)
pulumi.export("hmac_key_id", keys.fingerprint.key.arn)
pulumi.export("hmac_key_alias", keys.fingerprint.alias.name)
pulumi.export("bank_url_parameter", keys.bank_url_parameter.name)
pulumi.export("alarm_topic_arn", operations.alarm_topic.arn)
pulumi.export("web_acl_arn", firewall.web_acl.arn)
pulumi.export("key_admin_role_arn", keys.admin_role.arn)
pulumi.export("audit_break_glass_role_arn", data.break_glass_role.arn)
pulumi.export("function_names", {key: fn.name for key, fn in functions.functions.items()})
