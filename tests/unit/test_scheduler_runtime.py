"""The scheduler as it runs in the app: a reminder that fell due while the app was down fires on
start, and two scheduler processes against PostgreSQL fire every reminder exactly once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest
from sqlmodel import func, select

from brm_app import live
from brm_app.db import unit_of_work, utcnow
from brm_app.models.follow_up import FollowUp, Notification, Reminder
from brm_app.models.user import Role
from tests.async_support import run_async
from tests.conftest import PG_URL
from tests.factories import make_firm, make_user


class _NoTabs:
    """Stands in for the Reflex app: no browser tabs are open in this test."""

    def modify_state(self, *args, **kwargs):  # pragma: no cover - never reached without tabs
        raise AssertionError("no tab should be pushed to")


def _due_while_down(count: int = 1) -> tuple[int, list[int]]:
    """Follow-ups whose reminders fell due an hour ago (written straight to the database, as if the
    app had been stopped when they fell due)."""
    broker = make_user(Role.BROKER)
    firm = make_firm(broker, name=f"Downtime Co {count}")
    ids = []
    with unit_of_work(write=True) as db:
        for i in range(count):
            fu = FollowUp(
                title=f"Call back #{i}",
                due_at=utcnow() + timedelta(hours=1),
                assignee_id=broker.user_id,
                firm_id=firm.firm_id,
            )
            db.add(fu)
            db.flush()
            db.add(Reminder(follow_up_id=fu.id, remind_at=utcnow() - timedelta(hours=1)))
            ids.append(fu.id)
    return broker.user_id, ids


def test_reminder_due_while_down_fires_on_start(database_url, monkeypatch):
    user_id, _ = _due_while_down()
    monkeypatch.setenv("BRM_SCHEDULER_SECONDS", "60")
    from brm_app import settings as settings_module

    settings_module.get_settings.cache_clear()

    async def start_and_stop():
        task = asyncio.create_task(live.scheduler_loop(_NoTabs()))
        for _ in range(100):  # the first pass runs at once on start; no waiting for the interval
            await asyncio.sleep(0.05)
            with unit_of_work() as db:
                if db.exec(
                    select(func.count())
                    .select_from(Notification)
                    .where(Notification.user_id == user_id)
                ).one():
                    break
        task.cancel()

    run_async(start_and_stop())
    with unit_of_work() as db:
        notes = db.exec(select(Notification).where(Notification.user_id == user_id)).all()
        assert [n.title for n in notes] == ["Reminder: Call back #0"]
        assert db.exec(select(Reminder)).one().outcome == "sent"


WORKER = textwrap.dedent(
    """
    import sys, time
    from brm_app.db import unit_of_work
    from brm_app.services import scheduler
    sent = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with unit_of_work(write=True) as db:
            report = scheduler.fire_due_reminders(db, batch=25)
        sent += report.reminders_sent
        if report.reminders_sent == 0:
            break
    print(sent)
    """
)


@pytest.mark.skipif(not PG_URL, reason="needs BRM_TEST_DATABASE_URL (PostgreSQL); .ci/run sets it")
def test_two_schedulers_on_postgresql_fire_each_reminder_exactly_once(
    db_templates, tmp_path, monkeypatch
):
    from tests.conftest import _configure, fresh_database_url

    url, drop = fresh_database_url("postgresql", db_templates, tmp_path)
    _configure(monkeypatch, tmp_path, url)
    try:
        _due_while_down(400)
        env = {**os.environ}
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER], env=env, stdout=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        counts = [int(p.communicate(timeout=120)[0].strip()) for p in procs]
        assert all(p.returncode == 0 for p in procs)
        assert sum(counts) == 400, counts
        assert all(c > 0 for c in counts), f"both workers should have taken part: {counts}"
        with unit_of_work() as db:
            assert db.exec(select(func.count()).select_from(Notification)).one() == 400
            per_reminder = db.exec(
                select(Reminder.follow_up_id, func.count()).group_by(Reminder.follow_up_id)
            ).all()
            assert len(per_reminder) == 400 and all(n == 1 for _, n in per_reminder)
            assert (
                db.exec(
                    select(func.count()).select_from(Reminder).where(Reminder.fired_at.is_(None))
                ).one()
                == 0
            )
            titles = db.exec(select(Notification.title)).all()
            assert len(set(titles)) == 400  # one notification per follow-up, none twice
    finally:
        from brm_app import db as db_module

        db_module.get_engine().dispose()
        drop()
