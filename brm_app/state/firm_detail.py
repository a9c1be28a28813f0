"""/firms/[firm_id]: one firm — profile, coverage, traders — and what can be done to it."""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from brm_app.auth.actor import Actor
from brm_app.models.fields import country_name, phone_display
from brm_app.models.firm import BrokerRef, FirmPublic, FirmWrite
from brm_app.models.trader import PERMISSION_LABELS, TraderPublic, TraderStatus, TraderWrite
from brm_app.services import capabilities, firms, read_traces, traders
from brm_app.services.errors import Conflict, DomainError, NotFound, ValidationFailed
from brm_app.services.firms import FirmQuery
from brm_app.services.pagination import PageRequest
from brm_app.services.traders import TraderQuery
from brm_app.services.validation import parse, require_id
from brm_app.state.base import as_id, scroll_to_first_error, total_label
from brm_app.state.firm_forms import (
    firm_form_values,
    firm_payload,
    flat_errors,
    keep_portal_choice,
    trader_form_values,
    trader_payload,
)
from brm_app.state.timeline import TimelineMixin

TRADER_PAGE = 25


def route_id(path: str, prefix: str) -> int | None:
    """The id in /prefix/<id>[/...] or None."""
    rest = path.removeprefix(prefix).strip("/").split("/")[0]
    return int(rest) if rest.isdigit() and len(rest) < 19 else None


def trader_row(t: TraderPublic) -> dict[str, Any]:
    return {
        "trader_id": t.trader_id,
        "href": f"/traders/{t.trader_id}",
        "name": t.name,
        # Masked: the whole address and number only through a traced reveal (read_traces).
        "email": read_traces.masked_email(t.email),
        "phone": read_traces.masked_phone(t.phone),
        "role": t.role,
        "status": t.status.value,
        "left": t.status == TraderStatus.LEFT,
        "portal": t.portal_user_id is not None
        and "portal_access" in [p.value for p in t.permissions],
        "perms": ", ".join(PERMISSION_LABELS[p] for p in t.permissions) or "none",
        "firm_id": t.firm_id,
        "firm_name": t.firm_name,
        "updated": t.updated_at.isoformat(),
    }


def firm_view(f: FirmPublic) -> dict[str, Any]:
    address_lines = [
        f.address.street or "",
        " ".join(p for p in (f.address.postal_code, f.address.city) if p),
        country_name(f.address.country),
    ]
    return {
        "firm_id": f.firm_id,
        "name": f.name,
        "lei": f.lei or "",
        "status": f.account_status.value,
        "tier": f.tier.value,
        "address": "\n".join(line for line in address_lines if line),
        "phone": phone_display(f.contact_details.phone),
        "phone_e164": f.contact_details.phone or "",
        "email": f.contact_details.email or "",
        "website": f.contact_details.website or "",
        "notes": f.notes or "",
        "primary": f.coverage.primary.name if f.coverage.primary else "",
        "primary_id": str(f.coverage.primary.user_id) if f.coverage.primary else "",
        "secondary": ", ".join(b.name for b in f.coverage.secondary),
        "secondary_ids": [str(b.user_id) for b in f.coverage.secondary],
        "trader_count": f.trader_count,
        "created": f.created_at.isoformat(),
        "updated": f.updated_at.isoformat(),
        "archived": f.archived_at is not None,
        "merged_into": f.merged_into_id or 0,
    }


