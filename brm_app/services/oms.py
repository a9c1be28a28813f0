"""Executions from an order-management system: fills become transactions.

Rules: a batch holds 1 to 1,000 execution reports (more: 413) and is booked whole or not at all;
each is idempotent by `exec_id`: a resend with the same content changes nothing, one with
different content refuses the batch (409); a fill (exec_type F) books a buy or sell; a trade
cancel (H) books the reversing entry of the fill it names (`exec_ref_id`); a trade correction (G)
reverses that fill and books the corrected one; other types are recorded only. The firm is the
`account` (LEI or id): one the service account's key (or the broker) may not touch, or that does
not exist, is 404; the trader (email or id) must be of that firm. The usual bad-input rules
apply (unknown or inactive instrument, price or quantity of zero or below, settlement before the
trade date, a sell of more than is held). Batches are serialised (on PostgreSQL by an advisory
lock, on SQLite by its single writer), so the same batch posted twice at once books once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, col, select

from brm_app import events
from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission
from brm_app.db import is_postgres, utcnow
from brm_app.encryption.columns import blind_index, new_row_key, seal_row
from brm_app.models.firm import Firm
from brm_app.models.portfolio import (
    ExecutionBatchResult,
    ExecutionReport,
    ExecutionResult,
    Instrument,
    OmsExecution,
    Portfolio,
    PortfolioTransaction,
    TransactionWrite,
    TxKind,
    TxSource,
)
from brm_app.models.trader import Trader
from brm_app.services import audit, portfolios
from brm_app.services.api_keys import ServiceActor
from brm_app.services.errors import Conflict, DomainError, NotFound, ValidationFailed
from brm_app.services.ledger import Ledger, Oversold, Tx, compute
from brm_app.services.validation import pydantic_errors

MAX_BATCH = 1000
_PG_LOCK_KEY = 7_270_011
FILL, CANCEL, CORRECT = "F", "H", "G"


class TooManyExecutions(DomainError):
    status = 413


def content_hash(report: ExecutionReport) -> str:
    body = json.dumps(report.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def _parse(raw: list[Any]) -> list[ExecutionReport]:
    if len(raw) > MAX_BATCH:
        raise TooManyExecutions(
            f"A batch holds at most {MAX_BATCH:,} executions; this one has {len(raw):,}."
        )
    if not raw:
        raise ValidationFailed("must hold at least one execution", field="executions")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValidationFailed("must be an object", field=f"executions.{i}")
        try:
            out.append(ExecutionReport.model_validate(item))
        except ValidationError as exc:
            raise ValidationFailed(
                {f"executions.{i}.{k}": v for k, v in pydantic_errors(exc).items()}
            ) from None
    return out


def _firm(db: Session, actor: Actor | SystemActor | ServiceActor, account: str) -> Firm:
    if account.isdigit() and len(account) < 10:
        firm = db.get(Firm, int(account))
    else:
        firm = db.exec(select(Firm).where(Firm.lei == account.upper())).first()
    if firm is None or firm.archived_at is not None:
        raise NotFound("Firm")
    if isinstance(actor, ServiceActor):
        if not actor.may_touch(portfolios.ident(firm.id)):
            raise NotFound("Firm")
    else:
        portfolios.load_firm(db, actor, firm.id, Permission.PORTFOLIOS_TRADE)
    return firm


class _Catalog:
    """What a batch looks up, loaded once: its instruments by symbol, traders as named."""

    def __init__(self, db: Session, symbols: set[str]) -> None:
        self.db = db
        self.by_symbol: dict[str, Instrument] = {}
        wanted = sorted(symbols)
        for start in range(0, len(wanted), 500):
            for i in db.exec(
                select(Instrument).where(col(Instrument.symbol).in_(wanted[start : start + 500]))
            ):
                self.by_symbol[i.symbol] = i
        self._traders: dict[tuple[int, str], int | None] = {}

    def instrument(
        self, *, instrument_id: int | None = None, symbol: str | None = None
    ) -> Instrument:
        row = self.by_symbol.get((symbol or "").upper())
        if row is None:
            raise ValidationFailed("is not a known instrument", field="symbol")
        if not row.active:
            raise ValidationFailed(f"{row.symbol} is inactive: it cannot be traded", field="symbol")
        return row

    def trader(self, firm: Firm, who: str | None, field: str) -> int | None:
        if not who:
            return None
        key = (portfolios.ident(firm.id), who.lower())
        if key not in self._traders:
            cond = (
                Trader.id == int(who)
                if who.isdigit()
                else Trader.email_bidx == blind_index("traders", "email", who)
            )
            self._traders[key] = self.db.exec(
                select(Trader.id).where(
                    cond, Trader.firm_id == firm.id, col(Trader.archived_at).is_(None)
                )
            ).first()
        trader_id = self._traders[key]
        if trader_id is None:
            raise ValidationFailed("is not a trader of this firm (email or id)", field=field)
        return trader_id


def post_executions(
    db: Session, *, actor: Actor | SystemActor | ServiceActor, executions: list[Any]
) -> ExecutionBatchResult:
    reports = _parse(executions)
    if is_postgres(db):
        db.connection().execute(
            sa.text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=_PG_LOCK_KEY)
        )

    # Idempotency first: what was seen before, and what repeats inside this batch.
    hashes = [content_hash(r) for r in reports]
    seen: dict[str, OmsExecution] = {}
    ids = list({r.exec_id for r in reports})
    for start in range(0, len(ids), 500):
        for row in db.exec(
            select(OmsExecution).where(col(OmsExecution.exec_id).in_(ids[start : start + 500]))
        ):
            seen[row.exec_id] = row
    in_batch: dict[str, str] = {}
    for i, (r, h) in enumerate(zip(reports, hashes, strict=True)):
        earlier = seen.get(r.exec_id)
        known = earlier.content_hash if earlier is not None else in_batch.get(r.exec_id)
        if known is not None and known != h:
            raise Conflict(
                f"exec_id {r.exec_id} was received before with different content",
                field=f"executions.{i}.exec_id",
            )
        in_batch.setdefault(r.exec_id, h)

    firms: dict[str, Firm] = {}
    # Loaded once for the batch: the instruments it names, the firms' traders it names.
    catalog = _Catalog(db, {r.symbol for r in reports})
    # (exec_id, hash, firm id, the booked row or a reversal's id, status), in order.
    pending: list[tuple[str, str, int, _Fill | int | None, str]] = []
    results: list[ExecutionResult] = []
    touched: dict[int, Portfolio] = {}
    booked = duplicates = 0
    done: set[str] = set()
    # New fills per portfolio, and the portfolios with a reversal in this batch.
    fresh: dict[int, list[_Fill]] = {}
    reversed_in: set[int] = set()
    # No flush per lookup: the batch's rows go to the database together, below.
    with db.no_autoflush:
        for i, (r, h) in enumerate(zip(reports, hashes, strict=True)):
            where = f"executions.{i}"
            if r.exec_id in seen or r.exec_id in done:
                earlier = seen.get(r.exec_id)
                pending.append(
                    (r.exec_id, h, 0, earlier.transaction_id if earlier else None, "duplicate")
                )
                duplicates += 1
                continue
            done.add(r.exec_id)
            firm = firms.get(r.account) or _firm(db, actor, r.account)
            firms[r.account] = firm
            firm_id = portfolios.ident(firm.id)
            outcome: _Fill | int | None = None
            status = "recorded"
            if r.exec_type in (FILL, CANCEL, CORRECT):
                portfolio = touched.get(firm_id)
                if portfolio is None:
                    existing = db.exec(
                        select(Portfolio).where(Portfolio.firm_id == firm_id)
                    ).first()
                    portfolio = touched[firm_id] = portfolios._portfolio_for_update(
                        db, firm, existing
                    )
                if r.exec_type in (CANCEL, CORRECT):
                    # (Rare) the fill it reverses may be in this batch.
                    _store_fills(db, [f for rows in fresh.values() for f in rows])
                    db.flush()
                    outcome = _reverse_ref(db, actor, portfolio, r, where)
                    status = "reversed"
                    reversed_in.add(firm_id)
                if r.exec_type in (FILL, CORRECT):
                    fill = _book_fill(db, actor, firm, portfolio, r, where, catalog)
                    fresh.setdefault(firm_id, []).append(fill)
                    outcome = fill
                    status = "booked" if r.exec_type == FILL else "corrected"
                booked += 1
            pending.append((r.exec_id, h, firm_id, outcome, status))
        by_id = {portfolios.ident(p.id): p for p in touched.values()}
        first_new = {
            portfolios.ident(touched[f].id): min(row.trade_date for row in rows)
            for f, rows in fresh.items()
            if f not in reversed_in
        }
        appendable = portfolios.appendable(db, sorted(first_new), first_new)
    _store_fills(db, [f for rows in fresh.values() for f in rows])
    for portfolio in touched.values():
        portfolio.updated_at = utcnow()
        db.add(portfolio)
    db.flush()
    key_id = actor.key_id if isinstance(actor, ServiceActor) else None
    records = []
    for exec_id, h, firm_id, outcome, status in pending:
        transaction_id = outcome.id if isinstance(outcome, _Fill) else outcome
        results.append(
            ExecutionResult(exec_id=exec_id, status=status, transaction_id=transaction_id)
        )
        if status != "duplicate":
            records.append(
                {
                    "exec_id": exec_id,
                    "content_hash": h,
                    "firm_id": firm_id,
                    "transaction_id": transaction_id,
                    "received_at": utcnow(),
                    "api_key_id": key_id,
                }
            )
    if records:
        db.connection().execute(sa.insert(OmsExecution), records)
    # Holdings checked once per portfolio, over the whole batch (a sell needs what it sells):
    # new fills after everything booked before are applied onto the kept ledger; otherwise
    # (backdated, or with a reversal) the portfolio's whole ledger is computed again.
    ledgers = {}
    onto = portfolios.kept_ledgers(db, sorted(appendable))
    redo = [pid for pid in by_id if pid not in appendable]
    everything = portfolios.txs_of_many(db, redo)
    for pid, portfolio in by_id.items():
        if pid in appendable:
            txs = [fill.tx() for fill in fresh[portfolio.firm_id]]
            base: Ledger | None = onto[pid]
        else:
            txs, base = everything[pid], None
        try:
            ledgers[pid] = compute(txs, allow_short=portfolio.allow_short, start=base)
        except Oversold as exc:
            symbol = db.get(Instrument, exc.instrument_id)
            raise ValidationFailed(
                f"the batch sells more {symbol.symbol if symbol else exc.instrument_id} than "
                f"firm {portfolio.firm_id} holds ({exc.held.normalize():f} on "
                f"{exc.day.isoformat()})",
                field="executions",
            ) from None
    portfolios.refresh_snapshots(db, ledgers)
    if booked:
        audit.record(
            db,
            actor=None if isinstance(actor, ServiceActor) else actor,
            actor_label=actor.label if isinstance(actor, ServiceActor) else None,
            ip=actor.ip,
            action="oms.executions",
            entity="portfolio",
            changes={
                "received": len(reports),
                "booked": booked,
                "firm_ids": sorted(touched),
                "exec_ids": [r.exec_id for r in results if r.status != "duplicate"][:1000],
            },
        )
        for firm_id in touched:
            events.publish(db, portfolios.TOPIC, (), firm_id)
    return ExecutionBatchResult(
        received=len(reports), booked=booked, duplicates=duplicates, results=results
    )


def _book_fill(
    db: Session,
    actor: Actor | SystemActor | ServiceActor,
    firm: Firm,
    portfolio: Portfolio,
    r: ExecutionReport,
    where: str,
    catalog: _Catalog,
) -> _Fill:
    side = TxKind.BUY if r.side in ("buy", "1") else TxKind.SELL
    data = {
        "kind": side,
        "symbol": r.symbol,
        "trade_date": r.transact_time.date(),
        "settlement_date": r.settl_date,
        "quantity": r.last_qty,
        "price": r.last_px,
        "currency": r.currency,
    }
    try:
        checked = portfolios.check_transaction(
            db, firm, TransactionWrite.model_validate(data), resolve=catalog.instrument
        )
    except ValidationFailed as exc:
        names = {"quantity": "last_qty", "price": "last_px", "settlement_date": "settl_date"}
        raise ValidationFailed(
            {f"{where}.{names.get(k, k)}": v for k, v in exc.errors.items()}
        ) from None
    trader_id = catalog.trader(firm, r.trader, f"{where}.trader")
    checked = portfolios.Checked(**{**checked.__dict__, "trader_id": trader_id})
    instrument = checked.instrument
    return _Fill(
        {
            "portfolio_id": portfolios.ident(portfolio.id),
            "kind": checked.kind.value,
            "instrument_id": instrument.id if instrument else None,
            "trade_date": checked.trade_date,
            "settlement_date": checked.settlement_date,
            "quantity": checked.quantity,
            "price": checked.price,
            "amount": None,
            "currency": checked.currency,
            "fees": checked.fees,
            "trader_id": trader_id,
            "source": TxSource.OMS.value,
            "order_id": r.order_id,
            "exec_id": r.exec_id,
            "row_key": new_row_key(),
            "note": None,
            "reverses_id": None,
            "created_at": utcnow(),
            "created_by_id": None if isinstance(actor, ServiceActor) else actor.user_id,
        }
    )


@dataclass
class _Fill:
    """A fill to store: its column values, and its id once stored."""

    values: dict[str, Any]
    id: int | None = None

    @property
    def trade_date(self) -> date:
        trade_date: date = self.values["trade_date"]
        return trade_date

    def tx(self) -> Tx:
        v = self.values
        return Tx(
            id=self.id or 0,
            kind=v["kind"],
            trade_date=v["trade_date"],
            currency=v["currency"],
            instrument_id=v["instrument_id"],
            quantity=v["quantity"],
            price=v["price"],
            fees=v["fees"],
        )


def _store_fills(db: Session, fills: list[_Fill]) -> None:
    """Insert fills in one statement (ids back in order), outside the session's object
    bookkeeping: a thousand fills as ORM objects cost more than the rest of the batch."""
    unsent = [f for f in fills if f.id is None]
    if not unsent:
        return
    t = PortfolioTransaction
    ids = (
        db.connection()
        .execute(
            sa.insert(t).returning(col(t.id), sort_by_parameter_order=True),
            [seal_row("portfolio_transactions", f.values) for f in unsent],
        )
        .scalars()
        .all()
    )
    for fill, new_id in zip(unsent, ids, strict=True):
        fill.id = new_id


def _reverse_ref(
    db: Session,
    actor: Actor | SystemActor | ServiceActor,
    portfolio: Portfolio,
    r: ExecutionReport,
    where: str,
) -> int:
    if not r.exec_ref_id:
        raise ValidationFailed(
            "is required to cancel or correct a fill (the exec_id of that fill)",
            field=f"{where}.exec_ref_id",
        )
    original = db.exec(
        select(PortfolioTransaction).where(
            PortfolioTransaction.exec_id == r.exec_ref_id,
            PortfolioTransaction.portfolio_id == portfolio.id,
            col(PortfolioTransaction.reverses_id).is_(None),
        )
    ).first()
    if original is None:
        raise ValidationFailed("names no fill of this firm", field=f"{where}.exec_ref_id")
    row = portfolios.reverse(
        db,
        actor=actor if not isinstance(actor, ServiceActor) else None,
        portfolio=portfolio,
        original=original,
        source=TxSource.OMS,
        exec_id=r.exec_id if r.exec_type == CANCEL else None,
        note=f"{'Cancel' if r.exec_type == CANCEL else 'Correction'} of fill {r.exec_ref_id}",
        check_holdings=False,
    )
    return portfolios.ident(row.id)
