"""/compliance/holds: compliance places legal holds (a firm, trader or broker found by name, or a
date range, with a reason), sees the holds and releases one with a reason; below, the read
traces (who read what sensitive data), filtered."""

from __future__ import annotations

from datetime import date
from typing import Any

import reflex as rx

from brm_app.models.retention import LegalHoldPublic, ReadTracePublic
from brm_app.services import legal_holds, read_traces
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.services.pagination import PageRequest
from brm_app.state.base import ServiceMixin
from brm_app.state.subject_picker import NAMED_SCOPES, SubjectPickerMixin

_SCOPES = (*NAMED_SCOPES, "dates")
_WHAT = ("", *read_traces.CODE)
PAGE = 25


def _hold_row(h: LegalHoldPublic) -> dict[str, Any]:
    return {
        "id": h.hold_id,
        "subject": h.subject,
        "reason": h.reason,
        "placed": f"{h.placed_at:%Y-%m-%d %H:%M} UTC by {h.placed_by or 'system'}",
        "active": h.active,
        "released": (
            f"released {h.released_at:%Y-%m-%d %H:%M} UTC by {h.released_by or 'system'}: "
            f"{h.release_reason}"
            if h.released_at
            else ""
        ),
    }


def _trace_row(t: ReadTracePublic) -> dict[str, Any]:
    return {
        "id": t.trace_id,
        "user": t.user or f"user #{t.user_id}",
        "what": t.what.replace("_", " "),
        "target": "" if t.target_id is None else f"#{t.target_id}",
        "when": f"{t.read_at:%Y-%m-%d %H:%M:%S} UTC",
    }


class HoldsState(SubjectPickerMixin, rx.State):
    holds: list[dict[str, Any]] = []
    show_released: bool = False
    release_errors: dict[str, str] = {}

    @rx.event
    async def load(self) -> Any:
        self.matches, self.errors, self.release_errors = [], {}, {}
        return await self._refresh()

    async def _refresh(self) -> Any:
        try:
            rows = await self._call(legal_holds.list_holds, active_only=not self.show_released)
        except DomainError as exc:
            self.holds = []
            self.errors = {"form": exc.message}
            return None
        self.holds = [_hold_row(h) for h in rows]
        return None

    @rx.event
    async def set_show_released(self, value: bool) -> Any:
        self.show_released = value is True
        return await self._refresh()

    def _scopes(self) -> tuple[str, ...]:
        return _SCOPES

    def _finder(self) -> Any:
        return legal_holds.find_subjects

    @rx.event
    async def place(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        dates = self.scope == "dates"
        if not dates and not self.subject_id:
            self.errors = {"subject": "choose whom the hold is on"}
            return None
        try:
            await self._call(
                legal_holds.place_hold,
                write=True,
                scope=self.scope,
                subject_id=None if dates else self.subject_id,
                date_from=(form.get("date_from") or "") if dates else None,
                date_to=(form.get("date_to") or "") if dates else None,
                reason=form.get("reason") or "",
            )
        except ValidationFailed as exc:
            self.errors = self._field_errors(exc) or {"form": exc.message}
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.errors, self.subject_id, self.subject_label = {}, 0, ""
        await self._refresh()
        return rx.toast.success("Legal hold placed.")

    @rx.event
    async def release(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        raw = form.get("hold_id")
        hold_id = int(raw) if isinstance(raw, str) and raw.isdigit() else None
        if hold_id is None:
            return None
        key = str(hold_id)
        try:
            await self._call(
                legal_holds.release_hold,
                write=True,
                hold_id=hold_id,
                reason=form.get("reason") or "",
            )
        except ValidationFailed as exc:
            self.release_errors = {key: exc.errors.get("reason", exc.message)}
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.release_errors = {}
        await self._refresh()
        return rx.toast.success("Legal hold released.")


class ReadTracesState(ServiceMixin, rx.State):
    traces: list[dict[str, Any]] = []
    what: str = ""
    date_from: str = ""
    date_to: str = ""
    offset: int = 0
    has_next: bool = False
    total: int = 0
    error: str = ""

    async def _refresh(self) -> Any:
        def day(text: str) -> date | None:
            return date.fromisoformat(text) if text else None

        try:
            page = await self._call(
                read_traces.list_traces,
                page=PageRequest(self.offset, PAGE),
                what=self.what or None,
                date_from=day(self.date_from),
                date_to=day(self.date_to),
            )
        except DomainError as exc:
            self.traces, self.error = [], exc.message
            return None
        self.traces = [_trace_row(t) for t in page.items]
        self.has_next, self.total, self.error = page.has_next, page.total or 0, ""
        return None

    @rx.event
    async def load(self) -> Any:
        self.offset = 0
        return await self._refresh()

    @rx.event
    async def filter(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        what = form.get("what") or ""
        days = [form.get("date_from") or "", form.get("date_to") or ""]
        for text in days:
            if not isinstance(text, str):
                return None
            if text:
                try:
                    date.fromisoformat(text)
                except ValueError:
                    self.error = "Dates are like 2026-05-04."
                    return None
        if what not in _WHAT:
            return None
        self.what, self.date_from, self.date_to, self.offset = what, days[0], days[1], 0
        return await self._refresh()

    @rx.event
    async def next_page(self) -> Any:
        if self.has_next:
            self.offset += PAGE
        return await self._refresh()

    @rx.event
    async def prev_page(self) -> Any:
        self.offset = max(0, self.offset - PAGE)
        return await self._refresh()
