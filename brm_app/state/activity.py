"""Logging interactions and planning follow-ups: the two dialogs every page can open.

Dates and times in the forms are wall-clock times in the user's own time zone. Saving an
interaction whose outcome is "Follow-up required" opens the follow-up dialog, pre-filled.
After a save the page that opened the dialog is refreshed (its name is kept in `context`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import reflex as rx
from sqlmodel import select

from brm_app.auth.rbac import Permission
from brm_app.db import utcnow
from brm_app.models.follow_up import FollowUpPatch, FollowUpWrite
from brm_app.models.interaction import FOLLOW_UP_OUTCOME, InteractionWrite
from brm_app.models.trader import Trader
from brm_app.services import firms, follow_ups, interaction_config, interactions
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.services.firms import FirmQuery
from brm_app.services.pagination import PageRequest
from brm_app.services.validation import parse
from brm_app.state.base import ServiceMixin, as_id, scroll_to_first_error
from brm_app.state.firm_forms import flat_errors

CONTEXTS = {"firm", "trader", "calendar", "dashboard", "interaction", "follow_up", "none"}
REMINDER_PRESETS = [("1440", "1 day before"), ("60", "1 hour before"), ("15", "15 minutes before")]
NONE = "none"


def _local_input(moment: datetime, tz: str) -> tuple[str, str]:
    local = moment.astimezone(ZoneInfo(tz))
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M")


def _parse_local(day: Any, clock: Any, field: str) -> datetime:
    """A naive datetime from the form's date and time inputs (read later in the user's zone)."""
    if not isinstance(day, str) or not isinstance(clock, str) or not day or not clock:
        raise ValidationFailed("choose a date and a time", field=field)
    try:
        return datetime.fromisoformat(f"{day}T{clock}")
    except ValueError:
        raise ValidationFailed("is not a date and time", field=field) from None


def _firm_people(db, actor, firm_id: int) -> dict[str, Any]:
    """The firm, its live traders, and who may be assigned its follow-ups — for the dialogs."""
    firm = firms.load(db, actor, firm_id, Permission.INTERACTIONS_LOG)
    traders = db.exec(
        select(Trader.id, Trader.name)
        .where(Trader.firm_id == firm.id, Trader.archived_at.is_(None))
        .order_by(Trader.name_key)
    ).all()
    assignees = follow_ups.assignable_brokers(db, actor=actor, firm_id=firm.id)
    return {
        "firm": {"id": firm.id, "name": firm.name},
        "undisclosed": firm.recording_disclosed_on is None,
        "traders": [{"id": str(i), "name": n} for i, n in traders],
        "assignees": [{"id": str(i), "name": n} for i, n in assignees],
        "tz": interactions.user_zone_name(db, actor),
        "me": actor.user_id,
    }


class ActivityState(ServiceMixin, rx.State):
    context: str = "none"
    tz: str = "UTC"
    firm_id: int = 0
    firm_name: str = ""
    # The firm's client has not been told communications are recorded (the dialog warns).
    firm_undisclosed: bool = False
    firm_traders: list[dict[str, str]] = []
    assignees: list[dict[str, str]] = []
    types: list[str] = []
    outcomes_by_type: dict[str, list[str]] = {}

    # Interaction dialog
    log_open: bool = False
    log_key: int = 0
    edit_interaction_id: int = 0
    log_form: dict[str, Any] = {}
    log_type: str = "Call"
    log_errors: dict[str, str] = {}
    saving: bool = False

    # Follow-up dialog
    fu_open: bool = False
    fu_key: int = 0
    edit_follow_up_id: int = 0
    fu_form: dict[str, Any] = {}
    fu_errors: dict[str, str] = {}
    # Choosing the firm when the dialog was opened from the calendar
    fu_pick_firm: bool = False
    fu_firm_results: list[dict[str, Any]] = []

    @rx.var
    def log_outcomes(self) -> list[str]:
        return self.outcomes_by_type.get(self.log_type, [])

    async def _prepare(self, firm_id: int, context: Any) -> bool:
        self.context = context if isinstance(context, str) and context in CONTEXTS else "none"
        try:
            people, cfg = await self._call(
                lambda db, *, actor: (
                    _firm_people(db, actor, firm_id),
                    interaction_config.config(db),
                )
            )
        except DomainError as exc:
            self._pending_error = exc.message
            return False
        self.firm_id, self.firm_name = people["firm"]["id"], people["firm"]["name"]
        self.firm_undisclosed = people["undisclosed"]
        self.firm_traders, self.assignees, self.tz = (
            people["traders"],
            people["assignees"],
            people["tz"],
        )
        self._me = people["me"]
        self.types = [t.name for t in cfg]
        self.outcomes_by_type = {t.name: t.outcomes for t in cfg}
        return True

    _pending_error: str = ""
    _me: int = 0

    def _default_assignee(self) -> str:
        """The user themselves when they may take the follow-up, else the first choice."""
        ids = [a["id"] for a in self.assignees]
        return str(self._me) if str(self._me) in ids or not ids else ids[0]

    # ---- interactions --------------------------------------------------------------------------

    @rx.event
    async def open_log(self, firm_id: int, trader_id: int = 0, context: str = "none"):
        firm_id = as_id(firm_id)
        if firm_id is None or not await self._prepare(firm_id, context):
            return rx.toast.error(self._pending_error or "Firm not found.")
        day, clock = _local_input(utcnow(), self.tz)
        chosen = [str(trader_id)] if as_id(trader_id) else []
        self.log_form = {
            "day": day,
            "time": clock,
            "end": "",
            "subject": "",
            "notes": "",
            "outcome": NONE,
            "traders": chosen,
            "type": "Call",
        }
        self.log_type = "Call" if "Call" in self.types else (self.types[0] if self.types else "")
        self.edit_interaction_id = 0
        self.log_errors = {}
        self.log_key += 1
        self.log_open = True
        return None

    @rx.event
    async def open_edit_interaction(self, interaction_id: int, context: str = "interaction"):
        interaction_id = as_id(interaction_id)
        if interaction_id is None:
            return None
        try:
            row = await self._call(interactions.get_interaction, interaction_id=interaction_id)
        except DomainError as exc:
            return self._error_event(exc)
        if not await self._prepare(row.firm_id, context):
            return rx.toast.error(self._pending_error)
        day, clock = _local_input(row.interaction_date, self.tz)
        end = ""
        if row.duration_minutes:
            end = _local_input(
                row.interaction_date + timedelta(minutes=row.duration_minutes), self.tz
            )[1]
        self.log_form = {
            "day": day,
            "time": clock,
            "end": end,
            "subject": row.subject,
            "notes": row.notes or "",
            "outcome": row.outcome or NONE,
            "traders": [str(t) for t in row.trader_ids],
            "type": row.interaction_type,
        }
        self.log_type = row.interaction_type
        self.edit_interaction_id = row.interaction_id
        self.log_errors = {}
        self.log_key += 1
        self.log_open = True
        return None

    @rx.event
    def set_log_open(self, value: bool):
        self.log_open = bool(value)

    @rx.event
    def set_log_type(self, value: str):
        if isinstance(value, str) and value in self.types:
            self.log_type = value

    @rx.event
    async def save_interaction(self, form: dict):
        if not isinstance(form, dict):
            return None
        trader_ids = [
            as_id(int(k.removeprefix("trader_")))
            for k, v in form.items()
            if isinstance(k, str)
            and k.startswith("trader_")
            and k.removeprefix("trader_").isdigit()
            and v in ("on", True)
        ]
        outcome = form.get("outcome")
        self.log_form = {
            **self.log_form,
            **{k: v for k, v in form.items() if k in ("day", "time", "end", "subject", "notes")},
            "traders": [str(t) for t in trader_ids],
            "outcome": outcome or NONE,
        }
        try:
            start = _parse_local(form.get("day"), form.get("time"), "interaction_date")
            end = None
            if form.get("end"):
                end = _parse_local(form.get("day"), form.get("end"), "interaction_end")
            data = parse(
                InteractionWrite,
                {
                    "firm_id": self.firm_id,
                    "trader_ids": trader_ids,
                    "interaction_type": self.log_type,
                    "interaction_date": start.isoformat(),
                    "interaction_end": end.isoformat() if end else None,
                    "time_zone": self.tz,
                    "subject": form.get("subject", ""),
                    "notes": form.get("notes") or None,
                    "outcome": None if outcome in (None, "", NONE) else outcome,
                },
            )
            if self.edit_interaction_id:
                saved = await self._call(
                    interactions.edit_interaction,
                    write=True,
                    interaction_id=self.edit_interaction_id,
                    data=data,
                )
            else:
                saved = await self._call(interactions.log_interaction, write=True, data=data)
        except ValidationFailed as exc:
            self.log_errors = flat_errors(exc.errors)
            if "interaction_date" in self.log_errors:
                self.log_errors["time"] = self.log_errors.pop("interaction_date")
            if "interaction_end" in self.log_errors:
                self.log_errors["end"] = self.log_errors.pop("interaction_end")
            return scroll_to_first_error()
        except DomainError as exc:
            self.log_errors = {"form": exc.message}
            return self._error_event(exc)
        self.log_open = False
        events: list[Any] = [
            rx.toast.success(
                f"{saved.interaction_type} saved"
                + (f" (version {saved.version})" if saved.version > 1 else "")
                + "."
            )
        ]
        if saved.outcome == FOLLOW_UP_OUTCOME and not self.edit_interaction_id:
            self._start_follow_up(
                title=f"Follow up: {saved.subject}",
                due=utcnow() + timedelta(days=1),
                trader_ids=saved.trader_ids,
                interaction_id=saved.interaction_id,
            )
            events.append(rx.toast.info("Outcome is “Follow-up required”: plan the follow-up now."))
        events.append(self._refresh_event())
        return events

    # ---- follow-ups ----------------------------------------------------------------------------

    def _start_follow_up(
        self, *, title: str, due: datetime, trader_ids: list[int], interaction_id: int | None
    ) -> None:
        day, _ = _local_input(due, self.tz)
        self.fu_form = {
            "title": title,
            "day": day,
            "time": "10:00",
            "notes": "",
            "assignee": self._default_assignee(),
            "traders": [str(t) for t in trader_ids],
            "reminders": ["1440", "60"],
            "interaction_id": interaction_id or 0,
        }
        self.edit_follow_up_id = 0
        self.fu_errors = {}
        self.fu_pick_firm = False
        self.fu_key += 1
        self.fu_open = True

    @rx.event
    async def open_follow_up(
        self, firm_id: int, day: str = "", context: str = "none", trader_id: int = 0
    ):
        """New follow-up for a firm (firm_id 0: choose the firm first, as from the calendar)."""
        firm_id = as_id(firm_id)
        if firm_id is None:
            self.context = context if isinstance(context, str) and context in CONTEXTS else "none"
            self.firm_id, self.firm_name, self.firm_traders, self.assignees = 0, "", [], []
            self.fu_firm_results = []
            self._start_follow_up(
                title="", due=utcnow() + timedelta(days=1), trader_ids=[], interaction_id=None
            )
            self.fu_pick_firm = True
            if isinstance(day, str) and len(day) == 10:
                self.fu_form = {**self.fu_form, "day": day}
            return None
        if not await self._prepare(firm_id, context):
            return rx.toast.error(self._pending_error or "Firm not found.")
        self._start_follow_up(
            title="",
            due=utcnow() + timedelta(days=1),
            trader_ids=[t for t in [as_id(trader_id)] if t],
            interaction_id=None,
        )
        if isinstance(day, str) and len(day) == 10:
            self.fu_form = {**self.fu_form, "day": day}
        return None

    @rx.event
    async def search_fu_firm(self, value: str):
        if not isinstance(value, str) or not value.strip():
            self.fu_firm_results = []
            return None
        try:
            page = await self._call(
                firms.list_firms, query=FirmQuery(q=value[:100]), page=PageRequest(limit=8)
            )
        except DomainError as exc:
            return self._error_event(exc)
        self.fu_firm_results = [{"firm_id": f.firm_id, "name": f.name} for f in page.items]
        return None

    @rx.event
    async def pick_fu_firm(self, firm_id: int):
        firm_id = as_id(firm_id)
        if firm_id is None or not any(r["firm_id"] == firm_id for r in self.fu_firm_results):
            return None
        keep = dict(self.fu_form)
        context = self.context
        if not await self._prepare(firm_id, context):
            return rx.toast.error(self._pending_error)
        self.fu_form = {
            **keep,
            "assignee": self._default_assignee(),
        }
        self.fu_pick_firm = False
        self.fu_key += 1
        return None

    @rx.event
    async def open_edit_follow_up(self, follow_up_id: int, context: str = "follow_up"):
        follow_up_id = as_id(follow_up_id)
        if follow_up_id is None:
            return None
        try:
            fu = await self._call(follow_ups.get_follow_up, follow_up_id=follow_up_id)
        except DomainError as exc:
            return self._error_event(exc)
        if not await self._prepare(fu.firm_id, context):
            return rx.toast.error(self._pending_error)
        day, clock = _local_input(fu.due_at, self.tz)
        offsets = {str(int((fu.due_at - r).total_seconds() // 60)) for r in fu.reminders}
        if str(fu.assignee_id) not in {a["id"] for a in self.assignees}:
            self.assignees = [
                *self.assignees,
                {"id": str(fu.assignee_id), "name": fu.assignee_name},
            ]
        self.fu_form = {
            "title": fu.title,
            "day": day,
            "time": clock,
            "notes": fu.notes or "",
            "assignee": str(fu.assignee_id),
            "traders": [str(t) for t in fu.trader_ids],
            "reminders": [p for p, _ in REMINDER_PRESETS if p in offsets],
            "interaction_id": fu.interaction_id or 0,
        }
        self.edit_follow_up_id = fu.follow_up_id
        self.fu_errors = {}
        self.fu_pick_firm = False
        self.fu_key += 1
        self.fu_open = True
        return None

    @rx.event
    def set_fu_open(self, value: bool):
        self.fu_open = bool(value)

    @rx.event
    async def save_follow_up(self, form: dict):
        if not isinstance(form, dict) or not self.firm_id:
            return None
        trader_ids = [
            int(k.removeprefix("trader_"))
            for k, v in form.items()
            if isinstance(k, str)
            and k.startswith("trader_")
            and k.removeprefix("trader_").isdigit()
            and v in ("on", True)
        ]
        presets = [int(p) for p, _ in REMINDER_PRESETS if form.get(f"remind_{p}") in ("on", True)]
        assignee = form.get("assignee")
        self.fu_form = {
            **self.fu_form,
            **{k: v for k, v in form.items() if k in ("title", "day", "time", "notes")},
            "traders": [str(t) for t in trader_ids],
            "reminders": [str(p) for p in presets],
            "assignee": assignee if isinstance(assignee, str) else "",
        }
        try:
            due_local = _parse_local(form.get("day"), form.get("time"), "due_at")
            due_utc = interactions.to_utc(due_local, self.tz)
            reminders = [
                (due_local - timedelta(minutes=m)).isoformat()
                for m in presets
                if due_utc - timedelta(minutes=m) > utcnow()
            ]
            if form.get("remind_day") or form.get("remind_time"):
                extra = _parse_local(form.get("remind_day"), form.get("remind_time"), "reminders")
                reminders.append(extra.isoformat())
            payload = {
                "title": form.get("title", ""),
                "notes": form.get("notes") or None,
                "due_at": due_local.isoformat(),
                "time_zone": self.tz,
                "assignee_id": int(assignee)
                if isinstance(assignee, str) and assignee.isdigit()
                else assignee,
                "trader_ids": trader_ids,
                "reminders": reminders,
            }
            if self.edit_follow_up_id:
                saved = await self._call(
                    follow_ups.update_follow_up,
                    write=True,
                    follow_up_id=self.edit_follow_up_id,
                    data=parse(FollowUpPatch, payload),
                )
            else:
                interaction_id = self.fu_form.get("interaction_id") or None
                saved = await self._call(
                    follow_ups.create_follow_up,
                    write=True,
                    data=parse(
                        FollowUpWrite,
                        {**payload, "firm_id": self.firm_id, "interaction_id": interaction_id},
                    ),
                )
        except ValidationFailed as exc:
            self.fu_errors = flat_errors(exc.errors)
            for src, dst in (("due_at", "time"), ("assignee_id", "assignee")):
                if src in self.fu_errors:
                    self.fu_errors[dst] = self.fu_errors.pop(src)
            return scroll_to_first_error()
        except DomainError as exc:
            self.fu_errors = {"form": exc.message}
            return self._error_event(exc)
        self.fu_open = False
        verb = "saved" if self.edit_follow_up_id else "scheduled"
        return [
            rx.toast.success(f"Follow-up {verb} for {saved.assignee_name}."),
            self._refresh_event(),
        ]

    def _refresh_event(self) -> Any:
        """Refresh whatever page opened the dialog."""
        from brm_app.state.calendar import CalendarState
        from brm_app.state.dashboard import DashboardState
        from brm_app.state.firm_detail import FirmState
        from brm_app.state.items import FollowUpPageState, InteractionPageState
        from brm_app.state.trader_detail import TraderState

        return {
            "firm": FirmState.refresh_activity,
            "trader": TraderState.refresh_activity,
            "calendar": CalendarState.refresh,
            "dashboard": DashboardState.load,
            "interaction": InteractionPageState.load,
            "follow_up": FollowUpPageState.load,
        }.get(self.context, rx.noop())
