"""Lambda event source mappings on this machine: SQS queues polled, batches handed to functions.

As on AWS: a batch of up to ``batch_size`` messages becomes an ``aws:sqs`` event; the function
reports failed items (``batchItemFailures``), the others are deleted; a failed or crashed
invocation leaves the messages to reappear after the visibility timeout, and the queue's redrive
policy moves a message to its dead-letter queue after ``max_receive_count`` receives.
"""

from __future__ import annotations

import logging
import threading

import boto3

from orchestre import platform as spec

from .functions import Containers, FunctionError

log = logging.getLogger("orchestre_local.events")


class QueuePoller:
    def __init__(self, queue: spec.Queue, url: str, containers: Containers, region: str):
        self.queue = queue
        self.url = url
        self.containers = containers
        self.region = region
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"esm-{queue.key}", daemon=True)
        self.batches = 0

    def start(self) -> QueuePoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        sqs = boto3.client("sqs", region_name=self.region)
        arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        while not self._stop.is_set():
            try:
                out = sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=self.queue.batch_size,
                                          WaitTimeSeconds=1, AttributeNames=["All"], MessageAttributeNames=["All"])
            except Exception:  # noqa: BLE001 - the platform is stopping, or moto hiccuped: poll again
                if self._stop.wait(0.5):
                    return
                continue
            messages = out.get("Messages", [])
            if not messages:
                continue
            event = {"Records": [{
                "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": m.get("Attributes", {}), "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody"), "eventSource": "aws:sqs", "eventSourceARN": arn,
                "awsRegion": self.region,
            } for m in messages]}
            self.batches += 1
            try:
                result = self.containers.invoke(self.queue.consumer, event) or {}
            except FunctionError as exc:
                log.warning("%s failed on a batch of %d: %s", self.queue.consumer, len(messages), exc)
                continue  # nothing deleted: the messages come back after the visibility timeout
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages) if m["MessageId"] not in failed]
            if done:
                sqs.delete_message_batch(QueueUrl=self.url, Entries=done)
