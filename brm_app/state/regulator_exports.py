"""/compliance/exports: compliance picks a firm, trader or broker and a period, requests the
archive, watches it being built (the page refreshes every second while one is queued or running)
and downloads it."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.services import regulator_export
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.state.auth import _api_path
from brm_app.state.subject_picker import SubjectPickerMixin


def _row(e: regulator_export.ExportPublic) -> dict[str, Any]:
    return {
        "id": e.export_id,
        "subject": e.scope_label,
        "period": f"{e.date_from} to {e.date_to}",
        "status": e.status,
        "progress": e.progress,
        "records": e.records,
        "size_kb": round(e.size / 1024, 1),
        "sha256": (e.archive_sha256 or "")[:16],
        "error": e.error or "",
        "downloads": e.downloads,
        "url": _api_path(f"/api/session/regulator-exports/{e.export_id}/download"),
    }


class ExportsState(SubjectPickerMixin, rx.State):
    exports: list[dict[str, Any]] = []

    @rx.var
    def building(self) -> bool:
        """An export is queued or running: the page refreshes every second until none is."""
        return any(e["status"] in ("queued", "running") for e in self.exports)

    @rx.event
    async def load(self) -> Any:
        self.matches, self.errors = [], {}
        return await self._refresh()

    async def _refresh(self) -> Any:
        try:
            rows = await self._call(regulator_export.list_exports)
        except DomainError as exc:
            self.exports = []
            self.errors = {"form": exc.message}
            return None
        self.exports = [_row(e) for e in rows]
        return None

    @rx.event
    async def refresh(self) -> Any:
        return await self._refresh()

    def _finder(self) -> Any:
        return regulator_export.find_subjects

    @rx.event
    async def request(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        if not self.subject_id:
            self.errors = {"subject": "choose whom the export is about"}
            return None
        try:
            await self._call(
                regulator_export.request_export,
                write=True,
                scope=self.scope,
                scope_id=self.subject_id,
                date_from=form.get("date_from") or "",
                date_to=form.get("date_to") or "",
            )
        except ValidationFailed as exc:
            self.errors = self._field_errors(exc) or {"form": exc.message}
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.errors = {}
        await self._refresh()
        return rx.toast.success("Export requested; it is being built.")
