"""/traders/[trader_id]: one trader — profile, permissions, portal access, firm history."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.models.trader import TraderWrite
from brm_app.services import capabilities, read_traces, traders
from brm_app.services.errors import Conflict, DomainError, NotFound, ValidationFailed
from brm_app.services.validation import parse
from brm_app.state.base import scroll_to_first_error
from brm_app.state.firm_detail import route_id, trader_row
from brm_app.state.firm_forms import (
    flat_errors,
    keep_portal_choice,
    trader_form_values,
    trader_payload,
)
from brm_app.state.timeline import TimelineMixin


class TraderState(TimelineMixin, rx.State):
    trader_id: int = 0
    found: bool = False
    not_found: bool = False
    trader: dict[str, Any] = {}
    moves: list[dict[str, str]] = []
    roles: list[str] = []
    # What the signed-in user may do with this trader, as the services answer it.
    can_edit: bool = False
    can_grant_portal: bool = False
    can_log: bool = False

    edit_open: bool = False
    form_key: int = 0
    form: dict[str, Any] = {}
    errors: dict[str, str] = {}
    saving: bool = False
    reveal_open: bool = False
    reveal_text: str = ""
    # The contact details, only once "Reveal" was pressed (the reveal is traced).
    contact: dict[str, str] = {}

    @rx.event
    async def load(self):
        self.found = self.not_found = False
        self.edit_open = self.reveal_open = False
        self.reveal_text = ""
        self.contact = {}
        trader_id = route_id(self.router.url.path, "/traders")
        if trader_id is None:
            self.not_found = True
            return None
        self.trader_id = trader_id

        def fetch(db, *, actor):
            trader = traders.get_trader(db, actor=actor, trader_id=trader_id)
            return (
                trader,
                traders.history(db, actor=actor, trader_id=trader_id),
                traders.roles(db, actor=actor),
                capabilities.for_trader(db, actor=actor, trader_id=trader_id),
            )

        try:
            trader, moves, roles, caps = await self._call(fetch)
        except NotFound:
            self.not_found = True
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self._show(trader)
        self.moves = [
            {
                "when": m.moved_at.isoformat(),
                "from": m.from_firm_name,
                "from_href": f"/firms/{m.from_firm_id}",
                "to": m.to_firm_name,
                "to_href": f"/firms/{m.to_firm_id}",
                "by": m.moved_by or "system",
                "reason": m.reason or "",
            }
            for m in moves
        ]
        self.roles = roles
        self.can_edit, self.can_grant_portal = caps.edit, caps.grant_portal
        self.can_log = caps.log_activity
        self.found = True
        self.timeline, self.tl_type, self.tl_outcome = [], "all", "all"
        return await self._load_timeline()

    def _timeline_target(self) -> dict[str, int]:
        return {"trader_id": self.trader_id}

    def _show(self, trader) -> None:
        # Contact details stay on the server until revealed (reveal_contact).
        self.trader = {
            **trader_row(trader),
            "email": "",
            "phone": "",
            "mobile": "",
            "firm_href": f"/firms/{trader.firm_id}",
            "created": trader.created_at.isoformat(),
            "updated": trader.updated_at.isoformat(),
            "perm_list": [p.value for p in trader.permissions],
        }

    @rx.event
    async def reveal_contact(self) -> Any:
        """Show the contact details; services.read_traces records who revealed them."""
        try:
            c = await self._call(read_traces.reveal_contact, trader_id=self.trader_id)
        except DomainError as exc:
            return self._error_event(exc)
        self.contact = {"email": c.email, "phone": c.phone or "", "mobile": c.mobile or ""}
        return None

    @rx.event
    async def open_edit(self):
        try:
            # The dialog shows the contact details: opening it is traced like "Reveal".
            trader = await self._call(read_traces.trader_for_edit, trader_id=self.trader_id)
        except DomainError as exc:
            return self._error_event(exc)
        self.form = trader_form_values(trader)
        self.errors = {}
        self.form_key += 1
        self.edit_open = True
        return None

    @rx.event
    def set_edit_open(self, value: bool):
        self.edit_open = bool(value)

    @rx.event
    async def save(self, form: dict):
        if not isinstance(form, dict):
            return None
        payload = keep_portal_choice(
            trader_payload(form),
            can_grant=self.can_grant_portal,
            current=self.trader.get("perm_list", []),
        )
        self.form = {
            **payload,
            "perms": payload["permissions"],
            "phone": payload["phone"] or "",
            "mobile": payload["mobile"] or "",
        }
        try:
            data = parse(TraderWrite, payload)
            saved = await self._call(
                traders.replace_trader,
                write=True,
                trader_id=self.trader_id,
                firm_id=self.trader.get("firm_id"),
                data=data,
            )
        except ValidationFailed as exc:
            self.errors = flat_errors(exc.errors)
            return scroll_to_first_error()
        except Conflict as exc:
            self.errors = {exc.field or "form": exc.message}
            return scroll_to_first_error()
        except DomainError as exc:
            self.errors = {"form": exc.message}
            return self._error_event(exc)
        self.edit_open = False
        self._show(saved.trader)
        if saved.portal_initial_password:
            self.reveal_text, self.reveal_open = saved.portal_initial_password, True
        return rx.toast.success("Trader saved.")

    @rx.event
    def close_reveal(self):
        self.reveal_open, self.reveal_text = False, ""
