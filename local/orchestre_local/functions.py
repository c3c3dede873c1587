"""Load the functions' handlers in-process, as Lambda loads them from their folders.

Each function has a pool of "containers": independent instances of its handler module (own
resolver, own module state), created on demand (a cold start) and reused when idle. Concurrent
requests to one function run in separate containers, as on AWS, so races are real.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
import threading
from contextlib import contextmanager
from functools import cache
from types import ModuleType

from orchestre.platform import FUNCTIONS, REPO_ROOT, Function

_counter = itertools.count(1)


def load_fresh(fn: Function) -> ModuleType:
    """A new instance of the function's handler module (what a new Lambda container imports)."""
    name = f"_orchestre_container_{fn.name}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, fn.code_dir / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves the module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@cache
def module(fn: Function) -> ModuleType:
    """The function's module imported once by its package name (for building the OpenAPI document)."""
    root = str(REPO_ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(fn.module)


class ContainerPool:
    def __init__(self, fn: Function, max_containers: int = 32):
        self.fn = fn
        self._idle: list[ModuleType] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_containers)
        self.cold_starts = 0

    @contextmanager
    def container(self):
        with self._slots:
            with self._lock:
                mod = self._idle.pop() if self._idle else None
            if mod is None:
                mod = load_fresh(self.fn)
                with self._lock:
                    self.cold_starts += 1
            try:
                yield mod
            finally:
                with self._lock:
                    self._idle.append(mod)


@cache
def pool(name: str) -> ContainerPool:
    return ContainerPool(next(f for f in FUNCTIONS if f.name == name))
