"""The job runner as it runs: reminders fire within a second of their time, email deliveries go
through the provider (the log provider by default) with the delivery states the communications
work relies on, and `brm worker` does the same from another process."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from brm_app import live
from brm_app import settings as settings_module
from brm_app.bootstrap import use_providers
from brm_app.db import unit_of_work, utcnow
from brm_app.jobs import queue
from brm_app.jobs.kinds import handlers
from brm_app.jobs.runner import Runner
from brm_app.models.follow_up import (
    FollowUp,
    FollowUpWrite,
    Notification,
    NotificationDelivery,
    Reminder,
)
from brm_app.models.job import Job
from brm_app.models.user import Role
from brm_app.providers.base import ProviderError, SendResult
from brm_app.services import deliveries, follow_ups, users
from tests.async_support import run_async
from tests.factories import make_firm, make_user


class _NoTabs:
    """Stands in for the Reflex app: no browser tabs are open in these tests."""

    def modify_state(self, *args, **kwargs):  # pragma: no cover - never reached without tabs
        raise AssertionError("no tab should be pushed to")


def _reminder_in(broker, firm, seconds: float) -> tuple[int, object]:
    """A follow-up made through the service, with one reminder `seconds` from now."""
    remind_at = utcnow() + timedelta(seconds=seconds)
    with unit_of_work(write=True) as db:
        fu = follow_ups.create_follow_up(
            db,
            actor=broker,
            data=FollowUpWrite(
                title="Call back about the new issue",
                due_at=utcnow() + timedelta(hours=2),
                firm_id=firm.firm_id,
                reminders=[remind_at],
            ),
        )
    with unit_of_work() as db:
        stored = db.exec(select(Reminder.remind_at).where(Reminder.follow_up_id == fu.follow_up_id))
        return fu.follow_up_id, stored.one()


async def _first_notification(user_id: int, timeout: float = 10.0) -> Notification | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with unit_of_work() as db:
            note = db.exec(select(Notification).where(Notification.user_id == user_id)).first()
        if note is not None:
            return note
        await asyncio.sleep(0.02)
    return None


def test_the_apps_background_task_fires_a_reminder_within_a_second(database_url, monkeypatch):
    """Through the app's lifespan task with its default settings (a 5-second periodic pass)."""
    monkeypatch.delenv("BRM_SCHEDULER_SECONDS", raising=False)
    settings_module.get_settings.cache_clear()
    broker = make_user(Role.BROKER)
    firm = make_firm(broker)

    async def scenario():
        task = asyncio.create_task(live.scheduler_loop(_NoTabs()))
        await asyncio.sleep(0.5)  # the task's first round is over; it sleeps now
        _, remind_at = _reminder_in(broker, firm, 2.5)
        note = await _first_notification(broker.user_id)
        task.cancel()
        return note, remind_at

    note, remind_at = run_async(scenario())
    assert note is not None, "the reminder never fired"
    late = (note.created_at - remind_at).total_seconds()
    assert 0 <= late < 1.0, f"fired {late:.2f} s after its time"


def test_the_runner_sleeps_until_a_reminder_set_while_it_sleeps(database_url):
    """No polling to rescue it (poll_seconds=30): the commit that adds the reminder wakes the
    runner, which then sleeps until the reminder's time."""
    broker = make_user(Role.BROKER)
    firm = make_firm(broker)
    runner = Runner(handlers(), periodic_seconds=0)

    async def scenario():
        task = asyncio.create_task(runner.run_forever(poll_seconds=30))
        await asyncio.sleep(0.5)
        _, remind_at = _reminder_in(broker, firm, 2.0)
        note = await _first_notification(broker.user_id)
        task.cancel()
        return note, remind_at

    note, remind_at = run_async(scenario())
    assert note is not None, "the reminder never fired"
    late = (note.created_at - remind_at).total_seconds()
    assert 0 <= late < 1.0, f"fired {late:.2f} s after its time"


def _due_reminder_for(email_reminders: bool) -> tuple[object, int]:
    """A broker (opted in to reminder emails or not) whose reminder is due now."""
    broker = make_user(Role.BROKER, email=f"opted.{email_reminders}.{time.time_ns()}@test.example")
    firm = make_firm(broker, name=f"Secretive Holdings {time.time_ns()}")
    with unit_of_work(write=True) as db:
        users.set_email_reminders(db, actor=broker, enabled=email_reminders)
        fu = FollowUp(
            title="Discuss the confidential block trade",
            due_at=utcnow() + timedelta(hours=1),
            assignee_id=broker.user_id,
            firm_id=firm.firm_id,
        )
        db.add(fu)
        db.flush()
        db.add(Reminder(follow_up_id=fu.id, remind_at=utcnow() - timedelta(seconds=1)))
    return broker, fu.id


def _deliveries() -> list[NotificationDelivery]:
    with unit_of_work() as db:
        return list(db.exec(select(NotificationDelivery).order_by(NotificationDelivery.id)).all())


