"""Live events, published after commit: what changed, and for whom, reaches the open pages at once.

A service calls `publish(db, topic, user_ids, *ids)` inside its transaction. The event waits in
the session until the transaction commits; then it goes to the bus. A rolled-back transaction (or
a rolled-back savepoint, or a session closed without committing) sends nothing of what it published.

The bus:
- One worker (no `BRM_REDIS_URL`): in process. The worker's `Listener` (a lifespan task) owns an
  asyncio queue; a commit on any thread (API routes run in a thread pool, state handlers in
  `asyncio.to_thread`) hands its events over with `loop.call_soon_threadsafe`.
- With `BRM_REDIS_URL`: events go to a Redis pub/sub channel (from any process: an app worker,
  the CLI, a job runner), and every app worker's `Listener` subscribes and hands each event to its
  subscribers, which deliver it to the tabs whose websocket *that* worker holds, so each tab hears
  of it once. The channel is named after the Redis database number (pub/sub itself is not
  per-database), so deployments sharing a Redis server use different database numbers.

An event names a topic, the users it concerns and record ids, never content: the subscriber loads
what each tab's signed-in user may see. A message lost while a worker reconnects to Redis is not
replayed; the page catches up at its next load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

from brm_app.settings import get_settings

log = logging.getLogger("brm.events")

_PENDING = "brm_events"
_SAVEPOINTS = "brm_event_savepoints"
_TOPIC = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_MAX_IDS = 10_000


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Event:
    topic: str
    user_ids: frozenset[int]
    ids: tuple[int, ...] = ()

    def encode(self) -> bytes:
        return json.dumps(
            {"topic": self.topic, "user_ids": sorted(self.user_ids), "ids": list(self.ids)}
        ).encode()

    @classmethod
    def decode(cls, raw: bytes | str) -> Event | None:
        """The event in a channel message, or None for anything malformed (anyone who can reach
        Redis can write to the channel: nothing in a message is trusted beyond ids)."""
        try:
            data = json.loads(raw)
        except (ValueError, TypeError):
            return None
        if not isinstance(data, dict):
            return None
        topic, user_ids, ids = data.get("topic"), data.get("user_ids"), data.get("ids", [])
        if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
            return None
        if not isinstance(user_ids, list) or not isinstance(ids, list):
            return None
        if len(user_ids) > _MAX_IDS or len(ids) > _MAX_IDS:
            return None
        if not all(_is_id(v) for v in (*user_ids, *ids)):
            return None
        return cls(topic, frozenset(user_ids), tuple(ids))


def publish(db: Session, topic: str, user_ids: Iterable[int], *ids: int) -> None:
    """Say, inside the caller's transaction, that `ids` of `topic` changed for these users.
    Sent once the transaction commits; dropped if it rolls back."""
    users = frozenset(user_ids)
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
        raise ValueError(f"not an event topic: {topic!r}")
    if not all(_is_id(v) for v in (*users, *ids)):
        raise ValueError("events name users and records by their integer ids only")
    db.info.setdefault(_PENDING, []).append(Event(topic, users, tuple(ids)))


def pending(db: Session, topic: str) -> set[int]:
    """The users named by events of `topic` this session will send when it commits."""
    return {u for e in db.info.get(_PENDING, ()) if e.topic == topic for u in e.user_ids}


# -- the session hooks: send after the commit, drop on rollback ------------------------------


@sa_event.listens_for(Session, "after_transaction_create")
def _savepoint_started(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        marks = session.info.setdefault(_SAVEPOINTS, {})
        marks[transaction] = len(session.info.get(_PENDING, ()))


@sa_event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.nested:
        mark = session.info.get(_SAVEPOINTS, {}).pop(previous_transaction, None)
        if mark is not None and _PENDING in session.info:
            del session.info[_PENDING][mark:]
    else:
        session.info.pop(_PENDING, None)


@sa_event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its events wait for the real commit
    events = session.info.pop(_PENDING, None)
    if events:
        try:
            _send(events)
        except Exception:  # the commit stands; the pages catch up at their next load
            log.warning("could not send %s live event(s)", len(events), exc_info=True)


@sa_event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    # (For a savepoint this runs before after_soft_rollback, which still needs its mark.)
    if transaction.parent is None:
        # Whatever is left was never committed (e.g. a session closed without a commit).
        session.info.pop(_PENDING, None)
        session.info.pop(_SAVEPOINTS, None)


# -- the bus ---------------------------------------------------------------------------------

# Listeners of this process that take events without Redis (one per app worker).
_local: list[Listener] = []
_redis_clients: dict[str, Any] = {}
_redis_lock = threading.Lock()


def channel_for(redis_url: str) -> str:
    import redis

    db = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs.get("db", 0)
    return f"brm:events:{db}"


def _redis_client(redis_url: str) -> Any:
    import redis

    with _redis_lock:
        client = _redis_clients.get(redis_url)
        if client is None:
            client = _redis_clients[redis_url] = redis.Redis.from_url(
                redis_url, socket_connect_timeout=2, socket_timeout=2
            )
        return client


def _send(events: list[Event]) -> None:
    """Hand committed events to every worker: over Redis when configured, else in process."""
    redis_url = get_settings().redis_url
    if redis_url:
        client, channel = _redis_client(redis_url), channel_for(redis_url)
        for e in events:
            client.publish(channel, e.encode())
        return
    for listener in list(_local):
        listener.take(events)


Subscriber = Callable[[Any, Event], Awaitable[object]]


def _merge(batch: list[Event]) -> list[Event]:
    """One event per topic for everything that queued up meanwhile (one refresh per tab)."""
    merged: dict[str, tuple[set[int], dict[int, None]]] = {}
    for e in batch:
        users, ids = merged.setdefault(e.topic, (set(), {}))
        users |= e.user_ids
        ids.update(dict.fromkeys(e.ids))
    return [Event(t, frozenset(u), tuple(i)) for t, (u, i) in merged.items()]


class Listener:
    """A worker's end of the bus: takes events (from Redis, or from commits in this process) and
    hands each to the subscribers of its topic, one at a time, on the worker's event loop."""

    def __init__(
        self,
        app: Any,
        subscribers: Mapping[str, Subscriber],
        *,
        redis_url: str | None = None,
    ) -> None:
        self.app = app
        self.subscribers = dict(subscribers)
        self.redis_url = redis_url
        self.ready = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Event] = asyncio.Queue()

    def take(self, events: list[Event]) -> None:
        """From any thread: queue events for this listener's loop."""
        loop = self._loop
        if loop is None:
            return
        try:
            for e in events:
                loop.call_soon_threadsafe(self._queue.put_nowait, e)
        except RuntimeError:  # the loop has closed: the worker is shutting down
            pass

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        feeder = None
        if self.redis_url:
            feeder = asyncio.create_task(self._from_redis(self.redis_url))
        else:
            _local.append(self)
            self.ready.set()
        try:
            while True:
                batch = [await self._queue.get()]
                while not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                for e in _merge(batch):
                    await self._deliver(e)
        finally:
            if self in _local:
                _local.remove(self)
            if feeder is not None:
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feeder

    async def _deliver(self, e: Event) -> None:
        subscriber = self.subscribers.get(e.topic)
        if subscriber is None:
            return
        try:
            await subscriber(self.app, e)
        except Exception:  # one failed delivery must not stop the next
            log.exception("delivering a %r event failed", e.topic)

    async def _from_redis(self, redis_url: str) -> None:
        import redis.asyncio as aredis

        channel, delay = channel_for(redis_url), 0.5
        while True:
            client = aredis.Redis.from_url(redis_url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(channel)
                    async for message in pubsub.listen():
                        if message["type"] == "subscribe":
                            self.ready.set()
                            delay = 0.5
                        elif message["type"] == "message":
                            e = Event.decode(message["data"])
                            if e is None:
                                log.warning("ignored a malformed message on %s", channel)
                            else:
                                self._queue.put_nowait(e)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("lost the live events channel; reconnecting", exc_info=True)
            finally:
                await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def listen(app: Any, subscribers: Mapping[str, Subscriber]) -> None:
    """Lifespan task of every app worker: deliver committed events to this worker's tabs."""
    await Listener(app, subscribers, redis_url=get_settings().redis_url).run()
