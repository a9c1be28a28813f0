"""A small CSV import in a dialog, previewed before anything changes (the trade blotter on a
firm's portfolio page, the instrument master on /admin/instruments).

The chosen file goes to POST /api/session/imports (cookie session, the same upload the import
page uses; its id stays in `_imp_upload`, never sent to the browser). The state then runs the
service with `dry_run=True`: every row is checked exactly as the import would check it, inside a
savepoint rolled back at the end, and the page shows each bad row and field. Only a file whose
preview passed can be imported, and the import checks it all again (whole or nothing).

A state using the mixin implements `_imp_service(db, actor, data, dry_run)` (the service call)
and `_imp_done()` (refresh what the page shows after an import).
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import reflex as rx
from sqlmodel import Session

from brm_app.auth.actor import Actor
from brm_app.services.bulk import staging
from brm_app.services.bulk.csv_format import MAX_BYTES
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.services.portfolio_import import ImportResult
from brm_app.state.auth import _api_path
from brm_app.state.base import ServiceMixin

_ROW = re.compile(r"row (\d+): (.+)")


def upload_script(input_id: str) -> str:
    """Reads the chosen file of `input_id` and posts it, raw, to the upload endpoint; resolves to
    its JSON answer ({"upload_id", ...} or {"error"})."""
    return f"""
(async () => {{
  const input = document.getElementById({json.dumps(input_id)});
  const file = input && input.files && input.files[0];
  if (!file) return {{error: "Choose a CSV file."}};
  if (file.size > {MAX_BYTES}) {{ input.value = ""; return {{error: "The file is too large."}}; }}
  try {{
    const r = await fetch({json.dumps(_api_path("/api/session/imports"))}, {{
      method: "POST", credentials: "include", body: file,
      headers: {{"Content-Type": "text/csv", "X-Filename": encodeURIComponent(file.name)}},
    }});
    const body = await r.json().catch(() => ({{}}));
    input.value = "";
    if (!r.ok) return {{error: body.detail || ("The upload failed (" + r.status + ").")}};
    return body;
  }} catch (e) {{
    input.value = "";
    return {{error: "The upload failed: " + e}};
  }}
}})()
"""


def problems_of(exc: ValidationFailed) -> tuple[str, list[dict[str, str]]]:
    """(file-level message, per-row problems) of an import's refusal."""
    rows, general = [], []
    for key, message in exc.errors.items():
        m = _ROW.fullmatch(key)
        if m:
            rows.append({"row": m.group(1), "field": m.group(2), "message": message})
        else:
            general.append(message if key in ("__all__", "file") else f"{key}: {message}")
    return "; ".join(general), rows


class CsvImportMixin(ServiceMixin, rx.State, mixin=True):
    imp_open: bool = False
    imp_busy: bool = False
    imp_file: str = ""
    imp_error: str = ""  # about the whole file
    imp_problems: list[dict[str, str]] = []  # per row: row, field, message
    imp_ready: int = 0  # rows a passed preview found (0: nothing to import yet)
    imp_summary: str = ""

    _imp_upload: str = ""

    def _imp_service(
        self, db: Session, actor: Actor, data: bytes, dry_run: bool
    ) -> ImportResult:  # pragma: no cover - each state has its own
        raise NotImplementedError

    async def _imp_done(self) -> None:  # pragma: no cover - each state has its own
        return None

    def _imp_allowed(self) -> bool:
        return True

    def _imp_reset(self) -> None:
        self.imp_busy = False
        self.imp_file, self.imp_error, self.imp_summary = "", "", ""
        self.imp_problems, self.imp_ready = [], 0

    @rx.event
    async def open_import(self) -> Any:
        if not self._imp_allowed():
            return None
        await self._imp_discard()
        self._imp_reset()
        self.imp_open = True
        return None

    @rx.event
    async def set_imp_open(self, value: bool) -> Any:
        self.imp_open = bool(value)
        if not self.imp_open and not self.imp_busy:
            await self._imp_discard()

    @rx.event
    def imp_upload_started(self) -> Any:
        if not self.imp_busy:
            self._imp_reset()
            self.imp_busy = True

    @rx.event
    async def imp_uploaded(self, result: dict[str, Any]) -> Any:
        """The upload script's answer: preview the file (dry run)."""
        if not isinstance(result, dict) or not self.imp_open:
            self.imp_busy = False
            return None
        if isinstance(result.get("error"), str):
            self.imp_busy, self.imp_error = False, result["error"][:300]
            return None
        upload_id = result.get("upload_id")
        if not isinstance(upload_id, str) or len(upload_id) > 100:
            self.imp_busy, self.imp_error = False, "The upload failed."
            return None
        await self._imp_discard()
        self._imp_upload = upload_id
        name = result.get("filename")
        self.imp_file = name[:200] if isinstance(name, str) else "upload.csv"
        return await self._imp_run(dry_run=True)

    @rx.event
    async def imp_commit(self) -> Any:
        if self.imp_busy or not self.imp_ready or not self._imp_upload:
            return None
        self.imp_busy = True
        return await self._imp_run(dry_run=False)

    async def _imp_run(self, *, dry_run: bool) -> Any:
        upload_id, service = self._imp_upload, self._imp_service

        def run(db: Session, *, actor: Actor) -> ImportResult:
            data, _ = staging.load_upload(db, actor=actor, upload_id=upload_id)
            return service(db, actor, data, dry_run)

        try:
            result = await self._call(run, write=True)
        except ValidationFailed as exc:
            self.imp_busy, self.imp_ready = False, 0
            self.imp_error, self.imp_problems = problems_of(exc)
            if not self.imp_error and not self.imp_problems:
                self.imp_error = exc.message
            return None
        except DomainError as exc:
            self.imp_busy, self.imp_ready = False, 0
            self.imp_error = exc.message
            return self._error_event(exc)
        self.imp_busy = False
        if dry_run:
            self.imp_error, self.imp_problems = "", []
            self.imp_ready = result.rows
            self.imp_summary = _summary(result, preview=True)
            return None
        await self._imp_discard()
        message = _summary(result, preview=False)
        self._imp_reset()
        self.imp_open = False
        await self._imp_done()
        return rx.toast.success(message)

    async def _imp_discard(self) -> None:
        upload_id, self._imp_upload = self._imp_upload, ""
        if upload_id:
            with contextlib.suppress(DomainError):
                await self._call(staging.discard_upload, upload_id=upload_id)


def _summary(r: ImportResult, *, preview: bool) -> str:
    if r.created or r.updated:
        what = f"{r.created} new, {r.updated} updated"
        return f"All {r.rows} rows pass: {what}." if preview else f"Imported: {what}."
    return (
        f"All {r.rows} rows pass: ready to book." if preview else f"{r.rows} transactions booked."
    )
