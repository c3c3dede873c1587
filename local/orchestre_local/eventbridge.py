"""moto's EventBridge, made to deliver to Lambda functions and Step Functions state machines.

moto's ``PutEvents`` delivers to queues, log groups, archives, buses and API destinations; a rule
whose target is a function or a state machine matches and goes nowhere. Here, as on AWS:

Deliveries happen after ``PutEvents`` has answered (a thread pool), as EventBridge's are.

- a function target is invoked asynchronously with the event; a failed invocation is retried
  twice (AWS waits about 1 then 2 minutes; here ``RETRY_DELAYS_S``), then the event goes to the
  failures queue in Lambda's on-failure destination record (``requestPayload`` is the event);
- a state machine target starts an execution, with the event filtered by the target's
  ``InputPath`` (``$.detail``); a start that keeps failing goes to the target's dead-letter
  queue as EventBridge sends it there (the event as the body, ``ERROR_CODE``, ``ERROR_MESSAGE``,
  ``RULE_ARN`` and ``TARGET_ARN`` as message attributes).

Every delivery (queue ones too) is recorded in ``DELIVERIES`` once the bench asks for it. Touches moto
internals (``Rule.send_to_targets``): moto's version is pinned.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from .functions import Containers, FunctionError

log = logging.getLogger("orchestre_local.eventbridge")
RETRY_DELAYS_S = (0.5, 1.0)
# (perf_counter, "queue" | "function" | "state_machine", target ARN), kept once the bench calls
# ``record_deliveries()`` (a long ``make run`` would otherwise keep every delivery)
DELIVERIES: list[tuple[float, str, str]] = []
_recording = threading.Event()
_deliveries_lock = threading.Lock()


def record_deliveries() -> None:
    _recording.set()


def _record(kind: str, arn: str) -> None:
    if _recording.is_set():
        with _deliveries_lock:
            DELIVERIES.append((time.perf_counter(), kind, arn))


def _as_delivered(event: dict[str, Any]) -> dict[str, Any]:
    """The event as targets receive it: ``time`` in ISO 8601 (moto keeps a timestamp)."""
    out = dict(event)
    if isinstance(out.get("time"), (int, float, str)) and not str(out["time"]).endswith("Z"):
        try:
            out["time"] = datetime.fromtimestamp(float(out["time"]), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            pass
    return out


def _input(event: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    path = target.get("InputPath")
    if not path or path == "$":
        return event
    value: Any = event
    for part in path.removeprefix("$.").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}


class Deliverer:
    def __init__(self, containers: Containers, failures_queue_url: str, region: str):
        self.containers = containers
        self.failures_queue_url = failures_queue_url
        self.region = region
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="eventbridge")

    def _to_failures(self, body: dict[str, Any], attributes: dict[str, str] | None = None) -> None:
        from moto.sqs import sqs_backends

        account, name = self.failures_queue_url.rstrip("/").split("/")[-2:]
        try:
            sqs_backends[account][self.region].send_message(
                queue_name=name, message_body=json.dumps(body),
                message_attributes={k: {"data_type": "String", "string_value": v} for k, v in (attributes or {}).items()})
        except Exception:  # noqa: BLE001 - never silent: the event is in the log at least
            log.exception("event lost: the failures queue refused it: %s", json.dumps(body)[:2000])

    @staticmethod
    def _attempts(what: str, call) -> Exception | None:
        """``call()`` until it succeeds, waiting ``RETRY_DELAYS_S`` between attempts: None, or the
        last error once the attempts are spent."""
        error = None
        for attempt in range(len(RETRY_DELAYS_S) + 1):
            if attempt:
                time.sleep(RETRY_DELAYS_S[attempt - 1])
            try:
                call()
                return None
            except Exception as exc:  # noqa: BLE001 - every failure is retried, then dead-lettered
                error = exc
                log.warning("%s failed (attempt %d): %s", what, attempt + 1, exc)
        return error

    def invoke_async(self, function_arn: str, event: dict[str, Any]) -> None:
        name = function_arn.split(":function:")[-1].split(":")[0]
        request_id = str(uuid.uuid4())
        error = self._attempts(f"{name} on an event", lambda: self.containers.invoke(name, event))
        if error is None:
            return
        if not isinstance(error, FunctionError):  # the container could not run it: a failure too
            error = FunctionError(type(error).__name__, str(error))
        self._to_failures({
            "version": "1.0", "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {"requestId": request_id, "functionArn": function_arn,
                               "condition": "RetriesExhausted", "approximateInvokeCount": len(RETRY_DELAYS_S) + 1},
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": error.error_type, "errorMessage": error.message},
        })

    def start_execution(self, account: str, arn: str, target: dict[str, Any], event: dict[str, Any],
                        rule_arn: str) -> None:
        from moto.stepfunctions.responses import get_backend

        # EventBridge retries for up to a day; here, briefly
        error = self._attempts(f"starting {arn}", lambda: get_backend(account, self.region).start_execution(
            arn, str(uuid.uuid4()), json.dumps(_input(event, target))))
        if error is None:
            return
        # EventBridge's dead-letter message: the event as the body, the error in the attributes
        self._to_failures(event, {"ERROR_CODE": type(error).__name__, "ERROR_MESSAGE": str(error)[:256],
                                  "RULE_ARN": rule_arn, "TARGET_ARN": arn})


def _service(target: dict[str, Any]) -> str:
    arn = target.get("Arn", "")
    return arn.split(":")[2] if arn.count(":") >= 5 else ""


def install(containers: Containers, failures_queue_url: str, region: str) -> Deliverer:
    from moto.events.models import Rule

    deliverer = Deliverer(containers, failures_queue_url, region)
    original = getattr(Rule.send_to_targets, "_orchestre_original", Rule.send_to_targets)

    def send_to_targets(self, original_event, transform_input: bool = True) -> None:
        ours = [t for t in self.targets if _service(t) in ("lambda", "states")]
        if len(ours) < len(self.targets):  # queues and the rest, as moto does (it raises on ours)
            theirs = copy.copy(self)
            theirs.targets = [t for t in self.targets if t not in ours]
            original(theirs, original_event, transform_input)
        if not self.event_pattern.matches_event(original_event):
            return
        for target in self.targets:
            arn, service = target.get("Arn", ""), _service(target)
            if service == "sqs":
                _record("queue", arn)
            elif service == "lambda":
                _record("function", arn)
                deliverer.pool.submit(deliverer.invoke_async, arn, _as_delivered(original_event))
            elif service == "states":
                _record("state_machine", arn)
                deliverer.pool.submit(deliverer.start_execution, self.account_id, arn, target,
                                      _as_delivered(original_event), self.arn)

    send_to_targets._orchestre_original = original
    Rule.send_to_targets = send_to_targets
    return deliverer
