#!/usr/bin/env python3
"""Synthesize the Orchestre stack into infra/cdk.out/ (no Docker, no CDK CLI needed).

    ORCHESTRE_LAYERS_DIR=build/layers .venv/bin/python infra/app.py     # what `make synth` runs

The CDK CLI runs it from the repository root through `make cdk-app` (the root cdk.json).

cdk-nag's AwsSolutions pack runs as a validation plugin: synthesis fails on any
unacknowledged finding and the report lands in cdk.out/validation-report.json.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "shared")]

from orchestre_infra import build_app  # noqa: E402


def main() -> None:
    # One folder per spec layer (<dir>/<key>/python/...), as `make layers` builds them.
    # A relative ORCHESTRE_LAYERS_DIR is taken from the current directory (make: the root).
    if os.environ.get("ORCHESTRE_LAYER_DIR") and not os.environ.get("ORCHESTRE_LAYERS_DIR"):
        sys.exit("ORCHESTRE_LAYER_DIR (one layer) is gone: set ORCHESTRE_LAYERS_DIR (make layers)")
    layers_dir = Path(os.environ.get("ORCHESTRE_LAYERS_DIR") or HERE.parent / "build" / "layers")
    layers_dir = layers_dir.resolve()
    # The CDK CLI sets CDK_OUTDIR; otherwise write next to this file (cdk.json's "output").
    outdir = os.environ.get("CDK_OUTDIR") or str(HERE / "cdk.out")
    app, _ = build_app(layers_dir=layers_dir, outdir=outdir)
    try:
        app.synth()
    except RuntimeError as exc:
        if "ValidationFailed" not in str(exc):
            raise
        # The findings were printed above by the CDK.
        sys.exit(f"synthesis refused by validation (cdk-nag): see {outdir}/validation-report.json")


if __name__ == "__main__":
    main()
