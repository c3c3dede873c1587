"""Notifications: subscriptions of structures (HTTP), and the notify function end to end.

Events are put on the bus directly (as the lifecycle publishes them): the "status-changed" rule
invokes the notify function asynchronously with each. Emails are read
from moto's SES backend, which runs in this process.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import boto3
import pytest

from orchestre import platform as spec
from orchestre.services.notifications import NotificationFailed

ACCOUNT, REGION = "123456789012", "eu-west-3"


# -- helpers -------------------------------------------------------------------------------


def sent_emails() -> list:
    from moto.ses.models import ses_backends

    return list(ses_backends[ACCOUNT][REGION].sent_messages)


def emails_to(address: str) -> list:
    return [m for m in sent_emails() if address in m.destinations.get("ToAddresses", [])]


def wait_emails(address: str, count: int = 1, timeout: float = 20.0) -> list:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = emails_to(address)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{count} email(s) to {address} expected in {timeout}s, got {len(emails_to(address))}")


def publish(detail: dict, detail_type: str = "InvoiceStatusChanged") -> None:
    out = boto3.client("events").put_events(Entries=[{
        "Source": "orchestre", "DetailType": detail_type, "EventBusName": os.environ["EVENT_BUS_NAME"],
        "Detail": json.dumps(detail)}])
    assert out["FailedEntryCount"] == 0, out


def status_changed(sides: dict, status: str, **extra) -> dict:
    """An InvoiceStatusChanged detail (docs/events.md, version 1) between the test's structures."""
    detail = {
        "version": "1", "invoice_id": str(uuid.uuid4()), "number": f"F-{uuid.uuid4().hex[:8]}",
        "document_type": "INVOICE", "informational": False,
        "supplier_structure_id": sides["supplier"]["structure_id"],
        "buyer_structure_id": sides["buyer"]["structure_id"], "service_code": "SERV-1",
        "amount_with_vat": "1620.00", "currency": "EUR", "status": status, "previous_status": "MISE_A_DISPOSITION",
        "lifecycle_code": {"MISE_A_DISPOSITION": 203, "SUSPENDUE": 208, "REJETEE": 210, "A_RECYCLER": 221,
                           "MISE_EN_PAIEMENT": 211, "SERVICE_FAIT": 205}.get(status),
        "reason_code": None, "comment": None, "mandate_number": None, "actor_role": "RECIPIENT",
        "actor_id": sides["buyer_user"].user_id, "at": "2026-11-27T10:00:00.000Z", "payment_due_date": None,
    }
    detail.update(extra)
    return detail


def mailbox() -> str:
    return f"notif-{uuid.uuid4().hex[:10]}@example.fr"


def subscribe(api, user, structure: dict, confirm: bool = True, **body):
    """Subscribe; an SQS subscription is confirmed with the token the platform sent to the queue."""
    r = api.post(f"/v1/structures/{structure['structure_id']}/subscriptions", body, token=user.token)
    if confirm and r.status == 201 and body.get("channel") == "SQS":
        [message] = [m for m in receive(body["target"], until=1) if m.get("type") == "SubscriptionConfirmation"]
        ok = api.post(f"/v1/structures/{structure['structure_id']}/subscriptions/{r.json['subscription_id']}/confirm",
                      {"token": message["token"]}, token=user.token)
        assert ok.status == 200 and ok.json["confirmed"] is True, ok
    return r


def receive(url: str, wait: float = 20.0, until: int = 1) -> list[dict]:
    sqs, out, deadline = boto3.client("sqs"), [], time.time() + wait
    while time.time() < deadline and len(out) < until:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        out += [json.loads(m["Body"]) for m in msgs]
        for m in msgs:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


@pytest.fixture
def sides(api, new_user, new_structure):
    """A public buyer and a private supplier, each with a manager and a contact email."""
    buyer_user, supplier_user = new_user("buyer"), new_user("supplier")
    buyer = new_structure(buyer_user, name=f"Commune {uuid.uuid4().hex[:6]}", email=mailbox())
    supplier = new_structure(supplier_user, kind="PRIVATE", name=f"Fournisseur {uuid.uuid4().hex[:6]}",
                             email=mailbox())
    return {"buyer": buyer, "buyer_user": buyer_user, "supplier": supplier, "supplier_user": supplier_user}


