"""Stage names and the AWS limits on the names derived from them.

Every physical name is ``payments-<stage>-...``; the stage is checked here once, so a
stage that would make any name too long (or invalid) is refused before anything is
created. The limits are AWS's documented ones, checked by the infra tests against every
resource the program registers for the longest allowed stage name.
"""

from __future__ import annotations

import re

APP = "payments"
MAX_STAGE_LENGTH = 16
STAGE_PATTERN = re.compile(rf"^[a-z][a-z0-9]{{0,{MAX_STAGE_LENGTH - 1}}}$")

# Resource type -> (property holding the name, max length, allowed characters).
NAME_LIMITS: dict[str, tuple[str, int, str]] = {
    "aws:lambda/function:Function": ("name", 64, r"[A-Za-z0-9_-]+"),
    "aws:iam/role:Role": ("name", 64, r"[\w+=,.@-]+"),
    "aws:iam/rolePolicy:RolePolicy": ("name", 128, r"[\w+=,.@-]+"),
    "aws:dynamodb/table:Table": ("name", 255, r"[A-Za-z0-9_.-]{3,}"),
    "aws:kms/alias:Alias": ("name", 256, r"alias/[A-Za-z0-9/_-]+"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", 512, r"[\w#/.-]+"),
    "aws:cloudwatch/eventRule:EventRule": ("name", 64, r"[\w.-]+"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", 255, r"[ -~]+"),
    "aws:apigateway/restApi:RestApi": ("name", 1024, r"[ -~]+"),
    "aws:apigateway/stage:Stage": ("stageName", 128, r"[A-Za-z0-9_-]+"),
    "aws:apigateway/usagePlan:UsagePlan": ("name", 1024, r"[ -~]+"),
    "aws:ssm/parameter:Parameter": ("name", 1011, r"/[A-Za-z0-9_.\-/]+"),
    "aws:sns/topic:Topic": ("name", 256, r"[A-Za-z0-9_-]+"),
    "aws:sqs/queue:Queue": ("name", 80, r"[A-Za-z0-9_-]+"),
    "aws:wafv2/webAcl:WebAcl": ("name", 128, r"[\w-]+"),
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": ("name", 512, r"[^:*]+"),
}


def validate_stage(stage: str) -> str:
    """``stage`` if it is a valid stage name, else ValueError (lowercase, <= 16 chars)."""
    if not STAGE_PATTERN.fullmatch(stage):
        raise ValueError(
            f"stage {stage!r} must match {STAGE_PATTERN.pattern}: lowercase letters and "
            f"digits, starting with a letter, at most {MAX_STAGE_LENGTH} characters"
        )
    return stage


# The local stack's stage: the app reads it as "not deployed" in places (demo bootstrap), so
# a deployed stage may never be named so.
LOCAL_STAGE = "local"


def validate_deployed_stage(stage: str) -> str:
    """``validate_stage``, and never the local stack's name."""
    if validate_stage(stage) == LOCAL_STAGE:
        raise ValueError(f"stage {stage!r} is the local stack's name: choose another")
    return stage


def principal_arn(caller_arn: str) -> str:
    """The IAM principal behind a caller ARN: an assumed-role session is its role."""
    match = re.fullmatch(r"arn:(aws[\w-]*):sts::(\d{12}):assumed-role/([^/]+)/.+", caller_arn)
    if match:
        partition, account, role = match.groups()
        return f"arn:{partition}:iam::{account}:role/{role}"
    return caller_arn


def name_prefix(stage: str) -> str:
    """``payments-<stage>-``: the prefix of every physical name of a stage."""
    return f"{APP}-{validate_stage(stage)}-"
