"""What runs beside the pages: the job runner, and pushing fresh bell counts to open tabs.

Every worker runs the job runner unless `brm worker` does (claims are exactly-once in the
database). When it notifies users, each of their open tabs (recorded in `client_presence` when a
page loads) gets its bell updated through Reflex's out-of-band state update — with Redis this
reaches tabs connected to other workers too. A tab only receives the count of the user it is signed in as.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import reflex as rx
from sqlmodel import Session, delete, select

from brm_app.db import unit_of_work, utcnow
from brm_app.models.follow_up import ClientPresence
from brm_app.settings import get_settings

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


async def push_unread(app: rx.App, user_ids: set[int]) -> int:
    """Refresh the bell on every open tab of these users; returns how many tabs were updated."""
    from brm_app.state.notifications import BellState
    from brm_app.state.session_guard import SessionOwnerState

    if not user_ids:
        return 0
    tabs = await asyncio.to_thread(_tabs_of, user_ids)
    updated = 0
    for user_id, tokens in tabs.items():
        summary = await asyncio.to_thread(BellState.summary_for, user_id)
        for token in tokens:
            try:
                async with app.modify_state(rx.BaseStateToken(ident=token, cls=BellState)) as state:
                    root = state._get_root_state()
                    owner = await root.get_state(SessionOwnerState)
                    if owner._owner_user_id != user_id:
                        continue  # the tab now belongs to someone else (or nobody)
                    bell = await root.get_state(BellState)
                    bell._apply(summary)
                    updated += 1
            except Exception:  # a vanished tab must not stop the others
                log.debug("could not push to a tab", exc_info=True)
    return updated


def forget_stale_tabs(db: Session) -> None:
    """A periodic chore of the job runner: tabs not seen for PRESENCE_TTL are forgotten."""
    db.exec(delete(ClientPresence).where(ClientPresence.seen_at < utcnow() - PRESENCE_TTL))


async def scheduler_loop(app: rx.App) -> None:
    """Lifespan task: this process's job runner (reminders at their time, email and SMS
    deliveries, overdue escalations every BRM_SCHEDULER_SECONDS), pushing the bell to the open
    tabs of the users it notified. With BRM_JOBS_IN_PROCESS=0, `brm worker` runs it instead."""
    from brm_app.jobs.kinds import build_runner

    if not get_settings().jobs_in_process:
        log.info("background jobs run in `brm worker` (BRM_JOBS_IN_PROCESS=0)")
        return
    runner = build_runner(chores=[forget_stale_tabs])
    await runner.run_forever(on_notified=lambda users: push_unread(app, users))
