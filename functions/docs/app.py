"""The OpenAPI document of the whole API and its Swagger UI (served offline, assets inlined).

``openapi.json`` beside this file is built from every function's routes and pydantic models by
``python -m orchestre_local.openapi`` (``make openapi``; ``make run``, ``make test`` and
``make synth`` build it first).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from aws_lambda_powertools.event_handler import Response, content_types

from orchestre.api.http import create_app, make_handler

app = create_app()
SPEC_FILE = Path(__file__).with_name("openapi.json")


@cache
def _spec() -> str:
    return SPEC_FILE.read_text(encoding="utf-8")


@cache
def _swagger_html() -> str:
    from aws_lambda_powertools.event_handler.openapi import swagger_ui
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    assets = Path(swagger_ui.__file__).parent
    js = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    css = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
    return generate_swagger_html(_spec(), js, css, "", None, persist_authorization=True)


@app.get("/openapi.json", include_in_schema=False)
def openapi():
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=_spec())


@app.get("/swagger", include_in_schema=False)
def swagger():
    if (app.current_event.query_string_parameters or {}).get("format") == "json":  # as Powertools' own UI does
        return openapi()
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=_swagger_html())


handler = make_handler(app)
