"""Every route fuzzed from the OpenAPI document with schemathesis, as the demo users.

The platform is started as ``make run`` starts it (subprocess, demo data); schemathesis generates
requests for every operation (examples, edge cases, fuzzing, stateful sequences through the
documented links) and checks: no 5xx, every status and content type documented, every response
conforming to its schema, every error ``application/problem+json`` (the 4XX responses are
documented so), 405 with an exact ``Allow`` for undeclared methods, bad input rejected.

Left out, with its reason: ``positive_data_acceptance`` (a request valid by the schema is
expected to be accepted): the domain refuses schema-valid requests on purpose (a SIRET with a bad
Luhn digit, an unknown id, a status that may not follow), each with its 4xx problem.

``make test`` runs a bounded, reproducible pass (``FUZZ_SECONDS`` per user, fixed seed);
``make fuzz`` a long one with a new seed (``FUZZ_SECONDS=600 FUZZ_SEED=random``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from test_readme_tour import Platform

pytestmark = pytest.mark.slow
SECONDS = int(os.environ.get("FUZZ_SECONDS", "35"))  # per demo user: about 80 s in all
SEED = os.environ.get("FUZZ_SEED", "20261202")
DEMO = {"buyer": "acheteur@ville-demo.fr", "supplier": "fournisseur@societe-demo.fr"}
EXCLUDED_CHECKS = "positive_data_acceptance"


@pytest.fixture(scope="module")
def fuzz_platform(tmp_path_factory):
    platform = Platform(tmp_path_factory.mktemp("fuzz-state")).start()
    yield platform
    platform.stop()


def token(platform: Platform, email: str) -> str:
    body = json.dumps({"email": email, "password": "Orchestre-demo-2026"}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{platform.api_port}/v1/auth/token", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310 - loopback
        return json.load(r)["access_token"]


@pytest.mark.parametrize("who", sorted(DEMO))
def test_every_route_fuzzed(fuzz_platform, who, tmp_path):
    base = f"http://127.0.0.1:{fuzz_platform.api_port}"
    command = [str(Path(sys.executable).with_name("schemathesis")), "run", f"{base}/openapi.json",
               "-H", f"Authorization: Bearer {token(fuzz_platform, DEMO[who])}",
               "--checks", "all", "--exclude-checks", EXCLUDED_CHECKS,
               "--max-time", str(SECONDS), "--workers", "2", "--max-examples", "25",
               "--suppress-health-check", "all", "--report-dir", str(tmp_path)]
    if SEED != "random":
        command += ["--seed", SEED]
    run = subprocess.run(command, capture_output=True, text=True, timeout=SECONDS * 3 + 120,
                         env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""})
    summary = run.stdout[run.stdout.find("FAILURES"):] if "FAILURES" in run.stdout else run.stdout[-3000:]
    assert run.returncode == 0, f"schemathesis found failures as the demo {who}:\n{summary[:12000]}\n{run.stderr[-2000:]}"
    assert "Tested:" in run.stdout  # it did run the operations
