"""Email and SMS through the real SendGrid and Twilio SDKs, against stub HTTP servers on
127.0.0.1: the request each SDK makes, 429 then 202 retried once and sent once, a crash between
"sending" and "sent" left "unknown" and never re-sent, and every status in the log."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from sqlmodel import select

from brm_app import bootstrap
from brm_app.db import unit_of_work
from brm_app.jobs import queue
from brm_app.jobs.kinds import handlers
from brm_app.jobs.runner import Runner
from brm_app.models.communication import CommunicationLogEntry, MessageDelivery
from brm_app.models.job import Job
from brm_app.models.trader import TraderPermission
from brm_app.models.user import Role
from brm_app.providers.sendgrid_email import SendGridEmailProvider
from brm_app.providers.twilio_sms import TwilioSmsProvider
from brm_app.services import communications
from tests.factories import make_firm, make_trader, make_user

SID = "AC" + "1" * 32


class Stub:
    """A stub provider: records each request; answers from a script of statuses (then 2xx)."""

    def __init__(self, answers: list[int] | None = None, ok: int = 202, body: dict | None = None):
        self.requests: list[dict] = []
        self.answers = list(answers or [])
        self.ok = ok
        self.body = body or {}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                stub.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": raw}
                )
                status = stub.answers.pop(0) if stub.answers else stub.ok
                payload = json.dumps(stub.body if status < 300 else {"message": "busy"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Message-Id", "sg-msg-1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    s = Stub()
    yield s
    s.close()


@pytest.fixture
def desk(database_url):
    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id)
    firm = make_firm(broker, name="Delivery Desk")
    tess = make_trader(
        manager,
        firm.firm_id,
        name="Tess Texts",
        email="tess@client.example",
        mobile="+447911123456",
        permissions=[
            TraderPermission.PORTAL_ACCESS,
            TraderPermission.RECEIVE_EMAIL,
            TraderPermission.RECEIVE_SMS,
        ],
    )
    return broker, tess


def _send(broker, tess, channel: str, text: str = "Your trade confirmation") -> int:
    with unit_of_work(write=True) as db:
        sent = communications.send_to_trader(
            db, actor=broker, trader_id=tess.trader_id, message_type=channel, content=text
        )
    return sent.deliveries[0].delivery_id


def _delivery(delivery_id: int) -> MessageDelivery:
    with unit_of_work() as db:
        return db.get(MessageDelivery, delivery_id)


def _statuses(delivery_id: int) -> list[str]:
    with unit_of_work() as db:
        return list(
            db.exec(
                select(CommunicationLogEntry.status)
                .where(CommunicationLogEntry.delivery_id == delivery_id)
                .order_by(CommunicationLogEntry.id)
            ).all()
        )


def _run_jobs(now=None) -> None:
    Runner(handlers(), periodic_seconds=0).run_round()


def _make_due() -> None:
    """Bring retries forward (their backoff) so the next round runs them."""
    import sqlalchemy as sa

    from brm_app.db import utcnow

    with unit_of_work(write=True) as db:
        db.exec(sa.update(Job).values(run_at=utcnow()))


def sendgrid(stub: Stub) -> SendGridEmailProvider:
    return SendGridEmailProvider(
        api_key="SG.test-key", from_email="desk@brokersync.example", host=stub.url
    )


def twilio(stub: Stub) -> TwilioSmsProvider:
    return TwilioSmsProvider(
        account_sid=SID, auth_token="tok", from_number="+15005550006", api_base=stub.url
    )


def test_sendgrid_sdk_request_and_a_429_retried_once_then_sent_once(desk, stub, monkeypatch):
    monkeypatch.setenv("BRM_INBOUND_DOMAIN", "reply.brokersync.example")
    from brm_app import settings

    settings.get_settings.cache_clear()
    broker, tess = desk
    stub.answers = [429]
    delivery_id = _send(broker, tess, "email")
    with bootstrap.use_providers(email=sendgrid(stub)):
        _run_jobs()
        assert _delivery(delivery_id).status == "queued"  # a temporary failure: retried later
        _make_due()
        _run_jobs()
    d = _delivery(delivery_id)
    assert d.status == "sent" and d.attempts == 2 and d.provider_message_id == "sg-msg-1"
    assert len(stub.requests) == 2  # once refused (429), once accepted: sent exactly once
    req = stub.requests[-1]
    assert req["path"] == "/v3/mail/send"
    assert req["headers"]["Authorization"] == "Bearer SG.test-key"
    body = json.loads(req["body"])
    assert body["personalizations"][0]["to"] == [{"email": "tess@client.example"}]
    assert body["from"] == {"email": "desk@brokersync.example"}
    assert body["content"][0] == {"type": "text/plain", "value": "Your trade confirmation"}
    assert body["reply_to"]["email"].startswith("reply+")
    assert body["reply_to"]["email"].endswith("@reply.brokersync.example")
    assert body["custom_args"] == {"brm_ref": f"delivery:{delivery_id}"}
    assert _statuses(delivery_id) == ["sending", "queued", "sending", "sent"]


def test_twilio_sdk_request_to_the_mobile_with_a_status_callback(desk, monkeypatch):
    broker, tess = desk
    stub = Stub(ok=201, body={"sid": "SM123", "status": "queued", "account_sid": SID})
    try:
        delivery_id = _send(broker, tess, "sms", "Margin call at 3pm")
        with bootstrap.use_providers(sms=twilio(stub)):
            _run_jobs()
    finally:
        stub.close()
    d = _delivery(delivery_id)
    assert d.status == "sent" and d.provider_message_id == "SM123"
    req = stub.requests[0]
    assert req["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    form = parse_qs(req["body"].decode())
    assert form["To"] == ["+447911123456"] and form["From"] == ["+15005550006"]
    assert form["Body"] == ["Margin call at 3pm"]
    assert form["StatusCallback"][0].endswith("/api/v1/webhooks/twilio/status")


def test_a_permanent_refusal_is_failed_with_the_error_and_not_retried(desk):
    broker, tess = desk
    stub = Stub(answers=[400])
    try:
        delivery_id = _send(broker, tess, "sms")
        with bootstrap.use_providers(sms=twilio(stub)):
            _run_jobs()
            _make_due()
            _run_jobs()
    finally:
        stub.close()
    d = _delivery(delivery_id)
    assert d.status == "failed" and "HTTP 400" in (d.error or "")
    assert len(stub.requests) == 1


def test_a_crash_between_sending_and_sent_leaves_unknown_never_resent(desk, stub):
    broker, tess = desk
    delivery_id = _send(broker, tess, "email")

    class Crash(Exception):
        pass

    class CrashingProvider:
        name = "sendgrid"

        def send(self, message):
            # The request went out (the stub got it), then the process died before "sent".
            sendgrid(stub).send(message)
            raise Crash("the worker died")

    with bootstrap.use_providers(email=CrashingProvider()):
        with unit_of_work(write=True) as db:
            (job,) = queue.claim(db)
        with pytest.raises(Crash):
            communications.send(job)
    assert _delivery(delivery_id).status == "sending"
    # The job runs again (its lease ran out): it finds "sending" and does not send again.
    _make_due()
    with bootstrap.use_providers(email=sendgrid(stub)):
        with unit_of_work(write=True) as db:
            import sqlalchemy as sa

            from brm_app.db import utcnow

            db.exec(sa.update(Job).values(locked_until=utcnow()))
        _run_jobs()
    d = _delivery(delivery_id)
    assert d.status == "unknown" and "not re-sent" in (d.error or "")
    assert len(stub.requests) == 1
    # A person resends it: one more request, sent.
    with unit_of_work(write=True) as db:
        communications.resend(db, actor=broker, delivery_id=delivery_id)
    with bootstrap.use_providers(email=sendgrid(stub)):
        _run_jobs()
    assert _delivery(delivery_id).status == "sent" and len(stub.requests) == 2


def test_the_log_provider_is_the_default_and_keeps_content_out_of_the_server_log(desk, caplog):
    broker, tess = desk
    delivery_id = _send(broker, tess, "sms", "Secret pricing words")
    with caplog.at_level("INFO"):
        _run_jobs()
    assert _delivery(delivery_id).status == "sent"
    assert "Secret pricing words" not in caplog.text and "+447911123456" not in caplog.text


# ---- the outbox in batches (issue 10's speed target: 1,000 emails in under 10 s) ---------------


def _ref_id(message) -> int:
    return int(message.reference.split(":")[1])


def test_a_batch_is_sent_once_each_logged_and_chained_in_a_few_transactions(desk, stub):
    import sqlalchemy as sa

    from brm_app.db import get_engine
    from brm_app.services import audit, communication_log

    broker, tess = desk
    ids = [_send(broker, tess, "email", f"Confirmation {n}") for n in range(12)]
    commits: list[int] = []
    listener = lambda conn: commits.append(1)  # noqa: E731
    sa.event.listen(get_engine(), "commit", listener)
    try:
        with bootstrap.use_providers(email=sendgrid(stub)):
            report = Runner(handlers(), periodic_seconds=0).run_round()
    finally:
        sa.event.remove(get_engine(), "commit", listener)
    assert report.jobs_done == 12 and report.jobs_failed == 0
    refs = sorted(json.loads(r["body"])["custom_args"]["brm_ref"] for r in stub.requests)
    assert refs == sorted(f"delivery:{i}" for i in ids)  # each sent once
    for delivery_id in ids:
        d = _delivery(delivery_id)
        assert d.status == "sent" and d.attempts == 1 and d.provider_message_id == "sg-msg-1"
        assert _statuses(delivery_id) == ["sending", "sent"]
    # claim, "sending", "sent", the jobs' ends: not three commits per email as one by one.
    assert len(commits) <= 6
    with unit_of_work() as db:
        assert audit.verify_chain(db).ok and communication_log.verify_log(db).ok
        jobs = db.exec(select(Job.state)).all()
    assert set(jobs) == {"done"}


def test_a_batch_with_every_outcome_keeps_each_deliverys_rules(desk):
    from brm_app.providers.base import ProviderError, SendResult

    broker, tess = desk
    busy, refused, crashed, fine = (_send(broker, tess, "email", f"Note {n}") for n in range(4))
    calls: list[int] = []

    class Crash(Exception):
        pass

    class Mixed:
        name = "sendgrid"

        def send(self, message):
            delivery_id = _ref_id(message)
            calls.append(delivery_id)
            if delivery_id == busy:
                raise ProviderError("SendGrid answered HTTP 429", temporary=True)
            if delivery_id == refused:
                raise ProviderError("SendGrid answered HTTP 400", temporary=False)
            if delivery_id == crashed:
                raise Crash("went out, then the worker died before its answer")
            return SendResult(provider_message_id=f"ok-{delivery_id}")

    with bootstrap.use_providers(email=Mixed()):
        report = Runner(handlers(), periodic_seconds=0).run_round()
    assert (report.jobs_done, report.jobs_failed) == (1, 3)
    assert [_delivery(i).status for i in (busy, refused, crashed, fine)] == [
        "queued",  # a temporary failure: retried later
        "failed",  # a permanent one: not retried
        "sending",  # its fate unknown: left as it was when the call started
        "sent",
    ]
    assert "HTTP 400" in (_delivery(refused).error or "")
    # Later: the retry is sent; the interrupted one becomes "unknown", never re-sent.
    import sqlalchemy as sa

    from brm_app.db import utcnow

    with unit_of_work(write=True) as db:
        db.exec(sa.update(Job).values(run_at=utcnow(), locked_until=utcnow()))
    calls.clear()

    class Accepting:
        name = "sendgrid"

        def send(self, message):
            calls.append(_ref_id(message))
            return SendResult(provider_message_id="ok-retry")

    with bootstrap.use_providers(email=Accepting()):
        Runner(handlers(), periodic_seconds=0).run_round()
    assert calls == [busy]  # only the retry went out again
    assert _delivery(busy).status == "sent" and _delivery(busy).attempts == 2
    assert _delivery(crashed).status == "unknown" and _delivery(crashed).attempts == 1
    assert _delivery(refused).status == "failed" and _delivery(fine).status == "sent"
    assert _statuses(crashed) == ["sending", "unknown"]


def test_provider_calls_of_a_batch_overlap_within_the_limit(desk):
    import time as _time

    from brm_app.providers.base import SendResult

    broker, tess = desk
    ids = [_send(broker, tess, "email", f"Rate sheet {n}") for n in range(20)]
    lock = threading.Lock()
    in_flight, most = [0], [0]

    class Slow:
        name = "sendgrid"

        def send(self, message):
            with lock:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            _time.sleep(0.05)  # a provider's round trip
            with lock:
                in_flight[0] -= 1
            return SendResult(provider_message_id=message.reference)

    with bootstrap.use_providers(email=Slow()):
        report = Runner(handlers(), periodic_seconds=0).run_jobs()  # the jobs, nothing else
    assert report.jobs_done == 20
    assert all(_delivery(i).status == "sent" for i in ids)
    assert 1 < most[0] <= communications.SEND_CONCURRENCY
