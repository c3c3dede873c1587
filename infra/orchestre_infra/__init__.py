"""CDK v2 app of Orchestre, generated from ``orchestre.platform`` (see infra/README.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from .stack import OrchestreStack

INFRA_DIR = Path(__file__).resolve().parents[1]
STACK_NAME = "Orchestre"

__all__ = ["CDK_JSON", "INFRA_DIR", "STACK_NAME", "OrchestreStack", "build_app", "cdk_json_context"]


CDK_JSON = INFRA_DIR.parent / "cdk.json"  # at the repository root, where the CDK CLI looks for it


def cdk_json_context() -> dict[str, Any]:
    """The "context" of the root cdk.json: feature flags and defaults (sender_domain).

    The CDK CLI passes it to the app itself (with `-c key=value` on top); `python infra/app.py`
    (make synth) and the tests do not go through the CLI, so they load it here to synthesize the
    same template.
    """
    return dict(json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"])


def build_app(
    *,
    layers_dir: str | Path,
    functions_root: str | Path | None = None,
    workflows_root: str | Path | None = None,
    outdir: str | Path | None = None,
    context: dict[str, Any] | None = None,
    spec: Any = None,
    nag: bool = True,
) -> tuple[cdk.App, OrchestreStack]:
    """The App with the Orchestre stack, cdk-nag AwsSolutions registered as a validation plugin.

    ``layers_dir`` holds one folder per layer of the spec (``<layers_dir>/<key>/python/...``),
    as ``python -m orchestre_local.build layers`` (make layers) writes them.

    With ``nag`` the synthesis fails on any unacknowledged AwsSolutions finding (errors and
    warnings alike) and the report is written to <outdir>/validation-report.json.
    """
    app = cdk.App(
        outdir=str(outdir) if outdir else None,
        context={**cdk_json_context(), **(context or {})},
    )
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    stack = OrchestreStack(
        app,
        STACK_NAME,
        layers_dir=layers_dir,
        functions_root=functions_root,
        workflows_root=workflows_root,
        spec=spec,
        env=cdk.Environment(account=account, region=region) if account or region else None,
    )
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app, stack
