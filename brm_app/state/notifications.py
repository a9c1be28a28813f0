"""The bell (unread count and latest notifications, live on every page) and /notifications."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx
from sqlmodel import Session, select

from brm_app.db import unit_of_work
from brm_app.models.follow_up import Notification
from brm_app.services import notifications
from brm_app.services.errors import DomainError
from brm_app.services.pagination import PageRequest
from brm_app.state.base import PagedListMixin, ServiceMixin, as_id

RECENT = 8
PAGE_SIZE = 30


def _row(n) -> dict[str, Any]:
    return {
        "id": n.notification_id if hasattr(n, "notification_id") else n.id,
        "kind": n.kind,
        "title": n.title,
        "body": n.body or "",
        "link": n.link or "",
        "when": n.created_at.isoformat(),
        "read": bool(n.read if hasattr(n, "read") else n.read_at),
    }


def _summary(db: Session, user_id: int) -> tuple[int, list[dict[str, Any]]]:
    unread = notifications.count_unread_for(db, user_id)
    recent = db.exec(
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(RECENT)
    ).all()
    return unread, [_row(n) for n in recent]


class BellState(ServiceMixin, rx.State):
    unread: int = 0
    recent: list[dict[str, Any]] = []

    @staticmethod
    def summary_for(user_id: int) -> tuple[int, list[dict[str, Any]]]:
        with unit_of_work() as db:
            return _summary(db, user_id)

    def _apply(self, summary: tuple[int, list[dict[str, Any]]]) -> None:
        self.unread, self.recent = summary

    @rx.event
    async def load(self):
        """On every page: show the count, and remember this tab so reminders can be pushed to it."""
        from brm_app.live import remember_tab

        try:
            user_id, summary = await self._call(
                lambda db, *, actor: (actor.user_id, _summary(db, actor.user_id))
            )
        except DomainError:
            return None
        self._apply(summary)
        token = self.router.session.client_token
        await asyncio.to_thread(remember_tab, token, user_id)
        return None

    @rx.event
    async def refresh(self):
        try:
            self._apply(await self._call(lambda db, *, actor: _summary(db, actor.user_id)))
        except DomainError:
            return None
        return None

    @rx.event
    async def open(self, notification_id: int):
        notification_id = as_id(notification_id)
        if notification_id is None:
            return None

        def run(db, *, actor):
            note = notifications.mark_read(db, actor=actor, notification_id=notification_id)
            return note.link, _summary(db, actor.user_id)

        try:
            link, summary = await self._call(run, write=True)
        except DomainError as exc:
            return self._error_event(exc)
        self._apply(summary)
        return rx.redirect(link) if link and link.startswith("/") else None

    @rx.event
    async def mark_all_read(self):
        def run(db, *, actor):
            notifications.mark_all_read(db, actor=actor)
            return _summary(db, actor.user_id)

        try:
            self._apply(await self._call(run, write=True))
        except DomainError as exc:
            return self._error_event(exc)
        return None


class NotificationsState(PagedListMixin, rx.State):
    def _page_size(self) -> int:
        return PAGE_SIZE

    unread_only: bool = False
    total: int = 0

    @rx.event
    async def load(self):
        self.offset = 0
        return await self._refresh()

    async def _refresh(self):
        try:
            page = await self._call(
                notifications.list_notifications,
                unread_only=self.unread_only,
                page=PageRequest(offset=self.offset, limit=PAGE_SIZE),
            )
        except DomainError as exc:
            return self._error_event(exc)
        self.rows = [_row(n) for n in page.items]
        self.total = page.total or 0
        self.has_next = page.has_next
        return None

    @rx.event
    async def set_unread_only(self, value: bool):
        if isinstance(value, bool):
            self.unread_only, self.offset = value, 0
            return await self._refresh()
        return None

    @rx.event
    async def mark_read(self, notification_id: int):
        notification_id = as_id(notification_id)
        if notification_id is None:
            return None
        try:
            await self._call(notifications.mark_read, write=True, notification_id=notification_id)
        except DomainError as exc:
            return self._error_event(exc)
        await self._refresh()
        return BellState.refresh

    @rx.event
    async def mark_all_read(self):
        try:
            await self._call(notifications.mark_all_read, write=True)
        except DomainError as exc:
            return self._error_event(exc)
        await self._refresh()
        return BellState.refresh
