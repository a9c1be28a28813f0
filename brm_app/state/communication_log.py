"""/communications/log: compliance and admins search the whole communication log, export a
result (CSV, or a package of JSON lines, attachments and a manifest of hashes), and read the
triage list of inbound email and SMS that matched nothing."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from brm_app.services import communication_log, webhooks
from brm_app.services.communication_log import LogQuery
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.services.pagination import PageRequest
from brm_app.state.auth import _api_path
from brm_app.state.base import ServiceMixin

PAGE = 50
FILTERS = ("broker_id", "trader_id", "firm_id", "channel", "date_from", "date_to", "text")


def _day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("must be a date like 2026-05-04", field=field) from None


def _id(value: str, field: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or len(value) > 10:
        raise ValidationFailed("must be a record id", field=field)
    return int(value)


class CommLogState(ServiceMixin, rx.State):
    filters: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    total: int = 0
    triage: list[dict[str, Any]] = []
    error: str = ""
    query_string: str = ""

    @rx.var
    def csv_url(self) -> str:
        return _api_path("/api/session/communication-log/export.csv") + self.query_string

    @rx.var
    def zip_url(self) -> str:
        return _api_path("/api/session/communication-log/export.zip") + self.query_string

    @rx.event
    async def load(self) -> Any:
        self.filters = {}
        return await self._search()

    @rx.event
    async def search(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        self.filters = {
            k: str(form.get(k) or "").strip()[:200] for k in FILTERS if isinstance(form.get(k), str)
        }
        return await self._search()

    async def _search(self) -> Any:
        f = self.filters
        try:
            query = LogQuery(
                broker_id=_id(f.get("broker_id", ""), "broker_id"),
                trader_id=_id(f.get("trader_id", ""), "trader_id"),
                firm_id=_id(f.get("firm_id", ""), "firm_id"),
                channel=f.get("channel") or None,
                date_from=_day(f.get("date_from", ""), "date_from"),
                date_to=_day(f.get("date_to", ""), "date_to"),
                text=f.get("text") or None,
            )

            def run(db: Any, *, actor: Any) -> tuple[Any, Any]:
                page = communication_log.search(
                    db, actor=actor, query=query, page=PageRequest(limit=PAGE)
                )
                return page, webhooks.list_triage(
                    db, actor=actor, page=PageRequest(limit=20), state="open"
                )

            page, triage = await self._call(run)
        except DomainError as exc:
            self.error = exc.message
            return None
        self.error = ""
        self.total = page.total or 0
        self.rows = [
            {
                "id": e.entry_id,
                "at": e.occurred_at.isoformat(),
                "kind": e.kind,
                "channel": e.message_type.value,
                "direction": e.direction.value,
                "sender": e.sender,
                "to": ", ".join(e.recipients),
                "content": e.content[:300],
                "status": e.status or "",
                "hash": e.content_hash[:12],
            }
            for e in page.items
        ]
        self.triage = [
            {
                "id": t.triage_id,
                "at": t.received_at.isoformat(),
                "channel": t.channel.value,
                "from": t.from_address,
                "subject": t.subject,
                "text": t.text[:200],
                "files": ", ".join(str(f.get("filename", "")) for f in t.attachments),
            }
            for t in triage.items
        ]
        params = {k: v for k, v in f.items() if v}
        self.query_string = ("?" + urlencode(params)) if params else ""
        return None

    # ---- the triage list: assign an item to a trader (and conversation), or dismiss it ----

    @rx.event
    async def assign_triage(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        try:
            triage_id = _id(str(form.get("triage_id") or "").strip(), "triage_id")
            trader_id = _id(str(form.get("trader_id") or "").strip(), "trader_id")
            conversation_id = _id(str(form.get("conversation_id") or "").strip(), "conversation_id")
            if triage_id is None:
                raise ValidationFailed("choose an item", field="triage_id")
            if trader_id is None:
                raise ValidationFailed("enter the id of the trader who sent it", field="trader_id")
            await self._call(
                webhooks.assign_triage,
                write=True,
                triage_id=triage_id,
                trader_id=trader_id,
                conversation_id=conversation_id,
            )
        except DomainError as exc:
            return self._error_event(exc)
        await self._search()
        return rx.toast.success("Assigned: it is now the trader's message in the conversation.")

    @rx.event
    async def dismiss_triage(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        try:
            triage_id = _id(str(form.get("triage_id") or "").strip(), "triage_id")
            if triage_id is None:
                raise ValidationFailed("choose an item", field="triage_id")
            reason = form.get("reason")
            await self._call(
                webhooks.dismiss_triage,
                write=True,
                triage_id=triage_id,
                reason=reason.strip() if isinstance(reason, str) else reason,
            )
        except DomainError as exc:
            return self._error_event(exc)
        await self._search()
        return rx.toast.success("Dismissed.")
