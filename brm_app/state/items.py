"""/interactions/[id] and /follow-ups/[id]: one record, its history, and what can be done to it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import reflex as rx

from brm_app.models.follow_up import FollowUpPatch, FollowUpStatus
from brm_app.services import audit, capabilities, follow_ups, interactions
from brm_app.services.errors import DomainError, NotFound, ValidationFailed
from brm_app.state.base import ServiceMixin
from brm_app.state.firm_detail import route_id
from brm_app.state.move_fields import MoveFieldsMixin

SNOOZES = {15, 60, 24 * 60}
LABELS = {
    "interaction_type": "Type",
    "interaction_date": "Date",
    "time_zone": "Time zone",
    "duration_minutes": "Duration (minutes)",
    "subject": "Subject",
    "notes": "Notes",
    "outcome": "Outcome",
    "trader_ids": "Traders",
    "firm_id": "Firm",
}


def _readable(
    data: dict[str, Any], firms: dict[int, str], traders: dict[int, str], tz: str
) -> dict[str, Any]:
    """A saved version as a person reads it: names for ids, the date in the viewer's zone."""
    out = dict(data)
    if "firm_id" in out:
        out["firm_id"] = firms.get(out["firm_id"], f"#{out['firm_id']}")
    if "trader_ids" in out:
        out["trader_ids"] = ", ".join(
            sorted(traders.get(t, f"#{t}") for t in out["trader_ids"] or [])
        )
    when = out.get("interaction_date")
    if isinstance(when, str):
        try:
            moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
            out["interaction_date"] = (
                moment.astimezone(ZoneInfo(tz)).strftime("%d %b %Y %H:%M") + f" ({tz})"
            )
        except ValueError:
            pass
    return out


def _version_rows(
    versions, firms: dict[int, str], traders: dict[int, str], tz: str
) -> list[dict[str, Any]]:
    """Each version with what it changed from the one before (the first lists every field);
    the saved record itself stays available as it was stored ("raw")."""
    rows, previous = [], {}
    for v in versions:
        data = _readable(json.loads(v.data), firms, traders, tz)
        changed = (
            audit.diff(previous, data)
            if previous
            else {k: {"before": None, "after": val} for k, val in data.items()}
        )
        rows.append(
            {
                "version": v.version,
                "when": v.saved_at.isoformat(),
                "who": v.saved_by,
                "changes": [
                    {
                        "field": LABELS.get(k, k),
                        "before": "" if c["before"] is None else str(c["before"]),
                        "after": "" if c["after"] is None else str(c["after"]),
                    }
                    for k, c in changed.items()
                    if previous or c["after"] not in (None, "", [])
                ],
                "raw": v.data,
            }
        )
        previous = data
    return rows


class InteractionPageState(ServiceMixin, rx.State):
    found: bool = False
    not_found: bool = False
    item: dict[str, Any] = {}
    versions: list[dict[str, Any]] = []
    show_raw: int = 0
    # What the signed-in user may do with this interaction, as the services answer it.
    can_edit: bool = False
    can_void: bool = False
    void_open: bool = False
    void_reason: str = ""
    void_error: str = ""

    @rx.event
    async def load(self):
        self.found = self.not_found = False
        self.void_open, self.void_reason, self.void_error, self.show_raw = False, "", "", 0
        interaction_id = route_id(self.router.url.path, "/interactions")
        if interaction_id is None:
            self.not_found = True
            return None

        def fetch(db, *, actor):
            row = interactions.get_interaction(db, actor=actor, interaction_id=interaction_id)
            tz = interactions.user_zone_name(db, actor)
            caps = capabilities.for_interaction(db, actor=actor, interaction_id=interaction_id)
            found = interactions.versions(db, actor=actor, interaction_id=interaction_id)
            names = interactions.names_in_versions(db, found)
            return row, found, names, tz, caps

        try:
            row, versions, (firm_names, trader_names), tz, caps = await self._call(fetch)
        except NotFound:
            self.not_found = True
            return None
        except DomainError as exc:
            return self._error_event(exc)
        local = row.interaction_date.astimezone(ZoneInfo(tz))
        self.item = {
            "id": row.interaction_id,
            "firm_id": row.firm_id,
            "firm_name": row.firm_name,
            "firm_href": f"/firms/{row.firm_id}",
            "type": row.interaction_type,
            "when": local.strftime("%A %d %B %Y, %H:%M") + f" ({tz})",
            "logged_in": row.time_zone,
            "duration": f"{row.duration_minutes} minutes" if row.duration_minutes else "",
            "subject": row.subject,
            "notes": row.notes or "",
            "outcome": row.outcome or "",
            "broker": row.broker_name,
            "traders": [
                {"name": n, "href": f"/traders/{i}"}
                for i, n in zip(row.trader_ids, row.trader_names, strict=True)
            ],
            "version": row.version,
            "voided": row.voided,
            "void_reason": row.void_reason or "",
        }
        self.versions = _version_rows(versions, firm_names, trader_names, tz)
        self.can_edit, self.can_void = caps.edit, caps.void
        self.found = True
        return None

    @rx.event
    def toggle_raw(self, version: int):
        if isinstance(version, int) and not isinstance(version, bool):
            self.show_raw = 0 if self.show_raw == version else version

    @rx.event
    def set_void_open(self, value: bool):
        self.void_open = bool(value)
        self.void_error = ""

    @rx.event
    def set_void_reason(self, value: str):
        if isinstance(value, str):
            self.void_reason = value[:500]

    @rx.event
    async def void(self):
        try:
            await self._call(
                interactions.void_interaction,
                write=True,
                interaction_id=self.item.get("id"),
                reason=self.void_reason,
            )
        except ValidationFailed as exc:
            self.void_error = exc.message.split(": ", 1)[-1]
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.void_open = False
        await self.load()
        return rx.toast.success("Interaction voided; it stays on record for compliance.")


