"""moto's Lambda backend, made to run the real handlers.

Without Docker, moto's Lambda only echoes payloads. Workflows (Step Functions ``lambda:invoke``
tasks) call functions through it, so its ``invoke`` is replaced by a call into the local
containers, with Lambda's error contract: a handler exception is a function error ``Unhandled``
with ``errorType`` and ``errorMessage``. This touches moto internals: moto's version is pinned.
"""

from __future__ import annotations

import json
from typing import Any

from .functions import Containers, FunctionError


def install(containers: Containers) -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(self, function_name: str, qualifier: str | None, body: Any, headers: Any,
               response_headers: Any) -> bytes:
        name = function_name.split(":function:")[-1].split(":")[0]
        payload = json.loads(body) if body else {}
        try:
            result = containers.invoke(name, payload)
        except FunctionError as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": exc.error_type, "errorMessage": exc.message,
                               "stackTrace": exc.trace}).encode()
        return json.dumps(result).encode()

    LambdaSimpleBackend.invoke = invoke
