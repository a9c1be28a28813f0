"""/calendar: month, week, day and agenda views of follow-ups and logged interactions."""

from __future__ import annotations

import calendar as pycal
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import reflex as rx

from brm_app.models.follow_up import FollowUpPatch
from brm_app.services import calendar, follow_ups
from brm_app.services.errors import DomainError, PermissionDenied, ValidationFailed
from brm_app.state.base import ServiceMixin, as_id
from brm_app.state.move_fields import MoveFieldsMixin

VIEWS = {"month", "week", "day", "agenda"}
AGENDA_DAYS = 30
# Below this width (CSS px, the phone breakpoint of brm.css) the calendar opens on the agenda.
PHONE_WIDTH = 768


def _item(i: calendar.CalendarItem, tz: ZoneInfo) -> dict[str, Any]:
    local = i.starts_at.astimezone(tz)
    return {
        "kind": i.kind,
        "id": i.item_id,
        "href": f"/follow-ups/{i.item_id}"
        if i.kind == "follow_up"
        else f"/interactions/{i.item_id}",
        "title": i.title,
        "time": local.strftime("%H:%M"),
        "day": local.strftime("%Y-%m-%d"),
        "firm": i.firm_name,
        "person": i.person,
        "status": i.status,
        "detail": i.detail,
        "overdue": i.overdue,
        "done": i.kind == "follow_up" and i.status == "done",
    }


