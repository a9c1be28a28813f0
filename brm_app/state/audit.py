"""/audit: browse the audit trail (admins, compliance) and verify its hash chain."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import reflex as rx

from brm_app.auth.rbac import Permission, require
from brm_app.services import audit, dashboard
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.services.pagination import PageRequest
from brm_app.state.base import PagedListMixin

PAGE_SIZE = 50


def _date_or_none(value: Any, field: str) -> date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValidationFailed("must be a date", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("must be a date (YYYY-MM-DD)", field=field) from None


class AuditState(PagedListMixin, rx.State):
    def _page_size(self) -> int:
        return PAGE_SIZE

    entities: list[str] = []
    actor_q: str = ""
    entity: str = "all"
    date_from: str = ""
    date_to: str = ""
    total: int = 0
    expanded: int = 0
    filter_error: str = ""
    chain_status: str = ""
    chain_ok: bool = True
    verifying: bool = False
    # An event's encrypted values, shown in clear on request (traced): its seq and the values.
    revealed_seq: int = 0
    revealed_values: str = ""

    @rx.event
    async def load(self):
        self.offset = 0
        self.chain_status = ""
        params = self.router.url.query_parameters
        if params.get("entity"):
            self.entity = params["entity"][:60]
        return await self._refresh()

    async def _refresh(self):
        self.filter_error = ""
        try:
            date_from = _date_or_none(self.date_from, "date_from")
            date_to = _date_or_none(self.date_to, "date_to")
        except ValidationFailed as exc:
            self.filter_error = exc.message
            return None
        if date_from and date_to and date_to < date_from:
            self.filter_error = "The end date is before the start date."
            return None

        def fetch(db, *, actor):
            page = audit.list_events(
                db,
                actor=actor,
                page=PageRequest(offset=self.offset, limit=PAGE_SIZE),
                actor_q=self.actor_q or None,
                entity=None if self.entity == "all" else self.entity,
                date_from=date_from,
                date_to=date_to,
            )
            return page, audit.entity_names(db)

        try:
            page, entities = await self._call(fetch)
        except DomainError as exc:
            return self._error_event(exc)
        self.entities = entities
        self.total = page.total or 0
        self.has_next = page.has_next
        self.rows = [
            {
                "event_id": e.event_id,
                "seq": e.seq,
                "when": e.occurred_at.isoformat(),
                "who": e.actor_label,
                "action": e.action,
                "what": dashboard.describe_event(e),
                "entity": e.entity,
                "entity_id": e.entity_id or "",
                "ip": e.ip or "",
                "changes": dashboard.changes_text(e),
                # Encrypted values are in the event as {"digest": ...}; "Show values" opens them.
                "sealed": '"digest"' in dashboard.changes_text(e),
            }
            for e in page.items
        ]
        return None

    @rx.event
    async def set_actor_q(self, value: str):
        if isinstance(value, str):
            self.actor_q = value[:100]
            self.offset = 0
            return await self._refresh()
        return None

    @rx.event
    async def set_entity(self, value: str):
        if isinstance(value, str) and (value == "all" or value in self.entities):
            self.entity = value
            self.offset = 0
            return await self._refresh()
        return None

    @rx.event
    async def set_date_from(self, value: str):
        if isinstance(value, str):
            self.date_from = value[:10]
            self.offset = 0
            return await self._refresh()
        return None

    @rx.event
    async def set_date_to(self, value: str):
        if isinstance(value, str):
            self.date_to = value[:10]
            self.offset = 0
            return await self._refresh()
        return None

    @rx.event
    async def clear_filters(self):
        self.actor_q, self.entity, self.date_from, self.date_to = "", "all", "", ""
        self.offset = 0
        return await self._refresh()

    @rx.event
    def toggle(self, event_id: int):
        if isinstance(event_id, int) and not isinstance(event_id, bool):
            self.expanded = 0 if self.expanded == event_id else event_id
            self.revealed_seq, self.revealed_values = 0, ""

    @rx.event
    async def reveal_values(self, seq: int) -> Any:
        """An event's encrypted values in clear: the service checks the role and traces it."""

        def fetch(db: Any, *, actor: Any) -> dict[str, str]:
            return audit.reveal_values(db, actor=actor, seq=seq)

        try:
            values = await self._call(fetch)
        except DomainError as exc:
            return self._error_event(exc)
        self.revealed_seq = seq
        self.revealed_values = (
            json.dumps(values, indent=2, sort_keys=True, ensure_ascii=False) if values else ""
        )
        return None

    @rx.event
    async def verify(self):
        self.verifying = True
        yield

        def run(db, *, actor):
            require(actor, Permission.AUDIT_VIEW)
            return audit.verify_chain(db)

        try:
            report = await self._call(run)
        except DomainError as exc:
            self.verifying = False
            yield self._error_event(exc)
            return
        self.verifying = False
        self.chain_ok = report.ok
        self.chain_status = (
            f"Intact: {report.events} events, head hash {report.head_hash[:16]}…"
            if report.ok
            else f"BROKEN: {report.problem}"
        )
