"""The triggers of the background functions and the alarms an operator is paged by.

Triggers: one schedule per scheduled function (no retries of a late run: the next one is
due anyway); one event source mapping per stream consumer (the Events stream -> the
delivery function, with its dead-letter queue).
Alarms, to one encrypted SNS topic with the configured subscriptions (docs/deploy.md says
what each means and what to do): the API's 5xx rate and p99 latency; errors (the
authorizer's real failures, not its 401s) and throttles of every function; the stream's
iterator age; pending items older than the settle window (from the reconciler's EMF
metric, ``chalicelib.metrics``); rejected authentications that could not be recorded;
stream records given up on and the oldest of them; throttles and system errors of every
table; and any change of a key policy, a key grant or the audit log's resource policy
(CloudTrail events through EventBridge).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi_aws as aws
from chalice.app import Chalice

import pulumi
from chalicelib import metrics
from chalicelib.web.authorizer import Unauthorized

from . import app_model
from .config import Subscription
from .functions import settle_window_seconds
from .keys import TABLES_KEY

PERIOD_SECONDS = 300
LAMBDA_THROTTLES = ("AWS/Lambda", "Throttles")
# How the Lambda runtime logs an unhandled exception ("[ERROR] Class: message") and a
# timeout. The authorizer's 401 is its exception ``Unauthorized``, left out.
AUTHORIZER_FAILURE_PATTERNS = {
    "errors": f'"[ERROR]" -{Unauthorized.__name__}',
    "timeouts": '"Task timed out"',
}
# DynamoDB's SystemErrors metric is per operation: every operation the functions use.
TABLE_OPERATIONS = (
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "BatchGetItem",
    "TransactWriteItems",
    "TransactGetItems",
)
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
KEY_POLICY_EVENTS = (
    "PutKeyPolicy",
    "DisableKey",
    "DisableKeyRotation",
    "ScheduleKeyDeletion",
)
KEY_GRANT_EVENTS = ("CreateGrant",)
AUDIT_POLICY_EVENTS = ("PutResourcePolicy", "DeleteResourcePolicy")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int:
    """Seconds between runs of a ``rate(...)`` schedule expression."""
    match = _RATE.fullmatch(expression)
    if not match:
        raise ValueError(f"only rate(...) schedules are supported, not {expression!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def default_pending_age_alarm_seconds(chalice_app: Chalice) -> int:
    """Settle window plus one sweep period: older than that, a sweep should have settled it."""
    spec = app_model.FUNCTIONS_BY_KEY[app_model.RECONCILER]
    assert spec.schedule is not None
    _, expression = app_model.schedule_of(chalice_app, spec.schedule)
    return settle_window_seconds() + rate_seconds(expression)


@dataclass(frozen=True)
class OperationsArgs:
    name_prefix: str
    stage: str
    account_id: str  # the alarm topic accepts alarms and rules of this account only
    chalice_app: Chalice  # the schedule expressions
    # Function key -> its function's ARN, name and log group name.
    function_arns: Mapping[str, pulumi.Input[str]]
    function_names: Mapping[str, pulumi.Input[str]]
    log_group_names: Mapping[str, pulumi.Input[str]]
    # The API's name and stage name (its CloudWatch dimensions).
    rest_api_name: pulumi.Input[str]
    api_stage_name: pulumi.Input[str]
    # Logical table name -> physical name, and -> its stream's ARN.
    table_names: Mapping[str, pulumi.Input[str]]
    stream_arns: Mapping[str, pulumi.Input[str]]
    audit_log_table_arn: pulumi.Input[str]
    dead_letter_queue_arn: pulumi.Input[str]
    dead_letter_queue_name: pulumi.Input[str]
    # Key name (``Keys.arns``) -> key ARN: changes to their policies and grants are news.
    key_arns: Mapping[str, pulumi.Input[str]]
    alarms_key_arn: pulumi.Input[str]  # encrypts the alarm topic
    # An item may be pending until the request that made it has timed out (the settle
    # window) and a sweep has run since; older than that, something is wrong.
    pending_age_alarm_seconds: int
    alarm_subscriptions: tuple[Subscription, ...] = ()
    latency_alarm_ms: int = 5000
    server_error_rate_percent: float = 1.0
    # The stream consumer is this far behind (its oldest unprocessed record's age).
    iterator_age_alarm_ms: int = 5 * 60 * 1000
    # A dead letter this old is half-way to the queue's retention (14 days): act now.
    dead_letter_age_alarm_seconds: int = 7 * 24 * 3600


class Operations(pulumi.ComponentResource):
    """Schedule of the reconciler; alarms to one SNS topic."""

    alarm_topic: aws.sns.Topic
    subscriptions: list[aws.sns.TopicSubscription]
    # Each keyed by function key.
    schedule_rules: dict[str, aws.cloudwatch.EventRule]
    schedule_expressions: dict[str, str]
    invoke_configs: dict[str, aws.lambda_.FunctionEventInvokeConfig]
    stream_mappings: dict[str, aws.lambda_.EventSourceMapping]
    alarms: dict[str, aws.cloudwatch.MetricAlarm]  # by label (``<prefix><label>`` is its name)
    log_metric_filters: dict[str, aws.cloudwatch.LogMetricFilter]
    security_rules: dict[str, aws.cloudwatch.EventRule]

    def __init__(
        self, name: str, args: OperationsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("payments:platform:Operations", name, None, opts)
        self.args = args
        self._name = name
        self._schedule()
        self._streams()
        self._alarm_topic()
        self.alarms, self.log_metric_filters = {}, {}
        self._api_alarms()
        self._function_alarms()
        self._pending_alarm()
        self._dead_letter_alarms()
        self._audit_alarm()
        self._table_alarms()
        self._security_rules()
        self.register_outputs(
            {
                "alarm_topic_arn": self.alarm_topic.arn,
                "alarm_names": {label: a.name for label, a in self.alarms.items()},
                "schedule_rule_arns": {k: r.arn for k, r in self.schedule_rules.items()},
                "security_rule_arns": {k: r.arn for k, r in self.security_rules.items()},
            }
        )

    def _alarm_topic(self) -> None:
        args = self.args
        account = args.account_id
        self.alarm_topic = aws.sns.Topic(
            f"{self._name}-alarms",
            name=f"{args.name_prefix}alarms",
            kms_master_key_id=args.alarms_key_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.sns.TopicPolicy(
            f"{self._name}-alarms-policy",
            arn=self.alarm_topic.arn,
            policy=self.alarm_topic.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "ServicesPublishAlarms",
                                "Effect": "Allow",
                                "Principal": {"Service": ["cloudwatch.amazonaws.com"]},
                                "Action": "sns:Publish",
                                "Resource": arn,
                                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                            },
                            {
                                "Sid": "RulesPublishSecurityChanges",
                                "Effect": "Allow",
                                "Principal": {"Service": ["events.amazonaws.com"]},
                                "Action": "sns:Publish",
                                "Resource": arn,
                                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                            },
                        ],
                    }
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.subscriptions = [
            aws.sns.TopicSubscription(
                f"{self._name}-alarms-{subscription.protocol}-{index}",
                topic=self.alarm_topic.arn,
                protocol=subscription.protocol,
                endpoint=subscription.endpoint,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for index, subscription in enumerate(args.alarm_subscriptions)
        ]
        if not self.subscriptions:
            pulumi.log.warn(
                "no alarmEmail or alarmSubscriptions: nobody is paged by this stack's alarms",
                resource=self,
            )

    def _schedule(self) -> None:
        self.schedule_rules, self.schedule_expressions, self.invoke_configs = {}, {}, {}
        for spec in app_model.FUNCTIONS:
            if spec.schedule:
                self._schedule_one(spec)

    def _schedule_one(self, spec: app_model.FunctionSpec) -> None:
        assert spec.schedule is not None
        _, expression = app_model.schedule_of(self.args.chalice_app, spec.schedule)
        function_arn = self.args.function_arns[spec.key]
        function_name = self.args.function_names[spec.key]
        label = spec.schedule.replace("_", "-")
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-{label}-schedule",
            name=f"{self.args.name_prefix}{label}",
            description=spec.description,
            schedule_expression=expression,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-{label}-target",
            rule=rule.name,
            arn=function_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # EventBridge invokes asynchronously: by default Lambda would retry a failed or
        # throttled run for up to 6 hours, piling late runs onto the next scheduled ones.
        # The next run is due within one period anyway.
        self.invoke_configs[spec.key] = aws.lambda_.FunctionEventInvokeConfig(
            f"{self._name}-{label}-invoke-config",
            function_name=function_name,
            maximum_retry_attempts=0,
            maximum_event_age_in_seconds=max(60, min(rate_seconds(expression), 21600)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.lambda_.Permission(
            f"{self._name}-{label}-invoke-permission",
            action="lambda:InvokeFunction",
            function=function_name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.schedule_rules[spec.key] = rule
        self.schedule_expressions[spec.key] = expression

    def _streams(self) -> None:
        self.stream_mappings = {}
        for spec in app_model.FUNCTIONS:
            if not spec.stream:
                continue
            assert spec.stream_table is not None
            self.stream_mappings[spec.key] = aws.lambda_.EventSourceMapping(
                f"{self._name}-{spec.key}-stream",
                event_source_arn=self.args.stream_arns[spec.stream_table],
                function_name=self.args.function_arns[spec.key],
                # From the oldest record kept: events committed before the mapping exists
                # (or while it was disabled) are delivered too.
                starting_position="TRIM_HORIZON",
                batch_size=10,
                maximum_batching_window_in_seconds=1,
                # The handler reports the records it could not handle; a failing batch is
                # split to isolate a bad record, retried, then recorded in the DLQ.
                function_response_types=["ReportBatchItemFailures"],
                bisect_batch_on_function_error=True,
                maximum_retry_attempts=10,
                maximum_record_age_in_seconds=-1,
                destination_config=aws.lambda_.EventSourceMappingDestinationConfigArgs(
                    on_failure=aws.lambda_.EventSourceMappingDestinationConfigOnFailureArgs(
                        destination_arn=self.args.dead_letter_queue_arn
                    )
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _dead_letter_alarms(self) -> None:
        queue = {"QueueName": self.args.dead_letter_queue_name}
        self._alarm(
            "delivery-dead-letters",
            "Stream records of events the delivery function gave up on: resend those events",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions=queue,
            statistic="Maximum",
            period=PERIOD_SECONDS,
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=0,
            treat_missing_data="notBreaching",
        )
        self._alarm(
            "delivery-dead-letters-old",
            f"A dead letter is older than {self.args.dead_letter_age_alarm_seconds // 86400} "
            "days: it is lost when the queue's 14-day retention ends",
            namespace="AWS/SQS",
            metric_name="ApproximateAgeOfOldestMessage",
            dimensions=queue,
            statistic="Maximum",
            period=PERIOD_SECONDS,
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=self.args.dead_letter_age_alarm_seconds,
            treat_missing_data="notBreaching",
        )

    def _audit_alarm(self) -> None:
        self._alarm(
            "audit-write-failed",
            "Rejected authentications could not be recorded in AuthRejections (the callers "
            "still got their 401): the API access log has those requests",
            namespace=metrics.NAMESPACE,
            metric_name=metrics.AUDIT_WRITE_FAILED,
            dimensions={"function": "authorizer"},
            statistic="Sum",
            period=PERIOD_SECONDS,
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=0,
            treat_missing_data="notBreaching",
        )

    def _table_alarms(self) -> None:
        """Per table: throttled requests, and DynamoDB's own errors on any operation used."""
        for logical, table_name in self.args.table_names.items():
            label = logical.lower()

            def query(
                metric_id: str,
                metric: str,
                table_name: pulumi.Input[str] = table_name,
                **extra: str,
            ) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
                return aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id=metric_id,
                    metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                        namespace="AWS/DynamoDB",
                        metric_name=metric,
                        dimensions={"TableName": table_name, **extra},
                        period=PERIOD_SECONDS,
                        stat="Sum",
                    ),
                )

            # (metric id, metric, extra dimensions) of each query an alarm sums.
            for kind, description, summed in (
                (
                    "throttles",
                    f"Requests to the {logical} table were throttled",
                    [("reads", "ReadThrottleEvents", {}), ("writes", "WriteThrottleEvents", {})],
                ),
                (
                    "system-errors",
                    f"DynamoDB failed requests to the {logical} table (HTTP 500)",
                    [
                        (f"e{i}", "SystemErrors", {"Operation": operation})
                        for i, operation in enumerate(TABLE_OPERATIONS)
                    ],
                ),
            ):
                queries = [query(metric_id, metric, **extra) for metric_id, metric, extra in summed]
                ids = [metric_id for metric_id, _, _ in summed]
                self._alarm(
                    f"table-{label}-{kind}",
                    description,
                    comparison_operator="GreaterThanThreshold",
                    threshold=0,
                    evaluation_periods=1,
                    treat_missing_data="notBreaching",
                    metric_queries=[
                        *queries,
                        aws.cloudwatch.MetricAlarmMetricQueryArgs(
                            id="total",
                            expression=f"SUM([{', '.join(ids)}])",
                            label=f"{logical} {kind}",
                            return_data=True,
                        ),
                    ],
                )

    def _security_rules(self) -> None:
        """CloudTrail's record of a change to who may use a key or touch the audit log."""
        key_arns = self.args.key_arns
        all_keys = list(key_arns.values())
        granted_keys = [arn for name, arn in key_arns.items() if name != TABLES_KEY]

        def kms_pattern(
            events: tuple[str, ...], arns: Sequence[pulumi.Input[str]]
        ) -> pulumi.Output[str]:
            return pulumi.Output.all(*arns).apply(
                lambda resolved: json.dumps(
                    {
                        "source": ["aws.kms"],
                        "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
                        "detail": {
                            "eventSource": ["kms.amazonaws.com"],
                            "eventName": list(events),
                            "resources": {"ARN": list(resolved)},
                        },
                    }
                )
            )

        audit_pattern = pulumi.Output.from_input(self.args.audit_log_table_arn).apply(
            lambda arn: json.dumps(
                {
                    "source": ["aws.dynamodb"],
                    "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
                    "detail": {
                        "eventSource": ["dynamodb.amazonaws.com"],
                        "eventName": list(AUDIT_POLICY_EVENTS),
                        "requestParameters": {"resourceArn": [arn]},
                    },
                }
            )
        )
        self.security_rules = {}
        for label, description, pattern in (
            (
                "key-policy-changes",
                "A KMS key policy changed, or a key was disabled or scheduled for deletion",
                kms_pattern(KEY_POLICY_EVENTS, all_keys),
            ),
            (
                # DynamoDB creates its own grants on the tables key; any other grant is news.
                "key-grants",
                "A grant was created on a card, secrets or alarms key",
                kms_pattern(KEY_GRANT_EVENTS, granted_keys),
            ),
            (
                "audit-policy-changes",
                "The audit log's resource policy was changed or deleted",
                audit_pattern,
            ),
        ):
            rule = aws.cloudwatch.EventRule(
                f"{self._name}-{label}",
                name=f"{self.args.name_prefix}{label}",
                description=description,
                event_pattern=pattern,
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.cloudwatch.EventTarget(
                f"{self._name}-{label}-target",
                rule=rule.name,
                arn=self.alarm_topic.arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.security_rules[label] = rule

    def _alarm(self, label: str, description: str, **kwargs: Any) -> None:
        self.alarms[label] = aws.cloudwatch.MetricAlarm(
            f"{self._name}-alarm-{label}",
            name=f"{self.args.name_prefix}{label}",
            alarm_description=description,
            alarm_actions=[self.alarm_topic.arn],
            ok_actions=[self.alarm_topic.arn],
            opts=pulumi.ResourceOptions(parent=self),
            **kwargs,
        )

    def _api_alarms(self) -> None:
        dimensions = {"ApiName": self.args.rest_api_name, "Stage": self.args.api_stage_name}

        def query(metric_id: str, metric: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
            return aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=metric_id,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace="AWS/ApiGateway",
                    metric_name=metric,
                    dimensions=dimensions,
                    period=PERIOD_SECONDS,
                    stat="Sum",
                ),
            )

        self._alarm(
            "api-5xx-rate",
            f"More than {self.args.server_error_rate_percent}% of API responses are 5xx",
            comparison_operator="GreaterThanThreshold",
            threshold=self.args.server_error_rate_percent,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            treat_missing_data="notBreaching",
            metric_queries=[
                query("errors", "5XXError"),
                query("requests", "Count"),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="rate",
                    expression="IF(requests > 0, 100 * errors / requests, 0)",
                    label="5xx rate (%)",
                    return_data=True,
                ),
            ],
        )
        self._latency_alarm(dimensions)

    def _latency_alarm(self, dimensions: Mapping[str, pulumi.Input[str]]) -> None:
        self._alarm(
            "api-latency-p99",
            f"The API's p99 latency is above {self.args.latency_alarm_ms} ms for 15 minutes",
            namespace="AWS/ApiGateway",
            metric_name="Latency",
            dimensions=dimensions,
            extended_statistic="p99",
            period=PERIOD_SECONDS,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            comparison_operator="GreaterThanThreshold",
            threshold=self.args.latency_alarm_ms,
            treat_missing_data="notBreaching",
        )

    def _function_alarms(self) -> None:
        for key, function_name in self.args.function_names.items():
            spec = app_model.FUNCTIONS_BY_KEY[key]
            # An authorizer signals every 401 by raising: its Errors metric counts bad keys.
            errors = self._authorizer_failures(key) if spec.authorizer else ("AWS/Lambda", "Errors")
            for (namespace, metric), label in ((errors, "errors"), (LAMBDA_THROTTLES, "throttles")):
                self._alarm(
                    f"{key}-{label}",
                    f"{metric} of the {key} function",
                    namespace=namespace,
                    metric_name=metric,
                    dimensions=(
                        {"FunctionName": function_name} if namespace == "AWS/Lambda" else None
                    ),
                    statistic="Sum",
                    period=PERIOD_SECONDS,
                    evaluation_periods=1,
                    comparison_operator="GreaterThanThreshold",
                    threshold=0,
                    treat_missing_data="notBreaching",
                )
            if spec.stream:
                self._alarm(
                    f"{key}-iterator-age",
                    f"The {key} function is more than {self.args.iterator_age_alarm_ms // 1000} s "
                    "behind its stream: events are delivered late (records expire after 24 h)",
                    namespace="AWS/Lambda",
                    metric_name="IteratorAge",
                    dimensions={"FunctionName": function_name},
                    statistic="Maximum",
                    period=PERIOD_SECONDS,
                    evaluation_periods=1,
                    comparison_operator="GreaterThanThreshold",
                    threshold=self.args.iterator_age_alarm_ms,
                    treat_missing_data="notBreaching",
                )

    def _authorizer_failures(self, key: str) -> tuple[str, str]:
        """A metric of the authorizer's real failures, from its log: unhandled errors other
        than the ``Unauthorized`` it raises for a 401, and timeouts."""
        metric = f"{self.args.name_prefix}{key}-failures"
        log_group_name = self.args.log_group_names[key]
        for label, pattern in AUTHORIZER_FAILURE_PATTERNS.items():
            self.log_metric_filters[f"{key}-{label}"] = aws.cloudwatch.LogMetricFilter(
                f"{self._name}-{key}-{label}-filter",
                name=f"{self.args.name_prefix}{key}-{label}",
                log_group_name=log_group_name,
                pattern=pattern,
                metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                    name=metric, namespace=metrics.NAMESPACE, value="1", default_value="0"
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        return metrics.NAMESPACE, metric

    def _pending_alarm(self) -> None:
        # One period spans three sweeps, so a late sweep is not mistaken for a dead one.
        period = 3 * rate_seconds(self.schedule_expressions[app_model.RECONCILER])
        self._alarm(
            "pending-too-old",
            f"A charge or refund has been pending for more than "
            f"{self.args.pending_age_alarm_seconds} s, or the reconciler stopped reporting",
            namespace=metrics.NAMESPACE,
            metric_name=metrics.OLDEST_PENDING_AGE,
            dimensions={metrics.STAGE_DIMENSION: self.args.stage},
            statistic="Maximum",
            period=period,
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=self.args.pending_age_alarm_seconds,
            # No sweep reported for a whole period: the reconciler is not running; page.
            treat_missing_data="breaching",
        )
