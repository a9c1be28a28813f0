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
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, col, select

from brm_app import events
from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission
from brm_app.db import is_postgres
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
from brm_app.services.ledger import Oversold, compute
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


def _trader(db: Session, firm: Firm, who: str | None, field: str) -> int | None:
    if not who:
        return None
    cond = Trader.id == int(who) if who.isdigit() else Trader.email == who.lower()
    trader_id = db.exec(
        select(Trader.id).where(cond, Trader.firm_id == firm.id, col(Trader.archived_at).is_(None))
    ).first()
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
    results: list[ExecutionResult] = []
    touched: dict[int, Portfolio] = {}
    booked = duplicates = 0
    done: set[str] = set()
    for i, (r, h) in enumerate(zip(reports, hashes, strict=True)):
        where = f"executions.{i}"
        if r.exec_id in seen or r.exec_id in done:
            earlier = seen.get(r.exec_id)
            results.append(
                ExecutionResult(
                    exec_id=r.exec_id,
                    status="duplicate",
                    transaction_id=earlier.transaction_id if earlier else None,
                )
            )
            duplicates += 1
            continue
        done.add(r.exec_id)
        firm = firms.get(r.account) or _firm(db, actor, r.account)
        firms[r.account] = firm
        transaction_id, status = None, "recorded"
        if r.exec_type in (FILL, CANCEL, CORRECT):
            firm_id = portfolios.ident(firm.id)
            portfolio = touched.get(firm_id)
            if portfolio is None:
                existing = db.exec(select(Portfolio).where(Portfolio.firm_id == firm.id)).first()
                portfolio = touched[firm_id] = portfolios._portfolio_for_update(db, firm, existing)
            if r.exec_type in (CANCEL, CORRECT):
                transaction_id = _reverse_ref(db, actor, portfolio, r, where)
                status = "reversed"
            if r.exec_type in (FILL, CORRECT):
                fill = _book_fill(db, actor, firm, portfolio, r, where)
                transaction_id = fill.id
                status = "booked" if r.exec_type == FILL else "corrected"
            booked += 1
        db.add(
            OmsExecution(
                exec_id=r.exec_id,
                content_hash=h,
                firm_id=portfolios.ident(firm.id),
                transaction_id=transaction_id,
                api_key_id=actor.key_id if isinstance(actor, ServiceActor) else None,
            )
        )
        results.append(
            ExecutionResult(exec_id=r.exec_id, status=status, transaction_id=transaction_id)
        )
    db.flush()
    # Holdings checked once per portfolio, over the whole batch (a sell needs what it sells).
    for portfolio in touched.values():
        try:
            ledger = compute(
                portfolios._txs(db, portfolios.ident(portfolio.id)),
                allow_short=portfolio.allow_short,
            )
        except Oversold as exc:
            symbol = db.get(Instrument, exc.instrument_id)
            raise ValidationFailed(
                f"the batch sells more {symbol.symbol if symbol else exc.instrument_id} than "
                f"firm {portfolio.firm_id} holds ({exc.held.normalize():f} on "
                f"{exc.day.isoformat()})",
                field="executions",
            ) from None
        portfolios.refresh_snapshot(db, portfolio, ledger)
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
) -> PortfolioTransaction:
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
        checked = portfolios.check_transaction(db, firm, TransactionWrite.model_validate(data))
    except ValidationFailed as exc:
        names = {"quantity": "last_qty", "price": "last_px", "settlement_date": "settl_date"}
        raise ValidationFailed(
            {f"{where}.{names.get(k, k)}": v for k, v in exc.errors.items()}
        ) from None
    trader_id = _trader(db, firm, r.trader, f"{where}.trader")
    checked = portfolios.Checked(**{**checked.__dict__, "trader_id": trader_id})
    return portfolios.store(
        db,
        actor=actor if not isinstance(actor, ServiceActor) else None,
        portfolio=portfolio,
        checked=checked,
        source=TxSource.OMS,
        order_id=r.order_id,
        exec_id=r.exec_id,
        check_holdings=False,
    )


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