class FollowUpPageState(MoveFieldsMixin, ServiceMixin, rx.State):
    found: bool = False
    not_found: bool = False
    item: dict[str, Any] = {}
    tz: str = "UTC"
    # What the signed-in user may do with this follow-up, as the services answer it.
    can_edit: bool = False
    can_snooze: bool = False

    @rx.event
    async def load(self):
        self.found = self.not_found = False
        follow_up_id = route_id(self.router.url.path, "/follow-ups")
        if follow_up_id is None:
            self.not_found = True
            return None

        def fetch(db, *, actor):
            fu = follow_ups.get_follow_up(db, actor=actor, follow_up_id=follow_up_id)
            caps = capabilities.for_follow_up(db, actor=actor, follow_up_id=follow_up_id)
            return fu, interactions.user_zone_name(db, actor), caps

        try:
            fu, tz, caps = await self._call(fetch)
        except NotFound:
            self.not_found = True
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self._show(fu, tz)
        self.can_edit, self.can_snooze = caps.edit, caps.snooze
        self.found = True
        return None

    def _show(self, fu, tz: str) -> None:
        zone = ZoneInfo(tz)
        local = fu.due_at.astimezone(zone)
        self.tz = tz
        self.move_day, self.move_time = local.strftime("%Y-%m-%d"), local.strftime("%H:%M")
        self.item = {
            "id": fu.follow_up_id,
            "title": fu.title,
            "notes": fu.notes or "",
            "due": local.strftime("%A %d %B %Y, %H:%M") + f" ({tz})",
            "status": fu.status.value,
            "overdue": fu.overdue,
            "assignee": fu.assignee_name,
            "firm_id": fu.firm_id,
            "firm_name": fu.firm_name,
            "firm_href": f"/firms/{fu.firm_id}",
            "interaction_href": f"/interactions/{fu.interaction_id}" if fu.interaction_id else "",
            "traders": [
                {"name": n, "href": f"/traders/{i}"}
                for i, n in zip(fu.trader_ids, fu.trader_names, strict=True)
            ],
            "reminders": [r.astimezone(zone).strftime("%a %d %b %H:%M") for r in fu.reminders],
            "snoozed_until": fu.snoozed_until.astimezone(zone).strftime("%a %d %b %H:%M")
            if fu.snoozed_until
            else "",
        }

    async def _patch(self, message: str, **changes: Any):
        try:
            fu = await self._call(
                follow_ups.update_follow_up,
                write=True,
                follow_up_id=self.item.get("id"),
                data=FollowUpPatch(**changes),
            )
        except DomainError as exc:
            return self._error_event(exc)
        self._show(fu, self.tz)
        return rx.toast.success(message)

    @rx.event
    async def set_status(self, status: str):
        if not isinstance(status, str) or status not in {s.value for s in FollowUpStatus}:
            return None
        label = {"done": "Marked done.", "cancelled": "Cancelled.", "open": "Reopened."}[status]
        return await self._patch(label, status=status)

    @rx.event
    async def snooze(self, minutes: int):
        # A browser may send anything: a list or a dict here is not hashable for the lookup.
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes not in SNOOZES:
            return None
        try:
            fu = await self._call(
                follow_ups.snooze, write=True, follow_up_id=self.item.get("id"), minutes=minutes
            )
        except DomainError as exc:
            return self._error_event(exc)
        self._show(fu, self.tz)
        return rx.toast.success("Snoozed: you will be reminded again.")

    @rx.event
    async def reschedule(self):
        local = self._move_to()
        if local is None:
            return rx.toast.error("Choose a date and a time.")
        return await self._patch(
            "Rescheduled; its reminders moved with it.", due_at=local, time_zone=self.tz
        )
