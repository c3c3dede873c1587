"""Build the Lambda layers of the platform spec for Lambda's Linux (x86_64, Python 3.12).

``python -m orchestre_local.build layers [DIR]`` writes DIR/<layer>/python/… for every layer of
``orchestre.platform.LAYERS`` (default DIR: build/layers): its pinned requirements as manylinux
wheels, and the domain package where the layer ships it. No Docker.

Each layer ships its bytecode, compiled by an interpreter of Lambda's Python version
(``unchecked-hash`` pycs: /opt is read-only and timestamps mean nothing there). Without it, every
cold start compiles pydantic, Powertools and the domain again. If no such interpreter is found
(``LAMBDA_PYTHON_BIN``, ``python3.12`` on the path, a pyenv install), the layer ships sources
only and says so.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from orchestre.platform import LAYERS, REPO_ROOT

LAMBDA_PYTHON = "3.12"


def build_layer(key: str, out: Path) -> Path:
    layer = next(l for l in LAYERS if l.key == key)
    target = out / key / "python"
    if target.parent.exists():
        shutil.rmtree(target.parent)
    target.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target", str(target),
         # Lambda's Python 3.12 runs on Amazon Linux 2023 (glibc 2.34)
         "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_24_x86_64",
         "--platform", "manylinux_2_28_x86_64", "--python-version", LAMBDA_PYTHON, "--implementation", "cp",
         "--only-binary=:all:", "-c", str(REPO_ROOT / "constraints.txt"),
         "-r", str(REPO_ROOT / "requirements" / layer.requirements)],
        check=True,
    )
    if key != "core":  # the core layer's packages are on the path already: do not ship them twice
        core_reqs = (REPO_ROOT / "requirements" / "runtime.txt").read_text()
        for line in core_reqs.splitlines():
            name = line.split("==")[0].strip().lower().replace("-", "_")
            if name and not name.startswith("#"):
                for path in target.glob(f"{name}*"):
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
    if layer.include_domain:
        shutil.copytree(REPO_ROOT / "shared" / "orchestre", target / "orchestre",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for cache in target.rglob("__pycache__"):  # pip compiled them for this interpreter, not Lambda's
        shutil.rmtree(cache, ignore_errors=True)
    compiler = lambda_python()
    if compiler:
        subprocess.run([compiler, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
                        str(target)], check=True, stdout=subprocess.DEVNULL)
    else:
        print(f"layer {key}: no Python {LAMBDA_PYTHON} here: shipped without bytecode (slower cold starts)")
    return target.parent


def lambda_python() -> str | None:
    """An interpreter of Lambda's Python version, to compile the layers' bytecode."""
    major, minor = LAMBDA_PYTHON.split(".")
    candidates = [os.environ.get("LAMBDA_PYTHON_BIN"), shutil.which(f"python{LAMBDA_PYTHON}"),
                  *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{LAMBDA_PYTHON}.*/bin/python{LAMBDA_PYTHON}")))]
    for candidate in candidates:
        if candidate and subprocess.run(
                [candidate, "-c", f"import sys; sys.exit(sys.version_info[:2] != ({major}, {minor}))"],
                capture_output=True).returncode == 0:
            return candidate
    return None


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "layers":
        print(__doc__)
        return 2
    out = Path(argv[1]) if len(argv) > 1 else REPO_ROOT / "build" / "layers"
    for layer in LAYERS:
        path = build_layer(layer.key, out)
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        print(f"layer {layer.key}: {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path} "
              f"({size / 1e6:.1f} MB unzipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
