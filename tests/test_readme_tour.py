"""The README's API tour, run as a new user runs it: every ``sh`` block of the "API tour with curl"
section, in order, pasted into one bash session, against a platform started as ``make run`` starts
it (``python -m orchestre_local``, its own ports and data folder).

A block fails the test when it exits non-zero, writes to stderr (a traceback, a curl error, a bash
error), prints a problem document (an error answer of the API), or takes more than 10 seconds. A
capability's tour section is checked here from the day it is written.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCK_SECONDS = 10.0
PROBLEM = re.compile(r'"type":\s*"https://orchestre\.dev/problems/[a-z0-9-]+"')

pytestmark = pytest.mark.slow


def tour_blocks(readme: str) -> list[str]:
    """The ``sh`` blocks of the section "## API tour with curl" (up to the next ``## `` heading)."""
    start = readme.index("## API tour with curl")
    end = readme.find("\n## ", start + 1)
    section = readme[start:end if end != -1 else None]
    return re.findall(r"^```sh\n(.*?)^```", section, flags=re.S | re.M)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Platform:
    """``python -m orchestre_local`` in a subprocess, as ``make run`` starts it."""

    def __init__(self, state_dir: Path):
        self.api_port, self.aws_port = free_port(), free_port()
        self.state_dir = state_dir
        self.proc: subprocess.Popen | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 120.0) -> Platform:
        self.output = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestre_local", "--port", str(self.api_port), "--aws-port", str(self.aws_port),
             "--state-dir", str(self.state_dir)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump():
            for line in self.proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("the platform stopped:\n" + "".join(self.output))
            self.output.append(line)
            if "Ctrl-C to stop." in line:
                threading.Thread(target=lambda: [self.output.append(x) for x in iter(lines.get, None)],
                                 daemon=True).start()
                return self
        raise AssertionError("the platform did not start:\n" + "".join(self.output))

    def stop(self, sig=signal.SIGINT) -> int:
        """Stop it as Ctrl-C does (its data is saved); the exit code."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def adapt(self, block: str) -> str:
        """The block with this platform's ports instead of make run's."""
        return block.replace("127.0.0.1:3000", f"127.0.0.1:{self.api_port}").replace(
            "127.0.0.1:4566", f"127.0.0.1:{self.aws_port}")


class Shell:
    """One bash session: blocks are sourced one after the other, so variables carry over."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.proc = subprocess.Popen(["bash", "--norc", "--noprofile"], cwd=REPO, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        for stream, q in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, q=q: [q.put(line) for line in s], daemon=True).start()

    def run(self, n: int, block: str, timeout: float) -> tuple[int | None, str, str, float]:
        script = self.workdir / f"block-{n}.sh"
        script.write_text(block, encoding="utf-8")
        marker = f"__block_{n}_done__"
        started = time.perf_counter()
        self.proc.stdin.write(f"source {script} </dev/null; echo \"{marker} $?\"; echo {marker} >&2\n")
        self.proc.stdin.flush()
        out, err, rc = [], [], None
        deadline = started + timeout
        out_done = err_done = False
        while not (out_done and err_done) and time.perf_counter() < deadline:
            for q, lines, is_out in ((self.out, out, True), (self.err, err, False)):
                try:
                    line = q.get(timeout=0.05)
                except queue.Empty:
                    continue
                if marker in line:  # after the block's last output, which may not end its line
                    lines.append(line[:line.index(marker)])
                    if is_out:
                        rc, out_done = int(line[line.index(marker):].split()[1]), True
                    else:
                        err_done = True
                else:
                    lines.append(line)
        return rc, "".join(out), "".join(err), time.perf_counter() - started

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def tour_platform(tmp_path_factory):
    platform = Platform(tmp_path_factory.mktemp("tour-state")).start()
    yield platform
    if platform.proc.poll() is None:
        platform.stop()


def test_the_tour_has_blocks():
    blocks = tour_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 10, "the README's tour lost its blocks"


def test_readme_tour(tour_platform, tmp_path):
    if shutil.which("bash") is None or shutil.which("curl") is None:
        pytest.fail("the tour needs bash and curl, as the README says")
    blocks = tour_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    shell = Shell(tmp_path)
    try:
        for n, block in enumerate(blocks, 1):
            rc, out, err, seconds = shell.run(n, tour_platform.adapt(block), BLOCK_SECONDS)
            where = f"README tour block {n}:\n{block}\n--- stdout ---\n{out[-3000:]}\n--- stderr ---\n{err[-3000:]}"
            assert rc is not None, f"took more than {BLOCK_SECONDS:.0f} s. {where}"
            assert seconds <= BLOCK_SECONDS, f"took {seconds:.1f} s. {where}"
            assert rc == 0, f"exit status {rc}. {where}"
            assert not err.strip(), f"wrote to stderr. {where}"
            assert not PROBLEM.search(out), f"printed an error answer. {where}"
    finally:
        shell.close()
    # the tour's last block put the clock back to real time
    assert abs(_clock_offset(tour_platform)) < 1


def _clock_offset(platform: Platform) -> float:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{platform.api_port}/_local/clock", timeout=5) as r:  # noqa: S310
        return json.load(r)["offset_seconds"]