# -- subscriptions over HTTP ---------------------------------------------------------------


def test_create_list_read_delete(api, sides):
    user, structure = sides["supplier_user"], sides["supplier"]
    base = f"/v1/structures/{structure['structure_id']}/subscriptions"
    address = mailbox()
    r = subscribe(api, user, structure, channel="EMAIL", target=address, events=["SUSPENDUE", "REJETEE", "SUSPENDUE"])
    assert r.status == 201, r
    sub = r.json
    assert sub["channel"] == "EMAIL" and sub["target"] == address and sub["language"] == "fr"
    assert sub["events"] == ["SUSPENDUE", "REJETEE"] and sub["structure_id"] == structure["structure_id"]
    assert r.header("Location") == f"{base}/{sub['subscription_id']}"

    listed = api.get(base, token=user.token)
    assert listed.status == 200 and [s["subscription_id"] for s in listed.json["items"]] == [sub["subscription_id"]]
    assert api.get(f"{base}/{sub['subscription_id']}", token=user.token).json == sub
    audit = api.get(f"/v1/structures/{structure['structure_id']}/audit", token=user.token).json["items"]
    assert audit[0]["action"] == "SUBSCRIPTION_CREATED" and audit[0]["target"] == sub["subscription_id"]

    d = api.delete(f"{base}/{sub['subscription_id']}", token=user.token)
    assert d.status == 204, d
    assert api.get(base, token=user.token).json["items"] == []
    again = api.delete(f"{base}/{sub['subscription_id']}", token=user.token)
    assert again.status == 404 and again.json["code"] == "SUBSCRIPTION_NOT_FOUND"
    audit = api.get(f"/v1/structures/{structure['structure_id']}/audit", token=user.token).json["items"]
    assert audit[0]["action"] == "SUBSCRIPTION_DELETED"


def test_idempotency_key_replays(api, sides):
    user, structure = sides["buyer_user"], sides["buyer"]
    body = {"channel": "EMAIL", "target": mailbox(), "events": ["ALL"], "language": "en"}
    path = f"/v1/structures/{structure['structure_id']}/subscriptions"
    first = api.post(path, body, token=user.token, headers={"Idempotency-Key": "sub-1"})
    second = api.post(path, body, token=user.token, headers={"Idempotency-Key": "sub-1"})
    assert first.status == second.status == 201
    assert second.header("Idempotent-Replayed") == "true" and second.json == first.json
    assert len(api.get(path, token=user.token).json["items"]) == 1


@pytest.mark.parametrize("body, code, field", [
    ({"channel": "SQS", "target": "http://evil.example/queue", "events": ["ALL"]},
     "INVALID_SUBSCRIPTION_TARGET", "target"),
    ({"channel": "SQS", "target": "https://sqs.eu-west-3.amazonaws.com.evil.example/123456789012/q", "events": ["ALL"]},
     "INVALID_SUBSCRIPTION_TARGET", "target"),
    ({"channel": "SQS", "target": "someone@example.fr", "events": ["ALL"]}, "INVALID_SUBSCRIPTION_TARGET", "target"),
    ({"channel": "EMAIL", "target": "not an email", "events": ["ALL"]}, "INVALID_SUBSCRIPTION_TARGET", "target"),
    ({"channel": "EMAIL", "target": "http://127.0.0.1:4566/123456789012/q", "events": ["ALL"]},
     "INVALID_SUBSCRIPTION_TARGET", "target"),
    ({"channel": "EMAIL", "target": "a@example.fr", "events": ["PAYEE"]}, "VALIDATION_ERROR", "events.0"),
    ({"channel": "EMAIL", "target": "a@example.fr", "events": []}, "VALIDATION_ERROR", "events"),
    ({"channel": "EMAIL", "target": "a@example.fr", "events": ["ALL"], "language": "de"},
     "VALIDATION_ERROR", "language"),
    ({"channel": "FAX", "target": "a@example.fr", "events": ["ALL"]}, "VALIDATION_ERROR", "channel"),
    ({"channel": "EMAIL", "target": "a@example.fr", "events": ["ALL"], "extra": 1}, "VALIDATION_ERROR", "extra"),
])
def test_invalid_subscriptions(api, sides, body, code, field):
    r = subscribe(api, sides["supplier_user"], sides["supplier"], **body)
    assert r.status == 422, r
    assert r.json["code"] == code and r.json["field"] == field, r.json


