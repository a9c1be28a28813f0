"""/account: each user's own name, time zone, password and calendar feeds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import reflex as rx
from sqlmodel import Session

from brm_app.auth.actor import Actor
from brm_app.auth.rbac import Permission, has
from brm_app.models.user import UserPublic
from brm_app.services import calendar_feed, users
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.settings import get_settings
from brm_app.state.auth import SessionState
from brm_app.state.base import as_id
from brm_app.state.password_change import PasswordChangeMixin

BROWSER_LOCALE = "browser"  # the select's value for "" (a select item cannot have an empty value)


def _locale_choice(value: object) -> object:
    if value is None:
        return None
    return "" if value == BROWSER_LOCALE else value


class AccountState(PasswordChangeMixin, rx.State):
    profile_errors: dict[str, str] = {}
    password_form_key: int = 0
    time_zone: str = "UTC"
    feeds: list[dict[str, Any]] = []
    can_have_feed: bool = False
    # A new feed's URL, shown once (only its hash is stored)
    new_feed_url: str = ""
    email_reminders: bool = False
    # Two-factor sign-in is on: the password change asks for a code too.
    mfa_enabled: bool = False

    @rx.event
    async def load(self) -> Any:
        self.new_feed_url = ""

        def fetch(
            db: Session, *, actor: Actor
        ) -> tuple[UserPublic, list[calendar_feed.FeedInfo], bool]:
            me = users.get_me(db, actor=actor)
            return (
                me,
                calendar_feed.list_feeds(db, actor=actor),
                has(actor, Permission.FOLLOW_UPS_VIEW),
            )

        try:
            me, feeds, can_feed = await self._call(fetch)
        except DomainError as exc:
            return self._error_event(exc)
        self.time_zone, self.can_have_feed = me.time_zone, can_feed
        self.email_reminders = me.email_reminders
        self.mfa_enabled = me.mfa_enabled
        self._show_feeds(feeds)
        return None

    def _show_feeds(self, feeds: Sequence[calendar_feed.FeedInfo]) -> None:
        self.feeds = [
            {
                "id": f.feed_id,
                "created": f.created_at.isoformat(),
                "fetched": f.last_fetched_at.isoformat() if f.last_fetched_at else "",
                "active": f.active,
            }
            for f in feeds
        ]

    @rx.event
    async def create_feed(self) -> Any:
        def run(db: Session, *, actor: Actor) -> tuple[str, list[calendar_feed.FeedInfo]]:
            _, token = calendar_feed.create_feed(db, actor=actor)
            return token, calendar_feed.list_feeds(db, actor=actor)

        try:
            token, feeds = await self._call(run, write=True)
        except DomainError as exc:
            return self._error_event(exc)
        self.new_feed_url = calendar_feed.address(token, public_url=get_settings().public_url)
        self._show_feeds(feeds)
        return None

    @rx.event
    async def revoke_feed(self, feed_id: int) -> Any:
        chosen = as_id(feed_id)
        if chosen is None:
            return None

        def run(db: Session, *, actor: Actor) -> list[calendar_feed.FeedInfo]:
            calendar_feed.revoke_feed(db, actor=actor, feed_id=chosen)
            return calendar_feed.list_feeds(db, actor=actor)

        try:
            self._show_feeds(await self._call(run, write=True))
        except DomainError as exc:
            return self._error_event(exc)
        self.new_feed_url = ""
        return rx.toast.success("Feed revoked: its URL no longer works.")

    @rx.event
    async def set_email_reminders(self, enabled: bool) -> Any:
        if not isinstance(enabled, bool):
            return None
        try:
            me = await self._call(users.set_email_reminders, write=True, enabled=enabled)
        except DomainError as exc:
            return self._error_event(exc)
        self.email_reminders = me.email_reminders
        return rx.toast.success(
            "Your reminders will also come by email."
            if me.email_reminders
            else "Your reminders will only reach the bell."
        )

    @rx.event
    def hide_feed_url(self) -> None:
        self.new_feed_url = ""

    @rx.event
    async def save_profile(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        try:
            updated = await self._call(
                users.update_profile,
                write=True,
                name=form.get("name"),
                time_zone=form.get("time_zone") or None,
                locale=_locale_choice(form.get("locale")),
            )
        except ValidationFailed as exc:
            self.profile_errors = self._field_errors(exc) or {"name": exc.message}
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.profile_errors = {}
        session = await self.get_state(SessionState)
        session.name = updated.name
        self.time_zone = updated.time_zone
        session.locale, session.time_zone = updated.locale, updated.time_zone
        return rx.toast.success("Profile saved.")

    @rx.event
    async def change_password(self, form: dict[str, Any]) -> AsyncIterator[Any]:
        if not self._new_passwords_match(form):
            return
        self.saving = True
        yield
        revoked, failed = await self._change_own_password(form)
        if revoked is None:
            if failed is not None:
                yield failed
            return
        self.password_form_key += 1
        others = f" {revoked} other session(s) were signed out." if revoked else ""
        yield rx.toast.success("Password changed." + others)
