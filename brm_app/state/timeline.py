"""The relationship timeline shown on firm and trader pages (a mixin: each page says whose)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import reflex as rx

from brm_app.services import interaction_config, relationship
from brm_app.services import number_format as nf
from brm_app.services.errors import DomainError, PermissionDenied
from brm_app.state.base import ServiceMixin

TIMELINE_PAGE = 25


def timeline_rows(
    entries: list[relationship.TimelineEntry], locale: str = nf.DEFAULT_LOCALE
) -> list[dict[str, Any]]:
    """The rows the timeline shows; a trade's numbers written in `locale`."""
    rows = []
    for e in entries:
        if e.interaction is not None:
            i = e.interaction
            rows.append(
                {
                    "kind": "interaction",
                    "id": i.interaction_id,
                    "href": f"/interactions/{i.interaction_id}",
                    "at": i.interaction_date.isoformat(),
                    "day": "",
                    "title": i.subject,
                    "type": i.interaction_type,
                    "outcome": i.outcome or "",
                    "who": i.broker_name,
                    "traders": ", ".join(i.trader_names),
                    "status": "",
                    "overdue": False,
                    "notes": (i.notes or "")[:240],
                    "version": i.version,
                }
            )
        elif e.transaction is not None:
            rows.append(_trade_row(e.transaction, e.at, locale))
        elif e.communication is not None:
            c = e.communication
            channel = {"in_app": "In-app message", "email": "Email", "sms": "SMS"}
            rows.append(
                {
                    "kind": "communication",
                    "id": c.communication_id,
                    "href": f"/communications?conversation={c.conversation_id}",
                    "at": c.sent_at.isoformat(),
                    "day": "",
                    "title": c.content.splitlines()[0][:80] if c.content else "(message)",
                    "type": channel.get(c.message_type.value, "Message"),
                    "outcome": "",
                    "who": c.sender_name,
                    "traders": "",
                    "status": "",
                    "overdue": False,
                    "notes": c.content[:240],
                    "version": 0,
                }
            )
        elif e.follow_up is not None:
            f = e.follow_up
            rows.append(
                {
                    "kind": "follow_up",
                    "id": f.follow_up_id,
                    "href": f"/follow-ups/{f.follow_up_id}",
                    "at": f.due_at.isoformat(),
                    "day": "",
                    "title": f.title,
                    "type": "Follow-up",
                    "outcome": "",
                    "who": f.assignee_name,
                    "traders": ", ".join(f.trader_names),
                    "status": f.status.value,
                    "overdue": f.overdue,
                    "notes": (f.notes or "")[:240],
                    "version": 0,
                }
            )
    return rows


_VERBS = {
    "buy": "Bought",
    "sell": "Sold",
    "dividend": "Dividend",
    "fee": "Fee",
    "deposit": "Deposit",
    "withdrawal": "Withdrawal",
    "transfer_in": "Transfer in",
    "transfer_out": "Transfer out",
    "split": "Split",
}


def _trade_row(t: Any, at: datetime, loc: str = nf.DEFAULT_LOCALE) -> dict[str, Any]:
    verb = _VERBS.get(t.kind, t.kind)
    if t.reverses_id:
        verb = f"Reversal: {verb.lower()}"
    if t.symbol and t.quantity is not None and t.price is not None:
        qty, price = nf.quantity(abs(t.quantity), loc), nf.quantity(t.price, loc)
        title = f"{verb} {qty} {t.symbol} @ {price} {t.currency}"
    elif t.symbol and t.quantity is not None:
        title = f"{verb} {t.symbol} ({nf.quantity(t.quantity, loc)})"
    else:
        amount = nf.number(abs(t.amount), loc) if t.amount is not None else ""
        title = f"{verb} {amount} {t.currency}" + (f" ({t.symbol})" if t.symbol else "")
    notes = " · ".join(p for p in (f"order {t.order_id}" if t.order_id else "", t.note or "") if p)
    return {
        "kind": "trade",
        "id": t.transaction_id,
        "href": f"/firms/{t.firm_id}/portfolio",
        "at": at.isoformat(),
        # Shown as this date (no time, no time zone): the trade date is a calendar day.
        "day": t.trade_date.isoformat(),
        "title": title,
        "type": "OMS fill" if t.source == "oms" else "Trade",
        "outcome": "",
        "who": t.source,
        "traders": t.trader_name or "",
        "status": "",
        "overdue": False,
        "notes": notes[:240],
        "version": 0,
    }


class TimelineMixin(ServiceMixin, rx.State, mixin=True):
    timeline: list[dict[str, Any]] = []
    tl_allowed: bool = False
    tl_type: str = "all"
    tl_outcome: str = "all"
    tl_more: bool = False
    tl_types: list[str] = []
    tl_outcomes: list[str] = []
    _tl_before: datetime | None = None

    def _timeline_target(self) -> dict[str, int]:
        raise NotImplementedError

    async def _load_timeline(self, *, more: bool = False) -> Any:
        target = self._timeline_target()
        # "Follow-up" is not an interaction type: no interaction matches "-", so only follow-ups show.
        types = (
            []
            if self.tl_type == "all"
            else (["-"] if self.tl_type == "Follow-up" else [self.tl_type])
        )
        outcomes = [] if self.tl_outcome == "all" else [self.tl_outcome]
        before = self._tl_before if more else None

        def fetch(db, *, actor):
            line = relationship.timeline(
                db,
                actor=actor,
                **target,
                types=types,
                outcomes=outcomes,
                include_follow_ups=self.tl_type in ("all", "Follow-up"),
                before=before,
                limit=TIMELINE_PAGE,
            )
            cfg = interaction_config.config(db, include_inactive=True)
            return line, cfg, interaction_config.outcomes(db)

        try:
            line, cfg, outcomes_all = await self._call(fetch)
        except PermissionDenied:
            self.tl_allowed = False  # traders' portal: no interaction history
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.tl_allowed = True
        rows = timeline_rows(line.entries, await self._number_locale())
        self.timeline = [*self.timeline, *rows] if more else rows
        self.tl_more = line.has_more
        self._tl_before = line.before
        self.tl_types = [t.name for t in cfg]
        self.tl_outcomes = outcomes_all
        return None

    @rx.event
    async def refresh_activity(self):
        return await self._load_timeline()

    @rx.event
    async def tl_load_more(self):
        return await self._load_timeline(more=True)

    @rx.event
    async def set_tl_type(self, value: str):
        if isinstance(value, str) and (value in ("all", "Follow-up") or value in self.tl_types):
            self.tl_type = value
            if value == "Follow-up":
                self.tl_outcome = "all"
            return await self._load_timeline()
        return None

    @rx.event
    async def set_tl_outcome(self, value: str):
        if isinstance(value, str) and (value == "all" or value in self.tl_outcomes):
            self.tl_outcome = value
            if value != "all" and self.tl_type == "Follow-up":
                self.tl_type = "all"
            return await self._load_timeline()
        return None
