"""The triggers of the background functions and the alarms an operator is paged by.

Triggers: one schedule per scheduled function; one event source mapping per stream
consumer (the Events stream -> the delivery function, with its dead-letter queue).
Alarms: the API's 5xx rate, throttles and errors of every function, pending items older
than the settle window (from the reconciler's EMF metric, ``chalicelib.metrics``), and any
stream record given up on (the dead-letter queue is not empty).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass

import pulumi_aws as aws

import pulumi

from . import app_model
from .api import Api
from .functions import Functions, settle_window_seconds

metrics = importlib.import_module("chalicelib.metrics")

PERIOD_SECONDS = 300
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int:
    """Seconds between runs of a ``rate(...)`` schedule expression."""
    match = _RATE.fullmatch(expression)
    if not match:
        raise ValueError(f"only rate(...) schedules are supported, not {expression!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def default_pending_age_alarm_seconds(chalice_app: object) -> int:
    """Settle window plus one sweep period: older than that, a sweep should have settled it."""
    spec = app_model.FUNCTIONS_BY_KEY[app_model.RECONCILER]
    _, expression = app_model.schedule_of(chalice_app, spec.schedule)  # type: ignore[arg-type]
    return settle_window_seconds() + rate_seconds(expression)


@dataclass
class OperationsArgs:
    name_prefix: str
    stage: str
    chalice_app: object  # the Chalice app (for the schedule expression)
    functions: Functions
    api: Api
    stream_arns: dict[str, pulumi.Input[str]]
    dead_letter_queue: aws.sqs.Queue
    # An item may be pending until the request that made it has timed out (the settle
    # window) and a sweep has run since; older than that, something is wrong.
    pending_age_alarm_seconds: int
    server_error_rate_percent: float = 1.0


class Operations(pulumi.ComponentResource):
    """Schedule of the reconciler; alarms to one SNS topic."""

    def __init__(
        self, name: str, args: OperationsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("payments:platform:Operations", name, None, opts)
        self.args = args
        self._schedule()
        self._streams()
        self.alarm_topic = aws.sns.Topic(
            "alarms",
            name=f"{args.name_prefix}alarms",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        self._api_alarms()
        self._function_alarms()
        self._pending_alarm()
        self._dead_letter_alarm()
        self.register_outputs({"alarm_topic_arn": self.alarm_topic.arn})

    def _schedule(self) -> None:
        self.schedule_rules: dict[str, aws.cloudwatch.EventRule] = {}
        self.schedule_expressions: dict[str, str] = {}
        for spec in app_model.FUNCTIONS:
            if spec.schedule:
                self._schedule_one(spec)

    def _schedule_one(self, spec: app_model.FunctionSpec) -> None:
        assert spec.schedule is not None
        _, expression = app_model.schedule_of(self.args.chalice_app, spec.schedule)
        function = self.args.functions.functions[spec.key]
        label = spec.schedule.replace("_", "-")
        rule = aws.cloudwatch.EventRule(
            f"{label}-schedule",
            name=f"{self.args.name_prefix}{label}",
            description=spec.description,
            schedule_expression=expression,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.cloudwatch.EventTarget(
            f"{label}-target",
            rule=rule.name,
            arn=function.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.lambda_.Permission(
            f"{label}-invoke-permission",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.schedule_rules[spec.key] = rule
        self.schedule_expressions[spec.key] = expression

    def _streams(self) -> None:
        self.stream_mappings: dict[str, aws.lambda_.EventSourceMapping] = {}
        for spec in app_model.FUNCTIONS:
            if not spec.stream:
                continue
            assert spec.stream_table is not None
            self.stream_mappings[spec.key] = aws.lambda_.EventSourceMapping(
                f"{spec.key}-stream",
                event_source_arn=self.args.stream_arns[spec.stream_table],
                function_name=self.args.functions.functions[spec.key].arn,
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
                        destination_arn=self.args.dead_letter_queue.arn
                    )
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _dead_letter_alarm(self) -> None:
        self._alarm(
            "delivery-dead-letters",
            "Stream records of events the delivery function gave up on: resend those events",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": self.args.dead_letter_queue.name},
            statistic="Maximum",
            period=PERIOD_SECONDS,
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=0,
            treat_missing_data="notBreaching",
        )

    def _alarm(self, label: str, description: str, **kwargs: object) -> None:
        self.alarms[label] = aws.cloudwatch.MetricAlarm(
            f"alarm-{label}",
            name=f"{self.args.name_prefix}{label}",
            alarm_description=description,
            alarm_actions=[self.alarm_topic.arn],
            ok_actions=[self.alarm_topic.arn],
            opts=pulumi.ResourceOptions(parent=self),
            **kwargs,
        )

    def _api_alarms(self) -> None:
        api = self.args.api
        dimensions = {"ApiName": api.rest_api.name, "Stage": api.stage.stage_name}

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

    def _function_alarms(self) -> None:
        for key, function in self.args.functions.functions.items():
            for metric, label in (("Errors", "errors"), ("Throttles", "throttles")):
                self._alarm(
                    f"{key}-{label}",
                    f"{metric} of the {key} function",
                    namespace="AWS/Lambda",
                    metric_name=metric,
                    dimensions={"FunctionName": function.name},
                    statistic="Sum",
                    period=PERIOD_SECONDS,
                    evaluation_periods=1,
                    comparison_operator="GreaterThanThreshold",
                    threshold=0,
                    treat_missing_data="notBreaching",
                )

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