@pytest.mark.parametrize("env", ["FLOWS_QUEUE_URL", "EVENT_FAILURES_QUEUE_URL"])
def test_platform_queues_are_refused(api, sides, env):
    r = subscribe(api, sides["supplier_user"], sides["supplier"], channel="SQS", target=os.environ[env], events=["ALL"])
    assert r.status == 422 and r.json["code"] == "INVALID_SUBSCRIPTION_TARGET", r


def test_only_managers(api, sides, new_user, member):
    owner, structure = sides["buyer_user"], sides["buyer"]
    base = f"/v1/structures/{structure['structure_id']}/subscriptions"
    body = {"channel": "EMAIL", "target": mailbox(), "events": ["ALL"]}
    sub = api.post(base, body, token=owner.token).json

    stranger = new_user("stranger")
    for r in (api.post(base, body, token=stranger.token), api.get(base, token=stranger.token),
              api.delete(f"{base}/{sub['subscription_id']}", token=stranger.token)):
        assert r.status == 404 and r.json["code"] == "STRUCTURE_NOT_FOUND", r
    clerk = member(owner, structure, permissions={"INVOICES_RECEIVED": "MODIFICATION"})
    for r in (api.post(base, body, token=clerk.token), api.get(base, token=clerk.token),
              api.delete(f"{base}/{sub['subscription_id']}", token=clerk.token)):
        assert r.status == 403 and r.json["code"] == "MANAGER_REQUIRED", r
    deputy = member(owner, structure, role="SECONDARY_MANAGER")
    assert api.post(base, body, token=deputy.token).status == 201
    assert api.delete(f"{base}/{sub['subscription_id']}", token=deputy.token).status == 204


def test_at_most_twenty(api, sides):
    # The limit is a conditional counter in the subscription's transaction (DynamoDB serialises
    # racing transactions). Not raced here: moto's transactions are not isolated from each other.
    user, structure = sides["supplier_user"], sides["supplier"]
    base = f"/v1/structures/{structure['structure_id']}/subscriptions"

    def create():
        return api.post(base, {"channel": "EMAIL", "target": mailbox(), "events": ["ALL"]}, token=user.token)

    for _ in range(20):
        assert create().status == 201
    r = create()
    assert r.status == 409 and r.json["code"] == "TOO_MANY_SUBSCRIPTIONS", r
    items = api.get(base, token=user.token).json["items"]
    assert len(items) == 20
    assert api.delete(f"{base}/{items[0]['subscription_id']}", token=user.token).status == 204
    assert create().status == 201
    assert create().status == 409


def test_list_is_paginated(api, sides):
    user, structure = sides["buyer_user"], sides["buyer"]
    base = f"/v1/structures/{structure['structure_id']}/subscriptions"
    for _ in range(3):
        assert subscribe(api, user, structure, channel="EMAIL", target=mailbox(), events=["ALL"]).status == 201
    first = api.get(f"{base}?limit=2", token=user.token).json
    assert len(first["items"]) == 2 and first["next_page_token"]
    rest = api.get(f"{base}?limit=2&page_token={first['next_page_token']}", token=user.token).json
    assert len(rest["items"]) == 1


# -- the notify function, end to end -------------------------------------------------------


def test_suspended_invoice_emails_the_supplier_in_french(api, sides):
    address = mailbox()
    r = subscribe(api, sides["supplier_user"], sides["supplier"], channel="EMAIL", target=address,
                  events=["SUSPENDUE", "A_RECYCLER"])
    assert r.status == 201, r
    detail = status_changed(sides, "SUSPENDUE", reason_code="CMD_ERR",
                            comment="Merci de joindre le bon de commande n° 42.", payment_due_date="2027-01-15")
    publish(detail)
    [email] = wait_emails(address)
    assert email.source == spec.SES_SENDER_LOCAL
    assert email.subject == f"[Orchestre] Facture {detail['number']} : Suspendue"
    body = email.body
    assert "Statut : Suspendue (code 208)" in body
    assert "1 620,00 EUR" in body and sides["buyer"]["name"] in body and "SERV-1" in body
    assert "Motif : CMD_ERR" in body and "Merci de joindre le bon de commande n° 42." in body
    assert "15 janvier 2027" in body
    assert "À faire : compléter la facture" in body
    assert "valeur juridique" not in body
    # the buyer has no subscription, and SUSPENDUE is not in its default audience
    assert emails_to(sides["buyer"]["email"]) == []


