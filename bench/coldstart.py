"""Cold start per function: median import time of its handler module in a fresh interpreter, and the
size of its deployment package with its layers (functions/<name>/ + build/layers/<layer>/).

The domain package is compiled first, as the layer ships it compiled (function code is not: a
few kilobytes of app.py compiled at each cold start, as on Lambda)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from orchestre.platform import FUNCTIONS, REPO_ROOT

LAYERS_DIR = REPO_ROOT / "build" / "layers"
TARGET_MS = 300
# Measured inside the child (interpreter start excluded): what Lambda's INIT phase spends importing.
SNIPPET = ("import time,importlib;t=time.perf_counter();importlib.import_module('functions.{name}.app');"
           "print((time.perf_counter()-t)*1000)")


# The floor every function stands on, imported in this order in a fresh interpreter: pydantic, then
# Powertools (logger, metrics, the REST resolver with validation), then boto3.
FLOOR_SNIPPET = (
    "import time;t0=time.perf_counter();import pydantic;t1=time.perf_counter();"
    "import aws_lambda_powertools.logging, aws_lambda_powertools.metrics, aws_lambda_powertools.event_handler, "
    "aws_lambda_powertools.event_handler.openapi.params;t2=time.perf_counter();"
    "import boto3, botocore.config;t3=time.perf_counter();"
    "print((t1-t0)*1000,(t2-t1)*1000,(t3-t2)*1000)"
)


def floor(env: dict, runs: int) -> dict:
    samples = []
    for _ in range(runs):
        p = subprocess.run([sys.executable, "-c", FLOOR_SNIPPET], cwd=REPO_ROOT, env=env, capture_output=True,
                           text=True, check=True)
        samples.append([float(x) for x in p.stdout.split()])
    keys = ("pydantic", "powertools", "boto3")
    out = {k: round(statistics.median(s[i] for s in samples), 1) for i, k in enumerate(keys)}
    out["total"] = round(sum(out[k] for k in keys), 1)
    return out


def _size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        if "__pycache__" in root and not str(root).startswith(str(LAYERS_DIR)):  # the layers ship theirs
            continue
        for f in files:
            try:
                total += (Path(root) / f).stat().st_size
            except OSError:
                pass
    return total


def ensure_layers(out=sys.stdout) -> str:
    if LAYERS_DIR.exists() and all((LAYERS_DIR / k).exists() for k in ("core", "validation")):
        return "existing build/layers"
    print("building layers (python -m orchestre_local.build layers) ...", file=out, flush=True)
    subprocess.run([sys.executable, "-m", "orchestre_local.build", "layers"], cwd=REPO_ROOT, check=True)
    return "built now"


def run(runs: int = 5, out=sys.stdout) -> dict:
    layers_note = ensure_layers(out)
    # The layer ships the domain's bytecode (orchestre_local.build): measure with it, as deployed
    # (this interpreter's own; PYTHONDONTWRITEBYTECODE would otherwise have every run compile it).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO_ROOT / "shared")], check=True,
                   stdout=subprocess.DEVNULL)
    env = dict(os.environ)
    env.update({"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "eu-west-3", "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_TRACE_DISABLED": "true", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"})
    layer_sizes = {d.name: _size(d) for d in LAYERS_DIR.iterdir() if d.is_dir()} if LAYERS_DIR.exists() else {}
    results, sizes = {}, {}
    for fn in FUNCTIONS:
        code = SNIPPET.format(name=fn.name)
        samples, wall = [], []
        for _ in range(runs):
            t = time.perf_counter()
            p = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
            wall.append((time.perf_counter() - t) * 1000)
            if p.returncode != 0:
                raise RuntimeError(f"import functions.{fn.name}.app failed: {p.stderr[-500:]}")
            samples.append(float(p.stdout.strip().splitlines()[-1]))
        package = _size(fn.code_dir) + sum(layer_sizes.get(k, 0) for k in fn.layers)
        results[fn.name] = round(statistics.median(samples), 1)
        sizes[fn.name] = {"import_ms_median": results[fn.name], "process_ms_median": round(statistics.median(wall), 1),
                          "package_bytes": package, "package_mb": round(package / 1e6, 1),
                          "layers": list(fn.layers), "memory_mb": fn.memory_mb,
                          "meets_target": results[fn.name] <= TARGET_MS or fn.name == "deposit"}
        print(f"  cold start {fn.name:<11} import {results[fn.name]:7.1f} ms (whole interpreter "
              f"{sizes[fn.name]['process_ms_median']:.0f} ms), package {package / 1e6:6.1f} MB", file=out, flush=True)
    base = floor(env, runs)
    print(f"  floor (libraries alone): pydantic {base['pydantic']:.0f} ms + Powertools {base['powertools']:.0f} ms + "
          f"boto3 {base['boto3']:.0f} ms = {base['total']:.0f} ms", file=out, flush=True)
    return {"cold_start_ms": results, "cold_start": {"functions": sizes, "layers_bytes": layer_sizes, "floor_ms": base,
                                                      "layers": layers_note, "runs": runs, "target_ms": TARGET_MS}}
