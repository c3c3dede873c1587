"""Pages of the local platform only (never deployed), under ``/_local/``.

- ``GET /_local/emails``: the emails the platform sent (moto's SES keeps them), oldest first;
- ``GET /_local/clock``, ``POST /_local/clock`` ``{"advance": "P8D"}`` or ``{"reset": true}``: the
  domain's clock in every function (``clock.py``);
- ``POST /_local/schedules/run``: every scheduled job once, at once (``schedules.py``);
- ``GET|POST /_local/faults`` ``{"events:PutEvents": 2}``: the next AWS calls of that kind fail
  (``faults.py``).

Errors are problem+json, like the API's.
"""

from __future__ import annotations

import json
from typing import Any

from . import faults
from .clock import BadDuration, LocalClock
from .gateway import _problem
from .schedules import Scheduler

Answer = tuple[int, dict[str, str], bytes]


def _json(status: int, body: Any) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(body, ensure_ascii=False, default=str).encode()


class LocalRoutes:
    def __init__(self, region: str, clock: LocalClock, scheduler: Scheduler):
        self.region = region
        self.clock = clock
        self.scheduler = scheduler
        self.routes = {
            "/_local/emails": {"GET": self.emails},
            "/_local/clock": {"GET": self.read_clock, "POST": self.move_clock},
            "/_local/schedules/run": {"POST": self.run_schedules},
            "/_local/faults": {"GET": self.read_faults, "POST": self.arm_faults},
        }

    def handle(self, method: str, path: str, query: str, body: bytes | None, request_id: str) -> Answer | None:
        methods = self.routes.get(path.rstrip("/"))
        if methods is None:
            return None
        action = methods.get(method.upper())
        if action is None:
            return _problem(405, "METHOD_NOT_ALLOWED", f"{method} is not served on {path}.", request_id,
                            {"Allow": ", ".join(methods)})
        return action(body, request_id)

    def emails(self, _body, _request_id) -> Answer:
        from moto.ses.models import ses_backends

        out = []
        for account in ses_backends:
            backend = ses_backends[account].get(self.region)
            for m in getattr(backend, "sent_messages", []) if backend else []:
                out.append({"source": m.source, "destinations": m.destinations,
                            "subject": getattr(m, "subject", None), "body": getattr(m, "body", None)})
        return _json(200, out)

    def read_clock(self, _body, _request_id) -> Answer:
        return _json(200, self.clock.view())

    def move_clock(self, body: bytes | None, request_id: str) -> Answer:
        try:
            request = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return _problem(400, "MALFORMED_JSON", "The request body is not valid JSON.", request_id, field="body")
        if not isinstance(request, dict) or set(request) - {"advance", "reset"} or len(request) != 1:
            return _problem(422, "VALIDATION_ERROR", 'Send {"advance": "P8D"} (an ISO 8601 duration) or {"reset": true}.',
                            request_id, field="body")
        if "reset" in request:
            if request["reset"] is not True:
                return _problem(422, "VALIDATION_ERROR", "reset must be true.", request_id, field="reset")
            self.clock.reset()
        else:
            if not isinstance(request["advance"], str):
                return _problem(422, "VALIDATION_ERROR", "advance is an ISO 8601 duration string.", request_id,
                                field="advance")
            try:
                self.clock.advance(request["advance"])
            except BadDuration as exc:
                return _problem(422, "INVALID_DURATION", str(exc), request_id, field="advance")
        return _json(200, self.clock.view())

    def read_faults(self, _body, _request_id) -> Answer:
        return _json(200, {"pending": faults.pending(), "supported": list(faults.SUPPORTED)})

    def arm_faults(self, body: bytes | None, request_id: str) -> Answer:
        try:
            request = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return _problem(400, "MALFORMED_JSON", "The request body is not valid JSON.", request_id, field="body")
        if not isinstance(request, dict) or not request or any(
                k not in faults.SUPPORTED or not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 100
                for k, v in request.items()):
            return _problem(422, "VALIDATION_ERROR", f"Send {{operation: count (0-100)}} for {list(faults.SUPPORTED)}.",
                            request_id, field="body")
        for operation, count in request.items():
            faults.arm(operation, count)
        return self.read_faults(None, request_id)

    def run_schedules(self, _body, _request_id) -> Answer:
        ran = self.scheduler.run_all()
        return _json(200, {"now": self.clock.view()["now"], "ran": ran})
