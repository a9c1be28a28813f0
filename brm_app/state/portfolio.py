"""/firms/[firm_id]/portfolio: a firm's holdings valued live, its transactions, booking and
reversing (every rule in services.portfolios).

The page registers its tab as watching this firm's portfolio (brm_app.live); when prices of its
instruments arrive, or a transaction is booked, the worker holding the tab revalues it in place
(`_refresh_portfolio`), and positions whose price moved flash.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import reflex as rx
from sqlmodel import Session, col, select

from brm_app.auth.actor import Actor
from brm_app.auth.rbac import Permission, has
from brm_app.models.portfolio import Instrument, PortfolioPublic, TransactionPublic, TxKind
from brm_app.services import number_format as nf
from brm_app.services import portfolio_import, portfolios
from brm_app.services.errors import DomainError, NotFound, ValidationFailed
from brm_app.services.pagination import PageRequest
from brm_app.services.portfolio_import import ImportResult
from brm_app.state.base import as_id, scroll_to_first_error
from brm_app.state.csv_import import CsvImportMixin
from brm_app.state.firm_detail import route_id

TX_PAGE = 20
# What a person may book (opening balances are the retention purge's own).
KINDS = [k.value for k in TxKind if k != TxKind.OPENING]


# Money, quantities and percentages as the user's locale writes them (services.number_format).
def _num(value: Decimal | None, loc: str, places: int = 2) -> str:
    return nf.number(value, loc, places)


def _qty(value: Decimal, loc: str) -> str:
    return nf.quantity(value, loc)


def _pct(value: Decimal | None, loc: str) -> str:
    return nf.percent(value, loc)


def _sign(value: Decimal | None) -> str:
    if value is None or value == 0:
        return ""
    return "up" if value > 0 else "down"


def _summary(p: PortfolioPublic, loc: str) -> dict[str, str]:
    m = p.performance_metrics
    return {
        "currency": p.reporting_currency,
        "total": _num(p.total_value, loc),
        "market": _num(p.market_value, loc),
        "cash": _num(p.cash_value, loc),
        "today": _num(m.today_change, loc),
        "today_sign": _sign(m.today_change),
        "unrealized": _num(m.unrealized_pnl, loc),
        "unrealized_sign": _sign(m.unrealized_pnl),
        "realized": _num(m.realized_pnl, loc),
        "realized_sign": _sign(m.realized_pnl),
        "return": _pct(m.simple_return, loc),
        "updated": p.last_updated.isoformat() if p.last_updated else "",
        "missing_fx": ", ".join(p.missing_fx),
    }


def _tx_row(t: TransactionPublic, loc: str) -> dict[str, Any]:
    what = t.symbol or t.currency
    return {
        "id": t.transaction_id,
        "date": t.trade_date.isoformat(),
        "settles": t.settlement_date.isoformat(),
        "kind": t.kind.replace("_", " "),
        "what": what,
        "quantity": _qty(t.quantity, loc) if t.quantity is not None else "",
        "price": _qty(t.price, loc) if t.price is not None else "",
        "amount": _num(t.amount, loc) if t.amount is not None else "",
        "currency": t.currency,
        "trader": t.trader_name or "",
        "source": t.source,
        "order": t.order_id or "",
        "reversal": t.reverses_id is not None,
        "reversed": t.reversed_by_id is not None,
        "label": f"#{t.transaction_id} {t.kind} {what} {t.trade_date.isoformat()}",
    }


class PortfolioState(CsvImportMixin, rx.State):
    firm_id: int = 0
    firm_name: str = ""
    found: bool = False
    not_found: bool = False
    empty: bool = True
    can_trade: bool = False
    summary: dict[str, str] = {}
    assets: list[dict[str, Any]] = []
    cash: list[dict[str, str]] = []
    # Bumped on every live revaluation: the flash class alternates so the animation restarts.
    tick: int = 0

    txs: list[dict[str, Any]] = []
    tx_offset: int = 0
    tx_has_next: bool = False
    tx_total: int = 0

    # Book a transaction
    book_open: bool = False
    book_key: int = 0
    book_kind: str = "buy"
    book_errors: dict[str, str] = {}
    symbols: list[str] = []
    trader_options: list[dict[str, str]] = []

    # Reverse one
    reverse_open: bool = False
    reverse_id: int = 0
    reverse_label: str = ""

    # Settings: the firm's reporting currency, shorting
    allow_short: bool = False
    settings_open: bool = False
    settings_key: int = 0
    settings_errors: dict[str, str] = {}

    _prices: dict[int, str] = {}

    @rx.var
    def tx_has_prev(self) -> bool:
        return self.tx_offset > 0

    @rx.var
    def flash_phase(self) -> str:
        return "a" if self.tick % 2 == 0 else "b"

    @rx.event
    async def load(self) -> Any:
        from brm_app.live import watch_portfolio

        self.found = self.not_found = False
        self.book_open = self.reverse_open = self.settings_open = self.imp_open = False
        self.assets, self.cash, self.txs, self.summary = [], [], [], {}
        self._prices = {}
        self.tx_offset = 0
        firm_id = route_id(self.router.url.path, "/firms")
        if firm_id is None:
            self.not_found = True
            return None
        self.firm_id = firm_id
        try:
            user_id, held = await self._refresh_portfolio()
        except NotFound:
            self.not_found = True
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.found = True
        token = self.router.session.client_token
        watch_portfolio(token, firm_id, user_id, held)
        return await self._refresh_txs()

    async def _refresh_portfolio(self, *, live: bool = False) -> tuple[int, frozenset[int]]:
        """Revalue from the latest stored prices (a page load, a tick, a booking)."""
        firm_id = self.firm_id

        def fetch(db: Session, *, actor: Actor) -> tuple[PortfolioPublic, bool, int]:
            p = portfolios.get_portfolio(db, actor=actor, firm_id=firm_id)
            return p, has(actor, Permission.PORTFOLIOS_TRADE), actor.user_id

        p, can_trade, user_id = await self._call(fetch)
        self.firm_name, self.can_trade = p.firm_name, can_trade
        self.empty = p.portfolio_id is None
        self.allow_short = p.allow_short
        loc = await self._number_locale()
        self.summary = _summary(p, loc)
        previous = self._prices
        rows, prices = [], {}
        for a in p.assets:
            price = "" if a.last_price is None else str(a.last_price)
            prices[a.instrument_id] = price
            before = previous.get(a.instrument_id)
            flash = ""
            if live and before and price and before != price:
                flash = "up" if Decimal(price) > Decimal(before) else "down"
            rows.append(
                {
                    "id": a.instrument_id,
                    "symbol": a.symbol,
                    "name": a.name,
                    "currency": a.currency,
                    "quantity": _qty(a.quantity, loc),
                    "avg_cost": _num(a.average_cost, loc, 4),
                    "price": _num(a.last_price, loc, 4) if a.last_price is not None else "—",
                    "value": _num(a.market_value, loc),
                    "unrealized": _num(a.unrealized_pnl, loc),
                    "unrealized_sign": _sign(a.unrealized_pnl),
                    "realized": _num(a.realized_pnl, loc),
                    "day": _num(a.day_change, loc),
                    "day_sign": _sign(a.day_change),
                    "weight": _pct(a.weight, loc),
                    "flash": flash,
                }
            )
        self.assets = rows
        self._prices = prices
        self.cash = [{"currency": c.currency, "balance": _num(c.balance, loc)} for c in p.cash]
        if live:
            self.tick += 1
        return user_id, frozenset(prices)

    async def _refresh_txs(self) -> Any:
        page = PageRequest(offset=self.tx_offset, limit=TX_PAGE)
        try:
            result = await self._call(portfolios.list_transactions, firm_id=self.firm_id, page=page)
        except DomainError as exc:
            return self._error_event(exc)
        loc = await self._number_locale()
        self.txs = [_tx_row(t, loc) for t in result.items]
        self.tx_has_next = result.has_next
        self.tx_total = result.total or 0
        return None

    async def _live_update(self) -> None:
        """Called by brm_app.live when prices or transactions of this firm changed."""
        await self._refresh_portfolio(live=True)

    @rx.event
    async def refresh(self) -> Any:
        """Revalue now from the market data provider (POST .../portfolio/update)."""
        firm_id = self.firm_id
        try:
            await self._call(portfolios.revalue, write=True, firm_id=firm_id)
            await self._refresh_portfolio(live=True)
        except DomainError as exc:
            return self._error_event(exc)
        return None

    @rx.event
    async def tx_next(self) -> Any:
        if self.tx_has_next:
            self.tx_offset += TX_PAGE
        return await self._refresh_txs()

    @rx.event
    async def tx_prev(self) -> Any:
        self.tx_offset = max(0, self.tx_offset - TX_PAGE)
        return await self._refresh_txs()

    # ---- book ------------------------------------------------------------------------------

    @rx.event
    async def open_book(self) -> Any:
        if not self.can_trade:
            return None
        firm_id = self.firm_id

        def options(db: Session, *, actor: Actor) -> tuple[list[str], list[dict[str, str]]]:
            from brm_app.models.trader import Trader

            portfolios.load_firm(db, actor, firm_id, Permission.PORTFOLIOS_TRADE)
            symbols = list(
                db.exec(
                    select(Instrument.symbol)
                    .where(col(Instrument.active).is_(True))
                    .order_by(Instrument.symbol)
                    .limit(500)
                ).all()
            )
            people = db.exec(
                select(Trader.id, Trader.name)
                .where(Trader.firm_id == firm_id, col(Trader.archived_at).is_(None))
                .order_by(Trader.name_key)
                .limit(200)
            ).all()
            return symbols, [{"id": str(i), "name": n} for i, n in people]

        try:
            self.symbols, self.trader_options = await self._call(options)
        except DomainError as exc:
            return self._error_event(exc)
        self.book_errors = {}
        self.book_kind = "buy"
        self.book_key += 1
        self.book_open = True
        return None

    @rx.event
    def set_book_open(self, value: bool) -> Any:
        self.book_open = bool(value)

    @rx.event
    def set_book_kind(self, value: str) -> Any:
        if isinstance(value, str) and value in KINDS:
            self.book_kind = value

    @rx.event
    async def book(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        data: dict[str, Any] = {"kind": self.book_kind}
        for key in (
            "symbol",
            "trade_date",
            "settlement_date",
            "quantity",
            "price",
            "amount",
            "currency",
            "fees",
            "note",
        ):
            value = form.get(key)
            if isinstance(value, str) and value.strip():
                data[key] = value.strip()[:200]
        trader = form.get("trader_id")
        if isinstance(trader, str) and trader.isdigit() and len(trader) < 10:
            data["trader_id"] = int(trader)
        try:
            await self._call(
                portfolios.book_transaction, write=True, firm_id=self.firm_id, data=data
            )
        except ValidationFailed as exc:
            self.book_errors = {
                ("form" if k == "__all__" else k.split(".")[0]): v for k, v in exc.errors.items()
            }
            return scroll_to_first_error()
        except DomainError as exc:
            self.book_errors = {"form": exc.message}
            return self._error_event(exc)
        self.book_open = False
        self.tx_offset = 0
        await self._refresh_portfolio()
        await self._refresh_txs()
        return rx.toast.success("Transaction booked.")

    # ---- reverse ---------------------------------------------------------------------------

    @rx.event
    def ask_reverse(self, transaction_id: int) -> Any:
        tx_id = as_id(transaction_id)
        if tx_id is None:
            return None
        row = next((t for t in self.txs if t["id"] == tx_id), None)
        if row is None or not self.can_trade:
            return
        self.reverse_id, self.reverse_label = tx_id, row["label"]
        self.reverse_open = True

    @rx.event
    def set_reverse_open(self, value: bool) -> Any:
        self.reverse_open = bool(value)

    @rx.event
    async def reverse(self, form: dict[str, Any]) -> Any:
        reason = form.get("reason") if isinstance(form, dict) else None
        reason = reason.strip()[:500] if isinstance(reason, str) and reason.strip() else None
        try:
            await self._call(
                portfolios.reverse_transaction,
                write=True,
                firm_id=self.firm_id,
                transaction_id=self.reverse_id,
                reason=reason,
            )
        except DomainError as exc:
            self.reverse_open = False
            return self._error_event(exc)
        self.reverse_open = False
        await self._refresh_portfolio()
        await self._refresh_txs()
        return rx.toast.success("Reversing entry booked.")

    # ---- settings --------------------------------------------------------------------------

    @rx.event
    def open_settings(self) -> Any:
        if not self.can_trade:
            return
        self.settings_errors = {}
        self.settings_key += 1
        self.settings_open = True

    @rx.event
    def set_settings_open(self, value: bool) -> Any:
        self.settings_open = bool(value)

    @rx.event
    async def save_settings(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict) or not self.can_trade:
            return None
        currency = form.get("reporting_currency")
        currency = currency.strip()[:10] if isinstance(currency, str) else ""
        data: dict[str, Any] = {"reporting_currency": currency or None}
        if not self.empty:
            data["allow_short"] = form.get("allow_short") in ("on", True, "true")
        try:
            await self._call(
                portfolios.update_settings, write=True, firm_id=self.firm_id, data=data
            )
        except ValidationFailed as exc:
            self.settings_errors = {
                ("form" if k == "__all__" else k.split(".")[0]): v for k, v in exc.errors.items()
            }
            return scroll_to_first_error()
        except DomainError as exc:
            self.settings_errors = {"form": exc.message}
            return self._error_event(exc)
        self.settings_open = False
        await self._refresh_portfolio()
        return rx.toast.success("Portfolio settings saved.")

    # ---- trade blotter import (CsvImportMixin) ---------------------------------------------

    def _imp_allowed(self) -> bool:
        return self.can_trade and self.firm_id > 0

    def _imp_service(self, db: Session, actor: Actor, data: bytes, dry_run: bool) -> ImportResult:
        return portfolio_import.import_blotter(
            db, actor=actor, firm_id=self.firm_id, data=data, dry_run=dry_run
        )

    async def _imp_done(self) -> None:
        self.tx_offset = 0
        await self._refresh_portfolio()
        await self._refresh_txs()
