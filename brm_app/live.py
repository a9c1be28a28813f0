"""What runs beside the pages: the job runner, and fresh bell counts for open tabs.

Every worker runs the job runner unless `brm worker` does (claims are exactly-once in the
database). Whatever changes a user's bell (a notification from a reminder, a request, a job; one
marked read) publishes a "notifications" event in its transaction (brm_app/events.py). After the
commit every worker hears of it, and `deliver_notifications` refreshes the bell on each open tab of
those users whose websocket this worker holds (tabs are recorded in `client_presence` when a page
loads), through Reflex's out-of-band state update; so each tab is refreshed once, by its own
worker. A tab only receives the count of the user it is still signed in as (its session is
checked, not only the user its state was last loaded for).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import reflex as rx
from sqlmodel import Session, delete, select

from brm_app import events
from brm_app.db import unit_of_work, utcnow
from brm_app.models.follow_up import ClientPresence
from brm_app.services import authentication
from brm_app.services.errors import NotAuthenticated
from brm_app.settings import get_settings

if TYPE_CHECKING:
    from brm_app.state.session_guard import BrowserCredentials

log = logging.getLogger("brm.live")

PRESENCE_TTL = timedelta(hours=24)
# A tab's record is confirmed at most this often (much less than the TTL above).
PRESENCE_REFRESH = timedelta(minutes=10)


def remember_tab(client_token: str, user_id: int) -> None:
    """Record that this tab shows pages to this user (called when a page loads).

    Most page loads find the record as it should be and only read it; it is written (in a write
    transaction of its own) when the tab is new, shows another user, or was last confirmed more
    than PRESENCE_REFRESH ago, so page loads do not queue on the write lock."""
    if not client_token or len(client_token) > 100:
        return
    with unit_of_work() as db:
        row = db.get(ClientPresence, client_token)
        if row is not None and row.user_id == user_id and utcnow() - row.seen_at < PRESENCE_REFRESH:
            return
    with unit_of_work(write=True) as db:
        row = db.get(ClientPresence, client_token)
        if row is None:
            db.add(ClientPresence(client_token=client_token, user_id=user_id, seen_at=utcnow()))
        else:
            row.user_id, row.seen_at = user_id, utcnow()
            db.add(row)


def _tabs_of(user_ids: set[int]) -> dict[int, list[str]]:
    with unit_of_work() as db:
        rows = db.exec(
            select(ClientPresence.user_id, ClientPresence.client_token).where(
                ClientPresence.user_id.in_(user_ids),
                ClientPresence.seen_at > utcnow() - PRESENCE_TTL,
            )
        ).all()
    tabs: dict[int, list[str]] = {}
    for user_id, token in rows:
        tabs.setdefault(user_id, []).append(token)
    return tabs


def _tabs_here(app: rx.App, tokens: list[str]) -> list[str]:
    """The tabs among these whose websocket is connected to this worker.

    Reflex 0.10 keeps, per worker, which tab (client token) is on which socket and which worker
    (instance) owns it; with Redis it also caches records of other workers' sockets, hence the
    instance check. tests/e2e/test_live_workers_e2e.py fails if this stops matching Reflex."""
    namespace = getattr(app, "event_namespace", None)
    if namespace is None:
        return []
    manager = namespace._token_manager
    here = manager.instance_id
    return [
        t
        for t in tokens
        if (record := manager.token_to_socket.get(t)) is not None and record.instance_id == here
    ]


def _signed_in_as(credentials: BrowserCredentials, user_id: int) -> bool:
    """Whether the tab's session cookie is still a live session of this user (read only: a push
    is not the user's activity and does not keep the session alive)."""
    with unit_of_work() as db:
        try:
            actor = authentication.browser_actor(
                db, cookie_header=credentials.cookie_header, ip=credentials.ip, touch=False
            )
        except NotAuthenticated:
            return False
    return actor.user_id == user_id


