"""The local platform's own pages (never deployed): the clock, the scheduled jobs, presigned URLs
checked as S3 checks them."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from orchestre import platform as spec
from orchestre_local.clock import BadDuration, add_duration
from orchestre_local.schedules import cron_matches, rate_seconds


def test_the_clock_moves_every_function(api, new_user, new_structure, clock):
    before = api.get("/_local/clock").json
    assert before["offset_seconds"] == 0
    moved = clock.advance("P1DT2H")
    assert 93_500 < moved["offset_seconds"] < 93_700
    user = new_user()  # tokens keep real time: signing in and calling still work
    created = new_structure(user)["created_at"]  # written by the structures function's clock
    assert created[:10] == (datetime.now(UTC) + timedelta(days=1, hours=2)).date().isoformat()
    clock.advance("P8D")
    assert 784_700 < api.get("/_local/clock").json["offset_seconds"] < 784_900  # the moves add up
    clock.reset()
    assert api.get("/_local/clock").json["offset_seconds"] == 0


@pytest.mark.parametrize("body,status,code,field", [
    ({"advance": "-P1D"}, 422, "INVALID_DURATION", "advance"),      # time only moves forward
    ({"advance": "8 days"}, 422, "INVALID_DURATION", "advance"),
    ({"advance": "P"}, 422, "INVALID_DURATION", "advance"),
    ({"advance": "P100Y"}, 422, "INVALID_DURATION", "advance"),
    ({"advance": 8}, 422, "VALIDATION_ERROR", "advance"),
    ({"reset": False}, 422, "VALIDATION_ERROR", "reset"),
    ({"advance": "P1D", "reset": True}, 422, "VALIDATION_ERROR", "body"),
    ({"when": "tomorrow"}, 422, "VALIDATION_ERROR", "body"),
])
def test_bad_clock_moves_change_nothing(api, body, status, code, field):
    r = api.post("/_local/clock", body)
    assert r.status == status and r.json["code"] == code and r.json["field"] == field, r
    assert r.header("Content-Type") == "application/problem+json" and r.header("X-Correlation-Id")
    assert api.get("/_local/clock").json["offset_seconds"] == 0


def test_local_pages_refuse_other_methods_and_bad_json(api):
    r = api.get("/_local/schedules/run")
    assert r.status == 405 and r.header("Allow") == "POST"
    r = api.post("/_local/clock", raw=b"{not json")
    assert r.status == 400 and r.json["code"] == "MALFORMED_JSON"


def test_every_scheduled_job_runs_once(api):
    ran = api.post("/_local/schedules/run").json["ran"]
    assert [(r["function"], r["schedule"]) for r in ran] == [(f.name, f.schedule) for f in spec.FUNCTIONS if f.schedule]
    assert all(r["ok"] for r in ran), ran


@pytest.mark.parametrize("start,duration,expected", [
    ("2026-01-31T10:00:00", "P1M", "2026-02-28T10:00:00"),
    ("2028-01-31T10:00:00", "P1M", "2028-02-29T10:00:00"),
    ("2026-12-02T10:00:00", "P1Y2M3DT4H5M6S", "2028-02-05T14:05:06"),
    ("2026-12-02T10:00:00", "P2W", "2026-12-16T10:00:00"),
    ("2026-12-02T10:00:00", "PT0.5S", "2026-12-02T10:00:00.500000"),
])
def test_iso_durations(start, duration, expected):
    assert add_duration(datetime.fromisoformat(start), duration).isoformat() == expected


@pytest.mark.parametrize("bad", ["", "P", "PT", "1D", "P1.5D", "-P1D", "P1DT", "PT1D"])
def test_bad_iso_durations(bad):
    with pytest.raises(BadDuration):
        add_duration(datetime(2026, 1, 1), bad)


def test_schedule_expressions():
    assert rate_seconds("rate(15 minutes)") == 900 and rate_seconds("rate(1 day)") == 86400
    assert rate_seconds("cron(0 3 * * ? *)") is None
    daily = "cron(0 3 * * ? *)"
    assert cron_matches(daily, datetime(2026, 12, 2, 3, 0)) and not cron_matches(daily, datetime(2026, 12, 2, 3, 1))
    weekdays = "cron(30 8 ? * MON-FRI *)"
    assert cron_matches(weekdays, datetime(2026, 12, 4, 8, 30))  # a Friday
    assert not cron_matches(weekdays, datetime(2026, 12, 5, 8, 30))  # a Saturday
    assert cron_matches("cron(0/15 * * * ? *)", datetime(2026, 12, 5, 1, 45))


def _put(url: str, data: bytes, content_type: str) -> int:
    req = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback moto
            return resp.status
    except urllib.error.HTTPError as err:
        assert b"SignatureDoesNotMatch" in err.read()
        return err.code


def test_presigned_uploads_are_checked_as_s3_does(api, new_user):
    """The URL is signed for its Content-Type: another one (curl's form default) is refused at once
    with S3's 403, never left hanging; the signed one is accepted."""
    user = new_user()
    ticket = api.post("/v1/uploads", {"file_name": "f.pdf"}, token=user.token).json
    assert ticket["headers"] == {"Content-Type": "application/pdf"}
    assert _put(ticket["url"], b"%PDF-1.7 test", "application/x-www-form-urlencoded") == 403
    assert _put(ticket["url"].replace("X-Amz-Expires=900", "X-Amz-Expires=901"), b"%PDF", "application/pdf") == 403
    assert _put(ticket["url"], b"%PDF-1.7 test", "application/pdf") == 200


def test_expired_presigned_urls_are_refused():
    from orchestre_local.s3_presigned import check

    stamp = (datetime.now(UTC) - timedelta(seconds=901)).strftime("%Y%m%dT%H%M%SZ")
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/b/k", "HTTP_HOST": "127.0.0.1:1",
               "QUERY_STRING": f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=local%2F{stamp[:8]}%2Feu-west-3"
                               f"%2Fs3%2Faws4_request&X-Amz-Date={stamp}&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
                               f"&X-Amz-Signature=00"}
    assert check(environ) == "AccessDenied"
    assert check({**environ, "QUERY_STRING": "versionId=1"}) is None  # not presigned: moto's business
