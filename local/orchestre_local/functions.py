"""Lambda containers on this machine: the functions' handlers, each container its own process.

As on AWS, a container is one process that imports the handler once (a cold start) and then
serves one request at a time; concurrent requests to a function run in separate containers, so
races between them are real. (Containers cannot be threads of one process: Powertools keeps the
current event on the resolver class, shared by a whole process.)
"""

from __future__ import annotations

import importlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

from orchestre.platform import FUNCTIONS, REPO_ROOT, Function


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    region: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.time)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:123456789012:function:{self.function_name}"

    @property
    def function_version(self) -> str:
        return "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.time() - self.started)) * 1000))


class FunctionError(Exception):
    """The handler raised (Lambda's ``Unhandled`` function error) or the container died or timed out."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None):
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


@cache
def module(fn: Function) -> ModuleType:
    """The handler module imported in this process (used to build the OpenAPI document)."""
    root = str(REPO_ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(fn.module)


# The handler duration of this thread's last invocation, as the container measured it:
# ``last_invocation.wall`` / ``.cpu`` in seconds (the bench reads it; Lambda bills ``wall``).
last_invocation = threading.local()


class Container:
    def __init__(self, fn: Function):
        self.fn = fn
        env = dict(os.environ)
        paths = [str(REPO_ROOT / p) for p in ("shared", "local")] + [str(REPO_ROOT)]
        env["PYTHONPATH"] = os.pathsep.join(paths + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env["AWS_LAMBDA_FUNCTION_NAME"] = fn.name
        env["POWERTOOLS_SERVICE_NAME"] = fn.name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestre_local.worker", fn.name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=str(REPO_ROOT), text=True, bufsize=1,
        )

    def invoke(self, event: dict[str, Any], context: LambdaContext) -> Any:
        if self.proc.poll() is not None:
            raise FunctionError("ContainerDied", f"exit code {self.proc.returncode}")
        self.proc.stdin.write(json.dumps({"event": event, "context": asdict(context)}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], self.fn.timeout_s + 5)  # cold start included
        if not ready:
            self.close()
            raise FunctionError("TaskTimedOut", f"{self.fn.name} timed out after {self.fn.timeout_s} s")
        line = self.proc.stdout.readline()
        if not line:
            raise FunctionError("ContainerDied", f"exit code {self.proc.wait()}")
        reply = json.loads(line)
        duration = reply.get("duration") or {}
        last_invocation.wall, last_invocation.cpu = duration.get("wall", 0.0), duration.get("cpu", 0.0)
        if "error" in reply:
            err = reply["error"]
            raise FunctionError(err["errorType"], err["errorMessage"], err.get("stackTrace"))
        return reply["ok"]

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class ContainerPool:
    """The containers of one function: reused when idle, created on demand up to ``max_containers``."""

    def __init__(self, fn: Function, max_containers: int = 16):
        self.fn = fn
        self._idle: list[Container] = []
        self._all: list[Container] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_containers)
        self.cold_starts = 0

    @contextmanager
    def container(self):
        with self._slots:
            with self._lock:
                c = self._idle.pop() if self._idle else None
                if c is None:
                    c = Container(self.fn)
                    self._all.append(c)
                    self.cold_starts += 1
            try:
                yield c
            finally:
                if c.alive:
                    with self._lock:
                        self._idle.append(c)

    def invoke(self, event: dict[str, Any], region: str) -> Any:
        context = LambdaContext(self.fn.name, self.fn.memory_mb, self.fn.timeout_s, region)
        with self.container() as c:
            return c.invoke(event, context)

    def close(self) -> None:
        with self._lock:
            for c in self._all:
                c.close()
            self._all.clear()
            self._idle.clear()


class Containers:
    def __init__(self, region: str):
        self.region = region
        self._pools = {f.name: ContainerPool(f) for f in FUNCTIONS}

    def pool(self, name: str) -> ContainerPool:
        return self._pools[name]

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        return self._pools[name].invoke(event, self.region)

    def close(self) -> None:
        for p in self._pools.values():
            p.close()
