"""/communications/log: compliance and admins search the whole communication log, export a
result (CSV, or a package of JSON lines, attachments and a manifest of hashes), and read the
triage list of inbound email and SMS that matched nothing."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from brm_app.services import communication_log, conversations, webhooks
from brm_app.services.communication_log import LogQuery
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.services.pagination import PageRequest
from brm_app.state.auth import _api_path
from brm_app.state.base import ServiceMixin, as_id

PAGE = 50
# Typed in the form; the trader, broker and firm are chosen by name (`find`, `pick`).
TYPED = ("channel", "date_from", "date_to", "text")
PICKS = ("trader", "broker", "firm")
CHANNEL_LABELS = {"in_app": "In-app", "email": "Email", "sms": "SMS"}
# Whom an unmatched inbound item is assigned to (a trader found by name).
ASSIGNEE = "assignee"


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
    # Chosen by name: kind ("trader", "broker", "firm", "assignee") -> {"id", "label"}.
    picked: dict[str, dict[str, Any]] = {}
    # The names matching what was typed in one finder (`finding` says which).
    finding: str = ""
    found: list[dict[str, Any]] = []
    # The triage item being assigned, and the chosen trader's conversations to put it in.
    assigning: int = 0
    assignee_conversations: list[dict[str, Any]] = []

    @rx.var
    def csv_url(self) -> str:
        return _api_path("/api/session/communication-log/export.csv") + self.query_string

    @rx.var
    def zip_url(self) -> str:
        return _api_path("/api/session/communication-log/export.zip") + self.query_string

    @rx.event
    async def load(self) -> Any:
        self.filters, self.picked, self.finding, self.found = {}, {}, "", []
        self._stop_assigning()
        return await self._search()

    @rx.event
    async def search(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        self.filters = {
            k: str(form.get(k) or "").strip()[:200] for k in TYPED if isinstance(form.get(k), str)
        }
        self._picked_filters()
        return await self._search()

    def _picked_filters(self) -> None:
        for kind in PICKS:
            self.filters.pop(f"{kind}_id", None)
            if kind in self.picked:
                self.filters[f"{kind}_id"] = str(self.picked[kind]["id"])

    # ---- choosing a trader, broker or firm by name -----------------------------------------

    @rx.event
    async def find(self, kind: str, q: str) -> Any:
        if kind not in (*PICKS, ASSIGNEE) or not isinstance(q, str):
            return None
        scope = "trader" if kind == ASSIGNEE else kind
        try:
            found = await self._call(communication_log.find_subjects, scope=scope, q=q[:100])
        except ValidationFailed:
            found = []
        except DomainError as exc:
            return self._error_event(exc)
        self.finding, self.found = kind, found
        return None

    @rx.event
    async def pick(self, kind: str, subject_id: int, label: str) -> Any:
        checked = as_id(subject_id)
        if kind not in (*PICKS, ASSIGNEE) or not checked or not isinstance(label, str):
            return None
        self.picked = {**self.picked, kind: {"id": checked, "label": label[:300]}}
        self.finding, self.found = "", []
        if kind == ASSIGNEE:
            return await self._load_assignee_conversations(checked)
        self._picked_filters()
        return await self._search()

    @rx.event
    async def unpick(self, kind: str) -> Any:
        if kind not in (*PICKS, ASSIGNEE):
            return None
        self.picked = {k: v for k, v in self.picked.items() if k != kind}
        if kind == ASSIGNEE:
            self.assignee_conversations = []
            return None
        self._picked_filters()
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
                "channel": CHANNEL_LABELS.get(e.message_type.value, e.message_type.value),
                "direction": "received" if e.direction.value == "inbound" else "sent",
                "kind": "delivery status" if e.kind == "delivery" else e.kind,
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
                "channel": CHANNEL_LABELS.get(t.channel.value, t.channel.value),
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

    def _stop_assigning(self) -> None:
        self.assigning, self.assignee_conversations = 0, []
        self.picked = {k: v for k, v in self.picked.items() if k != ASSIGNEE}

    @rx.event
    def start_assigning(self, triage_id: int) -> None:
        checked = as_id(triage_id)
        if checked and any(t["id"] == checked for t in self.triage):
            self._stop_assigning()
            self.assigning, self.finding, self.found = checked, "", []

    @rx.event
    def cancel_assigning(self) -> None:
        self._stop_assigning()

    async def _load_assignee_conversations(self, trader_id: int) -> Any:
        try:
            page = await self._call(
                conversations.list_conversations, trader_id=trader_id, page=PageRequest(limit=20)
            )
        except DomainError as exc:
            return self._error_event(exc)
        self.assignee_conversations = [
            {"id": c.conversation_id, "label": f"{c.subject or 'No subject'} ({c.firm_name})"}
            for c in page.items
        ]
        return None

    @rx.event
    async def assign_triage(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        try:
            triage_id = _id(str(form.get("triage_id") or "").strip(), "triage_id")
            conversation_id = _id(str(form.get("conversation_id") or "").strip(), "conversation_id")
            if triage_id is None:
                raise ValidationFailed("choose an item", field="triage_id")
            chosen = self.picked.get(ASSIGNEE)
            if chosen is None or triage_id != self.assigning:
                raise ValidationFailed("find the trader who sent it by name", field="trader_id")
            trader_id = int(chosen["id"])
            await self._call(
                webhooks.assign_triage,
                write=True,
                triage_id=triage_id,
                trader_id=trader_id,
                conversation_id=conversation_id,
            )
        except DomainError as exc:
            return self._error_event(exc)
        self._stop_assigning()
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
