"""Alarms (to an encrypted SNS topic) and a CloudWatch dashboard."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .api import Api
from .compute import METRICS_NAMESPACE
from .naming import pascal

PERIOD = Duration.minutes(5)
# Business metrics the functions publish (Powertools: namespace Orchestre, dimension "service" =
# the function's name) that alert operations from the first occurrence. Skipped when the spec has
# no such function: (function, metric name, alarm description).
METRIC_ALARMS = (
    ("process", "RoutingFailures", "Invoices failed routing after retries and were parked (EN_ERREUR)"),
)


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, lambda_.Function],
        api: Api | None,
        state_machines: dict[str, sfn.StateMachine],
        dead_letter_queues: dict[str, sqs.Queue],
    ) -> None:
        super().__init__(scope, construct_id)

        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the Orchestre alarm topic",
            enable_key_rotation=True,
        )
        # CloudWatch alarms must be able to publish to the encrypted topic (the key policy
        # statement documented for alarm actions on SSE-KMS topics).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name="Orchestre alarms", master_key=key, enforce_ssl=True
        )
        action = cw_actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(alarm_id: str, metric: cloudwatch.IMetric, description: str) -> None:
            a = cloudwatch.Alarm(
                self,
                alarm_id,
                metric=metric,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            a.add_alarm_action(action)
            self.alarms.append(a)

        for name, fn in functions.items():
            alarm(
                f"{pascal(name)}ErrorsAlarm",
                fn.metric_errors(period=PERIOD, statistic="Sum"),
                f"Function {name} reported errors",
            )
            alarm(
                f"{pascal(name)}ThrottlesAlarm",
                fn.metric_throttles(period=PERIOD, statistic="Sum"),
                f"Function {name} was throttled",
            )
        if api is not None:
            alarm(
                "Api5xxAlarm",
                api.rest_api.metric_server_error(period=PERIOD, statistic="Sum"),
                "The REST API returned 5XX responses",
            )
        for key_, machine in state_machines.items():
            alarm(
                f"{pascal(key_)}ExecutionsFailedAlarm",
                machine.metric_failed(period=PERIOD, statistic="Sum"),
                f"Workflow {key_} had failed executions (a failed invoice lifecycle is parked)",
            )
            # A timed-out execution (EXPRESS: 5 minutes at most) never reached its own error path.
            alarm(
                f"{pascal(key_)}ExecutionsTimedOutAlarm",
                machine.metric_timed_out(period=PERIOD, statistic="Sum"),
                f"Workflow {key_} had executions that timed out",
            )
        self.metrics: dict[tuple[str, str], cloudwatch.Metric] = {}
        for function_name, metric_name, description in METRIC_ALARMS:
            if function_name not in functions:
                continue
            metric = cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=metric_name,
                dimensions_map={"service": function_name},
                period=PERIOD,
                statistic="Sum",
            )
            self.metrics[(function_name, metric_name)] = metric
            alarm(f"{pascal(function_name)}{metric_name}Alarm", metric, description)
        for key_, dlq in dead_letter_queues.items():
            alarm(
                f"{pascal(key_)}DeadLettersAlarm",
                dlq.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                f"Messages of queue {key_} reached its dead-letter queue",
            )

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", default_interval=Duration.hours(3)
        )
        if api is not None:
            rest = api.rest_api
            self.dashboard.add_widgets(
                cloudwatch.TextWidget(markdown="# API", width=24, height=1),
                cloudwatch.GraphWidget(
                    title="API requests", left=[rest.metric_count(period=PERIOD)], width=6
                ),
                cloudwatch.GraphWidget(
                    title="API latency",
                    left=[
                        rest.metric_latency(period=PERIOD, statistic="p50"),
                        rest.metric_latency(period=PERIOD, statistic="p99"),
                    ],
                    width=6,
                ),
                cloudwatch.GraphWidget(
                    title="API 4XX", left=[rest.metric_client_error(period=PERIOD)], width=6
                ),
                cloudwatch.GraphWidget(
                    title="API 5XX", left=[rest.metric_server_error(period=PERIOD)], width=6
                ),
            )
        self.dashboard.add_widgets(cloudwatch.TextWidget(markdown="# Functions", width=24, height=1))
        for name, fn in functions.items():
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{name}: invocations / errors / throttles",
                    left=[
                        fn.metric_invocations(period=PERIOD),
                        fn.metric_errors(period=PERIOD),
                        fn.metric_throttles(period=PERIOD),
                    ],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title=f"{name}: duration",
                    left=[
                        fn.metric_duration(period=PERIOD, statistic="p50"),
                        fn.metric_duration(period=PERIOD, statistic="p99"),
                    ],
                    width=12,
                ),
            )
        if state_machines:
            self.dashboard.add_widgets(
                cloudwatch.TextWidget(markdown="# Workflows", width=24, height=1),
                *[
                    cloudwatch.GraphWidget(
                        title=f"{key_}: executions",
                        left=[
                            machine.metric_started(period=PERIOD),
                            machine.metric_succeeded(period=PERIOD),
                            machine.metric_failed(period=PERIOD),
                        ],
                        width=12,
                    )
                    for key_, machine in state_machines.items()
                ],
            )
        if self.metrics:
            self.dashboard.add_widgets(
                cloudwatch.TextWidget(markdown="# Business alarms", width=24, height=1),
                *[
                    cloudwatch.GraphWidget(title=f"{fname}: {mname}", left=[metric], width=12)
                    for (fname, mname), metric in self.metrics.items()
                ],
            )
