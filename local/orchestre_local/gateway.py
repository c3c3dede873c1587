"""A local stand-in for API Gateway: REST proxy events, the Cognito authorizer, the same handlers.

Routes come from ``orchestre.platform`` (what the CDK app deploys). A protected route gets its
bearer token checked as API Gateway's Cognito authorizer does: RS256 signature against the user
pool's published keys, issuer, expiry, ``token_use=access``, client id and scope. The claims are
passed in ``requestContext.authorizer.claims``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from urllib.request import urlopen

import jwt

from orchestre import platform as spec

from .functions import Containers, FunctionError

MAX_PAYLOAD = 10 * 1024 * 1024  # API Gateway's request payload limit
MAX_LAMBDA_PAYLOAD = 6 * 1024 * 1024  # a synchronous Lambda invocation's limit


def _problem(status: int, code: str, detail: str, request_id: str | None = None,
             headers: dict[str, str] | None = None, field: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """The gateway's own errors, shaped as API Gateway's gateway responses of the CDK app
    (``infra/orchestre_infra/api.py``, GATEWAY_PROBLEMS): problem+json with the correlation id."""
    body = {"type": f"https://orchestre.dev/problems/{code.lower().replace('_', '-')}", "title": detail,
            "status": status, "code": code, "detail": detail}
    if field:
        body["field"] = field
    out = {"Content-Type": "application/problem+json", **(headers or {})}
    if request_id:
        body["correlation_id"] = request_id
        out["X-Correlation-Id"] = request_id
    return status, out, json.dumps(body).encode()


class LocalAuthorizer:
    def __init__(self, jwks_url: str, region: str, pool_id: str, client_id: str):
        self.jwks_url = jwks_url
        self.issuer = f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"
        self.client_id = client_id
        self._keys: dict[str, Any] | None = None

    def _key(self, kid: str):
        if self._keys is None:
            with urlopen(self.jwks_url, timeout=5) as resp:  # noqa: S310 - loopback moto server
                jwks = json.load(resp)
            self._keys = {k["kid"]: jwt.PyJWK(k).key for k in jwks["keys"]}
        return self._keys.get(kid)

    def claims(self, authorization: str | None) -> dict[str, Any] | None:
        if not authorization:
            return None
        token = authorization.removeprefix("Bearer ").strip()
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            if not isinstance(kid, str):
                return None
            key = self._key(kid)
            if key is None:
                return None
            claims = jwt.decode(token, key, algorithms=["RS256"], issuer=self.issuer,
                                options={"require": ["exp", "iss", "sub"]})
        except jwt.PyJWTError:
            return None
        if claims.get("token_use") != "access" or claims.get("client_id") != self.client_id:
            return None
        if spec.AUTH_SCOPE not in str(claims.get("scope", "")).split():
            return None
        # API Gateway passes claims as strings; a list (cognito:groups) as its items joined by commas
        return {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in claims.items()}


class Gateway:
    """Turns HTTP requests into API Gateway REST proxy events and calls the functions' handlers."""

    def __init__(self, authorizer: LocalAuthorizer, region: str):
        self.authorizer = authorizer
        self.region = region
        self.containers = Containers(region)
        self.local_routes = None  # the /_local/... pages of the local platform (local_routes.LocalRoutes)

    def invoke_function(self, name: str, event: dict[str, Any]) -> Any:
        return self.containers.invoke(name, event)

    def close(self) -> None:
        self.containers.close()

    def handle(self, method: str, target: str, headers: dict[str, str] | None = None,
               body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        headers = dict(headers or {})
        request_id = str(uuid.uuid4())  # API Gateway's requestId: the correlation id of every answer
        url = urlsplit(target)
        # API Gateway hands functions the path and its parameters percent-decoded (an encoded slash
        # stays inside its segment)
        path = "/".join(unquote(segment).replace("/", "%2F") for segment in (url.path or "/").split("/"))
        if body and len(body) > MAX_LAMBDA_PAYLOAD:
            return _problem(413, "PAYLOAD_TOO_LARGE",
                            "The request exceeds the 6 MB a function accepts; upload the file with POST /v1/uploads.",
                            request_id)
        if path.startswith("/_local/") and self.local_routes is not None:
            answer = self.local_routes.handle(method, path, url.query, body, request_id)
            if answer is not None:
                status, out_headers, out = answer
                return status, {**out_headers, "X-Correlation-Id": request_id}, out
        matched = spec.match_route(method, path)
        # a resource of its own (not a {proxy+}) that does not serve this method: API Gateway answers
        # there, not the greedy resource above it
        exact = spec.allowed_methods(path, exact=True) if matched is None else []
        if matched is None and not exact:
            matched = spec.greedy_route(path)
        if matched is None:
            allowed = exact or spec.allowed_methods(path)
            if allowed:
                return _problem(405, "METHOD_NOT_ALLOWED", f"{method} is not served on {path}; use {', '.join(allowed)}.",
                                request_id, {"Allow": ", ".join(allowed)})
            return _problem(404, "ROUTE_NOT_FOUND", f"No route {method} {path}.", request_id)
        fn, route, params = matched
        claims = None
        if not route.public:
            auth = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
            claims = self.authorizer.claims(auth)
            if claims is None:
                return _problem(401, "UNAUTHENTICATED", "A valid bearer access token is required.", request_id,
                                {"WWW-Authenticate": 'Bearer realm="orchestre"'}, "Authorization")
        event = self._event(method, path, url.query, headers, body, route, params, claims, request_id)
        try:
            response = self.invoke_function(fn.name, event)
        except FunctionError as exc:  # API Gateway answers 502 when the integration fails
            return _problem(502, "BAD_GATEWAY", f"The {fn.name} function failed ({exc.error_type}).", request_id)
        status, out_headers, out = self._http_response(response)
        out_headers.setdefault("X-Correlation-Id", request_id)
        return status, out_headers, out

    def _event(self, method, path, query, headers, body, route, params, claims, request_id) -> dict[str, Any]:
        multi_q = parse_qs(query, keep_blank_values=True)
        multi_h: dict[str, list[str]] = {}
        for k, v in headers.items():
            multi_h.setdefault(k, []).append(v)
        is_b64 = False
        text = None
        if body:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text, is_b64 = base64.b64encode(body).decode(), True
        context: dict[str, Any] = {
            "requestId": request_id,
            "resourcePath": route.path,
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "identity": {"sourceIp": headers.get("X-Forwarded-For", "127.0.0.1")},
            "requestTimeEpoch": int(time.time() * 1000),
        }
        if claims is not None:
            context["authorizer"] = {"claims": claims}
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": {k: v[-1] for k, v in multi_h.items()} or None,
            "multiValueHeaders": multi_h or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_q.items()} or None,
            "multiValueQueryStringParameters": multi_q or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": context,
            "body": text,
            "isBase64Encoded": is_b64,
        }

    @staticmethod
    def _http_response(response: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        headers = dict(response.get("headers") or {})
        for k, values in (response.get("multiValueHeaders") or {}).items():
            headers[k] = ", ".join(values)
        body = response.get("body") or ""
        raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode("utf-8")
        return int(response.get("statusCode", 500)), headers, raw


def serve(gateway: Gateway, host: str, port: int, log=print) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _dispatch(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_PAYLOAD:
                status, headers, body = _problem(413, "PAYLOAD_TOO_LARGE",
                                                 "The request exceeds 10 MB; upload the file with POST /v1/uploads.",
                                                 str(uuid.uuid4()))
                self.close_connection = True
            else:
                raw = self.rfile.read(length) if length else None
                try:
                    status, headers, body = gateway.handle(self.command, self.path, dict(self.headers.items()), raw)
                except Exception as exc:  # noqa: BLE001 - a handler crash is a 502 at API Gateway too
                    log(f"!! {self.command} {self.path}: {type(exc).__name__}: {exc}")
                    status, headers, body = _problem(502, "BAD_GATEWAY", "The function failed.", str(uuid.uuid4()))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def __getattr__(self, name: str):
            # every method reaches the gateway (GET, TRACE, QUERY, anything), which answers 405 for
            # those a route does not serve, as API Gateway does
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

        def log_message(self, fmt, *args):  # one short line per request
            log(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}")

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="api-gateway", daemon=True).start()
    return server
