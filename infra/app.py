#!/usr/bin/env python3
"""Synthesize the Orchestre stack into cdk.out/ (no Docker, no CDK CLI needed).

    ORCHESTRE_LAYER_DIR=../build/layer python app.py     # what `make synth` runs

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
    # A relative ORCHESTRE_LAYER_DIR is taken from the current directory (make: infra/).
    layer_dir = Path(os.environ.get("ORCHESTRE_LAYER_DIR") or HERE.parent / "build" / "layer")
    layer_dir = layer_dir.resolve()
    # The CDK CLI sets CDK_OUTDIR; otherwise write next to this file (cdk.json's "output").
    outdir = os.environ.get("CDK_OUTDIR") or str(HERE / "cdk.out")
    app, _ = build_app(layer_dir=layer_dir, outdir=outdir)
    try:
        app.synth()
    except RuntimeError as exc:
        if "ValidationFailed" not in str(exc):
            raise
        # The findings were printed above by the CDK.
        sys.exit(f"synthesis refused by validation (cdk-nag): see {outdir}/validation-report.json")


if __name__ == "__main__":
    main()
