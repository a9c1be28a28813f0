"""My account's notification preferences: channels per kind of event, quiet hours, my mobile."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.models.user import User
from brm_app.services import preferences
from brm_app.services.errors import DomainError
from brm_app.state.base import ServiceMixin


class PreferencesState(ServiceMixin, rx.State):
    rows: list[dict[str, Any]] = []
    mobile: str = ""
    quiet_start: str = ""
    quiet_end: str = ""
    error: str = ""

    @rx.event
    async def load(self) -> Any:
        return await self._load()

    async def _load(self) -> Any:
        def fetch(db: Any, *, actor: Any) -> tuple[list[Any], str, Any]:
            from brm_app.models.communication import QuietHours

            user = db.get(User, actor.user_id)
            quiet = db.get(QuietHours, actor.user_id)
            return (
                preferences.get_preferences(db, actor=actor),
                (user.mobile or "") if user else "",
                quiet,
            )

        try:
            prefs, mobile, quiet = await self._call(fetch)
        except DomainError as exc:
            return self._error_event(exc)
        self.rows = [
            {
                "kind": p.kind,
                "label": preferences.KINDS[p.kind],
                "in_app": p.in_app,
                "email": p.email,
                "sms": p.sms,
            }
            for p in prefs
        ]
        self.mobile = mobile
        if quiet is not None:
            self.quiet_start = f"{quiet.start_minute // 60:02d}:{quiet.start_minute % 60:02d}"
            self.quiet_end = f"{quiet.end_minute // 60:02d}:{quiet.end_minute % 60:02d}"
        else:
            self.quiet_start = self.quiet_end = ""
        return None

    @rx.event
    async def toggle(self, kind: str, channel: str, value: bool) -> Any:
        row = next((r for r in self.rows if r["kind"] == kind), None)
        if row is None or channel not in ("in_app", "email", "sms") or not isinstance(value, bool):
            return None
        chosen = {c: bool(row[c]) for c in ("in_app", "email", "sms")}
        chosen[channel] = value
        try:
            await self._call(preferences.set_preference, write=True, kind=kind, **chosen)
        except DomainError as exc:
            self.error = exc.message
            return None
        self.error = ""
        return await self._load()

    @rx.event
    async def save_contact(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict) or not all(
            isinstance(form.get(k, ""), str) for k in ("mobile", "quiet_start", "quiet_end")
        ):
            return None

        def run(db: Any, *, actor: Any) -> None:
            preferences.set_mobile(db, actor=actor, mobile=form.get("mobile") or None)
            preferences.set_quiet_hours(
                db,
                actor=actor,
                start=form.get("quiet_start") or None,
                end=form.get("quiet_end") or None,
            )

        try:
            await self._call(run, write=True)
        except DomainError as exc:
            self.error = exc.message
            return None
        self.error = ""
        await self._load()
        return rx.toast.success("Saved.")
