"""Interactions (versions, voiding, access), follow-ups (reminders, snooze), the scheduler,
iCalendar feeds and the due-for-contact list, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import icalendar
import pytest
from sqlmodel import func, select

from brm_app.db import unit_of_work, utcnow
from brm_app.models.follow_up import (
    FollowUpPatch,
    FollowUpStatus,
    FollowUpWrite,
    Notification,
    Reminder,
)
from brm_app.models.interaction import InteractionWrite
from brm_app.models.user import Role, User
from brm_app.services import (
    app_settings,
    calendar,
    calendar_feed,
    follow_ups,
    interaction_config,
    interactions,
    notifications,
    relationship,
    scheduler,
)
from brm_app.services.errors import NotFound, PermissionDenied, ValidationFailed
from brm_app.services.interactions import InteractionQuery
from brm_app.services.pagination import PageRequest
from tests.factories import make_firm, make_trader, make_user


def call(fn, **kw):
    with unit_of_work(write=True) as db:
        return fn(db, **kw)


def log(actor, trader_ids, **kw):
    data = {
        "trader_ids": trader_ids,
        "interaction_type": "Call",
        "interaction_date": utcnow() - timedelta(hours=1),
        "subject": "Quarterly check-in",
        **kw,
    }
    return call(interactions.log_interaction, actor=actor, data=InteractionWrite(**data))


@pytest.fixture
def book(database_url):
    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id)
    other = make_user(Role.BROKER)
    firm = make_firm(broker, name="Interaction Co", tier="A", account_status="Active")
    elsewhere = make_firm(other, name="Elsewhere Ltd")
    t1 = make_trader(broker, firm.firm_id, name="Ivy Investor")
    t2 = make_trader(broker, firm.firm_id, name="Ian Investor")
    tx = make_trader(other, elsewhere.firm_id, name="Xavier Elsewhere")
    return {
        "manager": manager,
        "broker": broker,
        "other": other,
        "firm": firm,
        "elsewhere": elsewhere,
        "t1": t1,
        "t2": t2,
        "tx": tx,
    }


def test_log_and_read_with_time_zone(book):
    b = book["broker"]
    row = log(
        b,
        [book["t1"].trader_id, book["t2"].trader_id],
        interaction_date=datetime(2026, 3, 10, 9, 30),
        time_zone="America/New_York",
        interaction_end=datetime(2026, 3, 10, 10, 15),
        outcome="positive",
    )
    assert row.interaction_date == datetime(
        2026, 3, 10, 13, 30, tzinfo=UTC
    )  # EDT is UTC-4 from 8 March
    assert row.duration_minutes == 45 and row.outcome == "Positive" and row.version == 1
    assert (
        sorted(row.trader_names) == ["Ian Investor", "Ivy Investor"] and row.broker_id == b.user_id
    )
    listed = call(
        interactions.list_interactions,
        actor=b,
        query=InteractionQuery(trader_id=book["t1"].trader_id),
    )
    assert [i.interaction_id for i in listed.items] == [row.interaction_id]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {
                "interaction_end": datetime(2026, 3, 10, 8, 0),
                "interaction_date": datetime(2026, 3, 10, 9, 0),
            },
            "interaction_end",
        ),
        ({"interaction_type": "Carrier pigeon"}, "interaction_type"),
        ({"outcome": "Triumph"}, "outcome"),
        ({"interaction_type": "Email", "outcome": "No answer"}, "outcome"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"trader_ids": []}, "trader_ids"),
    ],
)
def test_bad_input_is_refused_and_nothing_saved(book, changes, field):
    with pytest.raises(ValidationFailed) as exc:
        log(book["broker"], **{"trader_ids": [book["t1"].trader_id], **changes})
    assert field in exc.value.errors
    with unit_of_work() as db:
        from brm_app.models.interaction import Interaction

        assert db.exec(select(func.count()).select_from(Interaction)).one() == 0


def test_trader_of_another_firm_or_book_is_refused(book):
    with pytest.raises(ValidationFailed) as exc:
        log(book["broker"], [book["t1"].trader_id, book["tx"].trader_id])
    assert "trader_ids" in exc.value.errors
    with pytest.raises(ValidationFailed):
        log(
            book["manager"], [book["t1"].trader_id, book["tx"].trader_id]
        )  # sees both, still two firms


def test_edit_keeps_every_version_byte_for_byte(book):
    b, m = book["broker"], book["manager"]
    first = log(b, [book["t1"].trader_id], notes="Said: “maybe” — call back\nTwo lines.")
    original = call(interactions.versions, actor=b, interaction_id=first.interaction_id)[0].data
    edited = call(
        interactions.edit_interaction,
        actor=m,
        interaction_id=first.interaction_id,
        data=InteractionWrite(
            trader_ids=[book["t1"].trader_id, book["t2"].trader_id],
            interaction_type="Meeting",
            interaction_date=first.interaction_date,
            subject="Quarterly check-in (in person)",
            notes="Edited",
            outcome="Closed",
        ),
    )
    assert edited.version == 2 and edited.broker_id == b.user_id
    versions = call(interactions.versions, actor=b, interaction_id=first.interaction_id)
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].data == original and versions[0].saved_by_id == b.user_id
    assert json.loads(versions[0].data)["notes"] == "Said: “maybe” — call back\nTwo lines."
    assert (
        versions[1].saved_by_id == m.user_id
        and json.loads(versions[1].data)["interaction_type"] == "Meeting"
    )
    rewrite = InteractionWrite(
        trader_ids=[book["t1"].trader_id],
        interaction_type="Call",
        interaction_date=first.interaction_date,
        subject="x",
    )
    with pytest.raises(NotFound):  # a broker outside the book does not even see it
        call(
            interactions.edit_interaction,
            actor=book["other"],
            interaction_id=first.interaction_id,
            data=rewrite,
        )
    from brm_app.services import firms

    call(
        firms.set_coverage,
        actor=m,
        firm_id=book["firm"].firm_id,
        primary_broker_id=b.user_id,
        secondary_broker_ids=[book["other"].user_id],
    )
    with pytest.raises(
        PermissionDenied
    ):  # a co-covering broker may not rewrite someone else's record
        call(
            interactions.edit_interaction,
            actor=book["other"],
            interaction_id=first.interaction_id,
            data=rewrite,
        )
    assert (
        len(call(interactions.versions, actor=book["other"], interaction_id=first.interaction_id))
        == 2
    )


def test_void_hides_from_brokers_but_not_compliance(book):
    admin, compliance = make_user(Role.ADMIN), make_user(Role.COMPLIANCE)
    row = log(book["broker"], [book["t1"].trader_id])
    with pytest.raises(PermissionDenied):
        call(
            interactions.void_interaction,
            actor=book["manager"],
            interaction_id=row.interaction_id,
            reason="duplicate",
        )
    voided = call(
        interactions.void_interaction,
        actor=admin,
        interaction_id=row.interaction_id,
        reason="Logged twice",
    )
    assert voided.voided and voided.void_reason == "Logged twice"
    with pytest.raises(NotFound):
        call(interactions.get_interaction, actor=book["broker"], interaction_id=row.interaction_id)
    assert call(
        interactions.get_interaction, actor=compliance, interaction_id=row.interaction_id
    ).voided
    listed = call(
        interactions.list_interactions,
        actor=compliance,
        query=InteractionQuery(include_voided=True),
    )
    assert [i.interaction_id for i in listed.items] == [row.interaction_id]


def test_interactions_follow_coverage(book):
    row = log(book["broker"], [book["t1"].trader_id])
    with pytest.raises(NotFound):
        call(interactions.get_interaction, actor=book["other"], interaction_id=row.interaction_id)
    assert call(interactions.list_interactions, actor=book["other"]).items == []
    assert call(
        interactions.get_interaction, actor=book["manager"], interaction_id=row.interaction_id
    )


def follow_up(actor, firm_id, due, **kw):
    return call(
        follow_ups.create_follow_up,
        actor=actor,
        data=FollowUpWrite(title="Send the term sheet", due_at=due, firm_id=firm_id, **kw),
    )


def test_follow_up_defaults_and_rules(book):
    b = book["broker"]
    due = utcnow() + timedelta(days=3)
    fu = follow_up(b, book["firm"].firm_id, due, trader_ids=[book["t1"].trader_id])
    assert fu.assignee_id == b.user_id and fu.status == FollowUpStatus.OPEN
    assert fu.reminders == [due - timedelta(days=1), due - timedelta(hours=1)]
    with pytest.raises(ValidationFailed) as exc:
        follow_up(b, book["firm"].firm_id, due, assignee_id=book["manager"].user_id)
    assert "assignee_id" in exc.value.errors
    with pytest.raises(ValidationFailed) as exc:
        follow_up(b, book["firm"].firm_id, due, trader_ids=[book["tx"].trader_id])
    assert "trader_ids" in exc.value.errors
    with pytest.raises(ValidationFailed) as exc:
        follow_up(b, book["firm"].firm_id, utcnow() - timedelta(days=1))
    assert "due_at" in exc.value.errors
    with pytest.raises(ValidationFailed) as exc:
        follow_up(b, book["firm"].firm_id, due, reminders=[due + timedelta(hours=1)])
    assert "reminders" in exc.value.errors
    with pytest.raises(NotFound):
        follow_up(book["other"], book["firm"].firm_id, due)


def test_reschedule_moves_reminders_and_done_stops_them(book):
    b = book["broker"]
    due = utcnow() + timedelta(days=3)
    fu = follow_up(b, book["firm"].firm_id, due)
    moved = call(
        follow_ups.update_follow_up,
        actor=b,
        follow_up_id=fu.follow_up_id,
        data=FollowUpPatch(due_at=due + timedelta(days=2)),
    )
    assert moved.reminders == [r + timedelta(days=2) for r in fu.reminders]
    done = call(
        follow_ups.update_follow_up,
        actor=b,
        follow_up_id=fu.follow_up_id,
        data=FollowUpPatch(status="done"),
    )
    assert done.status == FollowUpStatus.DONE and done.reminders == []


def test_scheduler_fires_each_reminder_once_and_escalates(book):
    b = book["broker"]
    fu = follow_up(b, book["firm"].firm_id, utcnow() + timedelta(minutes=30), reminders=[utcnow()])
    with unit_of_work(write=True) as db:
        report = scheduler.run_pass(db, now=utcnow() + timedelta(seconds=1))
    assert report.reminders_sent == 1 and report.users == {b.user_id}
    with unit_of_work(write=True) as db:
        again = scheduler.run_pass(db, now=utcnow() + timedelta(seconds=2))
    assert again.reminders_sent == 0
    mine = call(notifications.list_notifications, actor=b)
    assert [n.title for n in mine.items] == ["Reminder: Send the term sheet"]
    assert call(notifications.unread_count, actor=b) == 1
    # Three days later it is overdue beyond the escalation threshold: the manager hears, once.
    later = utcnow() + timedelta(days=3)
    with unit_of_work(write=True) as db:
        report = scheduler.run_pass(db, now=later)
    assert report.escalations == 1 and book["manager"].user_id in report.users
    with unit_of_work(write=True) as db:
        assert scheduler.run_pass(db, now=later).escalations == 0
    boss = call(notifications.list_notifications, actor=book["manager"]).items
    assert len(boss) == 1 and boss[0].title.startswith("Overdue for")
    assert fu.follow_up_id


def test_reminder_due_while_down_fires_on_next_pass_and_done_ones_are_skipped(book):
    b = book["broker"]
    open_fu = follow_up(
        b,
        book["firm"].firm_id,
        utcnow() + timedelta(hours=2),
        reminders=[utcnow() + timedelta(minutes=1)],
    )
    closed = follow_up(
        b,
        book["firm"].firm_id,
        utcnow() + timedelta(hours=2),
        reminders=[utcnow() + timedelta(minutes=1)],
    )
    call(
        follow_ups.update_follow_up,
        actor=b,
        follow_up_id=closed.follow_up_id,
        data=FollowUpPatch(status="cancelled"),
    )
    with unit_of_work(write=True) as db:  # "the app was down" for an hour
        report = scheduler.run_pass(db, now=utcnow() + timedelta(hours=1))
    assert report.reminders_sent == 1 and report.reminders_skipped == 0
    with unit_of_work() as db:
        fired = db.exec(select(Reminder).where(Reminder.follow_up_id == open_fu.follow_up_id)).one()
        assert fired.fired_at is not None and fired.outcome == "sent"


def test_notifications_are_private(book):
    b, other = book["broker"], book["other"]
    with unit_of_work(write=True) as db:
        note = notifications.notify(db, user_id=b.user_id, kind="test", title="Hello")
        note_id = note.id
    with pytest.raises(NotFound):
        call(notifications.mark_read, actor=other, notification_id=note_id)
    assert call(notifications.mark_read, actor=b, notification_id=note_id).read
    with unit_of_work() as db:
        assert db.get(Notification, note_id).read_at is not None


def test_a_follow_up_assigned_by_someone_else_notifies_the_assignee(book, monkeypatch):
    from brm_app import events

    sent: list[events.Event] = []
    monkeypatch.setattr(events, "_send", sent.extend)
    b, m = book["broker"], book["manager"]
    due = utcnow() + timedelta(days=3)
    follow_up(b, book["firm"].firm_id, due)  # their own: nothing to tell
    assert call(notifications.unread_count, actor=b) == 0 and sent == []

    with pytest.raises(RuntimeError), unit_of_work(write=True) as db:  # rolled back: no one hears
        follow_ups.create_follow_up(
            db,
            actor=m,
            data=FollowUpWrite(
                title="Never", due_at=due, firm_id=book["firm"].firm_id, assignee_id=b.user_id
            ),
        )
        raise RuntimeError
    assert call(notifications.unread_count, actor=b) == 0 and sent == []

    fu = follow_up(m, book["firm"].firm_id, due, assignee_id=b.user_id)
    [note] = call(notifications.list_notifications, actor=b).items
    assert note.kind == "assigned" and note.title == "Assigned to you: Send the term sheet"
    assert note.link == f"/follow-ups/{fu.follow_up_id}"
    assert [e.user_ids for e in sent] == [frozenset({b.user_id})]
    assert call(notifications.unread_count, actor=m) == 0

    # Handed to another broker: they hear; an edit that keeps the assignee tells no one.
    other = book["other"]
    call(
        follow_ups.update_follow_up,
        actor=m,
        follow_up_id=fu.follow_up_id,
        data=FollowUpPatch(assignee_id=other.user_id),
    )
    call(
        follow_ups.update_follow_up,
        actor=m,
        follow_up_id=fu.follow_up_id,
        data=FollowUpPatch(title="Send the new term sheet"),
    )
    assert [n.title for n in call(notifications.list_notifications, actor=other).items] == [
        "Assigned to you: Send the term sheet"
    ]
    assert call(notifications.unread_count, actor=b) == 1


def test_calendar_for_me_and_for_a_managers_team(book):
    b, m = book["broker"], book["manager"]
    due = datetime.combine(
        date.today() + timedelta(days=2), datetime.min.time(), tzinfo=UTC
    ) + timedelta(hours=10)
    follow_up(b, book["firm"].firm_id, due)
    log(b, [book["t1"].trader_id])
    start, end = date.today() - timedelta(days=1), date.today() + timedelta(days=5)
    mine = call(calendar.items, actor=b, start=start, end=end)
    assert sorted(i.kind for i in mine.items) == ["follow_up", "interaction"]
    team = call(calendar.items, actor=m, start=start, end=end, team=True)
    assert len(team.items) == 2 and [n for _, n in team.brokers] == [b.name]
    one = call(calendar.items, actor=m, start=start, end=end, broker_id=b.user_id)
    assert len(one.items) == 2
    with pytest.raises(ValidationFailed):
        call(
            calendar.items, actor=m, start=start, end=end, broker_id=book["other"].user_id
        )  # not on her team
    with pytest.raises(PermissionDenied):
        call(calendar.items, actor=b, start=start, end=end, team=True)
    with pytest.raises(ValidationFailed):
        call(calendar.items, actor=b, start=end, end=start)


def test_calendar_feed_holds_exactly_the_users_items_and_revokes(book):
    b = book["broker"]
    fu = follow_up(b, book["firm"].firm_id, utcnow() + timedelta(days=1))
    meeting = log(b, [book["t1"].trader_id], interaction_type="Meeting")
    log(b, [book["t1"].trader_id], interaction_type="Email")  # not a meeting: not in the feed
    follow_up(
        book["other"], book["elsewhere"].firm_id, utcnow() + timedelta(days=1)
    )  # someone else's
    info, token = call(calendar_feed.create_feed, actor=b)
    with unit_of_work(write=True) as db:
        ics = calendar_feed.render(db, token=token)
    cal = icalendar.Calendar.from_ical(ics)
    uids = sorted(str(e["uid"]) for e in cal.walk("VEVENT"))
    assert uids == sorted(
        [
            f"follow-up-{fu.follow_up_id}@brokersync",
            f"interaction-{meeting.interaction_id}@brokersync",
        ]
    )
    call(calendar_feed.revoke_feed, actor=b, feed_id=info.feed_id)
    with unit_of_work(write=True) as db:
        assert calendar_feed.render(db, token=token) is None
        assert calendar_feed.render(db, token="x" * 43) is None


def test_due_for_contact(book):
    b = book["broker"]
    call(app_settings.update_rules, actor=make_user(Role.ADMIN), contact_days={"A": 7})
    assert [d.name for d in call(relationship.due_for_contact, actor=b).items] == [
        "Interaction Co"
    ]  # never contacted
    log(b, [book["t1"].trader_id], interaction_date=utcnow() - timedelta(days=3))
    assert call(relationship.due_for_contact, actor=b).items == []
    log(b, [book["t2"].trader_id], interaction_date=utcnow() - timedelta(days=40))
    with unit_of_work(write=True) as db:
        from brm_app.models.firm import Firm

        # Only the newer interaction counts as the last contact.
        assert db.get(Firm, book["firm"].firm_id).last_interaction_at > utcnow() - timedelta(days=4)


def test_admin_configures_types_and_outcomes(book):
    admin = make_user(Role.ADMIN)
    call(interaction_config.add_outcome, actor=admin, name="Escalated")
    call(
        interaction_config.add_type,
        actor=admin,
        name="Site visit",
        outcomes=["Positive", "Escalated"],
    )
    assert (
        log(
            book["broker"],
            [book["t1"].trader_id],
            interaction_type="site visit",
            outcome="escalated",
        ).outcome
        == "Escalated"
    )
    with pytest.raises(ValidationFailed):
        log(book["broker"], [book["t1"].trader_id], interaction_type="Site visit", outcome="Closed")
    with pytest.raises(PermissionDenied):
        call(interaction_config.add_type, actor=book["manager"], name="Dinner")


def test_timeline_merges_interactions_and_follow_ups(book):
    b = book["broker"]
    log(
        b,
        [book["t1"].trader_id],
        interaction_date=utcnow() - timedelta(days=2),
        subject="Older call",
    )
    log(
        b,
        [book["t2"].trader_id],
        interaction_date=utcnow() - timedelta(days=1),
        subject="Newer call",
        interaction_type="Email",
    )
    follow_up(
        b, book["firm"].firm_id, utcnow() + timedelta(days=1), trader_ids=[book["t1"].trader_id]
    )
    firm_line = call(relationship.timeline, actor=b, firm_id=book["firm"].firm_id)
    assert [e.kind for e in firm_line.entries] == ["follow_up", "interaction", "interaction"]
    calls_only = call(
        relationship.timeline,
        actor=b,
        firm_id=book["firm"].firm_id,
        types=["Call"],
        include_follow_ups=False,
    )
    assert [e.interaction.subject for e in calls_only.entries] == ["Older call"]
    trader_line = call(relationship.timeline, actor=b, trader_id=book["t1"].trader_id)
    assert [e.kind for e in trader_line.entries] == ["follow_up", "interaction"]


def test_merge_moves_interactions_and_follow_ups(book):
    from brm_app.services import firms

    b, m = book["broker"], book["manager"]
    dup = make_firm(b, name="Interaction Co (dup)")
    dup_trader = make_trader(b, dup.firm_id, email=book["t1"].email)  # the same person
    row = log(b, [dup_trader.trader_id])
    call(firms.merge_firms, actor=m, source_id=dup.firm_id, target_id=book["firm"].firm_id)
    moved = call(interactions.get_interaction, actor=b, interaction_id=row.interaction_id)
    assert moved.firm_id == book["firm"].firm_id and moved.trader_ids == [book["t1"].trader_id]
    page = call(
        interactions.list_interactions,
        actor=b,
        query=InteractionQuery(trader_id=book["t1"].trader_id),
        page=PageRequest(limit=5),
    )
    assert [i.interaction_id for i in page.items] == [row.interaction_id]


def test_user_time_zone_is_the_default(book):
    with unit_of_work(write=True) as db:
        db.get(User, book["broker"].user_id).time_zone = "Asia/Tokyo"
    row = log(book["broker"], [book["t1"].trader_id], interaction_date=datetime(2026, 1, 5, 9, 0))
    assert row.time_zone == "Asia/Tokyo" and row.interaction_date == datetime(
        2026, 1, 5, 0, 0, tzinfo=UTC
    )
