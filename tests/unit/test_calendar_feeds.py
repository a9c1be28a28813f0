"""Calendar feeds: reading one never makes the read a write; a feed ends with its owner's
credentials (password change or reset, deactivation), as sessions and API tokens do."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from brm_app.db import unit_of_work, utcnow
from brm_app.models.follow_up import CalendarFeed
from brm_app.models.user import Role, User, UserUpdate
from brm_app.services import authentication, calendar_feed, users
from brm_app.settings import get_settings
from tests.factories import PASSWORD, make_user


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


def _feed_of(user) -> str:
    _, token = call(calendar_feed.create_feed, actor=user)
    with unit_of_work() as db:
        assert calendar_feed.render(db, token=token) is not None
    return token


def _answers(token: str) -> bool:
    with unit_of_work() as db:
        return calendar_feed.render(db, token=token) is not None


def test_every_way_credentials_change_ends_the_feeds(database_url):
    admin, broker = make_user(Role.ADMIN), make_user(Role.BROKER)
    # The admin's "Reset password" in the Users page.
    token = _feed_of(broker)
    call(users.reset_password, actor=admin, user_id=broker.user_id)
    assert not _answers(token)
    # A new password set through the user form.
    token = _feed_of(broker)
    call(users.update_user, actor=admin, user_id=broker.user_id,
         data=UserUpdate(password="another long password"))  # fmt: skip
    assert not _answers(token)
    # Deactivation, and it stays dead after reactivation.
    token = _feed_of(broker)
    call(users.set_active, actor=admin, user_id=broker.user_id, active=False)
    call(users.set_active, actor=admin, user_id=broker.user_id, active=True)
    assert not _answers(token)
    # The feeds are shown as revoked.
    assert not any(f.active for f in call(calendar_feed.list_feeds, actor=broker))
    # Another user's feed is untouched.
    assert _answers(_feed_of(admin))


def test_changing_ones_own_password_ends_the_feeds(database_url):
    broker = make_user(Role.BROKER)
    token = _feed_of(broker)
    call(
        authentication.change_own_password,
        actor=broker,
        current_password=PASSWORD,
        new_password="completely different one",
        settings=get_settings(),
    )
    assert not _answers(token)
    assert _answers(_feed_of(broker))


def test_a_feed_older_than_the_credentials_never_answers(database_url):
    """Any path that marks the credentials changed (as API tokens read it) ends older feeds too,
    even one that forgot to revoke them."""
    broker = make_user(Role.BROKER)
    token = _feed_of(broker)
    with unit_of_work(write=True) as db:
        user = db.get(User, broker.user_id)
        user.credentials_changed_at = utcnow()
        db.add(user)
    assert not _answers(token)
    assert [f.active for f in call(calendar_feed.list_feeds, actor=broker)] == [False]
    assert _answers(_feed_of(broker))
