"""One Lambda container: imports a function's handler once, then serves one request at a time.

Protocol on stdin/stdout, one JSON line each way: ``{"event", "context"}`` in, ``{"ok": response}``
or ``{"error": {"errorType", "errorMessage", "stackTrace"}}`` out. What the handler prints (its
logs) goes to stderr.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import traceback


def main(name: str) -> int:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the platform, which closes its containers
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the handler's stdout (Powertools logs) goes to stderr
    sys.stdout = sys.stderr
    from orchestre.platform import function

    from .functions import LambdaContext

    fn = function(name)
    from .iam import install

    install(name, os.environ.get("AWS_REGION", "eu-west-3"))  # the function's IAM policy, as on AWS
    spec = importlib.util.spec_from_file_location(f"lambda_function_{name}", fn.code_dir / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    sys.path.insert(0, str(fn.code_dir))
    spec.loader.exec_module(module)
    for line in sys.stdin:
        request = json.loads(line)
        context = LambdaContext(**request["context"])
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            reply = {"ok": module.handler(request["event"], context)}
        except Exception as exc:  # noqa: BLE001 - reported to the caller as Lambda does
            reply = {"error": {"errorType": type(exc).__name__, "errorMessage": str(exc),
                               "stackTrace": traceback.format_exc().splitlines()}}
        # what Lambda would bill (the handler's run, init excluded), and the CPU part of it
        reply["duration"] = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
        channel.write(json.dumps(reply, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