TabUpdate = Callable[[Any, int], Awaitable[None]]


async def push_to_tabs(
    app: rx.App, user_ids: set[int], cls: type, update: TabUpdate, *then: TabUpdate
) -> int:
    """Run `update(root_state, user_id)` on every open tab of these users whose websocket this
    worker holds, still signed in as that user; returns how many tabs were updated. (Every worker
    hears each event, so together they reach every tab.) The one mechanism behind the bell, the
    messages and their unread counts: each topic only says what to change in a tab.

    Each of `then` runs after `update` in a state modification of its own: what `update` changed
    reaches the browser first, without waiting for them (the message before the counts)."""
    from brm_app.state.session_guard import SessionOwnerState, credentials_of

    if not user_ids:
        return 0
    tabs = await asyncio.to_thread(_tabs_of, set(user_ids))
    updated = 0
    for user_id, all_tokens in tabs.items():
        for token in _tabs_here(app, all_tokens):
            try:
                async with app.modify_state(rx.BaseStateToken(ident=token, cls=cls)) as state:
                    root = state._get_root_state()
                    owner = await root.get_state(SessionOwnerState)
                    if owner._owner_user_id != user_id:
                        continue  # the tab now belongs to someone else (or nobody)
                    if not await asyncio.to_thread(_signed_in_as, credentials_of(root), user_id):
                        continue  # its session has ended since its last event
                    await update(root, user_id)
                    updated += 1
                for later in then:
                    async with app.modify_state(rx.BaseStateToken(ident=token, cls=cls)) as state:
                        root = state._get_root_state()
                        owner = await root.get_state(SessionOwnerState)
                        if owner._owner_user_id != user_id:
                            break  # signed out meanwhile
                        await later(root, user_id)
            except Exception:  # a vanished tab must not stop the others
                log.debug("could not push to a tab", exc_info=True)
    return updated


async def push_unread(app: rx.App, user_ids: set[int]) -> int:
    """Refresh the bell on every tab of these users connected to this worker."""
    from brm_app.state.notifications import BellState

    summaries: dict[int, Any] = {}

    async def update(root: Any, user_id: int) -> None:
        if user_id not in summaries:
            summaries[user_id] = await asyncio.to_thread(BellState.summary_for, user_id)
        bell = await root.get_state(BellState)
        bell._apply(summaries[user_id])

    return await push_to_tabs(app, set(user_ids), BellState, update)


async def push_messages(app: rx.App, user_ids: set[int], conversation_ids: list[int]) -> int:
    """New messages (or statuses, receipts) in these conversations: where the Communication
    Center shows one of them, its messages first (sent to the page at once: what the reader waits
    for), then its read mark, the list's unread counts, the trader tab and the messages badge."""
    from brm_app.state.communications import CommsState, MessageBadgeState

    async def open_conversation(root: Any, user_id: int) -> None:
        comms = await root.get_state(CommsState)
        await comms._live_refresh_open(conversation_ids)

    async def counts(root: Any, user_id: int) -> None:
        comms = await root.get_state(CommsState)
        await comms._live_refresh_rest(conversation_ids)  # marks the open one read first
        badge = await root.get_state(MessageBadgeState)
        await badge._refresh()

    return await push_to_tabs(app, set(user_ids), MessageBadgeState, open_conversation, counts)


def forget_stale_tabs(db: Session) -> None:
    """A periodic chore of the job runner: tabs not seen for PRESENCE_TTL are forgotten."""
    db.exec(delete(ClientPresence).where(ClientPresence.seen_at < utcnow() - PRESENCE_TTL))


async def deliver_notifications(app: rx.App, event: events.Event) -> None:
    """Subscriber of "notifications" events: the named users' bells changed."""
    await push_unread(app, set(event.user_ids))


