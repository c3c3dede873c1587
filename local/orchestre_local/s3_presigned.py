"""Presigned S3 URLs checked as S3 checks them: signature (SigV4, query form) and expiry.

moto does not check a presigned URL's signature. The platform signs its upload URLs for their
``Content-Type`` (``POST /v1/uploads`` returns the headers to send); S3 answers a ``PUT`` with
another type ``403 SignatureDoesNotMatch``. moto instead tried to parse the body as the form that
curl's default ``Content-Type`` announces and hung. Here, as on AWS, a presigned request whose
signature does not match what was sent, or that expired, gets S3's 403 error document, and the
body is read off first, so the connection stays usable. The local credentials are fixed
(``local``/``local``, runtime.py). Touches moto internals (its WSGI application): pinned.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

SECRET = "local"
_UNRESERVED = "-_.~"


def _canonical_query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe=_UNRESERVED)}={quote(v, safe=_UNRESERVED)}"
                    for k, v in sorted(pairs) if k != "X-Amz-Signature")


def _header(environ: dict[str, Any], name: str) -> str:
    if name == "host":
        return environ.get("HTTP_HOST", "")
    if name == "content-type":
        return environ.get("CONTENT_TYPE", "")
    if name == "content-length":
        return environ.get("CONTENT_LENGTH", "")
    return environ.get("HTTP_" + name.upper().replace("-", "_"), "")


def check(environ: dict[str, Any], now: datetime | None = None) -> str | None:
    """None if the request is not presigned or its signature holds; else S3's error code."""
    pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    query = dict(pairs)
    if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or "X-Amz-Signature" not in query:
        return None
    try:
        stamp = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(query.get("X-Amz-Expires", "604800"))
        _, day, region, service, _ = query["X-Amz-Credential"].split("/")
        signed = query["X-Amz-SignedHeaders"].split(";")
    except (KeyError, ValueError):
        return "AuthorizationQueryParametersError"
    if (now or datetime.now(UTC)) > stamp + timedelta(seconds=expires):
        return "AccessDenied"  # "Request has expired"
    raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(environ.get("PATH_INFO", "/"))
    path = quote(unquote(raw_path.split("?", 1)[0]), safe="/" + _UNRESERVED)
    headers = "".join(f"{h}:{' '.join(_header(environ, h).split())}\n" for h in signed)
    canonical = "\n".join([environ["REQUEST_METHOD"], path, _canonical_query(pairs), headers, ";".join(signed),
                           "UNSIGNED-PAYLOAD"])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", query["X-Amz-Date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + SECRET).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(expected, query["X-Amz-Signature"]) else "SignatureDoesNotMatch"


MESSAGES = {
    "SignatureDoesNotMatch": "The request signature we calculated does not match the signature you provided. "
                             "Send exactly the headers the URL was signed for (POST /v1/uploads returns them).",
    "AccessDenied": "Request has expired",
    "AuthorizationQueryParametersError": "The presigned URL's query parameters are not valid.",
}


def install() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__
    if getattr(original, "_orchestre_presigned", False):
        return

    def __call__(self, environ, start_response):
        code = check(environ)
        if code is None:
            return original(self, environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        stream = environ.get("wsgi.input")
        while length > 0 and stream is not None:  # read the body off: the connection stays usable
            chunk = stream.read(min(length, 1 << 16))
            if not chunk:
                break
            length -= len(chunk)
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{MESSAGES[code]}</Message></Error>").encode()
        start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
        return [body]

    __call__._orchestre_presigned = True
    DomainDispatcherApplication.__call__ = __call__
