"""Build the OpenAPI document of the whole API: every function's routes and models, merged.

Security comes from the platform spec: a route that is public there has no security
requirement; every other operation requires the Cognito bearer token.
Run: ``python -m orchestre_local.openapi`` (writes functions/docs/openapi.json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from orchestre.api.http import API_VERSION
from orchestre.platform import FUNCTIONS, REPO_ROOT, match_route

from .files import atomic_write
from .functions import module

OUTPUT = REPO_ROOT / "functions" / "docs" / "openapi.json"
DESCRIPTION = """\
Orchestre is an open-source platform for public e-invoicing in France, modelled on Chorus Pro.

**Authentication**: create an account (`POST /v1/accounts`), get a token (`POST /v1/auth/token`), then send
`Authorization: Bearer <access_token>` on every other `/v1` route.

**Errors** are `application/problem+json` with a stable `code` and the `field` at fault.
**Updates** need `If-Match` with the ETag you read. **Creating POSTs** honour `Idempotency-Key`.
**Lists** are paginated with `limit` and `page_token`.
"""


def build() -> dict:
    doc: dict = {
        "openapi": "3.1.0",
        "info": {"title": "Orchestre API", "version": API_VERSION, "description": DESCRIPTION,
                 "license": {"name": "Apache-2.0"}},
        "servers": [{"url": "/"}],
        "paths": {},
        "components": {
            "schemas": {},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                               "description": "Cognito access token from POST /v1/auth/token"}
            },
        },
        "tags": [],
    }
    tags: dict[str, dict] = {}
    for fn in FUNCTIONS:
        if fn.name == "docs" or not fn.routes:
            continue
        spec = module(fn).app.get_openapi_json_schema()
        part = json.loads(spec) if isinstance(spec, str) else spec
        for path, operations in part.get("paths", {}).items():
            for method, operation in operations.items():
                matched = match_route(method.upper(), path.replace("{", "x").replace("}", "x"))
                public = bool(matched and matched[1].public)
                operation["security"] = [] if public else [{"bearerAuth": []}]
                responses = operation.setdefault("responses", {})
                if "204" in responses:  # no body: no "Successful Response" of JSON beside it
                    responses.pop("200", None)
                    responses["204"].pop("content", None)
                if "422" in responses:  # the validation errors are problems, as every other error
                    responses["422"] = {"description": "Invalid request (VALIDATION_ERROR and the domain's codes)",
                                        "content": {"application/problem+json": {
                                            "schema": {"$ref": "#/components/schemas/Problem"}}}}
                operation.setdefault("responses", {}).setdefault(
                    "4XX", {"description": "Problem", "content": {"application/problem+json": {
                        "schema": {"$ref": "#/components/schemas/Problem"}}}})
                doc["paths"].setdefault(path, {})[method] = operation
        doc["components"]["schemas"].update({k: v for k, v in part.get("components", {}).get("schemas", {}).items()
                                             if k not in ("HTTPValidationError", "ValidationError")})
        for tag in part.get("tags", []) or []:
            tags[tag["name"]] = tag
    doc["components"]["schemas"]["Problem"] = {
        "type": "object",
        "required": ["type", "title", "status", "code", "detail"],
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "code": {"type": "string", "description": "Stable error code"}, "detail": {"type": "string"},
            "field": {"type": "string", "description": "The field at fault"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}}}},
            "correlation_id": {"type": "string"},
        },
    }
    doc["tags"] = sorted(tags.values(), key=lambda t: t["name"])
    return doc


def write(path: Path = OUTPUT) -> Path:
    """Written whole, then renamed into place: a reader (the docs function) never sees half of it."""
    atomic_write(path, json.dumps(build(), indent=1, sort_keys=False))
    return path


if __name__ == "__main__":
    out = write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT)
    print(f"wrote {out.relative_to(REPO_ROOT)}")
