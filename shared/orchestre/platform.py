"""The platform's resources, described once.

This module is the single source of truth for what exists: tables and their indexes,
buckets, queues, the event bus, the Lambda functions with the routes they serve, and the
Step Functions workflows (ASL files under ``workflows/``). The CDK app (``infra/``) builds
AWS resources from it; the local runtime (``local/``) creates the same resources in moto
from it. Handlers find the physical names in their environment (``env`` below).

Plain data, no boto3, no CDK: importable from anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Index:
    name: str
    pk: str
    sk: str
    # ALL or KEYS_ONLY. A KEYS_ONLY index costs a write only when an item enters it, leaves it or
    # changes its key: readers fetch the items they need (bench/RESULTS.md, cost).
    projection: str = "ALL"


@dataclass(frozen=True)
class Table:
    key: str  # logical name
    env: str  # environment variable holding the physical name
    local_name: str  # physical name in the local platform
    pk: str
    sk: str | None = None
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None
    stream: str | None = None  # DynamoDB Streams view type (NEW_IMAGE...), read by STREAMS consumers


@dataclass(frozen=True)
class Stream:
    """A table's stream read by a function (a Lambda event source mapping): batches in order per
    shard, only the records matching ``filter`` (Lambda's event filtering: the others cost nothing),
    a failed record retried (with those after it) up to ``max_attempts``, then reported to the
    event-failures queue."""

    table: str  # key of TABLES (with a stream)
    function: str  # name of FUNCTIONS
    filter: dict  # a Lambda event filter pattern
    batch_size: int = 100
    max_attempts: int = 10


@dataclass(frozen=True)
class Bucket:
    key: str
    env: str
    local_name: str
    versioned: bool = True
    # (key prefix, queue key): ObjectCreated events under the prefix go to the queue
    notifications: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Queue:
    key: str
    env: str
    local_name: str
    visibility_timeout_s: int = 60
    max_receive_count: int = 5  # then to the queue's dead-letter queue
    consumer: str | None = None  # function invoked with batches (Lambda event source mapping)
    batch_size: int = 5


@dataclass(frozen=True)
class Route:
    path: str  # API Gateway resource path; {name} one segment, {proxy+} the rest
    methods: tuple[str, ...]  # "ANY" or HTTP methods
    public: bool = False  # no Cognito authorizer


# -- what a function may touch (least privilege) --------------------------------------------------
# The CDK app grants a function exactly its access, as IAM statements built by orchestre.policy;
# the local platform refuses any other call with the same policy (local/orchestre_local/iam.py).


@dataclass(frozen=True)
class TableAccess:
    """Items of a table, by partition-key prefix (``dynamodb:LeadingKeys``)."""

    table: str  # key of TABLES
    read: tuple[str, ...] = ()  # prefixes read: GetItem, BatchGetItem, Query of the table
    write: tuple[str, ...] = ()  # prefixes written: PutItem, UpdateItem, DeleteItem, ConditionCheckItem
    indexes: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (index, partition-key prefixes) queried
    any_key: bool = False  # keys with no prefix (the idempotency records): read/write by action only


@dataclass(frozen=True)
class BucketAccess:
    """Objects of a bucket, by key prefix."""

    bucket: str  # key of BUCKETS
    read: tuple[str, ...] = ()  # GetObject (HeadObject), GetObjectVersion
    write: tuple[str, ...] = ()  # PutObject


@dataclass(frozen=True)
class ServiceAccess:
    """Everything else a function calls."""

    send_to: tuple[str, ...] = ()  # queue keys: sqs:SendMessage
    publish: bool = False  # events:PutEvents on the platform's bus
    start: tuple[str, ...] = ()  # state machine keys: states:StartExecution
    task_tokens: tuple[str, ...] = ()  # state machine keys whose task tokens it sends back
    user_pool: tuple[str, ...] = ()  # cognito-idp actions (the IAM-authorized ones) on the user pool
    send_email: bool = False  # ses:SendEmail, ses:SendRawEmail from the platform's identity
    subscriber_queues: bool = False  # sqs:SendMessage to queues outside the platform's account


Access = TableAccess | BucketAccess | ServiceAccess


@dataclass(frozen=True)
class Function:
    name: str  # folder under functions/
    description: str
    routes: tuple[Route, ...] = ()
    memory_mb: int = 512
    timeout_s: int = 15
    schedule: str | None = None  # EventBridge schedule expression, if also run on a timer
    layers: tuple[str, ...] = ("core",)  # keys of LAYERS
    access: tuple[Access, ...] = ()  # what it may touch; nothing else (policy.py, iam.py)

    @property
    def code_dir(self) -> Path:
        return REPO_ROOT / "functions" / self.name

    @property
    def handler(self) -> str:
        return "app.handler"

    @property
    def module(self) -> str:
        return f"functions.{self.name}.app"


@dataclass(frozen=True)
class StateMachine:
    key: str
    env: str  # environment variable holding the ARN
    local_name: str
    definition: str  # file under workflows/, JSONPath ASL with ${Placeholders}
    # ${Placeholder} -> function name (its ARN is substituted)
    functions: dict[str, str] = field(default_factory=dict)
    type: str = "STANDARD"  # or EXPRESS (short, cheap, at-least-once)

    @property
    def definition_path(self) -> Path:
        return REPO_ROOT / "workflows" / self.definition


@dataclass(frozen=True)
class Layer:
    key: str
    requirements: str  # file under requirements/
    include_domain: bool  # ships shared/orchestre


LAYERS: tuple[Layer, ...] = (
    Layer("core", "runtime.txt", True),
    # saxonche and the official artefacts weigh ~130 MB: only the functions that validate carry them.
    Layer("validation", "validation.txt", False),
    # fpdf2 (and Pillow, fontTools): the functions that render PDFs
    Layer("pdf", "pdf.txt", False),
)

@dataclass(frozen=True)
class EventRule:
    """Events of the bus matching ``detail_types`` (source orchestre) go to one target:

    - ``queue``: a queue (its consumer takes batches);
    - ``function``: the function, invoked asynchronously with the event (Lambda retries twice,
      then the event goes to the event-failures queue);
    - ``state_machine``: the workflow, started with the event's ``detail`` as input.

    EventBridge retries a delivery that fails (throttling, permissions) for up to a day, then
    puts the event in the event-failures queue (a queue target: in its own dead-letter queue).
    No queue in between when nothing needs batching: each hop is three SQS requests per event.
    """

    key: str
    detail_types: tuple[str, ...]
    queue: str | None = None  # queue key
    function: str | None = None  # function name
    state_machine: str | None = None  # state machine key

    @property
    def target(self) -> tuple[str, str]:
        """(kind, key): kind is "queue", "function" or "state_machine"."""
        chosen = [(k, v) for k, v in (("queue", self.queue), ("function", self.function),
                                      ("state_machine", self.state_machine)) if v]
        if len(chosen) != 1:
            raise ValueError(f"event rule {self.key!r}: one target (queue, function or state machine), "
                             f"not {len(chosen)}")
        return chosen[0]


GSI1 = Index("GSI1", "GSI1PK", "GSI1SK")
GSI2 = Index("GSI2", "GSI2PK", "GSI2SK")
# sparse, keys only: invoices whose payment clock runs, invoices being routed, unfinished flows
GSI3 = Index("GSI3", "GSI3PK", "GSI3SK", "KEYS_ONLY")

TABLES: tuple[Table, ...] = (
    # its stream carries the outbox: items inserted with an event (repositories/invoices.outbox)
    Table("main", "TABLE_NAME", "orchestre-main", "PK", "SK", (GSI1, GSI2, GSI3), stream="NEW_IMAGE"),
    Table("idempotency", "IDEMPOTENCY_TABLE_NAME", "orchestre-idempotency", "id", None, (), "expiration"),
)

BUCKETS: tuple[Bucket, ...] = (
    # Original invoice files, rendered PDFs, attachments, directory exports.
    Bucket("documents", "DOCUMENTS_BUCKET", "orchestre-documents"),
    # EDI drops of technical accounts: inbound/<account>/..., outbound/<account>/...
    Bucket("exchange", "EXCHANGE_BUCKET", "orchestre-exchange", notifications=(("inbound/", "flows"),)),
)

QUEUES: tuple[Queue, ...] = (
    # Deposited files to integrate: API flows and EDI drops (S3 notifications).
    Queue("flows", "FLOWS_QUEUE_URL", "orchestre-flows", visibility_timeout_s=360, consumer="deposit", batch_size=5),
)

# The transactional outbox: an item inserted with an event (event_type, event_detail) is published to
# the bus by the outbox function. Only those records reach it (the filter); it publishes them in order.
STREAMS: tuple[Stream, ...] = (
    # retried as long as the stream keeps a record (24 hours): an event the bus refuses for good is
    # parked by the function itself, so a failure that lasts is the bus's, and waits for it
    Stream("main", "outbox", {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"event_type": {"S": [{"exists": True}]}}}},
           max_attempts=10_000),
)

EVENT_RULES: tuple[EventRule, ...] = (
    # each deposited invoice starts its routing workflow
    EventRule("deposited", ("InvoiceDeposited",), state_machine="lifecycle"),
    # status changes and overdue payments: the notify function emails and forwards them to subscribers
    EventRule("status-changed", ("InvoiceStatusChanged", "InvoiceOverdue", "WorksDeadline", "JusticeMandateRevoked",
                                 "TicDelegationChanged"),
              function="notify"),
)
# Where events end up when their function failed three times or EventBridge could not deliver them
# (alarmed; see docs/operations in README). Local name: the queue of the local platform.
EVENT_FAILURES_ENV = "EVENT_FAILURES_QUEUE_URL"
EVENT_FAILURES_LOCAL_NAME = "orchestre-event-failures"

EVENT_BUS_ENV = "EVENT_BUS_NAME"
EVENT_BUS_LOCAL_NAME = "orchestre-events"
USER_POOL_ENV = "USER_POOL_ID"
USER_POOL_CLIENT_ENV = "USER_POOL_CLIENT_ID"
USER_POOL_LOCAL_NAME = "orchestre-users"
# Groups of the user pool: "operators" (the support team, ops) may call /v1/admin/... Ops add a
# person to it (aws cognito-idp admin-add-user-to-group); make run seeds one.
USER_POOL_GROUPS: tuple[tuple[str, str], ...] = (
    ("operators", "Platform operators: the support team and ops (/v1/admin)"),
)
SES_SENDER_ENV = "SES_SENDER"
SES_SENDER_LOCAL = "no-reply@orchestre.local"
# Cognito scope that API Gateway's authorizer requires: access tokens carry it.
AUTH_SCOPE = "aws.cognito.signin.user.admin"
# The user pool's password policy (the sign-up model checks the same rules first).
PASSWORD_POLICY = {
    "MinimumLength": 12,
    "RequireLowercase": True,
    "RequireUppercase": True,
    "RequireNumbers": True,
    "RequireSymbols": False,
}

# Partition-key prefixes of the main table (repositories/*.py say which items live under each).
STRUCT, IDENT, USER, TECHACCT = "STRUCT#", "IDENT#", "USER#", "TECHACCT#"
INV, INVNUM, FLOW, CONTRACT = "INV#", "INVNUM#", "FLOW#", "CONTRACT#"
LOGIN, MFA = "LOGIN#", "MFA#"  # sign-in attempts, TOTP secrets
SETTINGS, AUDIT = "SETTINGS#", "AUDIT#"  # the platform's settings (read by every caller), the operators' audit
OUTBOX = "OUTBOX#"  # events the bus refused for good, parked by the outbox for operators
MEMONUM, JOB, COURTCODE = "MEMONUM#", "JOB#", "COURTCODE#"  # memo number guards, operations jobs, court codes
TICDEPT, TICYEAR, TICDELEG = "TICDEPT#", "TICYEAR#", "TICDELEG"  # département -> service, one request a year, delegations
# What every function that serves signed-in users reads to know who acts (api/http.caller): the
# caller's profile, its attachments (is it a manager?) and the platform settings.
CALLER_READS = (USER, SETTINGS)
CALLER_INDEXES = (("GSI1", (USER,)),)


def _idempotency(*scopes: str) -> TableAccess:
    """Idempotency records of these scopes (api/idempotency.run_once keys: ``orchestre.<scope>#...``;
    a scope ending with "." is the start of scopes made per structure, such as services.create.<id>)."""
    prefixes = tuple(f"orchestre.{scope}" + ("" if scope.endswith(".") else "#") for scope in scopes)
    return TableAccess("idempotency", read=prefixes, write=prefixes)


FUNCTIONS: tuple[Function, ...] = (
    Function(
        "accounts",
        "Sign-up, tokens and the caller's profile",
        (
            Route("/v1/accounts", ("POST",), public=True),
            Route("/v1/accounts/confirm", ("POST",), public=True),
            Route("/v1/auth/token", ("POST",), public=True),
            Route("/v1/auth/token/mfa", ("POST",), public=True),
            Route("/v1/me", ("GET",)),
            Route("/v1/me/mfa", ("POST",)),
            Route("/v1/me/mfa/verify", ("POST",)),
        ),
        memory_mb=256,
        access=(
            TableAccess("main", read=(STRUCT, *CALLER_READS), write=(USER, LOGIN, MFA), indexes=CALLER_INDEXES),
            _idempotency("accounts.create"),
            # sign-up, tokens and TOTP calls are the user's own (no IAM); these are the platform's
            ServiceAccess(user_pool=("AdminConfirmSignUp", "AdminDeleteUser", "AdminGetUser",
                                     "AdminSetUserMFAPreference")),  # an enrolled user's factor, on again
        ),
    ),
    Function(
        "structures",
        "Structures, services, billing parameters, spaces, attachments, audit",
        (
            Route("/v1/structures", ("GET", "POST")),
            Route("/v1/structures/{proxy+}", ("ANY",)),
            Route("/v1/attachments", ("POST",)),
        ),
        access=(
            TableAccess("main", read=CALLER_READS, write=(STRUCT, IDENT, USER, TECHACCT, TICDEPT),
                        indexes=(*CALLER_INDEXES, ("GSI2", (STRUCT,)))),
            _idempotency("structures.create", "services.create.", "subscriptions.create.", "attachments.request"),
            # technical accounts' credentials are identities of the pool
            ServiceAccess(user_pool=("AdminCreateUser", "AdminSetUserPassword", "AdminGetUser", "AdminDeleteUser",
                                     "AdminUserGlobalSignOut"),
                          subscriber_queues=True),  # the confirmation token of an SQS subscription
        ),
    ),
    Function(
        "directory",
        "Public directory of buyers and their billing rules; CSV export",
        (Route("/v1/directory/{proxy+}", ("GET",)),),
        schedule="cron(0 3 * * ? *)",  # daily regeneration of the CSV export
        access=(
            TableAccess("main", read=(STRUCT, *CALLER_READS),
                        indexes=(*CALLER_INDEXES, ("GSI1", ("DIR#", "COURT#")), ("GSI2", ("DIRID#",)))),
            BucketAccess("documents", read=("exports/",), write=("exports/",)),
        ),
    ),
    Function(
        "deposit",
        "Validation service, flows (API and EDI drops), uploads, portal entry of invoices",
        (
            Route("/v1/validations", ("POST",)),
            Route("/v1/uploads", ("POST",)),
            Route("/v1/flows", ("POST",)),
            Route("/v1/flows/{proxy+}", ("GET",)),
            Route("/v1/invoices", ("POST",)),
        ),
        # every compiled stylesheet loaded: about 340 MB resident; 0.58 vCPU (validation ~8.7 ms
        # per Factur-X on a full core). 2048 MB cost 1.7x more per invoice for 10 ms less.
        memory_mb=1024,
        timeout_s=60,
        schedule="rate(15 minutes)",  # flows left RECEIVED (a crash before queueing) are queued again
        layers=("core", "pdf", "validation"),
        access=(
            TableAccess("main", read=(STRUCT, IDENT, TECHACCT, *CALLER_READS), write=(FLOW, INV, INVNUM),
                        indexes=(*CALLER_INDEXES, ("GSI2", ("DIRID#",)), ("GSI3", ("PENDINGFLOW#",)))),
            _idempotency("flows.create", "invoices.enter"),
            # uploads/: the presigned PUT a user sends is authorized as this function
            BucketAccess("documents", read=("originals/", "uploads/"), write=("originals/", "uploads/", "invoices/")),
            BucketAccess("exchange", read=("inbound/",), write=("outbound/",)),
            ServiceAccess(send_to=("flows",)),
        ),
    ),
    Function(
        "process",
        "Invoice lifecycle: routing workflow tasks, statuses, reading, payment clock, revenue orders",
        (
            Route("/v1/invoices", ("GET",)),
            Route("/v1/invoices/{proxy+}", ("GET", "POST")),
            Route("/v1/revenue-orders", ("POST",)),
        ),
        # mostly waiting on DynamoDB (about 15 ms of CPU per call): 512 MB halves the bill of 1024
        memory_mb=512,
        timeout_s=30,
        schedule="rate(15 minutes)",  # overdue invoices flagged (once) and notified; stuck routings restarted
        layers=("core", "pdf"),  # revenue orders' PDFs
        access=(
            TableAccess("main", read=(STRUCT, IDENT, *CALLER_READS), write=(INV, INVNUM),
                        indexes=(*CALLER_INDEXES, ("GSI1", ("SUPPLIER#",)), ("GSI2", ("BUYER#", "DIRID#")),
                                 ("GSI3", ("DUE#", "ROUTING#")))),
            _idempotency("revenue-orders.create"),
            BucketAccess("documents", read=("invoices/",), write=("invoices/",)),
            ServiceAccess(start=("lifecycle",)),
        ),
    ),
    Function(
        "notify",
        "Notifications of status changes: emails (SES, French and English) and subscribers' SQS queues",
        memory_mb=256,  # asynchronous, nobody waits on it; about 10 ms of CPU per event
        timeout_s=30,
        access=(
            # subscriptions and profile emails; a structure's managers (their attachments and profiles)
            TableAccess("main", read=(STRUCT, USER), indexes=(("GSI2", (STRUCT,)),)),
            TableAccess("idempotency", read=("notify-deliveries#",), write=("notify-deliveries#",)),  # delivery log
            ServiceAccess(send_email=True, subscriber_queues=True),
        ),
    ),
    Function(
        "works",
        "Works contracts: the supplier -> MOE -> MOA circuit of pieces, their payable documents, legal deadlines",
        (
            Route("/v1/works/contracts", ("GET", "POST")),
            Route("/v1/works/contracts/{proxy+}", ("GET", "POST")),
            Route("/v1/works/pieces/{proxy+}", ("GET", "POST")),
        ),
        schedule="rate(1 hour)",  # reminders and deadlines that came (the sparse index: no scan)
        layers=("core", "pdf"),  # the pieces' PDFs
        access=(
            TableAccess("main", read=(STRUCT, *CALLER_READS),
                        write=(CONTRACT, "CONTRACTNUM#", "WORKSPARTY#", INV, INVNUM),
                        indexes=(*CALLER_INDEXES, ("GSI3", ("WORKSDUE#",)))),
            _idempotency("works.contracts.create", "works.pieces."),
            BucketAccess("documents", read=("invoices/",), write=("invoices/",)),
        ),
    ),
    Function(
        "justice",
        "Justice fee memos from providers to courts, the billing mandate that numbers them, the 2018 revocation job",
        (
            Route("/v1/justice/{proxy+}", ("GET", "POST", "PATCH")),
            Route("/v1/structures/{structure_id}/billing-mandate", ("GET", "POST", "DELETE")),
            Route("/v1/admin/jobs/revoke-justice-mandates", ("POST",)),
        ),
        layers=("core", "pdf"),  # the memos' PDFs
        access=(
            TableAccess("main", read=(STRUCT, INV, JOB, *CALLER_READS), write=(STRUCT, INV, MEMONUM, JOB),
                        indexes=(*CALLER_INDEXES, ("GSI1", ("MEMOPROVIDER#",)), ("GSI2", ("MEMOCOURT#",)),
                                 ("GSI3", ("JUSTICEMANDATE#",)))),
            _idempotency("justice.memos.create"),
            BucketAccess("documents", read=("invoices/",), write=("invoices/",)),
            ServiceAccess(start=("justice-jobs",)),  # the revocation job's workflow
        ),
    ),
    Function(
        "tic",
        "TIC/TICGN refund requests of farms to their département's service, and the delegations of centres",
        (
            Route("/v1/tic/{proxy+}", ("GET", "POST", "PATCH")),
        ),
        schedule="rate(1 hour)",  # delegations unanswered for 30 days expire, those past `until` lapse
        layers=("core", "pdf"),  # the receipts' PDFs
        access=(
            TableAccess("main", read=(STRUCT, INV, TICDEPT, *CALLER_READS), write=(STRUCT, INV, TICYEAR, TICDELEG),
                        indexes=(*CALLER_INDEXES, ("GSI1", ("TICFARM#", "TICDELEGFARM#")),
                                 ("GSI2", ("TICSERVICE#", "TICDELEGATE#")), ("GSI3", ("TICDELEGDUE#",)))),
            _idempotency("tic.requests.create"),
            BucketAccess("documents", read=("invoices/",), write=("invoices/",)),
            ServiceAccess(start=("tic-delegation",), task_tokens=("tic-delegation",)),
        ),
    ),
    Function(
        "outbox",
        "The transactional outbox: events written with the changes they announce, published to the bus",
        memory_mb=256,  # a batch of stream records, one PutEvents per 10 events
        timeout_s=30,
        # reading the stream: its event source mapping's grant; the events the bus refuses, parked
        access=(ServiceAccess(publish=True), TableAccess("main", write=(OUTBOX,))),
    ),
    Function(
        "admin",
        "Platform operators: structures and users looked up, flags, users disabled, parked invoices resent, settings",
        (Route("/v1/admin/{proxy+}", ("ANY",)),),
        memory_mb=256,
        access=(
            TableAccess("main", read=(IDENT, OUTBOX, JOB, *CALLER_READS),
                        write=(STRUCT, USER, INV, SETTINGS, AUDIT, COURTCODE),
                        indexes=(*CALLER_INDEXES, ("GSI3", ("PARKED",)))),
            ServiceAccess(user_pool=("AdminGetUser", "AdminDisableUser", "AdminUserGlobalSignOut"),
                          start=("lifecycle",)),  # a resent invoice's routing
        ),
    ),
    Function(
        "docs",
        "OpenAPI document and Swagger UI",
        (
            Route("/openapi.json", ("GET",), public=True),
            Route("/swagger", ("GET",), public=True),
        ),
        memory_mb=256,
        # no access at all: it serves the document shipped with its code
    ),
)

STATE_MACHINES: tuple[StateMachine, ...] = (
    # DEPOSEE -> EN_COURS_ACHEMINEMENT -> MISE_A_DISPOSITION, with retries and a parking path.
    StateMachine("lifecycle", "LIFECYCLE_STATE_MACHINE_ARN", "orchestre-invoice-lifecycle",
                 "invoice-lifecycle.asl.json", {"ProcessFunctionArn": "process"}, type="EXPRESS"),
    # operations jobs of justice (the 2018 revocation of billing mandates): page after page, as long as
    # it takes (STANDARD), each page resumable from the job's checkpoint
    StateMachine("justice-jobs", "JUSTICE_JOBS_STATE_MACHINE_ARN", "orchestre-justice-jobs",
                 "justice-jobs.asl.json", {"JusticeFunctionArn": "justice"}),
    # a TIC delegation: asked, then the wait on a task token for the farm's answer or the expiry the
    # scheduled job decides (STANDARD: it waits up to 30 days)
    StateMachine("tic-delegation", "TIC_DELEGATION_STATE_MACHINE_ARN", "orchestre-tic-delegation",
                 "tic-delegation.asl.json", {"TicFunctionArn": "tic"}),
)


def function(name: str) -> Function:
    for f in FUNCTIONS:
        if f.name == name:
            return f
    raise KeyError(name)


def local_environment(region: str) -> dict[str, str]:
    """Environment of every function in the local platform (physical names are fixed)."""
    env = {t.env: t.local_name for t in TABLES}
    env.update({b.env: b.local_name for b in BUCKETS})
    env[EVENT_BUS_ENV] = EVENT_BUS_LOCAL_NAME
    env[SES_SENDER_ENV] = SES_SENDER_LOCAL
    return env


def _segments_match(pattern: str, path: str) -> dict[str, str] | None:
    """Match an API Gateway resource path (``{name}``, ``{proxy+}``) against a request path."""
    pat, parts = pattern.strip("/").split("/"), path.strip("/").split("/")
    params: dict[str, str] = {}
    for i, seg in enumerate(pat):
        if seg.endswith("+}"):
            rest = parts[i:]
            if not rest or not rest[0]:
                return None
            params[seg[1:-2]] = "/".join(rest)
            return params
        if i >= len(parts):
            return None
        if seg.startswith("{") and seg.endswith("}"):
            if not parts[i]:
                return None
            params[seg[1:-1]] = parts[i]
        elif seg != parts[i]:
            return None
    return params if len(pat) == len(parts) else None


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(path: str, exact: bool = False) -> list[str]:
    """The methods served on ``path`` by the routes whose resource matches it (empty: no such path);
    ``exact``: by the resources without a ``{proxy+}`` only (API Gateway picks those first)."""
    methods: set[str] = set()
    for fn in FUNCTIONS:
        for route in fn.routes:
            if exact and route.path.endswith("+}"):
                continue
            if _segments_match(route.path, path) is not None:
                methods.update(HTTP_METHODS if "ANY" in route.methods else route.methods)
    return sorted(methods)


def greedy_route(path: str) -> tuple[Function, Route, dict[str, str]] | None:
    """The ``{proxy+}`` route whose resource matches ``path``, whatever the method: its function
    answers the methods it does not serve itself (405 with Allow: API Gateway's ``ANY`` on that
    resource invokes it, ``infra/orchestre_infra/api.py``)."""
    for fn in FUNCTIONS:
        for route in fn.routes:
            if route.path.endswith("+}"):
                params = _segments_match(route.path, path)
                if params is not None:
                    return fn, route, params
    return None


def match_route(method: str, path: str) -> tuple[Function, Route, dict[str, str]] | None:
    """The function and route that API Gateway would pick for ``method path`` (exact paths first)."""
    candidates = []
    for fn in FUNCTIONS:
        for route in fn.routes:
            if "ANY" not in route.methods and method.upper() not in route.methods:
                continue
            params = _segments_match(route.path, path)
            if params is not None:
                greedy = route.path.endswith("+}")
                candidates.append((greedy, route.path.count("{"), fn, route, params))
    if not candidates:
        return None
    candidates.sort(key=lambda c: (c[0], c[1]))
    _, _, fn, route, params = candidates[0]
    return fn, route, params