def test_english_email_and_all_events(api, sides):
    address = mailbox()
    assert subscribe(api, sides["supplier_user"], sides["supplier"], channel="EMAIL", target=address,
                     events=["ALL"], language="en").status == 201
    detail = status_changed(sides, "REJETEE", reason_code="DOUBLON", comment="Already paid.")
    publish(detail)
    [email] = wait_emails(address)
    assert email.subject == f"[Orchestre] Invoice {detail['number']}: Rejected"
    assert "Reason: DOUBLON (document already received (duplicate))" in email.body
    assert "Comment: Already paid." in email.body and "1,620.00 EUR" in email.body
    assert "What to do next: issue a new invoice" in email.body
    publish(status_changed(sides, "A_RECYCLER", reason_code="DEST_ERR"))
    second = wait_emails(address, 2)[1]
    assert "send the invoice again to the right recipient" in second.body


def test_sqs_subscription_receives_the_event(api, sides):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"subscriber-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    r = subscribe(api, sides["buyer_user"], sides["buyer"], channel="SQS", target=url, events=["MISE_EN_PAIEMENT"])
    assert r.status == 201, r
    ignored = status_changed(sides, "SERVICE_FAIT")
    paid = status_changed(sides, "MISE_EN_PAIEMENT", mandate_number="M-2026-7")
    publish(ignored)
    publish(paid)
    [message] = receive(url)
    assert message == {**paid, "detail_type": "InvoiceStatusChanged"}
    assert receive(url, wait=2.0) == []  # SERVICE_FAIT is not among the subscription's events


def test_default_audience_is_the_structure_email(api, sides):
    buyer_mail, supplier_mail = sides["buyer"]["email"], sides["supplier"]["email"]
    available = status_changed(sides, "MISE_A_DISPOSITION", payment_due_date="2027-01-15")
    publish(available)
    [email] = wait_emails(buyer_mail)
    assert email.subject == f"[Orchestre] Facture {available['number']} : Mise à disposition"
    assert sides["supplier"]["name"] in email.body and "À faire : traiter la facture" in email.body
    assert "adresse de contact" in email.body

    rejected = status_changed(sides, "REJETEE", reason_code="MONTANTTOTAL_ERR")
    publish(rejected)
    [email] = wait_emails(supplier_mail)
    assert f"Facture {rejected['number']} : Rejetée" in email.subject
    assert "émettre une nouvelle facture" in email.body
    assert len(emails_to(buyer_mail)) == 1  # REJETEE is not in the buyer's default audience

    # Once the supplier subscribes (here: a queue, for payments only), the default audience is off.
    url = boto3.client("sqs").create_queue(QueueName=f"sub-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    assert subscribe(api, sides["supplier_user"], sides["supplier"], channel="SQS", target=url,
                     events=["MISE_EN_PAIEMENT"]).status == 201
    publish(status_changed(sides, "SUSPENDUE", reason_code="JUSTIF_ABS"))
    publish(status_changed(sides, "MISE_A_DISPOSITION"))  # a marker: the buyer is told of it
    wait_emails(buyer_mail, 2)
    assert len(emails_to(supplier_mail)) == 1


def test_revenue_order_status_is_informational(api, sides):
    address = mailbox()
    assert subscribe(api, sides["buyer_user"], sides["buyer"], channel="EMAIL", target=address,
                     events=["MISE_A_DISPOSITION"]).status == 201
    order = status_changed(sides, "MISE_A_DISPOSITION", document_type="REVENUE_ORDER", informational=True,
                           number=f"OR-{uuid.uuid4().hex[:6]}")
    publish(order)
    [email] = wait_emails(address)
    assert email.subject == f"[Orchestre] Ordre de recette {order['number']} : Mise à disposition"
    assert "Ce statut est communiqué à titre informatif : il n'a aucune valeur juridique." in email.body
    assert "Émetteur : " + sides["supplier"]["name"] in email.body


