"""Work queues (SQS)."""

from __future__ import annotations

import json
from typing import Any

from . import aws


class WorkQueue:
    def __init__(self, env_name: str):
        self.env_name = env_name

    def send(self, body: dict[str, Any]) -> None:
        aws.client("sqs").send_message(QueueUrl=aws.env(self.env_name), MessageBody=json.dumps(body))
