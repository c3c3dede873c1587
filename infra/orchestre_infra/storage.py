"""Data stores built from the spec: DynamoDB tables, S3 buckets, SQS queues, the event bus and
its failures queue."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from . import nag
from .naming import pascal

# French accounting and tax law: invoices are kept 10 years (Code de commerce L123-22).
RETENTION_DAYS = 3653
# The "source" of every domain event the functions put on the bus (docs/events.md).
EVENT_SOURCE = "orchestre"
# EventBridge retries a failed delivery to a rule's target with backoff for up to this long, then
# puts the event in the target's dead-letter queue.
EVENT_MAX_AGE = Duration.hours(24)
EVENT_RETRY_ATTEMPTS = 185  # EventBridge's maximum (its default too)


class Storage(Construct):
    """Tables, buckets (plus their access-log bucket), queues, the custom event bus and its rules."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: Any) -> None:
        super().__init__(scope, construct_id)
        self.tables: dict[str, dynamodb.Table] = {}
        self.buckets: dict[str, s3.Bucket] = {}
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}

        for table in spec.TABLES:
            self.tables[table.key] = self._table(table)

        self.access_logs = self._access_logs_bucket() if spec.BUCKETS else None
        for bucket in spec.BUCKETS:
            self.buckets[bucket.key] = self._bucket(bucket)

        for queue in spec.QUEUES:
            self.queues[queue.key], self.dead_letter_queues[queue.key] = self._queue(queue)

        for bucket in spec.BUCKETS:
            self._notify(bucket)
        if any(b.notifications for b in spec.BUCKETS):
            self._acknowledge_notifications_handler()

        self.event_bus = events.EventBus(self, "EventBus", description="Orchestre domain events")
        # Events a rule's function failed on three times (Lambda's on-failure destination) or that
        # EventBridge could not deliver to a function or workflow: alarmed as a dead-letter queue.
        # (The rules are made with their targets, in Compute.)
        self.event_failures = sqs.Queue(
            self,
            "EventFailuresQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        nag.acknowledge(self.event_failures, "AwsSolutions-SQS3", nag.EVENT_FAILURES_QUEUE)
        self.dead_letter_queues["events"] = self.event_failures

    # -- DynamoDB -----------------------------------------------------------------------
    def _table(self, t: Any) -> dynamodb.Table:
        string = dynamodb.AttributeType.STRING
        table = dynamodb.Table(
            self,
            f"{pascal(t.key)}Table",
            partition_key=dynamodb.Attribute(name=t.pk, type=string),
            sort_key=dynamodb.Attribute(name=t.sk, type=string) if t.sk else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=t.ttl_attribute,
            removal_policy=RemovalPolicy.RETAIN,
            stream=dynamodb.StreamViewType[t.stream] if getattr(t, "stream", None) else None,
        )
        for index in t.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(name=index.pk, type=string),
                sort_key=dynamodb.Attribute(name=index.sk, type=string) if index.sk else None,
                projection_type=dynamodb.ProjectionType[index.projection],
            )
        return table

    # -- S3 -----------------------------------------------------------------------------
    def _access_logs_bucket(self) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            # Server access logging only delivers to SSE-S3 buckets.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="archive-then-expire-access-logs",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=Duration.days(90),
                        )
                    ],
                    expiration=Duration.days(RETENTION_DAYS),
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
        )
        # cdk-nag S1 (access logging) treats the log destination of other buckets as compliant.
        return bucket

    def _bucket(self, b: Any) -> s3.Bucket:
        return s3.Bucket(
            self,
            f"{pascal(b.key)}Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=b.versioned,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{b.key}/",
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=self._retention_rules(b.versioned),
        )

    @staticmethod
    def _retention_rules(versioned: bool) -> list[s3.LifecycleRule]:
        """10-year retention: nothing current expires; old versions get cheaper, then go."""
        rules = [
            s3.LifecycleRule(
                id="intelligent-tiering",
                transitions=[
                    s3.Transition(
                        storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                        transition_after=Duration.days(30),
                    )
                ],
                abort_incomplete_multipart_upload_after=Duration.days(7),
            )
        ]
        if versioned:
            rules.append(
                s3.LifecycleRule(
                    id="noncurrent-versions-to-archive",
                    noncurrent_version_transitions=[
                        s3.NoncurrentVersionTransition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(30),
                        ),
                        s3.NoncurrentVersionTransition(
                            storage_class=s3.StorageClass.GLACIER,
                            transition_after=Duration.days(90),
                        ),
                    ],
                    # An overwritten or deleted document is still kept for the legal period.
                    noncurrent_version_expiration=Duration.days(RETENTION_DAYS),
                )
            )
        return rules

    def _notify(self, b: Any) -> None:
        """ObjectCreated events under each prefix go to the queue (e.g. EDI drops to the flows queue).

        The CDK writes the configuration with a Custom::S3BucketNotifications resource (a stack-wide
        handler function) and adds the queue policy statement letting S3 send from this bucket.
        The queues use SSE-SQS: S3 needs no KMS key policy to send to them.
        """
        for prefix, queue_key in b.notifications:
            if queue_key not in self.queues:
                raise ValueError(f"bucket {b.key!r}: notification to unknown queue {queue_key!r}")
            if not prefix:
                raise ValueError(f"bucket {b.key!r}: notification to {queue_key!r} needs a key prefix")
            self.buckets[b.key].add_event_notification(
                s3.EventType.OBJECT_CREATED,
                s3n.SqsDestination(self.queues[queue_key]),
                s3.NotificationKeyFilter(prefix=prefix),
            )

    def _acknowledge_notifications_handler(self) -> None:
        """The CDK's stack-wide handler of Custom::S3BucketNotifications (aws-s3 internals)."""
        stack = Stack.of(self)
        (handler,) = [c for c in stack.node.children if c.node.id.startswith("BucketNotificationsHandler")]
        nag.acknowledge(
            handler.node.find_child("Role"),
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "Role of the CDK's built-in handler that writes the buckets' notification configuration "
            "during deployments (not configurable from aws-s3): AWSLambdaBasicExecutionRole only lets "
            "it write its logs; its one other permission, s3:PutBucketNotification, is scoped to the "
            "notified buckets.",
        )

    # -- SQS ----------------------------------------------------------------------------
    def _queue(self, q: Any) -> tuple[sqs.Queue, sqs.Queue]:
        name = pascal(q.key)
        dlq = sqs.Queue(
            self,
            f"{name}DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        queue = sqs.Queue(
            self,
            f"{name}Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(q.visibility_timeout_s),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=q.max_receive_count),
        )
        return queue, dlq
