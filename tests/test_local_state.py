"""``make run`` keeps its data: stopped (Ctrl-C) or killed, the platform comes back with its tables,
files, queues, users and sent emails; the demo data keeps its ids and passwords."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
import uuid

import boto3
import pytest
from conftest import PASSWORD, random_siret
from test_readme_tour import Platform

pytestmark = pytest.mark.slow


def call(platform, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"http://127.0.0.1:{platform.api_port}{path}", method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310 - loopback
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def sqs(platform):
    return boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{platform.aws_port}", region_name="eu-west-3",
                        aws_access_key_id="local", aws_secret_access_key="local")


def login(platform, email, password=PASSWORD):
    status, body = call(platform, "POST", "/v1/auth/token", {"email": email, "password": password})
    assert status == 200, body
    return body["access_token"]


def test_data_survives_a_stop_and_a_crash(tmp_path):
    platform = Platform(tmp_path / "state").start()
    try:
        demo = json.loads((tmp_path / "state" / "demo.json").read_text())
        email = f"keep-{uuid.uuid4().hex[:8]}@example.fr"
        assert call(platform, "POST", "/v1/accounts", {"email": email, "password": PASSWORD, "first_name": "K",
                                                       "last_name": "Eep"})[0] == 201
        token = login(platform, email)
        status, structure = call(platform, "POST", "/v1/structures", {
            "identifier_type": "SIRET", "identifier": random_siret(), "name": "Commune persistante", "kind": "PUBLIC"},
            token)
        assert status == 201, structure
        url = sqs(platform).create_queue(QueueName="subscriber-keep")["QueueUrl"]
        sqs(platform).send_message(QueueUrl=url, MessageBody="kept",
                                   MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
        call(platform, "POST", "/_local/clock", {"advance": "P3D"})
    finally:
        assert platform.stop() == 0, "".join(platform.output)

    platform.start()  # the same state folder
    try:
        assert any("Data restored" in line for line in platform.output), "".join(platform.output)
        # the token issued before the restart still works (the user pool keeps its id and keys)
        status, again = call(platform, "GET", f"/v1/structures/{structure['structure_id']}", token=token)
        assert status == 200 and again["name"] == "Commune persistante", again
        # so does the password, and the demo users' one; the demo ids are the same
        login(platform, email)
        status, me = call(platform, "GET", "/v1/me", token=login(platform, "acheteur@ville-demo.fr",
                                                                  "Orchestre-demo-2026"))
        assert me["attachments"][0]["structure_id"] == demo["buyer"]["structure_id"]
        # the subscriber's queue and its message, with its attributes
        url = sqs(platform).get_queue_url(QueueName="subscriber-keep")["QueueUrl"]
        messages = sqs(platform).receive_message(QueueUrl=url, MessageAttributeNames=["All"]).get("Messages", [])
        assert [(m["Body"], m["MessageAttributes"]["k"]["StringValue"]) for m in messages] == [("kept", "v")]
        # the clock kept its offset
        status, clock = call(platform, "GET", "/_local/clock")
        assert 3 * 86400 - 60 < clock["offset_seconds"] < 3 * 86400 + 60
        # a crash: what was written more than the autosave interval before it is kept
        status, second = call(platform, "POST", "/v1/structures", {
            "identifier_type": "SIRET", "identifier": random_siret(), "name": "Avant la panne", "kind": "PRIVATE"},
            token)
        assert status == 201
        time.sleep(4)
    finally:
        platform.stop(signal.SIGKILL)

    platform.start()
    try:
        status, kept = call(platform, "GET", f"/v1/structures/{second['structure_id']}", token=login(platform, email))
        assert status == 200 and kept["name"] == "Avant la panne"
    finally:
        platform.stop()