def test_overdue_reaches_buyer_and_supplier(api, sides):
    rule = next(r for r in spec.EVENT_RULES if r.function == "notify")
    assert "InvoiceOverdue" in rule.detail_types
    detail = status_changed(sides, "MANDATEE", payment_due_date="2026-10-01", days_late=12, late_interest="10.32",
                            fixed_indemnity="40.00")
    publish(detail, "InvoiceOverdue")
    [to_buyer] = wait_emails(sides["buyer"]["email"])
    [to_supplier] = wait_emails(sides["supplier"]["email"])
    assert to_buyer.subject.endswith(": paiement en retard") and "mettre la facture en paiement" in to_buyer.body
    assert "Indemnité forfaitaire pour frais de recouvrement : 40,00 EUR" in to_supplier.body


# -- the notify function in this process: retries, failures, rules -------------------------


class FakeChannels:
    """Records deliveries; ``fail`` targets raise a transient error once each."""

    def __init__(self, fail=()):
        self.sent: list[tuple[str, str]] = []
        self.fail = set(fail)

    def _maybe_fail(self, target):
        if target in self.fail:
            self.fail.discard(target)
            raise ConnectionError(f"{target} unreachable")

    def send_email(self, to, subject, body):
        self._maybe_fail(to)
        self.sent.append(("EMAIL", to))
        return "m"

    def send_message(self, queue_url, body, group_id, dedup_id):
        self._maybe_fail(queue_url)
        self.sent.append(("SQS", queue_url))
        return "m"


def bus_event(detail: dict, detail_type: str = "InvoiceStatusChanged") -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": "orchestre",
            "account": ACCOUNT, "region": REGION, "time": "2026-11-27T10:00:00Z", "resources": [], "detail": detail}


@pytest.fixture
def notify_module(platform):
    from orchestre_local.functions import module

    return module(spec.function("notify"))


def test_a_failed_delivery_is_retried_alone(api, sides, notify_module, monkeypatch):
    from orchestre.services.notifications import Notifier

    good, flaky = mailbox(), mailbox()
    for address in (good, flaky):
        assert subscribe(api, sides["supplier_user"], sides["supplier"], channel="EMAIL", target=address,
                         events=["REJETEE"]).status == 201
    channels = FakeChannels(fail={flaky})
    monkeypatch.setattr(notify_module, "notifier", Notifier(channels=channels))
    failing = bus_event(status_changed(sides, "REJETEE", reason_code="AUTRE"))
    other = bus_event(status_changed(sides, "REJETEE", reason_code="AUTRE"))

    with pytest.raises(NotificationFailed):  # the invocation fails: Lambda invokes it again
        notify_module.on_bus_event(failing, None)
    assert notify_module.on_bus_event(other, None)["sent"] == 2  # another event is not held up
    assert sorted(channels.sent) == sorted([("EMAIL", good), ("EMAIL", good), ("EMAIL", flaky)])

    channels.sent.clear()
    retry = notify_module.on_bus_event(failing, None)
    assert retry == {"sent": 1, "skipped": 1, "undeliverable": 0}
    assert channels.sent == [("EMAIL", flaky)]  # the delivery that had succeeded is not repeated


def test_an_event_that_keeps_failing_ends_in_the_failures_queue(api, sides):
    """Lambda's asynchronous contract: three attempts, then the on-failure destination, with the
    event as the request payload (and nothing lost silently)."""
    poison = {"version": "1", "invoice_id": str(uuid.uuid4()), "status": "REJETEE", "lifecycle_code": 210}
    publish(poison)  # no structures: the notify function cannot work out its recipients
    sqs = boto3.client("sqs")
    deadline, found = time.time() + 20, None
    while found is None and time.time() < deadline:
        for m in sqs.receive_message(QueueUrl=os.environ["EVENT_FAILURES_QUEUE_URL"], MaxNumberOfMessages=10,
                                     WaitTimeSeconds=1).get("Messages", []):
            record = json.loads(m["Body"])
            if record.get("requestPayload", {}).get("detail", {}).get("invoice_id") == poison["invoice_id"]:
                found = record
    assert found is not None, "the poison event did not reach the event-failures queue"
    assert found["requestContext"]["condition"] == "RetriesExhausted"
    assert found["requestContext"]["approximateInvokeCount"] == 3
    assert found["requestContext"]["functionArn"].endswith(":function:notify")


