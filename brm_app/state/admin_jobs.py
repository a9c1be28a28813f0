"""/admin/jobs: background jobs by state (admins), and retrying a dead one."""

from __future__ import annotations

import json
from typing import Any

import reflex as rx
from sqlmodel import Session

from brm_app.auth.actor import Actor
from brm_app.models.job import JobPublic, JobState
from brm_app.services import jobs_admin
from brm_app.services.errors import DomainError
from brm_app.services.pagination import Page, PageRequest
from brm_app.state.base import PagedListMixin, as_id

PAGE_SIZE = 50
STATES = [s.value for s in jobs_admin.SHOWN_STATES]


class JobsState(PagedListMixin, rx.State):
    def _page_size(self) -> int:
        return PAGE_SIZE

    # "" = every state but done
    state_filter: str = ""
    counts: dict[str, int] = {}
    total: int = 0

    @rx.event
    async def load(self) -> Any:
        self.offset = 0
        return await self._refresh()

    async def _refresh(self) -> Any:
        def fetch(db: Session, *, actor: Actor) -> tuple[Page[JobPublic], dict[str, int]]:
            page = jobs_admin.list_jobs(
                db,
                actor=actor,
                state=self.state_filter or None,
                page=PageRequest(offset=self.offset, limit=PAGE_SIZE),
            )
            return page, jobs_admin.counts(db, actor=actor)

        try:
            page, counts = await self._call(fetch)
        except DomainError as exc:
            return self._error_event(exc)
        self.counts = counts
        self.total = page.total or 0
        self.has_next = page.has_next
        self.rows = [
            {
                "job_id": j.job_id,
                "kind": j.kind,
                "payload": json.dumps(j.payload, sort_keys=True),
                "state": j.state.value,
                "attempts": f"{j.attempts}/{j.max_attempts}",
                "run_at": j.run_at.isoformat(),
                "last_error": j.last_error or "",
            }
            for j in page.items
        ]
        return None

    @rx.event
    async def set_state_filter(self, value: Any) -> Any:
        if value == "all":
            value = ""
        if isinstance(value, str) and (value == "" or value in {s.value for s in JobState}):
            self.state_filter = value
            self.offset = 0
            return await self._refresh()
        return None

    @rx.event
    async def retry(self, job_id: Any) -> Any:
        chosen = as_id(job_id)
        if chosen is None:
            return None
        try:
            await self._call(jobs_admin.retry, write=True, job_id=chosen)
        except DomainError as exc:
            # Reflex refuses a None among returned events (the message would be lost).
            refreshed = await self._refresh()
            return [self._error_event(exc), *([refreshed] if refreshed is not None else [])]
        await self._refresh()
        return rx.toast.success(f"Job {chosen} queued again.")
