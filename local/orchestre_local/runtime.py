"""The local platform: an embedded moto server as AWS, resources from the spec, the gateway."""

from __future__ import annotations

import json
import os
import socket
import urllib.request

from orchestre import platform as spec

from .gateway import Gateway, LocalAuthorizer, serve

REGION = "eu-west-3"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalPlatform:
    def __init__(self, moto_port: int | None = None, api_port: int | None = None, quiet: bool = True):
        self.moto_port = moto_port or free_port()
        self.api_port = api_port
        self.quiet = quiet
        self.moto = None
        self.http = None
        self.gateway: Gateway | None = None
        self.env: dict[str, str] = {}
        self.pollers: list = []
        self.eventbridge = None

    @property
    def aws_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, log=print) -> LocalPlatform:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log

        env = {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_SESSION_TOKEN": "local",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.aws_url,
            "MOTO_PORT": str(self.moto_port),
            "AUTO_CONFIRM_USERS": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "Orchestre",
            "POWERTOOLS_LOG_LEVEL": "WARNING" if self.quiet else "INFO",
            "POWERTOOLS_TRACE_DISABLED": "true",
            # subscribers' queues are local moto queues here (on AWS: https://sqs.<region>.amazonaws.com/…)
            "SQS_URL_PATTERN": r"^http://127\.0\.0\.1:\d+/\d{12}/[A-Za-z0-9_-]{1,80}$",
            **spec.local_environment(REGION),
        }
        os.environ.update(env)
        from .consistency import serialize_dynamodb_writes
        from .dynamodb_speed import speed_up_dynamodb

        serialize_dynamodb_writes()
        speed_up_dynamodb()  # transactions and queries in time independent of the table's size
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self.moto.start()
        request = urllib.request.Request(f"{self.aws_url}/moto-api/config", data=json.dumps(MOTO_CONFIG).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - loopback

        from .provision import provision

        extra = provision(REGION)
        os.environ.update(extra)
        self.env = {**env, **extra}
        authorizer = LocalAuthorizer(
            f"{self.aws_url}/{extra[spec.USER_POOL_ENV]}/.well-known/jwks.json", REGION,
            extra[spec.USER_POOL_ENV], extra[spec.USER_POOL_CLIENT_ENV],
        )
        self.gateway = Gateway(authorizer, REGION)
        from .lambdas import install

        install(self.gateway.containers)
        from . import eventbridge

        self.eventbridge = eventbridge.install(self.gateway.containers, extra["EVENT_FAILURES_QUEUE_URL"], REGION)
        from .events import QueuePoller

        self.pollers = [QueuePoller(q, extra[q.env], self.gateway.containers, REGION).start()
                        for q in spec.QUEUES if q.consumer]
        from .openapi import OUTPUT, write

        if not OUTPUT.exists():
            write()
        if self.api_port is not None:
            self.api_port = self.api_port or free_port()
            self.http = serve(self.gateway, "127.0.0.1", self.api_port, log=log if not self.quiet else (lambda *_: None))
        return self

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        if self.eventbridge is not None:
            self.eventbridge.pool.shutdown(wait=False, cancel_futures=True)
        if self.gateway is not None:
            self.gateway.close()
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()
            self.http = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
