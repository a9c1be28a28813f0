"""/import: upload a CSV of firms or traders, map its columns, import it in the background.

The file goes to POST /api/session/imports (cookie session, 20 MB at most) and is kept for its
owner under the data dir; this state holds only its random id (`_upload_id`, never sent to the
browser) and what the user may see of their own file (header, a few rows, the mapping, the
report). The import runs as a background event in a worker thread, re-checking the session at
every chunk, and reports its progress every half second, so the page stays responsive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import reflex as rx

from brm_app.auth.rbac import Permission, has, require
from brm_app.db import unit_of_work
from brm_app.services import bulk, firms
from brm_app.services.bulk import staging
from brm_app.services.bulk.csv_format import COLUMNS, KINDS, MAX_BYTES, csv_text
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.state.auth import _api_path
from brm_app.state.base import ServiceMixin
from brm_app.state.session_guard import SessionOwnerState, credentials_of

SKIP = "__skip__"  # the mapping select's value for "do not import this column"
NO_BROKER = "none"
PREVIEW_ROWS = 5
CELL_SHOWN = 60
MAX_SHOWN_ISSUES = 500
POLL_SECONDS = 0.5
FILE_INPUT_ID = "import-file"

# Reads the chosen file and posts it, raw, to the upload endpoint; resolves to its JSON answer.
UPLOAD_SCRIPT = f"""
(async () => {{
  const input = document.getElementById({json.dumps(FILE_INPUT_ID)});
  const file = input && input.files && input.files[0];
  if (!file) return {{error: "Choose a CSV file."}};
  if (file.size > {MAX_BYTES}) {{ input.value = ""; return {{error: "The file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it."}}; }}
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


def _short(cell: str) -> str:
    return cell if len(cell) <= CELL_SHOWN else cell[: CELL_SHOWN - 1] + "…"


class ImportState(ServiceMixin, rx.State):
    kind: str = "firms"
    can_assign: bool = False  # managers and admins choose a default primary broker
    brokers: list[dict[str, str]] = []
    default_broker: str = NO_BROKER
    dry_run: bool = False

    # The uploaded file, as its owner sees it
    uploading: bool = False
    file_name: str = ""
    row_count: int = 0
    header: list[str] = []
    preview: list[list[str]] = []
    samples: list[str] = []  # per column, a few values
    mapping: list[str] = []  # per column, a field of `kind` or SKIP
    error: str = ""

    # The run and its report
    running: bool = False
    done_rows: int = 0
    has_report: bool = False
    r_dry_run: bool = False
    r_total: int = 0
    r_imported: int = 0
    r_rejected: int = 0
    r_stopped: str = ""
    issues: list[dict[str, str]] = []
    issues_hidden: int = 0

    _upload_id: str = ""
    _report: Any = None

    @rx.var
    def field_options(self) -> list[str]:
        return list(COLUMNS.get(self.kind, ()))  # type: ignore[call-overload]

    @rx.var
    def columns(self) -> list[dict[str, Any]]:
        return [
            {
                "index": i,
                "header": h or f"(column {i + 1})",
                "field": self.mapping[i] if i < len(self.mapping) else SKIP,
                "samples": self.samples[i] if i < len(self.samples) else "",
            }
            for i, h in enumerate(self.header)
        ]

    @rx.var
    def has_file(self) -> bool:
        return bool(self.header)

    @rx.var
    def percent(self) -> int:
        return min(100, self.done_rows * 100 // self.row_count) if self.row_count else 0

    @rx.var
    def can_download_rejected(self) -> bool:
        return self.has_report and (self.r_rejected > 0 or self.r_stopped != "")

    # ---- page load --------------------------------------------------------------------------

    @rx.event
    async def load(self):
        kind = self.router.url.query_parameters.get("kind")
        if isinstance(kind, str) and kind in KINDS and not self.running and not self.header:
            self.kind = kind

        def fetch(db, *, actor):
            require(actor, Permission.DATA_IMPORT)
            can_assign = has(actor, Permission.COVERAGE_ASSIGN)
            return can_assign, firms.brokers(db, actor=actor) if can_assign else []

        try:
            self.can_assign, brokers = await self._call(fetch)
        except DomainError as exc:
            return self._error_event(exc)
        self.brokers = [{"id": str(b.user_id), "name": b.name} for b in brokers]
        if self.default_broker not in {b["id"] for b in self.brokers}:
            self.default_broker = NO_BROKER
        return None

    # ---- choosing what and which file ----------------------------------------------------------

    @rx.event
    def set_kind(self, value: str | list[str]):
        if self.running or not isinstance(value, str) or value not in KINDS:
            return
        self.kind = value
        self.mapping = bulk.suggest_mapping(self.header, value) if self.header else []
        self.mapping = [m or SKIP for m in self.mapping]
        self._clear_report()

    @rx.event
    def upload_started(self):
        if not self.running:
            self.uploading = True
            self.error = ""

    @rx.event
    async def uploaded(self, result: dict):
        """The upload script's answer: {"upload_id", "filename", "size"} or {"error"}."""
        self.uploading = False
        if self.running:
            return None
        if not isinstance(result, dict):
            self.error = "The upload failed."
            return None
        if isinstance(result.get("error"), str):
            self.error = result["error"][:300]
            return None
        upload_id = result.get("upload_id")
        if not isinstance(upload_id, str) or len(upload_id) > 100:
            self.error = "The upload failed."
            return None

        def read(db, *, actor):
            data, name = staging.load_upload(db, actor=actor, upload_id=upload_id)
            csv_file = bulk.parse(data)
            return name, csv_file.header, csv_file.row_count, csv_file.preview(PREVIEW_ROWS)

        try:
            name, header, row_count, preview = await self._call(read)
        except ValidationFailed as exc:
            await self._discard(upload_id)
            self.error = exc.errors.get("file", exc.message)
            return None
        except DomainError as exc:
            return self._error_event(exc)
        await self._discard(self._upload_id)
        self._upload_id = upload_id
        self.file_name = name
        self.header = list(header)
        self.row_count = row_count
        width = len(header)
        self.preview = [[_short(c) for c in (cells + [""] * width)[:width]] for _, cells in preview]
        self.samples = [
            ", ".join(dict.fromkeys(_short(r[i]) for r in self.preview if r[i].strip()))[:120]
            for i in range(width)
        ]
        self.mapping = [m or SKIP for m in bulk.suggest_mapping(header, self.kind)]
        self.error = ""
        self._clear_report()
        return None

    @rx.event
    def set_mapping(self, index: int, value: str):
        if self.running or isinstance(index, bool) or not isinstance(index, int):
            return
        if not isinstance(value, str) or not 0 <= index < len(self.mapping):
            return
        if value != SKIP and value not in COLUMNS.get(self.kind, ()):  # type: ignore[call-overload]
            return
        mapping = list(self.mapping)
        if value != SKIP:
            # One column per field: the column that held it before lets it go.
            mapping = [SKIP if m == value else m for m in mapping]
        mapping[index] = value
        self.mapping = mapping

    @rx.event
    def set_default_broker(self, value: str):
        if self.running or not isinstance(value, str):
            return
        if value == NO_BROKER or value in {b["id"] for b in self.brokers}:
            self.default_broker = value

    @rx.event
    def set_dry_run(self, value: bool):
        if not self.running and isinstance(value, bool):
            self.dry_run = value

    @rx.event
    async def start_over(self):
        if self.running:
            return
        await self._discard(self._upload_id)
        self._upload_id = ""
        self.file_name, self.row_count, self.error = "", 0, ""
        self.header, self.preview, self.samples, self.mapping = [], [], [], []
        self._clear_report()

    # ---- running -------------------------------------------------------------------------------

    @rx.event(background=True)
    async def start_import(self):
        async with self:
            if self.running or not self._upload_id:
                return None
            root = self._get_root_state()
            actor_for = credentials_of(root).actor
            upload_id, kind = self._upload_id, self.kind
            mapping = ["" if m == SKIP else m for m in self.mapping]
            broker = int(self.default_broker) if self.default_broker.isdigit() else None
            dry_run = self.dry_run
            started_by = await self._owner()
            self.running, self.done_rows, self.error = True, 0, ""
            self._clear_report()
        progress = [0]

        def run():
            with unit_of_work() as db:
                data, _ = staging.load_upload(db, actor=actor_for(db), upload_id=upload_id)
            return bulk.import_csv(
                bulk.parse(data),
                kind=kind,
                mapping=mapping,
                actor_for=actor_for,
                default_primary_broker_id=broker if kind == "firms" else None,
                dry_run=dry_run,
                progress=lambda done: progress.__setitem__(0, done),
            )

        task = asyncio.ensure_future(asyncio.to_thread(run))
        while not task.done():
            await asyncio.wait({task}, timeout=POLL_SECONDS)
            async with self:
                if await self._owner() == started_by:
                    self.done_rows = progress[0]
        async with self:
            if await self._owner() != started_by:
                # Someone else signed in on this tab meanwhile: their state was wiped, and this
                # import's report is not theirs to see. (The import itself stopped at its next
                # chunk when the starting session ended.)
                return None
            self.running = False
            try:
                report = task.result()
            except ValidationFailed as exc:
                self.error = "; ".join(
                    v if k in ("__all__", "file", "mapping") else f"{k}: {v}"
                    for k, v in exc.errors.items()
                )
                return None
            except DomainError as exc:
                return self._error_event(exc)
            self._show(report)
        verb = "checked" if report.dry_run else "imported"
        return rx.toast.info(f"{report.imported} of {report.total} rows {verb}.")

    async def _owner(self) -> int | None:
        """The user this tab's state belongs to (see session_guard.SessionOwnerState)."""
        return (await self.get_state(SessionOwnerState))._owner_user_id

    def _show(self, report: bulk.ImportReport) -> None:
        self._report = report
        self.done_rows = report.total - report.not_processed
        self.has_report = True
        self.r_dry_run = report.dry_run
        self.r_total, self.r_imported, self.r_rejected = (
            report.total,
            report.imported,
            report.rejected,
        )
        self.r_stopped = (
            f"The import stopped at row {report.stopped_at_row}: {report.stopped}. "
            f"{report.not_processed} rows from there on were not imported."
            if report.stopped
            else ""
        )
        headers = {
            fld: self.header[i] for i, fld in enumerate(self.mapping) if i < len(self.header)
        }
        self.issues = [
            {
                "row": str(issue.row),
                "field": issue.field,
                "column": headers.get(issue.field, ""),
                "message": issue.message,
            }
            for issue in report.issues[:MAX_SHOWN_ISSUES]
        ]
        self.issues_hidden = max(0, len(report.issues) - MAX_SHOWN_ISSUES)

    def _clear_report(self) -> None:
        self._report = None
        self.has_report = False
        self.r_total = self.r_imported = self.r_rejected = 0
        self.r_stopped = ""
        self.issues, self.issues_hidden = [], 0

    async def _discard(self, upload_id: str) -> None:
        if not upload_id:
            return
        with contextlib.suppress(DomainError):
            await self._call(staging.discard_upload, upload_id=upload_id)

    # ---- downloads -----------------------------------------------------------------------------

    @rx.event
    async def download_rejected(self):
        report, upload_id = self._report, self._upload_id
        if self.running or not isinstance(report, bulk.ImportReport) or not upload_id:
            return None

        def build(db, *, actor):
            data, name = staging.load_upload(db, actor=actor, upload_id=upload_id)
            return name, bulk.rejected_rows_csv(bulk.parse(data), report)

        try:
            name, text = await self._call(build)
        except DomainError as exc:
            return self._error_event(exc)
        stem = name.rsplit(".", 1)[0] or "import"
        return rx.download(data=text, filename=f"{stem}-not-imported.csv", mime_type="text/csv")

    @rx.event
    def download_template(self):
        if self.kind not in KINDS:
            return None
        return rx.download(
            data="\ufeff" + csv_text([COLUMNS[self.kind]]),  # type: ignore[index]
            filename=f"{self.kind}-template.csv",
            mime_type="text/csv",
        )
