"""Calendar feeds: reading one never makes the read a write; a feed ends with its owner's
credentials (password change or reset, deactivation), as sessions and API tokens do."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from brm_app.db import unit_of_work, utcnow
from brm_app.models.follow_up import CalendarFeed
from brm_app.models.user import Role, User
from brm_app.services import calendar_feed
from tests.factories import make_user


def call(fn, **kw):
    with unit_of_work(write=True) as db:
        return fn(db, **kw)


def feed_row(feed_id: int) -> CalendarFeed:
    with unit_of_work() as db:
        return db.get(CalendarFeed, feed_id)


def test_reading_a_feed_in_a_read_transaction_survives_a_concurrent_writer(database_url):
    """The last-fetched time is written in a short write transaction of its own: on SQLite a
    read transaction that writes after another connection committed fails with "database is
    locked" at once."""
    broker = make_user(Role.BROKER)
    info, token = call(calendar_feed.create_feed, actor=broker)
    with unit_of_work() as db:
        db.exec(select(CalendarFeed)).all()  # the read transaction has its snapshot now
        with unit_of_work(write=True) as other:  # another request commits meanwhile
            user = other.get(User, broker.user_id)
            user.name += "."
            other.add(user)
        body = calendar_feed.render(db, token=token)
        left_to_write = [*db.dirty, *db.new]
    assert body.startswith(b"BEGIN:VCALENDAR")
    assert not left_to_write  # the read transaction stayed a read
    fetched = feed_row(info.feed_id).last_fetched_at
    assert fetched is not None and utcnow() - fetched < timedelta(seconds=5)
