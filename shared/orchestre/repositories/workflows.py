"""Step Functions workflows (``platform.STATE_MACHINES``): starting them (the ARN comes from the environment),
ending the waits on a task token."""

from __future__ import annotations

import json
import secrets
from typing import Any

from . import aws


class WorkflowStarter:
    def start(self, arn_env: str, name_prefix: str, payload: dict[str, Any]) -> str:
        """Start an execution (a name of its own: a re-run is a new execution); its ARN."""
        out = aws.client("stepfunctions").start_execution(
            stateMachineArn=aws.env(arn_env), name=f"{name_prefix}-{secrets.token_hex(6)}"[:80],
            input=json.dumps(payload))
        return out["executionArn"]


class TaskTokens:
    def succeed(self, token: str, output: dict[str, Any]) -> bool:
        """End a workflow's wait (False: the wait is over already: timed out, or ended by another call)."""
        from botocore.exceptions import ClientError

        try:
            aws.client("stepfunctions").send_task_success(taskToken=token, output=json.dumps(output))
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
                return False
            raise
