"""After-commit events: published only once their transaction has committed, never for one that
rolled back, and handed from any thread to the worker's event loop (or across workers by Redis)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid

import pytest

from brm_app import events
from brm_app.db import unit_of_work
from brm_app.models.follow_up import Notification
from brm_app.models.user import Role
from brm_app.services import notifications
from tests.factories import make_user

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def sent(monkeypatch):
    """What reaches the bus, in order."""
    seen: list[events.Event] = []
    monkeypatch.setattr(events, "_send", seen.extend)
    return seen


def test_an_event_is_sent_only_after_its_transaction_commits(database_url, sent):
    with unit_of_work(write=True) as db:
        events.publish(db, "notifications", [7, 8], 41)
        db.flush()
        assert sent == []  # not before the commit
    assert sent == [events.Event("notifications", frozenset({7, 8}), (41,))]


def test_a_rolled_back_transaction_sends_nothing(database_url, sent):
    with pytest.raises(RuntimeError), unit_of_work(write=True) as db:
        events.publish(db, "notifications", [7])
        raise RuntimeError("the service failed after publishing")
    with unit_of_work(write=True) as db:
        pass  # the next transaction on a fresh session carries nothing over
    assert sent == []


def test_a_session_closed_without_commit_sends_nothing_and_keeps_nothing(database_url, sent):
    from sqlmodel import Session

    from brm_app.db import get_engine

    with Session(get_engine()) as db:
        events.publish(db, "notifications", [7])
        db.connection()
    with Session(get_engine()) as db:
        db.connection()
        db.commit()
    assert sent == []


def test_events_of_a_rolled_back_savepoint_are_dropped_and_the_rest_sent(database_url, sent):
    with unit_of_work(write=True) as db:
        events.publish(db, "notifications", [1])
        try:
            with db.begin_nested():
                events.publish(db, "notifications", [2])
                raise ValueError("this row is rejected")
        except ValueError:
            pass
        with db.begin_nested():
            events.publish(db, "notifications", [3])
    assert [set(e.user_ids) for e in sent] == [{1}, {3}]


def test_a_notification_publishes_for_its_user_and_only_when_committed(database_url, sent):
    ann = make_user(Role.BROKER)
    with pytest.raises(RuntimeError), unit_of_work(write=True) as db:
        notifications.notify(db, user_id=ann.user_id, kind="test", title="Rolled back")
        raise RuntimeError
    assert sent == []
    with unit_of_work(write=True) as db:
        note = notifications.notify(db, user_id=ann.user_id, kind="test", title="Kept")
    assert sent == [events.Event("notifications", frozenset({ann.user_id}), (note.id,))]


def test_marking_read_tells_the_users_other_tabs(database_url, sent):
    ann = make_user(Role.BROKER)
    with unit_of_work(write=True) as db:
        note = notifications.notify(db, user_id=ann.user_id, kind="test", title="Hello")
        notifications.notify(db, user_id=ann.user_id, kind="test", title="Again")
    sent.clear()
    with unit_of_work(write=True) as db:
        notifications.mark_read(db, actor=ann, notification_id=note.id)
    with unit_of_work(write=True) as db:
        notifications.mark_all_read(db, actor=ann)
    with unit_of_work(write=True) as db:  # nothing left unread: nothing changes, nothing told
        notifications.mark_all_read(db, actor=ann)
        notifications.mark_read(db, actor=ann, notification_id=note.id)
    assert [e.user_ids for e in sent] == [frozenset({ann.user_id})] * 2
    with unit_of_work() as db:
        assert db.get(Notification, note.id).read_at is not None


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"topic": 1, "user_ids": [1], "ids": []}',
        b'{"topic": "notifications", "user_ids": ["1"], "ids": []}',
        b'{"topic": "notifications", "user_ids": [true], "ids": []}',
        b'{"topic": "notifications", "user_ids": 5, "ids": []}',
        b'{"topic": "' + b"x" * 100 + b'", "user_ids": [1], "ids": []}',
        b'{"topic": "notifications", "user_ids": [1], "ids": [{"$ne": 1}]}',
        b"[]",
    ],
)
def test_a_malformed_message_from_the_channel_is_ignored(raw):
    assert events.Event.decode(raw) is None


def test_an_event_survives_the_channel():
    event = events.Event("notifications", frozenset({3, 4}), (9, 10))
    assert events.Event.decode(event.encode()) == event


def test_publish_refuses_what_is_not_an_id(database_url, sent):
    with unit_of_work() as db:
        with pytest.raises(ValueError):
            events.publish(db, "notifications", ["7"])
        with pytest.raises(ValueError):
            events.publish(db, "", [7])
        with pytest.raises(ValueError):
            events.publish(db, "notifications", [7], "some content")


def _run_listener(redis_url: str | None, got: list[events.Event], started: threading.Event):
    """A worker's listener on a loop of its own; returns a function that stops it."""
    loop = asyncio.new_event_loop()

    async def handler(app, event):
        got.append(event)

    async def main():
        listener = events.Listener(None, {"notifications": handler}, redis_url=redis_url)
        running = asyncio.create_task(listener.run())
        await asyncio.wait_for(listener.ready.wait(), 5)
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    task_box: list[asyncio.Task] = []

    def run():
        asyncio.set_event_loop(loop)
        task_box.append(loop.create_task(main()))
        loop.run_until_complete(task_box[0])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def stop():
        loop.call_soon_threadsafe(task_box[0].cancel)
        thread.join(5)

    return stop


def _wait_for(predicate, seconds: float = 3.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_in_process_a_commit_on_another_thread_reaches_the_workers_loop(database_url):
    got: list[events.Event] = []
    started = threading.Event()
    stop = _run_listener(None, got, started)
    try:
        assert started.wait(5)
        committer = threading.Thread(target=_commit_one, args=(5,))
        committer.start()
        committer.join()
        assert _wait_for(lambda: got)
        assert got == [events.Event("notifications", frozenset({5}), ())]
    finally:
        stop()


def _commit_one(user_id: int) -> None:
    with unit_of_work(write=True) as db:
        events.publish(db, "notifications", [user_id])


def _redis_available() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except Exception:
        return False
    return True


@pytest.mark.skipif(not _redis_available(), reason="needs Redis at 127.0.0.1:6379")
def test_with_redis_every_worker_hears_a_commit_made_in_any_process(database_url, monkeypatch):
    # A Redis database of this test's own: the channel is named after it.
    url = f"redis://127.0.0.1:6379/{10 + uuid.uuid4().int % 6}"
    monkeypatch.setenv("BRM_REDIS_URL", url)
    from brm_app import settings as settings_module

    settings_module.get_settings.cache_clear()
    first, second = [], []
    ready = [threading.Event(), threading.Event()]
    stops = [_run_listener(url, first, ready[0]), _run_listener(url, second, ready[1])]
    try:
        assert all(r.wait(5) for r in ready)
        _commit_one(11)  # committed here: neither listener's loop, as a CLI or job runner would
        assert _wait_for(lambda: first and second)
        expected = [events.Event("notifications", frozenset({11}), ())]
        assert first == expected and second == expected
    finally:
        for stop in stops:
            stop()