def test_undeliverable_targets_do_not_block_the_others(api, sides):
    from orchestre.services.notifications import Notifier

    sqs = boto3.client("sqs")
    gone = sqs.create_queue(QueueName=f"soon-gone-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    address = mailbox()
    for channel, target in (("SQS", gone), ("EMAIL", address)):
        assert subscribe(api, sides["buyer_user"], sides["buyer"], channel=channel, target=target,
                         events=["MISE_A_DISPOSITION"]).status == 201, target
    sqs.delete_queue(QueueUrl=gone)  # confirmed, then the subscriber deleted its queue
    outcome = Notifier().notify(bus_event(status_changed(sides, "MISE_A_DISPOSITION")), str(uuid.uuid4()))
    assert [(d.channel.value, d.target) for d in outcome.sent] == [("EMAIL", address)]
    [(delivery, code)] = outcome.undeliverable
    assert delivery.target == gone and ("NonExistentQueue" in code or "QueueDoesNotExist" in code), code
    assert len(emails_to(address)) == 1


def test_overdue_rendering_in_process(api, sides):
    from orchestre.services.notifications import Notifier

    channels = FakeChannels()
    detail = status_changed(sides, "MANDATEE", payment_due_date="2026-10-01", days_late=1, late_interest="0.86",
                            fixed_indemnity="40.00")
    outcome = Notifier(channels=channels).notify(bus_event(detail, "InvoiceOverdue"), str(uuid.uuid4()))
    assert outcome.name == "OVERDUE"
    assert sorted(t for _, t in channels.sent) == sorted([sides["buyer"]["email"], sides["supplier"]["email"]])


def test_other_events_are_ignored():
    from orchestre.services.notifications import Notifier

    channels = FakeChannels()
    outcome = Notifier(channels=channels).notify(bus_event({"invoice_id": "x"}, "InvoiceDeposited"), "k")
    assert outcome.name is None and channels.sent == []


# -- the rules, without the platform -------------------------------------------------------


def test_targets():
    from orchestre.domain.errors import InvalidInput
    from orchestre.domain.subscriptions import Channel, check_target

    ok = ["https://sqs.eu-west-3.amazonaws.com/123456789012/orders",
          "https://sqs.us-gov-west-1.amazonaws.com/123456789012/a-b_c.fifo"]
    for url in ok:
        assert check_target(Channel.SQS, url) == url
    bad = ["http://sqs.eu-west-3.amazonaws.com/123456789012/q", "https://sqs.eu-west-3.amazonaws.com/1234/q",
           "https://sqs.eu-west-3.amazonaws.com/123456789012/q/x", "https://evil.example/123456789012/q",
           "https://sqs.eu-west-3.amazonaws.com/123456789012/" + "q" * 81,
           "http://127.0.0.1:4566/123456789012/q"]
    for url in bad:
        with pytest.raises(InvalidInput) as e:
            check_target(Channel.SQS, url)
        assert e.value.code == "INVALID_SUBSCRIPTION_TARGET" and e.value.field == "target"
    local = r"^http://127\.0\.0\.1:\d+/\d{12}/[A-Za-z0-9_-]{1,80}$"
    assert check_target(Channel.SQS, "http://127.0.0.1:4566/123456789012/q", local)
    with pytest.raises(InvalidInput):  # the pattern replaces the AWS form
        check_target(Channel.SQS, ok[0], local)
    with pytest.raises(InvalidInput):
        check_target(Channel.SQS, ok[0], "([")  # a broken pattern accepts nothing
    assert check_target(Channel.EMAIL, " a.b@example.fr ") == "a.b@example.fr"


def test_audience_rules():
    from orchestre.domain.subscriptions import Language, Party, Side, Subscription, plan

    def sub(target, events, channel="EMAIL"):
        return Subscription(subscription_id=target, structure_id="s", channel=channel, target=target, events=events,
                            created_at="t", created_by="u")

    buyer = Party(Side.BUYER, "b", (), "buyer@example.fr")
    supplier = Party(Side.SUPPLIER, "s", (), "supplier@example.fr")
    told = {n: sorted(d.target for d in plan(n, [buyer, supplier]))
            for n in ("MISE_A_DISPOSITION", "SUSPENDUE", "A_RECYCLER", "REJETEE", "MISE_EN_PAIEMENT", "EN_ERREUR",
                      "OVERDUE", "COMPTABILISEE", "SERVICE_FAIT", "MANDATEE", "COMPLETEE", "ABANDONNEE")}
    assert told["MISE_A_DISPOSITION"] == ["buyer@example.fr"]
    assert told["OVERDUE"] == ["buyer@example.fr", "supplier@example.fr"]
    for n in ("SUSPENDUE", "A_RECYCLER", "REJETEE", "MISE_EN_PAIEMENT", "EN_ERREUR"):
        assert told[n] == ["supplier@example.fr"], n
    for n in ("COMPTABILISEE", "SERVICE_FAIT", "MANDATEE", "COMPLETEE", "ABANDONNEE"):
        assert told[n] == [], n
    assert plan("MISE_A_DISPOSITION", [Party(Side.BUYER, "b", (), None)]) == []  # no email, nobody told

    queue = "https://sqs.eu-west-3.amazonaws.com/123456789012/q"
    subscribed = Party(Side.SUPPLIER, "s", (sub("a@x.fr", ["REJETEE"]), sub("b@x.fr", ["ALL"]),
                                            sub(queue, ["OVERDUE"], "SQS")), "supplier@example.fr")
    assert sorted(d.target for d in plan("SUSPENDUE", [subscribed])) == ["b@x.fr"]  # no default any more
    [d1, d2] = plan("REJETEE", [subscribed])
    assert {d1.target, d2.target} == {"a@x.fr", "b@x.fr"} and d1.language is Language.FR
    # the same queue subscribed by both sides gets the event once
    both = [Party(Side.BUYER, "b", (sub(queue, ["ALL"], "SQS"),), None), subscribed]
    assert sorted((d.channel.value, d.target) for d in plan("OVERDUE", both)) == [("EMAIL", "b@x.fr"), ("SQS", queue)]


def test_an_sqs_subscription_receives_nothing_until_confirmed(api, sides):
    """Anyone can name a queue: only its owner, who reads the token sent to it, can confirm."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"unconfirmed-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    r = subscribe(api, sides["supplier_user"], sides["supplier"], confirm=False, channel="SQS", target=url,
                  events=["ALL"])
    assert r.status == 201 and r.json["confirmed"] is False and "token_sha256" not in r.json
    [hello] = receive(url, until=1)
    assert hello["type"] == "SubscriptionConfirmation" and hello["subscription_id"] == r.json["subscription_id"]
    publish(status_changed(sides, "SUSPENDUE", reason_code="JUSTIF_ABS"))
    assert receive(url, wait=4) == []  # not confirmed: nothing delivered
    base = f"/v1/structures/{sides['supplier']['structure_id']}/subscriptions/{r.json['subscription_id']}/confirm"
    bad = api.post(base, {"token": "x" * 32}, token=sides["supplier_user"].token)
    assert bad.status == 422 and bad.json["code"] == "INVALID_CONFIRMATION_TOKEN"
    ok = api.post(base, {"token": hello["token"]}, token=sides["supplier_user"].token)
    assert ok.status == 200 and ok.json["confirmed"] is True
    publish(status_changed(sides, "SUSPENDUE", reason_code="JUSTIF_ABS"))
    assert [m["status"] for m in receive(url, until=1)] == ["SUSPENDUE"]
    missing = f"http://127.0.0.1:1/123456789012/{'nope' + uuid.uuid4().hex[:6]}"
    r = subscribe(api, sides["supplier_user"], sides["supplier"], channel="SQS", target=missing, events=["ALL"])
    assert r.status == 422 and r.json["code"] == "INVALID_SUBSCRIPTION_TARGET"


# -- the outbox: no event lost after a commit --------------------------------------------------


def test_an_event_whose_publication_fails_is_delivered_once(api, parties):
    """The status change commits with its event (the outbox); publishing it fails three times (injected
    PutEvents failures); the outbox retries from the table's stream: the notification arrives, once."""
    from test_lifecycle import enter, post_status, wait_status

    buyer, supplier = parties["buyer_user"], parties["supplier"]
    address = mailbox()
    owner = parties["owner"]
    assert subscribe(api, owner, supplier, channel="EMAIL", target=address, events=["SUSPENDUE"]).status == 201
    iid = enter(api, parties)
    wait_status(api, buyer.token, iid, "MISE_A_DISPOSITION")
    assert api.post("/_local/faults", {"events:PutEvents": 3}).json["pending"] == {"events:PutEvents": 3}
    r = post_status(api, buyer.token, iid, "SUSPENDUE", reason_code="JUSTIF_ABS", comment="PV manquant")
    assert r.status == 200  # committed, whatever the bus does
    [email] = wait_emails(address, timeout=30)
    assert "PV manquant" in email.body
    assert api.get("/_local/faults").json["pending"] == {}  # the three failures were met, then it passed
    time.sleep(3)
    assert len(emails_to(address)) == 1  # not twice


def test_a_republished_event_is_not_notified_twice(api, sides):
    """Consumers are idempotent by event_id: the outbox may publish an event twice (it published,
    then failed before saying so); the second copy delivers nothing."""
    address = mailbox()
    assert subscribe(api, sides["supplier_user"], sides["supplier"], channel="EMAIL", target=address,
                     events=["REJETEE"]).status == 201
    detail = {**status_changed(sides, "REJETEE", reason_code="AUTRE"), "event_id": f"{uuid.uuid4()}/x"}
    publish(detail)
    wait_emails(address)
    publish(detail)  # the same event again (another EventBridge id)
    time.sleep(3)
    assert len(emails_to(address)) == 1


def test_two_copies_of_an_event_at_the_same_time_notify_once(api, sides):
    """The outbox can publish an event twice within a second (a batch retried after a partial failure):
    the copy that finds the other one being handled delivers nothing."""
    address = mailbox()
    assert subscribe(api, sides["supplier_user"], sides["supplier"], channel="EMAIL", target=address,
                     events=["REJETEE"]).status == 201
    detail = {**status_changed(sides, "REJETEE", reason_code="AUTRE"), "event_id": f"{uuid.uuid4()}/z"}
    out = boto3.client("events").put_events(Entries=[{
        "Source": "orchestre", "DetailType": "InvoiceStatusChanged", "EventBusName": os.environ["EVENT_BUS_NAME"],
        "Detail": json.dumps(detail)}] * 2)  # two copies in one call
    assert out["FailedEntryCount"] == 0
    wait_emails(address)
    time.sleep(3)
    assert len(emails_to(address)) == 1


def test_an_event_the_bus_refuses_for_good_is_parked_not_blocking(api, new_user, operator, platform):
    """An event over EventBridge's 256 KiB can never be published: retrying it would hold back every event
    behind it on the stream. The outbox parks it for operators and goes on."""
    from orchestre_local.functions import module

    outbox = module(spec.function("outbox"))
    event_id = f"{uuid.uuid4()}/2026-12-02T00:00:00.000Z#abc"
    huge = json.dumps({"version": "1", "event_id": event_id, "comment": "x" * 270_000})
    fine = json.dumps({"version": "1", "event_id": f"{uuid.uuid4()}/y", "invoice_id": "none"})

    def record(seq: int, detail: str) -> dict:
        return {"eventSource": "aws:dynamodb", "eventName": "INSERT", "dynamodb": {
            "SequenceNumber": str(seq), "Keys": {"PK": {"S": f"INV#{seq}"}, "SK": {"S": "HIST#x"}},
            "NewImage": {"event_type": {"S": "InvoiceStatusChanged"}, "event_detail": {"S": detail}}}}

    result = outbox.on_stream({"Records": [record(1, huge), record(2, fine)]}, None)
    assert result == {"batchItemFailures": []}  # neither comes back: one parked, one published

    parked = api.get("/v1/admin/events/parked", token=operator.token)
    assert parked.status == 200, parked
    [mine] = [p for p in parked.json["items"] if p["event_id"] == event_id]
    assert mine["reason"].startswith("EntryTooLarge") and mine["source_key"] == {"PK": "INV#1", "SK": "HIST#x"}
    assert json.loads(mine["parked_detail"])["event_id"] == event_id
    assert api.get("/v1/admin/events/parked", token=new_user().token).status == 403
