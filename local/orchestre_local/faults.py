"""Failures on demand, to test what the platform does when AWS fails (local platform only).

``POST /_local/faults`` ``{"events:PutEvents": 2}``: the next two ``PutEvents`` calls fail every
entry (``InternalFailure``, as EventBridge reports a failed entry; the call itself answers 200).
``GET /_local/faults`` shows what is left. Only the operations listed in ``SUPPORTED`` can fail.
Touches moto internals (its EventBridge backend): pinned.
"""

from __future__ import annotations

import threading

SUPPORTED = ("events:PutEvents",)
_pending: dict[str, int] = {}
_lock = threading.Lock()


def arm(operation: str, count: int) -> None:
    with _lock:
        _pending[operation] = max(0, count)


def pending() -> dict[str, int]:
    with _lock:
        return {k: v for k, v in _pending.items() if v}


def _take(operation: str) -> bool:
    with _lock:
        if _pending.get(operation, 0) > 0:
            _pending[operation] -= 1
            return True
        return False


def install() -> None:
    from moto.events.models import EventsBackend

    original = EventsBackend.put_events
    if getattr(original, "_orchestre_faults", False):
        return

    def put_events(self, events):
        if _take("events:PutEvents"):
            return [{"ErrorCode": "InternalFailure", "ErrorMessage": "Injected failure (POST /_local/faults)."}
                    for _ in events]
        return original(self, events)

    put_events._orchestre_faults = True
    EventsBackend.put_events = put_events
