"""The local platform: an embedded moto server as AWS, resources from the spec, the gateway."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import urllib.request
from pathlib import Path

from orchestre import platform as spec
from orchestre.domain.common import CLOCK_FILE_ENV

from .gateway import Gateway, LocalAuthorizer, serve

REGION = "eu-west-3"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalPlatform:
    """``state_dir``: where the data is kept across restarts (None: nothing is kept, a temporary folder
    holds the clock). ``schedules``: run the spec's scheduled jobs on their timers (``make run``);
    otherwise only ``POST /_local/schedules/run`` runs them (tests, bench)."""

    def __init__(self, moto_port: int | None = None, api_port: int | None = None, quiet: bool = True,
                 state_dir: str | Path | None = None, schedules: bool = False):
        self.moto_port = moto_port or free_port()
        self.api_port = api_port
        self.quiet = quiet
        self.state_dir = Path(state_dir) if state_dir else None
        self.run_schedules = schedules
        self.moto = None
        self.http = None
        self.gateway: Gateway | None = None
        self.env: dict[str, str] = {}
        self.pollers: list = []
        self.eventbridge = None
        self.scheduler = None
        self.state = None
        self.restored: dict[str, int] | None = None  # what was put back from state_dir
        self._tmp = None

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

        if self.state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="orchestre-local-")
        clock_file = (self.state_dir or Path(self._tmp.name)) / "clock.json"
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
            # the domain's clock, moved by POST /_local/clock (orchestre.domain.common.now)
            CLOCK_FILE_ENV: str(clock_file),
            # the user pool and its client keep their ids from one start to the next (tokens stay valid)
            "MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY": "HASH",
            "MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY": "HASH",
            "MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP": "true",  # moto checks TOTP codes, as Cognito does
            **spec.local_environment(REGION),
        }
        os.environ.update(env)
        from .consistency import serialize_dynamodb_writes
        from .dynamodb_speed import speed_up_dynamodb

        from . import s3_presigned

        serialize_dynamodb_writes()
        speed_up_dynamodb()  # transactions and queries in time independent of the table's size
        s3_presigned.install()  # presigned URLs checked as S3 does (signature, expiry)
        from . import cognito_totp, faults

        cognito_totp.install()  # a TOTP secret of each user's own
        faults.install()  # failures on demand (POST /_local/faults)
        if self.state_dir is not None:
            from .state import track_writes

            track_writes()  # a change since the last save makes the next autosave write
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self.moto.start()
        request = urllib.request.Request(f"{self.aws_url}/moto-api/config", data=json.dumps(MOTO_CONFIG).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - loopback

        from .provision import notify_buckets, provision

        extra = provision(REGION)
        os.environ.update(extra)
        self.env = {**env, **extra}
        if self.state_dir is not None:
            from .state import StateStore

            self.state = StateStore(self.state_dir, REGION)
            if self.state.exists():
                self.restored = self.state.restore()
        notify_buckets(REGION, extra)
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
        from .streams import StreamPoller

        # the streams first: each starts after the restored data, before a queue's consumer writes anything
        self.pollers = [StreamPoller(s, self.gateway.containers, REGION, extra["EVENT_FAILURES_QUEUE_URL"]).start()
                        for s in spec.STREAMS]
        self.pollers += [QueuePoller(q, extra[q.env], self.gateway.containers, REGION).start()
                         for q in spec.QUEUES if q.consumer]
        from .clock import LocalClock
        from .local_routes import LocalRoutes
        from .schedules import Scheduler

        self.clock = LocalClock(clock_file)
        self.scheduler = Scheduler(self.gateway.containers, REGION)
        if self.run_schedules:
            self.scheduler.start()
        self.gateway.local_routes = LocalRoutes(REGION, self.clock, self.scheduler)
        if self.state is not None:
            self.state.start_autosave()
        from .openapi import OUTPUT, write

        if not OUTPUT.exists():
            write()
        if self.api_port is not None:
            self.api_port = self.api_port or free_port()
            self.http = serve(self.gateway, "127.0.0.1", self.api_port, log=log if not self.quiet else (lambda *_: None))
        return self

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
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
        if self.state is not None:  # the last save, once nothing runs any more
            self.state.stop()
            self.state = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
