"""Notification preferences: channels per kind of event, SMS only with a mobile number, quiet
hours that hold email and SMS back (in-app at once), reminders by the chosen channels, and new
messages for those who asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from brm_app.db import unit_of_work, utcnow
from brm_app.models.follow_up import Notification, NotificationDelivery
from brm_app.models.job import Job
from brm_app.models.trader import TraderPermission
from brm_app.models.user import Role, User
from brm_app.services import conversations, notifications, preferences
from brm_app.services.errors import ValidationFailed
from tests.factories import make_firm, make_trader, make_user


def call(fn, **kw):
    with unit_of_work(write=True) as db:
        return fn(db, **kw)


def test_defaults_choices_and_sms_needs_a_mobile(database_url):
    ann = make_user(Role.BROKER)
    with unit_of_work() as db:
        prefs = {p.kind: p for p in preferences.get_preferences(db, actor=ann)}
    assert prefs["reminder"].in_app and not prefs["reminder"].sms
    assert not prefs["message"].in_app
    with pytest.raises(ValidationFailed, match="mobile"):
        call(
            preferences.set_preference,
            actor=ann,
            kind="reminder",
            in_app=True,
            email=True,
            sms=True,
        )
    with pytest.raises(ValidationFailed):
        call(preferences.set_mobile, actor=ann, mobile="+442079460958")  # a landline
    call(preferences.set_mobile, actor=ann, mobile="+447911123456")
    call(preferences.set_preference, actor=ann, kind="reminder", in_app=True, email=True, sms=True)
    with pytest.raises(ValidationFailed):
        call(preferences.set_preference, actor=ann, kind="nope", in_app=True, email=True, sms=True)
    with unit_of_work() as db:
        assert preferences.channels_for(db, ann.user_id, "reminder") == ("in_app", "email", "sms")


def test_quiet_hours_hold_email_and_sms_until_they_end(database_url):
    ann = make_user(Role.BROKER)
    call(preferences.set_mobile, actor=ann, mobile="+447911123456")
    now = utcnow()
    start = (now - timedelta(hours=1)).strftime("%H:%M")
    end = (now + timedelta(hours=2)).strftime("%H:%M")
    call(preferences.set_quiet_hours, actor=ann, start=start, end=end)  # user's zone is UTC
    with unit_of_work() as db:
        until = preferences.quiet_until(db, ann.user_id, now)
    assert until is not None and timedelta(hours=1) < until - now <= timedelta(hours=2)
    with unit_of_work(write=True) as db:
        notifications.notify(
            db, user_id=ann.user_id, kind="reminder", title="Call back", channels=("in_app", "sms")
        )
    with unit_of_work() as db:
        job = db.exec(select(Job)).one()
        assert job.run_at.replace(tzinfo=UTC) >= until - timedelta(seconds=1)
        assert db.exec(select(Notification)).one().read_at is None  # in-app at once
    with pytest.raises(ValidationFailed):
        call(preferences.set_quiet_hours, actor=ann, start="25:00", end="07:00")
    assert call(preferences.set_quiet_hours, actor=ann, start="", end="") is None
    with unit_of_work() as db:
        assert preferences.quiet_until(db, ann.user_id, datetime.now(UTC)) is None


def test_new_messages_reach_those_who_asked_on_their_channels(database_url):
    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id)
    firm = make_firm(broker, name="Prefs Partners")
    tess = make_trader(
        manager, firm.firm_id, name="Tess Prefs", permissions=[TraderPermission.PORTAL_ACCESS]
    )
    call(
        preferences.set_preference, actor=broker, kind="message", in_app=True, email=True, sms=False
    )
    conv = call(conversations.start_conversation, actor=broker, trader_ids=[tess.trader_id])
    with unit_of_work() as db:
        tess_user = db.exec(select(User).where(User.role == "trader")).one()
    from brm_app.services.authentication import actor_of

    with unit_of_work() as db:
        tess_actor = actor_of(db.get(User, tess_user.id), ip=None)
    call(conversations.send_message, actor=tess_actor, conversation_id=conv.id, content="Hi!")
    with unit_of_work() as db:
        notes = db.exec(select(Notification).where(Notification.kind == "message")).all()
        assert [(n.user_id, n.title) for n in notes] == [
            (broker.user_id, "New message from Tess Prefs")
        ]
        channels = sorted(d.channel for d in db.exec(select(NotificationDelivery)).all())
    assert channels == ["email", "in_app"]