def test_a_reminder_reaches_an_opted_in_user_by_email_through_the_log_provider(
    database_url, caplog
):
    broker, _ = _due_reminder_for(True)
    with caplog.at_level(logging.INFO, logger="brm.providers.email"):
        report = Runner(handlers(), periodic_seconds=0).run_round()
    assert report.reminders_sent == 1 and report.jobs_done == 1
    in_app, email = _deliveries()
    assert (in_app.channel, in_app.status) == ("in_app", "delivered")
    assert (email.channel, email.status, email.attempts) == ("email", "sent", 1)
    assert email.provider_message_id.startswith("log-")
    [job] = _jobs()
    assert (job.kind, job.payload, job.state) == (
        "delivery.send",
        f'{{"delivery_id": {email.id}}}',
        "done",
    )
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"delivery:{email.id}" in logged
    for secret in (broker.email, "confidential", "Secretive"):
        assert secret not in logged, f"{secret!r} reached the log"


def test_without_opting_in_a_reminder_stays_in_the_app(database_url):
    _due_reminder_for(False)
    report = Runner(handlers(), periodic_seconds=0).run_round()
    assert report.reminders_sent == 1 and report.jobs_done == 0
    assert [d.channel for d in _deliveries()] == ["in_app"]
    assert _jobs() == []


def _jobs() -> list[Job]:
    with unit_of_work() as db:
        return list(db.exec(select(Job).order_by(Job.id)).all())


class _Provider:
    name = "fake"

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.sent = []

    def send(self, message):
        self.sent.append(message)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return SendResult(provider_message_id=outcome)


def _let_backoff_pass() -> None:
    with unit_of_work(write=True) as db:
        for job in db.exec(select(Job).where(Job.state == "failed")).all():
            job.run_at = utcnow() - timedelta(seconds=1)
            db.add(job)


def test_a_temporary_provider_failure_is_retried_and_a_permanent_one_is_kept(database_url):
    broker, _ = _due_reminder_for(True)
    fake = _Provider(ProviderError("429 slow down", temporary=True), "msg-2")
    runner = Runner(handlers(), periodic_seconds=0)
    with use_providers(email=fake):
        runner.run_round()
        email = _deliveries()[1]
        [job] = _jobs()
        assert (email.status, email.error, job.state) == ("pending", "429 slow down", "failed")
        _let_backoff_pass()
        runner.run_round()
    email = _deliveries()[1]
    assert (email.status, email.provider_message_id, email.attempts) == ("sent", "msg-2", 2)
    assert _jobs()[0].state == "done"
    assert [m.to for m in fake.sent] == [broker.email, broker.email]
    assert fake.sent[0].reference == f"delivery:{email.id}"

    _due_reminder_for(True)
    refusing = _Provider(ProviderError("550 no such mailbox", temporary=False))
    with use_providers(email=refusing):
        runner.run_round()
    refused = _deliveries()[-1]
    assert (refused.status, refused.error) == ("failed", "550 no such mailbox")
    assert _jobs()[-1].state == "dead" and "550 no such mailbox" in _jobs()[-1].last_error


def test_a_send_interrupted_after_sending_is_marked_unknown_and_never_resent(database_url):
    _due_reminder_for(True)

    class Crash(BaseException):
        """The process dies while the provider call is in flight."""

    def dying(job):
        def crash(message):
            raise Crash()

        with use_providers(email=type("P", (), {"name": "x", "send": staticmethod(crash)})()):
            deliveries.send(job)

    runner = Runner({"delivery.send": dying}, periodic_seconds=0)
    with pytest.raises(Crash):
        runner.run_round()
    email = _deliveries()[1]
    assert email.status == "sending"
    # The lease runs out; a healthy runner takes the job over, and does not send it again.
    fake = _Provider("never")
    with unit_of_work(write=True) as db:
        [claimed] = queue.claim(db, now=utcnow() + timedelta(hours=1))
    with use_providers(email=fake), pytest.raises(queue.PermanentJobError):
        deliveries.send(claimed)
    assert fake.sent == []
    email = _deliveries()[1]
    assert email.status == "unknown" and "not re-sent" in email.error


def test_brm_worker_runs_jobs_from_another_process(database_url, tmp_path):
    brm = Path(sys.executable).with_name("brm")
    log_file = tmp_path / "worker.log"
    with open(log_file, "w") as out:
        proc = subprocess.Popen(
            [str(brm), "worker"], env={**os.environ}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        time.sleep(1.0)
        _due_reminder_for(True)  # a reminder due now, for a user who wants reminder emails
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = _deliveries()
            if len(found) == 2 and found[1].status == "sent":
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the worker sent nothing: {log_file.read_text()[-2000:]}")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    email = _deliveries()[1]
    assert f"delivery:{email.id}" in log_file.read_text()
    assert _jobs()[0].state == "done"