class FirmState(TimelineMixin, rx.State):
    firm_id: int = 0
    found: bool = False
    not_found: bool = False
    firm: dict[str, Any] = {}
    # What the signed-in user may do with this firm, as the services answer it.
    can_edit: bool = False
    can_assign_coverage: bool = False
    can_merge: bool = False
    can_archive: bool = False
    can_restore: bool = False
    can_edit_traders: bool = False
    can_grant_portal: bool = False
    can_log: bool = False
    brokers: list[dict[str, str]] = []
    roles: list[str] = []

    traders: list[dict[str, Any]] = []
    traders_loaded: bool = False
    trader_q: str = ""
    trader_offset: int = 0
    trader_total: str = "0"
    trader_has_next: bool = False

    # Edit firm
    edit_open: bool = False
    form_key: int = 0
    form: dict[str, str] = {}
    errors: dict[str, str] = {}
    saving: bool = False

    # Coverage
    coverage_open: bool = False
    coverage_errors: dict[str, str] = {}

    # Archive / restore
    archive_open: bool = False

    # Merge another firm into this one
    merge_open: bool = False
    merge_q: str = ""
    merge_results: list[dict[str, Any]] = []
    merge_source_id: int = 0
    merge_source_name: str = ""

    # Trader dialog (new / edit)
    trader_open: bool = False
    trader_edit_id: int = 0
    trader_key: int = 0
    trader_form: dict[str, Any] = {}
    trader_errors: dict[str, str] = {}

    # Move trader
    move_open: bool = False
    move_trader_id: int = 0
    move_trader_name: str = ""
    move_q: str = ""
    move_results: list[dict[str, Any]] = []
    move_target_id: int = 0
    move_reason: str = ""

    # Remove trader
    remove_open: bool = False
    remove_trader_id: int = 0
    remove_trader_name: str = ""

    # A portal password, shown once
    reveal_open: bool = False
    reveal_text: str = ""

    @rx.var
    def trader_shown(self) -> int:
        return len(self.traders)

    @rx.var
    def trader_has_prev(self) -> bool:
        return self.trader_offset > 0

    @rx.event
    async def load(self):
        """The firm first (its heading and profile show at once), then its traders and
        timeline in a second update."""
        self.found = False
        self.not_found = False
        self.edit_open = self.coverage_open = self.archive_open = self.merge_open = False
        self.trader_open = self.move_open = self.remove_open = self.reveal_open = False
        self.reveal_text = ""
        self.firm = {}
        self.traders = []
        self.traders_loaded = False
        self.trader_q = ""
        self.trader_offset = 0
        # The coverage dialog's brokers are loaded when it opens (not held for every visit).
        self.brokers = []
        firm_id = route_id(self.router.url.path, "/firms")
        if firm_id is None:
            self.not_found = True
            return
        self.firm_id = firm_id

        def fetch(
            db: Session, *, actor: Actor
        ) -> tuple[FirmPublic, capabilities.FirmCapabilities, list[str]]:
            firm = firms.get_firm(db, actor=actor, firm_id=firm_id)
            caps = capabilities.for_firm(db, actor=actor, firm_id=firm_id)
            return firm, caps, traders.roles(db, actor=actor)

        try:
            firm, caps, roles = await self._call(fetch)
        except NotFound:
            self.not_found = True
            return
        except DomainError as exc:
            yield self._error_event(exc)
            return
        self.firm = firm_view(firm)
        self._show_capabilities(caps)
        self.found = True
        self.roles = roles
        self.timeline, self.tl_type, self.tl_outcome = [], "all", "all"
        self.tl_allowed = False
        yield  # the firm now; its traders and timeline follow
        traders_error = await self._refresh_traders()
        timeline_error = await self._load_timeline()
        yield traders_error or timeline_error
        # The command palette's "Log interaction with <firm>" lands here with ?do=log.
        if self.can_log and self.router.url.query_parameters.get("do") == "log":
            from brm_app.state.activity import ActivityState

            yield ActivityState.open_log(firm_id, 0, "firm")

    def _timeline_target(self) -> dict[str, int]:
        return {"firm_id": self.firm_id}

    def _show_capabilities(self, caps: capabilities.FirmCapabilities) -> None:
        self.can_edit, self.can_assign_coverage = caps.edit, caps.assign_coverage
        self.can_merge, self.can_archive, self.can_restore = caps.merge, caps.archive, caps.restore
        self.can_edit_traders, self.can_grant_portal = caps.edit_traders, caps.grant_portal
        self.can_log = caps.log_activity

    async def _refresh_firm(self) -> None:
        def fetch(db: Session, *, actor: Actor) -> tuple[FirmPublic, capabilities.FirmCapabilities]:
            firm = firms.get_firm(db, actor=actor, firm_id=self.firm_id)
            return firm, capabilities.for_firm(db, actor=actor, firm_id=self.firm_id)

        firm, caps = await self._call(fetch)
        self.firm = firm_view(firm)
        self._show_capabilities(caps)

    async def _refresh_traders(self):
        query = TraderQuery(firm_id=self.firm_id, q=self.trader_q or None)
        page = PageRequest(offset=self.trader_offset, limit=TRADER_PAGE)
        try:
            result = await self._call(traders.list_traders, query=query, page=page)
        except DomainError as exc:
            return self._error_event(exc)
        self.traders = [trader_row(t) for t in result.items]
        self.traders_loaded = True
        self.trader_total = total_label(result, await self._number_locale())
        self.trader_has_next = result.has_next
        return None

    @rx.event
    async def search_traders(self, value: str):
        if isinstance(value, str):
            self.trader_q = value[:100]
            self.trader_offset = 0
            return await self._refresh_traders()
        return None

    @rx.event
    async def traders_next(self):
        if self.trader_has_next:
            self.trader_offset += TRADER_PAGE
        return await self._refresh_traders()

    @rx.event
    async def traders_prev(self):
        self.trader_offset = max(0, self.trader_offset - TRADER_PAGE)
        return await self._refresh_traders()

    # ---- edit ---------------------------------------------------------------------------------

    @rx.event
    async def open_edit(self):
        try:
            firm = await self._call(firms.get_firm, firm_id=self.firm_id)
        except DomainError as exc:
            return self._error_event(exc)
        self.form = firm_form_values(firm)
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
        self.form = {k: v for k, v in form.items() if isinstance(k, str) and isinstance(v, str)}
        self.saving = True
        try:
            data = parse(FirmWrite, firm_payload(form, with_coverage=False))
            firm = await self._call(firms.replace_firm, write=True, firm_id=self.firm_id, data=data)
        except ValidationFailed as exc:
            self.saving, self.errors = False, flat_errors(exc.errors)
            return scroll_to_first_error()
        except Conflict as exc:
            self.saving, self.errors = False, {exc.field or "form": exc.message}
            return scroll_to_first_error()
        except DomainError as exc:
            self.saving, self.errors = False, {"form": exc.message}
            return self._error_event(exc)
        self.saving = False
        self.edit_open = False
        self.firm = firm_view(firm)
        return rx.toast.success("Firm saved.")

    # ---- coverage -----------------------------------------------------------------------------

    @rx.event
    async def open_coverage(self):
        firm_id = self.firm_id

        def fetch(db: Session, *, actor: Actor) -> list[BrokerRef]:
            caps = capabilities.for_firm(db, actor=actor, firm_id=firm_id)
            return firms.brokers(db, actor=actor) if caps.assign_coverage else []

        try:
            brokers = await self._call(fetch)
        except DomainError as exc:
            return self._error_event(exc)
        self.brokers = [{"id": str(b.user_id), "name": b.name} for b in brokers]
        self.coverage_errors = {}
        self.form_key += 1
        self.coverage_open = True
        return None

    @rx.event
    def set_coverage_open(self, value: bool):
        self.coverage_open = bool(value)

    @rx.event
    async def save_coverage(self, form: dict):
        if not isinstance(form, dict):
            return None
        payload = firm_payload(form, with_coverage=True)
        try:
            if payload["primary_broker_id"] is None:
                raise ValidationFailed("choose the primary broker", field="primary_broker_id")
            firm = await self._call(
                firms.set_coverage,
                write=True,
                firm_id=self.firm_id,
                primary_broker_id=payload["primary_broker_id"],
                secondary_broker_ids=payload["secondary_broker_ids"],
            )
        except ValidationFailed as exc:
            self.coverage_errors = flat_errors(exc.errors)
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.firm = firm_view(firm)
        self.coverage_open = False
        self.brokers = []
        return rx.toast.success("Coverage saved.")

    # ---- archive / restore --------------------------------------------------------------------

    @rx.event
    def set_archive_open(self, value: bool):
        self.archive_open = bool(value)

    @rx.event
    async def archive(self):
        self.archive_open = False
        try:
            await self._call(firms.archive_firm, write=True, firm_id=self.firm_id)
        except DomainError as exc:
            return self._error_event(exc)
        return [
            rx.toast.success(f"{self.firm.get('name', 'Firm')} archived."),
            rx.redirect("/firms"),
        ]

    @rx.event
    async def restore(self):
        try:
            firm = await self._call(firms.restore_firm, write=True, firm_id=self.firm_id)
        except DomainError as exc:
            return self._error_event(exc)
        self.firm = firm_view(firm)
        return rx.toast.success("Firm restored.")

    # ---- merge --------------------------------------------------------------------------------

    @rx.event
    def open_merge(self):
        self.merge_q, self.merge_results, self.merge_source_id, self.merge_source_name = (
            "",
            [],
            0,
            "",
        )
        self.merge_open = True

    @rx.event
    def set_merge_open(self, value: bool):
        self.merge_open = bool(value)

    async def _firm_search(self, q: str) -> list[dict[str, Any]]:
        if not q.strip():
            return []
        page = await self._call(firms.list_firms, query=FirmQuery(q=q), page=PageRequest(limit=8))
        return [
            {
                "firm_id": f.firm_id,
                "name": f.name,
                "place": ", ".join(p for p in (f.city, f.country) if p),
            }
            for f in page.items
            if f.firm_id != self.firm_id
        ]

    @rx.event
    async def search_merge(self, value: str):
        if not isinstance(value, str):
            return None
        self.merge_q = value[:100]
        try:
            self.merge_results = await self._firm_search(self.merge_q)
        except DomainError as exc:
            return self._error_event(exc)
        return None

    @rx.event
    def pick_merge(self, firm_id: int):
        firm_id = as_id(firm_id)
        match = next((r for r in self.merge_results if r["firm_id"] == firm_id), None)
        if match is not None:
            self.merge_source_id, self.merge_source_name = match["firm_id"], match["name"]

    @rx.event
    async def merge(self):
        if not self.merge_source_id:
            return rx.toast.error("Choose the duplicate firm first.")
        try:
            result = await self._call(
                firms.merge_firms,
                write=True,
                source_id=self.merge_source_id,
                target_id=self.firm_id,
            )
        except DomainError as exc:
            return self._error_event(exc)
        self.merge_open = False
        self.firm = firm_view(result.firm)
        await self._refresh_traders()
        return rx.toast.success(
            f"Merged {self.merge_source_name}: {result.traders_moved} trader(s) moved, "
            f"{result.traders_matched} matched existing traders."
        )

    # ---- traders ------------------------------------------------------------------------------

    @rx.event
    def open_new_trader(self):
        self.trader_edit_id = 0
        self.trader_form = trader_form_values(None)
        self.trader_errors = {}
        self.trader_key += 1
        self.trader_open = True

    @rx.event
    async def open_edit_trader(self, trader_id: int):
        try:
            trader = await self._call(
                read_traces.trader_for_edit,
                trader_id=require_id(trader_id, "trader_id"),
                firm_id=self.firm_id,
            )
        except DomainError as exc:
            return self._error_event(exc)
        self.trader_edit_id = trader.trader_id
        self.trader_form = trader_form_values(trader)
        self.trader_errors = {}
        self.trader_key += 1
        self.trader_open = True
        return None

    @rx.event
    def set_trader_open(self, value: bool):
        self.trader_open = bool(value)

    @rx.event
    async def save_trader(self, form: dict):
        if not isinstance(form, dict):
            return None
        current = self.trader_form.get("perms", []) if self.trader_edit_id else []
        payload = keep_portal_choice(
            trader_payload(form), can_grant=self.can_grant_portal, current=current
        )
        self.trader_form = {
            **payload,
            "perms": payload["permissions"],
            "phone": payload["phone"] or "",
            "mobile": payload["mobile"] or "",
        }
        try:
            data = parse(TraderWrite, payload)
            if self.trader_edit_id:
                saved = await self._call(
                    traders.replace_trader,
                    write=True,
                    trader_id=self.trader_edit_id,
                    firm_id=self.firm_id,
                    data=data,
                )
            else:
                saved = await self._call(
                    traders.create_trader, write=True, firm_id=self.firm_id, data=data
                )
        except ValidationFailed as exc:
            self.trader_errors = flat_errors(exc.errors)
            return scroll_to_first_error()
        except Conflict as exc:
            self.trader_errors = {exc.field or "form": exc.message}
            return scroll_to_first_error()
        except DomainError as exc:
            self.trader_errors = {"form": exc.message}
            return self._error_event(exc)
        self.trader_open = False
        if saved.portal_initial_password:
            self.reveal_text = saved.portal_initial_password
            self.reveal_open = True
        await self._refresh_traders()
        await self._refresh_firm()
        verb = "saved" if self.trader_edit_id else "added"
        return rx.toast.success(f"{saved.trader.name} {verb}.")

    @rx.event
    def close_reveal(self):
        self.reveal_open = False
        self.reveal_text = ""

    @rx.event
    def ask_remove(self, trader_id: int):
        trader_id = as_id(trader_id)
        row = next((r for r in self.traders if r["trader_id"] == trader_id), None)
        if row is not None:
            self.remove_trader_id, self.remove_trader_name = row["trader_id"], row["name"]
            self.remove_open = True

    @rx.event
    def set_remove_open(self, value: bool):
        self.remove_open = bool(value)

    @rx.event
    async def remove_trader(self):
        self.remove_open = False
        try:
            await self._call(
                traders.archive_trader,
                write=True,
                trader_id=self.remove_trader_id,
                firm_id=self.firm_id,
            )
        except DomainError as exc:
            return self._error_event(exc)
        await self._refresh_traders()
        await self._refresh_firm()
        return rx.toast.success(
            f"{self.remove_trader_name} removed from the firm (the record is kept)."
        )

    @rx.event
    def ask_move(self, trader_id: int):
        trader_id = as_id(trader_id)
        row = next((r for r in self.traders if r["trader_id"] == trader_id), None)
        if row is not None:
            self.move_trader_id, self.move_trader_name = row["trader_id"], row["name"]
            self.move_q, self.move_results, self.move_target_id, self.move_reason = "", [], 0, ""
            self.move_open = True

    @rx.event
    def set_move_open(self, value: bool):
        self.move_open = bool(value)

    @rx.event
    async def search_move(self, value: str):
        if not isinstance(value, str):
            return None
        self.move_q = value[:100]
        try:
            self.move_results = await self._firm_search(self.move_q)
        except DomainError as exc:
            return self._error_event(exc)
        return None

    @rx.event
    def pick_move(self, firm_id: int):
        firm_id = as_id(firm_id)
        if firm_id is not None and any(r["firm_id"] == firm_id for r in self.move_results):
            self.move_target_id = firm_id

    @rx.event
    def set_move_reason(self, value: str):
        if isinstance(value, str):
            self.move_reason = value[:200]

    @rx.event
    async def move(self):
        if not self.move_target_id:
            return rx.toast.error("Choose the firm the trader moved to.")
        try:
            saved = await self._call(
                traders.move_trader,
                write=True,
                trader_id=self.move_trader_id,
                to_firm_id=self.move_target_id,
                reason=self.move_reason or None,
            )
        except DomainError as exc:
            return self._error_event(exc)
        self.move_open = False
        await self._refresh_traders()
        await self._refresh_firm()
        return rx.toast.success(
            f"{saved.trader.name} moved to {saved.trader.firm_name}; their history is kept."
        )
