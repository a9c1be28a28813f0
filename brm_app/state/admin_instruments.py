"""/admin/instruments: the instrument master (admins add and edit), and the service accounts'
API keys for the OMS (created with the key shown once, revoked)."""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from brm_app.auth.actor import Actor
from brm_app.models.portfolio import ApiKeyPublic, InstrumentPublic
from brm_app.services import api_keys, instruments, portfolio_import
from brm_app.services import number_format as nf
from brm_app.services.errors import Conflict, DomainError, ValidationFailed
from brm_app.services.pagination import Page, PageRequest
from brm_app.services.portfolio_import import ImportResult
from brm_app.state.base import PagedListMixin, as_id, scroll_to_first_error
from brm_app.state.csv_import import CsvImportMixin

PAGE_SIZE = 50
FIELDS = ("symbol", "name", "asset_class", "currency", "isin", "exchange")


def _row(i: InstrumentPublic, loc: str) -> dict[str, Any]:
    return {
        "id": i.instrument_id,
        "symbol": i.symbol,
        "name": i.name,
        "asset_class": i.asset_class,
        "currency": i.currency,
        "isin": i.isin or "",
        "exchange": i.exchange or "",
        "active": i.active,
        "price": nf.quantity(i.last_price, loc),
    }


def _key_row(k: ApiKeyPublic) -> dict[str, Any]:
    return {
        "id": k.api_key_id,
        "name": k.name,
        "prefix": k.prefix,
        "scopes": ", ".join(k.scopes),
        "firms": "all firms" if k.firm_ids is None else f"{len(k.firm_ids)} firm(s)",
        "revoked": k.revoked_at is not None,
        "last_used": k.last_used_at.isoformat() if k.last_used_at else "",
    }


class InstrumentsState(CsvImportMixin, PagedListMixin, rx.State):
    def _page_size(self) -> int:
        return PAGE_SIZE

    # The instruments CSV import (CsvImportMixin): admins only (the service says so).
    def _imp_service(self, db: Session, actor: Actor, data: bytes, dry_run: bool) -> ImportResult:
        return portfolio_import.import_instruments(db, actor=actor, data=data, dry_run=dry_run)

    async def _imp_done(self) -> None:
        self.offset = 0
        await self._refresh()

    q: str = ""
    total: int = 0
    # Add / edit
    edit_open: bool = False
    edit_id: int = 0
    form_key: int = 0
    form: dict[str, str] = {}
    errors: dict[str, str] = {}
    edit_active: bool = True
    # API keys
    keys: list[dict[str, Any]] = []
    key_name: str = ""
    key_errors: dict[str, str] = {}
    reveal_open: bool = False
    reveal_key: str = ""

    @rx.event
    async def load(self) -> Any:
        self.offset = 0
        self.reveal_open, self.reveal_key = False, ""
        self.imp_open = False
        return await self._refresh()

    async def _refresh(self) -> Any:
        def fetch(
            db: Session, *, actor: Actor
        ) -> tuple[Page[InstrumentPublic], list[ApiKeyPublic]]:
            page = instruments.list_instruments(
                db,
                actor=actor,
                page=PageRequest(offset=self.offset, limit=PAGE_SIZE),
                q=self.q or None,
                include_inactive=True,
            )
            return page, api_keys.list_keys(db, actor=actor)

        try:
            page, keys = await self._call(fetch)
        except DomainError as exc:
            return self._error_event(exc)
        loc = await self._number_locale()
        self.rows = [_row(i, loc) for i in page.items]
        self.total = page.total or 0
        self.has_next = page.has_next
        self.keys = [_key_row(k) for k in keys]
        return None

    @rx.event
    async def search(self, value: Any) -> Any:
        if isinstance(value, str):
            self.q = value[:100]
            self.offset = 0
            return await self._refresh()
        return None

    @rx.event
    def open_new(self) -> Any:
        self.edit_id = 0
        self.form = {"asset_class": "equity", "currency": "USD"}
        self.edit_active = True
        self.errors = {}
        self.form_key += 1
        self.edit_open = True

    @rx.event
    def open_edit(self, instrument_id: Any) -> Any:
        chosen = as_id(instrument_id)
        row = next((r for r in self.rows if r["id"] == chosen), None)
        if row is None:
            return
        self.edit_id = row["id"]
        self.form = {k: str(row[k]) for k in FIELDS}
        self.edit_active = bool(row["active"])
        self.errors = {}
        self.form_key += 1
        self.edit_open = True

    @rx.event
    def set_edit_open(self, value: bool) -> Any:
        self.edit_open = bool(value)

    @rx.event
    def set_edit_active(self, value: bool) -> Any:
        self.edit_active = bool(value)

    @rx.event
    async def save(self, form: Any) -> Any:
        if not isinstance(form, dict):
            return None
        data: dict[str, Any] = {
            k: form[k].strip() for k in FIELDS if isinstance(form.get(k), str) and form[k].strip()
        }
        data["active"] = self.edit_active
        try:
            if self.edit_id:
                await self._call(
                    instruments.update_instrument, write=True, instrument_id=self.edit_id, data=data
                )
            else:
                await self._call(instruments.create_instrument, write=True, data=data)
        except ValidationFailed as exc:
            self.errors = {("form" if k == "__all__" else k): v for k, v in exc.errors.items()}
            return scroll_to_first_error()
        except Conflict as exc:
            self.errors = {exc.field or "form": exc.message}
            return None
        except DomainError as exc:
            self.errors = {"form": exc.message}
            return self._error_event(exc)
        self.edit_open = False
        await self._refresh()
        return rx.toast.success("Instrument saved.")

    # ---- API keys ----------------------------------------------------------------------------

    @rx.event
    async def create_key(self, form: Any) -> Any:
        name = form.get("key_name") if isinstance(form, dict) else None
        try:
            created = await self._call(
                api_keys.create_key,
                write=True,
                data={"name": name.strip()[:200] if isinstance(name, str) else ""},
            )
        except ValidationFailed as exc:
            self.key_errors = {"key_name": next(iter(exc.errors.values()))}
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.key_errors = {}
        self.reveal_key, self.reveal_open = created.key, True
        await self._refresh()
        return None

    @rx.event
    def hide_key(self) -> Any:
        self.reveal_open, self.reveal_key = False, ""

    @rx.event
    async def revoke_key(self, api_key_id: Any) -> Any:
        chosen = as_id(api_key_id)
        if chosen is None:
            return None
        try:
            await self._call(api_keys.revoke_key, write=True, api_key_id=chosen)
        except DomainError as exc:
            return self._error_event(exc)
        await self._refresh()
        return rx.toast.success("API key revoked.")


class FxImportState(CsvImportMixin, rx.State):
    """FX history from CSV on the instruments page (CsvImportMixin): admins only (the service
    says so). The performance series convert each day at its imported rate."""

    def _imp_service(self, db: Session, actor: Actor, data: bytes, dry_run: bool) -> ImportResult:
        return portfolio_import.import_fx_rates(db, actor=actor, data=data, dry_run=dry_run)
