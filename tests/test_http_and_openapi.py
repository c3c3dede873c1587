"""The platform over real HTTP, and the OpenAPI document against the platform spec."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from orchestre import platform as spec
from orchestre.platform import match_route


def _http(platform, method, path, body=None, token=None, headers=None):
    req = urllib.request.Request(platform.api_url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_tour_over_http(platform, new_user):
    u = new_user()
    status, headers, body = _http(platform, "GET", "/v1/me", token=u.token)
    assert status == 200 and json.loads(body)["user"]["email"] == u.email
    assert headers.get("X-Correlation-Id")
    status, headers, body = _http(platform, "GET", "/v1/me")
    assert status == 401 and headers["Content-Type"] == "application/problem+json"
    status, _, body = _http(platform, "GET", "/swagger")
    assert status == 200 and b"swagger-ui" in body and b"<html" in body.lower()
    status, _, body = _http(platform, "GET", "/openapi.json")
    assert status == 200 and json.loads(body)["info"]["title"] == "Orchestre API"


def test_problem_for_handler_crash_is_not_a_leak(platform):
    status, _, body = _http(platform, "POST", "/v1/auth/token", {"email": "a@b.fr"})
    assert status == 422 and json.loads(body)["field"] == "password"


@pytest.fixture(scope="module")
def openapi(platform):
    from orchestre_local.openapi import build

    return build()


def test_every_operation_is_documented_with_the_right_security(openapi):
    ops = [(m.upper(), p, op) for p, item in openapi["paths"].items() for m, op in item.items()]
    assert len(ops) >= 20
    for method, path, op in ops:
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        matched = match_route(method, concrete)
        assert matched is not None, f"{method} {path} is not routed by the platform spec"
        public = matched[1].public
        assert op["security"] == ([] if public else [{"bearerAuth": []}]), (method, path)
        assert "4XX" in op["responses"] and op.get("summary"), (method, path)
    # every spec route (but the docs) serves at least one documented operation
    for fn in spec.FUNCTIONS:
        if fn.name == "docs":
            continue
        for route in fn.routes:
            assert any(match_route(m, re.sub(r"\{[^}]+\}", "x", p)) and
                       match_route(m, re.sub(r"\{[^}]+\}", "x", p))[1] == route for m, p, _ in ops), route.path


def test_request_bodies_forbid_unknown_fields(openapi):
    schemas = openapi["components"]["schemas"]
    for name in ("CreateStructure", "UpdateStructure", "CreateService", "RequestAttachment", "SignUp"):
        assert schemas[name].get("additionalProperties") is False, name


@pytest.mark.parametrize("method,path,expected", [
    ("GET", "/v1/structures", ("structures", "/v1/structures")),
    ("POST", "/v1/structures/abc/services", ("structures", "/v1/structures/{proxy+}")),
    ("POST", "/v1/accounts", ("accounts", "/v1/accounts")),
    ("GET", "/v1/accounts", None),
    ("GET", "/v1/directory/structures", ("directory", "/v1/directory/{proxy+}")),
    ("GET", "/v1/directory", None),
    ("GET", "/openapi.json", ("docs", "/openapi.json")),
    ("DELETE", "/v1/me", None),
])
def test_route_matching(method, path, expected):
    got = match_route(method, path)
    assert (got and (got[0].name, got[1].path)) == expected


def _problem(status, headers, body, expected_status, code):
    assert status == expected_status, (status, body)
    assert headers["Content-Type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["code"] == code and problem["status"] == expected_status
    # the correlation id is in the header and the body, as for the functions' own problems
    assert problem["correlation_id"] == headers["X-Correlation-Id"] and len(problem["correlation_id"]) == 36
    return problem


def test_the_gateway_own_errors_are_problems_with_a_correlation_id(platform, new_user):
    problem = _problem(*_http(platform, "GET", "/v1/me"), 401, "UNAUTHENTICATED")
    assert problem["field"] == "Authorization"
    _problem(*_http(platform, "GET", "/v1/nothing-here"), 404, "ROUTE_NOT_FOUND")
    big = b"{" + b" " * (6 * 1024 * 1024 + 10) + b"}"
    req = urllib.request.Request(platform.api_url + "/v1/validations", method="POST", data=big,
                                 headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=30)
    except urllib.error.HTTPError as err:
        _problem(err.code, dict(err.headers), err.read(), 413, "PAYLOAD_TOO_LARGE")
    else:
        raise AssertionError("a 6 MB body was accepted")


@pytest.mark.parametrize("method,path,allow", [
    ("DELETE", "/v1/me", "GET"),              # a route of explicit methods: the gateway answers
    ("PUT", "/v1/accounts", "POST"),
    ("DELETE", "/v1/structures", "GET, POST"),
    ("TRACE", "/openapi.json", "GET"),
])
def test_a_wrong_method_on_a_known_path_is_405(platform, method, path, allow):
    status, headers, body = _http(platform, method, path)
    _problem(status, headers, body, 405, "METHOD_NOT_ALLOWED")
    assert headers["Allow"] == allow


def test_a_wrong_method_on_a_function_path_is_405(platform, new_user, new_structure):
    """Paths served by ANY (/v1/structures/{proxy+}): the function's resolver answers 405 itself."""
    user = new_user()
    sid = new_structure(user)["structure_id"]
    status, headers, body = _http(platform, "DELETE", f"/v1/structures/{sid}/services", token=user.token)
    _problem(status, headers, body, 405, "METHOD_NOT_ALLOWED")
    assert headers["Allow"] == "GET, POST"
    _problem(*_http(platform, "GET", f"/v1/structures/{sid}/nothing", token=user.token), 404, "ROUTE_NOT_FOUND")


def test_swagger_serves_its_document_as_json(platform):
    status, headers, body = _http(platform, "GET", "/swagger?format=json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["openapi"].startswith("3.1")