class CalendarState(MoveFieldsMixin, ServiceMixin, rx.State):
    view: str = "month"
    anchor: str = ""
    scope: str = "mine"
    can_choose: bool = False
    brokers: list[dict[str, str]] = []
    title: str = ""
    tz: str = "UTC"
    weeks: list[list[dict[str, Any]]] = []  # month: weeks of days
    days: list[dict[str, Any]] = []  # week, day and agenda: the days shown
    loading: bool = False
    picked: str = ""  # month view on a phone: the day whose items show under the grid

    move_open: bool = False
    move_id: int = 0
    move_title: str = ""
    move_error: str = ""

    def _anchor(self) -> date:
        try:
            return date.fromisoformat(self.anchor)
        except ValueError:
            return date.today()

    def _range(self) -> tuple[date, date]:
        a = self._anchor()
        if self.view == "month":
            first = a.replace(day=1)
            start = first - timedelta(days=first.weekday())
            last = a.replace(day=pycal.monthrange(a.year, a.month)[1])
            end = last + timedelta(days=6 - last.weekday())
            return start, end
        if self.view == "week":
            start = a - timedelta(days=a.weekday())
            return start, start + timedelta(days=6)
        if self.view == "day":
            return a, a
        return a, a + timedelta(days=AGENDA_DAYS - 1)

    @rx.event
    async def load(self) -> Any:
        """Every visit opens on today (not the last month viewed); a phone opens on the agenda
        unless `?view=` says otherwise (the width is asked of the browser)."""
        params = self.router.url.query_parameters
        view = params.get("view")
        self.anchor = date.today().isoformat()
        self.picked = self.anchor
        self.move_open = False
        if isinstance(view, str) and view in VIEWS:
            self.view = view
            return await self.refresh()
        refreshed = await self.refresh()
        width = rx.call_script("window.innerWidth", callback=CalendarState.opened_at_width)
        return [width] if refreshed is None else [refreshed, width]

    @rx.event
    async def opened_at_width(self, width: int | float | str) -> Any:
        """On a phone the calendar shows the agenda (the month is a grid of dots there)."""
        try:
            narrow = 0 < float(width) < PHONE_WIDTH
        except (TypeError, ValueError):
            narrow = False
        if narrow and self.view != "agenda":
            self.view = "agenda"
        return await self.refresh()

    @rx.event
    def pick(self, day: str) -> Any:
        """Month view on a phone: show that day's items under the grid."""
        if isinstance(day, str):
            try:
                self.picked = date.fromisoformat(day).isoformat()
            except ValueError:
                return

    @rx.var
    def picked_day(self) -> dict[str, Any]:
        for week in self.weeks:
            for cell in week:
                if cell["date"] == self.picked:
                    return cell
        return {"date": self.picked, "long": "", "items": []}

    @rx.event
    async def refresh(self) -> Any:
        start, end = self._range()
        scope = self.scope
        kwargs: dict[str, Any] = {}
        if scope == "team":
            kwargs["team"] = True
        elif scope.isdigit():
            kwargs["broker_id"] = int(scope)
        self.loading = True
        try:
            try:
                result = await self._call(calendar.items, start=start, end=end, **kwargs)
            except (PermissionDenied, ValidationFailed):
                if not kwargs:
                    raise
                self.scope = "mine"  # that calendar is not (or no longer) one of yours
                result = await self._call(calendar.items, start=start, end=end)
        except DomainError as exc:
            self.loading = False
            return self._error_event(exc)
        self.loading = False
        tz = ZoneInfo(result.time_zone)
        self.tz = result.time_zone
        self.brokers = [{"id": str(i), "name": n} for i, n in result.brokers]
        self.can_choose = await self._can_choose()
        by_day: dict[str, list[dict[str, Any]]] = {}
        for item in result.items:
            row = _item(item, tz)
            by_day.setdefault(row["day"], []).append(row)
        today = datetime.now(tz).date()
        a = self._anchor()

        def day_cell(d: date) -> dict[str, Any]:
            return {
                "date": d.isoformat(),
                "num": d.day,
                "label": d.strftime("%a %d %b"),
                "long": f"{d:%A} {d.day} {d:%B}",  # the visible day number in the name
                "in_month": d.month == a.month,
                "today": d == today,
                "past": d < today,
                "items": by_day.get(d.isoformat(), []),
                "count": len(by_day.get(d.isoformat(), [])),
            }

        span = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        if self.view == "month":
            self.weeks = [[day_cell(d) for d in span[i : i + 7]] for i in range(0, len(span), 7)]
            self.days = []
            self.title = a.strftime("%B %Y")
        else:
            self.weeks = []
            cells = [day_cell(d) for d in span]
            self.days = [c for c in cells if c["items"]] if self.view == "agenda" else cells
            self.title = {
                "week": f"Week of {start.strftime('%d %b')} – {end.strftime('%d %b %Y')}",
                "day": a.strftime("%A %d %B %Y"),
                "agenda": f"Next {AGENDA_DAYS} days from {start.strftime('%d %b')}",
            }[self.view]
        return None

    async def _can_choose(self) -> bool:
        from brm_app.state.auth import SessionState

        session = await self.get_state(SessionState)
        return "team.view" in session.perms

    @rx.event
    async def set_view(self, value: str | list[str]) -> Any:
        if isinstance(value, str) and value in VIEWS:
            self.view = value
            return await self.refresh()
        return None

    @rx.event
    async def set_scope(self, value: str) -> Any:
        if isinstance(value, str) and (
            value in ("mine", "team") or value in {b["id"] for b in self.brokers}
        ):
            self.scope = value
            return await self.refresh()
        return None

    @rx.event
    async def shift(self, direction: int) -> Any:
        if direction not in (-1, 1) or isinstance(direction, bool):
            return None
        a = self._anchor()
        if self.view == "month":
            month = a.month - 1 + direction
            year = a.year + month // 12
            month = month % 12 + 1
            a = a.replace(year=year, month=month, day=min(a.day, pycal.monthrange(year, month)[1]))
        else:
            a += timedelta(days={"week": 7, "day": 1, "agenda": AGENDA_DAYS}[self.view] * direction)
        self.anchor = a.isoformat()
        return await self.refresh()

    @rx.event
    async def today(self) -> Any:
        self.anchor = self.picked = date.today().isoformat()
        return await self.refresh()

    @rx.event
    async def open_day(self, day: str) -> Any:
        """A click on a day's number: that day's view."""
        try:
            self.anchor = (
                date.fromisoformat(day).isoformat() if isinstance(day, str) else self.anchor
            )
        except ValueError:
            return None
        self.view = "day"
        return await self.refresh()

    @rx.event
    def ask_move(self, follow_up_id: int) -> Any:
        follow_up_id = as_id(follow_up_id)
        for cell in [c for week in self.weeks for c in week] + self.days:
            for item in cell["items"]:
                if item["kind"] == "follow_up" and item["id"] == follow_up_id:
                    self.move_id, self.move_title = follow_up_id, item["title"]
                    self.move_day, self.move_time = item["day"], item["time"]
                    self.move_error = ""
                    self.move_open = True
                    return

    @rx.event
    def set_move_open(self, value: bool) -> Any:
        self.move_open = bool(value)

    @rx.event
    async def move(self) -> Any:
        local = self._move_to()
        if local is None:
            self.move_error = "Choose a date and a time."
            return None
        try:
            await self._call(
                follow_ups.update_follow_up,
                write=True,
                follow_up_id=self.move_id,
                data=FollowUpPatch(due_at=local, time_zone=self.tz),
            )
        except ValidationFailed as exc:
            self.move_error = exc.message.split(": ", 1)[-1]
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.move_open = False
        await self.refresh()
        return rx.toast.success(f"Moved to {local.strftime('%a %d %b %H:%M')}.")