async def deliver_messages(app: rx.App, event: events.Event) -> None:
    """Subscriber of "messages" events: conversations (event ids) changed for the named users."""
    await push_messages(app, set(event.user_ids), list(event.ids))


async def scheduler_loop(app: rx.App) -> None:
    """Lifespan task: this process's job runner (reminders at their time, email and SMS
    deliveries, overdue escalations every BRM_SCHEDULER_SECONDS), pushing the bell to the open
    tabs of the users it notified. With BRM_JOBS_IN_PROCESS=0, `brm worker` runs it instead."""
    from brm_app.jobs.kinds import build_runner

    if not get_settings().jobs_in_process:
        log.info("background jobs run in `brm worker` (BRM_JOBS_IN_PROCESS=0)")
        return
    runner = build_runner(chores=[forget_stale_tabs])
    # Bells refresh through the "notifications" events the runner's transactions publish.
    await runner.run_forever()


# ---- portfolio pages: revalued live as prices arrive ----------------------------------------

# The tabs of this worker showing a portfolio page: client token -> (firm, user, instruments
# held). Written when the page loads (by the worker holding the tab's socket); a tab that went
# elsewhere is dropped when its next push finds it on another page.
_portfolio_tabs: dict[str, tuple[int, int, frozenset[int]]] = {}
MAX_WATCHED = 10_000


def watch_portfolio(client_token: str, firm_id: int, user_id: int, held: frozenset[int]) -> None:
    if not client_token or len(client_token) > 100:
        return
    if len(_portfolio_tabs) >= MAX_WATCHED and client_token not in _portfolio_tabs:
        _portfolio_tabs.pop(next(iter(_portfolio_tabs)))
    _portfolio_tabs[client_token] = (firm_id, user_id, held)


def _watching(event: events.Event) -> dict[str, tuple[int, int]]:
    from brm_app.services import market_data, portfolios

    ids = set(event.ids)
    out = {}
    for token, (firm_id, user_id, held) in list(_portfolio_tabs.items()):
        if (event.topic == market_data.TOPIC and held & ids) or (
            event.topic == portfolios.TOPIC and firm_id in ids
        ):
            out[token] = (firm_id, user_id)
    return out


async def push_portfolios(app: rx.App, event: events.Event) -> int:
    """Revalue the open portfolio pages this event concerns, on the tabs this worker holds:
    the instruments whose prices moved ("prices"), or the firms whose transactions changed
    ("portfolio"). Each tab is revalued from the stored prices for its own signed-in user."""
    from brm_app.state.portfolio import PortfolioState
    from brm_app.state.session_guard import SessionOwnerState, credentials_of

    targets = _watching(event)
    if not targets:
        return 0
    updated = 0
    for token in _tabs_here(app, list(targets)):
        firm_id, user_id = targets[token]
        try:
            async with app.modify_state(
                rx.BaseStateToken(ident=token, cls=PortfolioState)
            ) as state:
                root = state._get_root_state()
                owner = await root.get_state(SessionOwnerState)
                page = await root.get_state(PortfolioState)
                shown = str(page.router.url.path or "")
                if (
                    owner._owner_user_id != user_id
                    or page.firm_id != firm_id
                    or not shown.rstrip("/").endswith("/portfolio")
                ):
                    # Signed in as someone else, or on another page now: stop pushing to it.
                    _portfolio_tabs.pop(token, None)
                    continue
                if not await asyncio.to_thread(_signed_in_as, credentials_of(root), user_id):
                    _portfolio_tabs.pop(token, None)
                    continue
                _, held = await page._refresh_portfolio(live=True)
                _portfolio_tabs[token] = (firm_id, user_id, held)
                updated += 1
        except Exception:  # a vanished tab must not stop the others
            log.debug("could not revalue a tab", exc_info=True)
    return updated


async def deliver_portfolios(app: rx.App, event: events.Event) -> None:
    """Subscriber of "prices" and "portfolio" events."""
    await push_portfolios(app, event)
