"""Portfolio activity reports (a firm, or one trader of it, over a period) as data, CSV and PDF,
emailed to a trader through the communications outbox; and a manager's team report.

Rules: an activity report is read with the firm's portfolio (`portfolios.view` on the firm, as
services.performance); a trader's report names a trader of that firm the actor may see. Emailing
one is sending a message to the trader (`communications.send`, the trader reachable by email),
so a portal trader cannot. The team report needs `team.view` (managers: their reports;
admins and compliance: every broker). CSV cells that are numbers are written as numbers; only
text cells are neutralised against spreadsheet formulas (services.bulk.csv_format).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.db import utcnow
from brm_app.models.firm import Firm, FirmCoverage
from brm_app.models.interaction import Interaction
from brm_app.models.performance import PerformancePublic, PortfolioValuation
from brm_app.models.portfolio import Instrument, Portfolio, PortfolioTransaction
from brm_app.models.trader import Trader
from brm_app.models.user import Role
from brm_app.services import performance, valuations
from brm_app.services.bulk.csv_format import escape_cell
from brm_app.services.errors import NotFound, PermissionDenied, ValidationFailed
from brm_app.services.ledger import Ledger, compute
from brm_app.services.validation import require_id
from brm_app.settings import get_settings

AnyActor = Actor | SystemActor
CENT = Decimal("0.01")
# Transactions listed in a report at most (the CSV and the PDF say when there were more).
MAX_TRANSACTIONS = 2000


class HoldingLine(BaseModel):
    symbol: str
    name: str
    quantity: Decimal
    price: Decimal | None
    value: Decimal  # reporting currency


class TransactionLine(BaseModel):
    trade_date: date
    settlement_date: date
    kind: str
    symbol: str | None
    quantity: Decimal | None
    price: Decimal | None
    amount: Decimal | None
    currency: str
    fees: Decimal
    trader: str | None


@dataclass
class ActivityReport:
    performance: PerformancePublic
    trader_id: int | None
    trader_name: str | None
    start_day: date | None
    end_day: date | None
    holdings_start: list[HoldingLine]
    holdings_end: list[HoldingLine]
    transactions: list[TransactionLine]
    transactions_total: int
    generated_at: datetime

    @property
    def title(self) -> str:
        who = f"{self.trader_name} ({self.performance.firm_name})" if self.trader_name else ""
        return f"Portfolio activity: {who or self.performance.firm_name}"

    def filename(self, ext: str) -> str:
        import re

        base = self.trader_name or self.performance.firm_name
        slug = re.sub(r"[^A-Za-z0-9]+", "-", base).strip("-").lower() or "report"
        return f"activity-{slug}-{self.performance.period.lower()}-{self.generated_at:%Y%m%d}.{ext}"


def _holdings_at(
    db: Session, portfolio: Portfolio, day: date, currency: str, infos: dict[int, Instrument]
) -> list[HoldingLine]:
    txs = [
        f.tx
        for f in valuations.flow_txs(db, portfolio.id)  # type: ignore[arg-type]
        if f.tx.trade_date <= day
    ]
    ledger: Ledger = compute(txs, allow_short=True)
    ids = {i for i, p in ledger.positions.items() if p.quantity}
    closes = valuations.closes_of(db, ids)
    convert = valuations.dated_converter(db, currency, {t.currency for t in txs}).on(day)
    out = []
    for pos in ledger.positions.values():
        if not pos.quantity:
            continue
        info = infos[pos.instrument_id]
        price = closes.on(pos.instrument_id, day)
        native = pos.quantity * price if price is not None else pos.cost
        out.append(
            HoldingLine(
                symbol=info.symbol,
                name=info.name,
                quantity=pos.quantity,
                price=price,
                value=(convert(native, pos.currency) or Decimal(0)).quantize(CENT),
            )
        )
    for ccy, balance in sorted(ledger.cash.items()):
        if balance:
            out.append(
                HoldingLine(
                    symbol=f"Cash {ccy}",
                    name="Cash",
                    quantity=balance.quantize(CENT),
                    price=None,
                    value=(convert(balance, ccy) or Decimal(0)).quantize(CENT),
                )
            )
    return sorted(out, key=lambda h: (h.name == "Cash", h.symbol))


def activity_report(
    db: Session,
    *,
    actor: AnyActor,
    firm_id: object,
    period: object = "1Y",
    date_from: object = None,
    date_to: object = None,
    benchmark: object = None,
    trader_id: object = None,
) -> ActivityReport:
    """A firm's (or one of its traders') portfolio activity over the period: the performance
    figures and series, holdings at the start and the end, the transactions (a trader's: the
    ones booked for them)."""
    perf = performance.get_performance(
        db,
        actor=actor,
        firm_id=firm_id,
        period=period,
        benchmark=benchmark,
        date_from=date_from,
        date_to=date_to,
        max_points=500,
    )
    trader = None
    if trader_id not in (None, ""):
        tid = require_id(trader_id, "trader_id")
        trader = db.get(Trader, tid)
        if trader is None or trader.firm_id != perf.firm_id:
            raise NotFound("Trader")
    start_day = perf.points[0].day if perf.points else None
    end_day = perf.end_day
    holdings_start: list[HoldingLine] = []
    holdings_end: list[HoldingLine] = []
    lines: list[TransactionLine] = []
    total = 0
    portfolio = db.get(Portfolio, perf.portfolio_id) if perf.portfolio_id else None
    if portfolio is not None and end_day is not None:
        t = PortfolioTransaction
        infos = {
            i.id: i
            for i in db.exec(
                select(Instrument).where(
                    col(Instrument.id).in_(
                        select(t.instrument_id).where(t.portfolio_id == portfolio.id)
                    )
                )
            )
        }
        rep = perf.reporting_currency
        if perf.base_day is not None:
            holdings_start = _holdings_at(db, portfolio, perf.base_day, rep, infos)  # type: ignore[arg-type]
        holdings_end = _holdings_at(db, portfolio, end_day, rep, infos)  # type: ignore[arg-type]
        conds: list[Any] = [t.portfolio_id == portfolio.id, col(t.trade_date) <= end_day]
        if perf.base_day is not None:
            conds.append(col(t.trade_date) > perf.base_day)
        if trader is not None:
            conds.append(t.trader_id == trader.id)
        total = db.exec(select(func.count()).select_from(t).where(*conds)).one()
        rows = db.exec(
            select(t, Trader.name)
            .join(Trader, col(Trader.id) == col(t.trader_id), isouter=True)
            .where(*conds)
            .order_by(col(t.trade_date), col(t.id))
            .limit(MAX_TRANSACTIONS)
        ).all()
        for row, trader_name in rows:
            info = infos.get(row.instrument_id) if row.instrument_id else None
            lines.append(
                TransactionLine(
                    trade_date=row.trade_date,
                    settlement_date=row.settlement_date,
                    kind=row.kind,
                    symbol=info.symbol if info else None,
                    quantity=row.quantity,
                    price=row.price,
                    amount=row.amount,
                    currency=row.currency,
                    fees=row.fees,
                    trader=trader_name,
                )
            )
    return ActivityReport(
        performance=perf,
        trader_id=trader.id if trader else None,
        trader_name=trader.name if trader else None,
        start_day=start_day,
        end_day=end_day,
        holdings_start=holdings_start,
        holdings_end=holdings_end,
        transactions=lines,
        transactions_total=total,
        generated_at=utcnow(),
    )


# ---- CSV -------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    """Numbers stay numbers (negative ones unescaped); text is neutralised against formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return (
            format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
        )
    if isinstance(value, int | float):
        return round(value, 10) if isinstance(value, float) else value
    if isinstance(value, date | datetime):
        return value.isoformat()
    return escape_cell(str(value))


def _csv(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for r in rows:
        w.writerow([_cell(v) for v in r])
    return buf.getvalue()


def activity_csv(report: ActivityReport) -> str:
    p, f = report.performance, report.performance.figures
    rows: list[list[Any]] = [
        ["report", report.title],
        ["firm", p.firm_name],
        ["trader", report.trader_name],
        ["period", p.period],
        ["from", p.base_day],
        ["to", report.end_day],
        ["reporting currency", p.reporting_currency],
        ["benchmark", p.benchmark.symbol if p.benchmark else None],
        ["generated at", report.generated_at],
        [],
        ["figure", "value"],
        ["start value", f.start_value],
        ["end value", f.end_value],
        ["net flows", f.net_flows],
        ["gain", f.gain],
        ["time-weighted return", f.twr],
        ["money-weighted return (XIRR)", f.xirr],
        ["volatility (annualised)", f.volatility],
        ["maximum drawdown", f.max_drawdown],
        ["realized P&L", f.realized_pnl],
        ["unrealized P&L", f.unrealized_pnl],
        ["benchmark return", f.benchmark_return],
        [],
    ]
    for label, holdings in (
        ("holdings at start", report.holdings_start),
        ("holdings at end", report.holdings_end),
    ):
        rows.append([label, "symbol", "name", "quantity", "price", "value"])
        rows += [["", h.symbol, h.name, h.quantity, h.price, h.value] for h in holdings]
        rows.append([])
    rows.append(
        [
            "transactions",
            "trade date",
            "settlement date",
            "kind",
            "symbol",
            "quantity",
            "price",
            "amount",
            "currency",
            "fees",
            "trader",
        ]
    )
    rows += [
        [
            "",
            t.trade_date,
            t.settlement_date,
            t.kind,
            t.symbol,
            t.quantity,
            t.price,
            t.amount,
            t.currency,
            t.fees,
            t.trader,
        ]
        for t in report.transactions
    ]
    if report.transactions_total > len(report.transactions):
        rows.append(["", f"{report.transactions_total - len(report.transactions)} more not listed"])
    rows.append([])
    rows.append(["series", "day", "value", "flow", "cumulative return", "benchmark", "drawdown"])
    rows += [
        ["", pt.day, pt.value, pt.flow, pt.cumulative_return, pt.benchmark_return, pt.drawdown]
        for pt in p.points
    ]
    return _csv(rows)


def activity_pdf(report: ActivityReport) -> bytes:
    from brm_app.services.report_pdf import render_activity

    return render_activity(report)


def download_activity(
    db: Session, *, actor: AnyActor, firm_id: object, kind: str, **query: Any
) -> tuple[str, bytes]:
    """The activity report as a download ("pdf" or "csv"): (file name, bytes); traced."""
    from brm_app.services import read_traces

    report = activity_report(db, actor=actor, firm_id=firm_id, **query)
    body = activity_pdf(report) if kind == "pdf" else activity_csv(report).encode("utf-8")
    read_traces.trace(db, actor, "report", report.performance.firm_id)
    return report.filename("pdf" if kind == "pdf" else "csv"), body


# ---- emailing a report -----------------------------------------------------------------------


def email_activity_pdf(
    db: Session,
    *,
    actor: AnyActor,
    firm_id: object,
    trader_id: object,
    period: object = "1Y",
    date_from: object = None,
    date_to: object = None,
    benchmark: object = None,
    only_trader: bool = False,
) -> Any:
    """Email the firm's activity report (or the trader's own, `only_trader`) as a PDF to a
    trader of the firm, through the communications outbox (a message in the trader's email
    conversation, with the PDF attached; the delivery job sends it)."""
    from brm_app.models.communication import Channel
    from brm_app.services import attachments, communications

    require(actor, Permission.COMMS_SEND)
    if not isinstance(actor, Actor) or actor.role == Role.TRADER:
        raise PermissionDenied("Reports are sent by brokers.")
    tid = require_id(trader_id, "trader_id")
    report = activity_report(
        db,
        actor=actor,
        firm_id=firm_id,
        period=period,
        date_from=date_from,
        date_to=date_to,
        benchmark=benchmark,
        trader_id=tid if only_trader else None,
    )
    trader = db.get(Trader, tid)
    if trader is None or trader.firm_id != report.performance.firm_id:
        raise ValidationFailed("is not a trader of this firm", field="trader_id")
    data = activity_pdf(report)
    conv = communications._conversation_for(db, actor, trader, None, Channel.EMAIL)
    db.flush()
    upload = attachments.upload(
        db, actor=actor, conversation_id=conv.id, filename=report.filename("pdf"), data=data
    )
    f = report.performance.figures
    twr = f"{f.twr * 100:.2f}%" if f.twr is not None else "n/a"
    text = (
        f"Please find attached the portfolio activity report of {report.performance.firm_name} "
        f"({report.performance.period}, to {report.end_day or '-'}): time-weighted return {twr}."
    )
    return communications.send_to_trader(
        db,
        actor=actor,
        trader_id=tid,
        message_type="email",
        content=text,
        conversation_id=conv.id,
        attachment_ids=[upload.attachment_id],
    )


# ---- the team report -------------------------------------------------------------------------


class BrokerLine(BaseModel):
    broker_id: int
    broker_name: str
    firms: int
    portfolios: int
    assets: Decimal  # the portfolios' latest valuations (each in its firm's reporting currency)
    interactions: int  # in the last 30 days


class FirmMove(BaseModel):
    firm_id: int
    firm_name: str
    reporting_currency: str
    value: Decimal
    return_1m: float | None
    drawdown: float  # below the running peak of the TWR index, at the latest valuation


class MonthCount(BaseModel):
    month: str  # YYYY-MM
    interaction_type: str
    count: int


class TeamReport(BaseModel):
    as_of: date | None
    brokers: list[BrokerLine]
    top_movers: list[FirmMove]
    largest_drawdowns: list[FirmMove]
    interactions_by_month: list[MonthCount]
    generated_at: datetime


def _team(db: Session, actor: AnyActor) -> list[tuple[int, str]]:
    from brm_app.services import brokers
    from brm_app.services.follow_ups import team_ids

    ids = team_ids(db, actor)
    return brokers.active_brokers(db, among=None if ids is None else list(ids or [0]))


def team_report(db: Session, *, actor: AnyActor, top: int = 10) -> TeamReport:
    """The team's book: assets under coverage per broker (the portfolios of the firms each
    covers, at their latest daily valuation), the firms that moved most over a month, the ones
    furthest below their peak, and interactions (per broker over 30 days, per month and type
    over a year).

    Set-based: firms per broker are counted in SQL, and only the firms with a valuation on the
    latest day come back as rows (the whole book is 160,000 coverage rows: fetching them cost
    most of a second)."""
    require(actor, Permission.TEAM_VIEW)
    brokers = _team(db, actor)
    broker_ids = [b for b, _ in brokers]
    cov, v = FirmCoverage, PortfolioValuation
    live = col(Firm.archived_at).is_(None)
    team = set(broker_ids)
    # Firms per broker: all they cover (from the coverage index alone), less the archived ones
    # (few; found from the firms' archived_at index). Joining every coverage row to its firm
    # to test archived_at cost 0.2 s on the whole book.
    counts: dict[int, int] = defaultdict(int)
    for chunk in _chunks(broker_ids):
        for bid, n in db.exec(
            select(col(cov.broker_id), func.count())
            .where(col(cov.broker_id).in_(chunk))
            .group_by(col(cov.broker_id))
        ).all():
            counts[bid] += n
    for bid in db.exec(
        select(col(cov.broker_id))
        .join(Firm, col(Firm.id) == col(cov.firm_id))
        .where(col(Firm.archived_at).is_not(None))
    ).all():
        if bid in team:
            counts[bid] -= 1
    as_of = db.exec(select(func.max(col(v.day)))).one()
    # The team's brokers of each firm with a valuation on the latest day: from that day's rows
    # (the brokers filtered here: an IN list in SQL made SQLite probe it per row).
    firm_brokers: dict[int, list[int]] = defaultdict(list)
    latest: dict[int, tuple[Decimal, float, float]] = {}
    firms: dict[int, tuple[str, str]] = {}
    month_ago: dict[int, float] = {}
    if as_of is not None and broker_ids:
        for fid, bid in db.exec(
            select(col(cov.firm_id), col(cov.broker_id))
            .select_from(v)
            .join(Portfolio, col(Portfolio.id) == col(v.portfolio_id))
            .join(cov, col(cov.firm_id) == col(Portfolio.firm_id))
            .where(col(v.day) == as_of)
        ).all():
            if bid in team:
                firm_brokers[fid].append(bid)
        default = get_settings().reporting_currency
        # The amount as the database holds it (text on SQLite), made a Decimal here: cheaper
        # than ExactDecimal's normalising (see valuations.series).
        value = sa.type_coerce(col(v.value), sa.String())
        rows = db.exec(
            select(  # type: ignore[call-overload]
                col(Portfolio.firm_id),
                col(Firm.name),
                col(Firm.reporting_currency),
                value,
                col(v.twr_index),
                col(v.drawdown),
            )
            .join(Portfolio, col(Portfolio.id) == col(v.portfolio_id))
            .join(Firm, col(Firm.id) == col(Portfolio.firm_id))
            .where(col(v.day) == as_of, live)
            .order_by(col(v.portfolio_id))  # ties keep one order (the sorts below are stable)
        ).all()
        for fid, name, ccy, amount, index, dd in rows:
            if fid in firm_brokers:
                latest[fid] = (_decimal(amount), index, dd)
                firms[fid] = (name, ccy or default)
        base_day = as_of - timedelta(days=30)
        # Each portfolio's index at the last valuation on or before a month ago.
        last_before = (
            select(col(v.portfolio_id), func.max(col(v.day)).label("day"))
            .where(col(v.day) <= base_day, col(v.day) > base_day - timedelta(days=7))
            .group_by(col(v.portfolio_id))
            .subquery()
        )
        for fid, index in db.exec(
            select(col(Portfolio.firm_id), col(v.twr_index))
            .join(
                last_before,
                sa.and_(
                    last_before.c.portfolio_id == col(v.portfolio_id),
                    last_before.c.day == col(v.day),
                ),
            )
            .join(Portfolio, col(Portfolio.id) == col(v.portfolio_id))
        ).all():
            if fid in latest:
                month_ago[fid] = index
    assets: dict[int, Decimal] = defaultdict(Decimal)
    held: dict[int, int] = defaultdict(int)
    for fid, (amount, _, _) in latest.items():
        for bid in firm_brokers[fid]:
            assets[bid] += amount
            held[bid] += 1
    since = utcnow() - timedelta(days=30)
    i = Interaction
    per_broker = dict(
        db.exec(
            select(col(i.broker_id), func.count())
            .where(
                col(i.broker_id).in_(broker_ids or [0]),
                col(i.occurred_at) >= since,
                col(i.voided_at).is_(None),
            )
            .group_by(col(i.broker_id))
        ).all()
    )

    def move(fid: int) -> FirmMove:
        amount, index, dd = latest[fid]
        return FirmMove(
            firm_id=fid,
            firm_name=firms[fid][0],
            reporting_currency=firms[fid][1],
            value=amount.quantize(CENT),
            return_1m=(index / month_ago[fid] - 1) if month_ago.get(fid) else None,
            drawdown=dd,
        )

    # Ranked on plain numbers; a FirmMove only for the few shown.
    returns = {f: latest[f][1] / month_ago[f] - 1 for f in latest if month_ago.get(f)}
    movers = sorted(returns, key=lambda f: -abs(returns[f]))
    deepest = sorted((f for f in latest if latest[f][2] < 0), key=lambda f: latest[f][2])
    return TeamReport(
        as_of=as_of,
        brokers=[
            BrokerLine(
                broker_id=b,
                broker_name=name,
                firms=counts.get(b, 0),
                portfolios=held[b],
                assets=assets[b].quantize(CENT),
                interactions=per_broker.get(b, 0),
            )
            for b, name in brokers
        ],
        top_movers=[move(f) for f in movers[:top]],
        largest_drawdowns=[move(f) for f in deepest[:top]],
        interactions_by_month=interactions_by_month(db, actor=actor, broker_ids=broker_ids),
        generated_at=utcnow(),
    )


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[k : k + size] for k in range(0, len(ids), size)]


def _decimal(raw: Any) -> Decimal:
    return raw if isinstance(raw, Decimal) else Decimal(raw)


def interactions_by_month(
    db: Session,
    *,
    actor: AnyActor,
    broker_ids: list[int] | None = None,
    firm_id: int | None = None,
    months: int = 12,
) -> list[MonthCount]:
    """Interactions per month and type over the last `months` months (UTC months), of the
    interactions the actor may see, for some brokers or one firm."""
    from brm_app.services import interactions

    require(actor, Permission.INTERACTIONS_VIEW)
    i = Interaction
    now = utcnow()
    y, m = divmod(now.year * 12 + now.month - 1 - (months - 1), 12)
    since = datetime(y, m + 1, 1, tzinfo=now.tzinfo)
    conds: list[Any] = [interactions.visible_condition(actor), col(i.occurred_at) >= since]
    if broker_ids is not None:
        conds.append(col(i.broker_id).in_(broker_ids or [0]))
    if firm_id is not None:
        conds.append(col(i.firm_id) == firm_id)
    # Counted in SQL (a year of the whole book is a million rows); times are stored in UTC.
    month: Any = func.strftime("%Y-%m", col(i.occurred_at))
    if db.get_bind().dialect.name == "postgresql":
        month = func.to_char(col(i.occurred_at), "YYYY-MM")
    kind = col(i.interaction_type)
    rows = db.exec(select(month, kind, func.count()).where(*conds).group_by(month, kind)).all()
    return [MonthCount(month=mo, interaction_type=k, count=n) for mo, k, n in sorted(rows)]


def my_interactions(db: Session, *, actor: AnyActor) -> list[MonthCount]:
    """The actor's own interactions (those they logged as the broker) per month and type over
    the last 12 months: a broker's chart of their book."""
    if not isinstance(actor, Actor):
        raise PermissionDenied("Only a user has interactions of their own.")
    return interactions_by_month(db, actor=actor, broker_ids=[actor.user_id])


def download_team_csv(db: Session, *, actor: AnyActor) -> tuple[str, str]:
    """The team report as a CSV download: (file name, text); traced."""
    from brm_app.services import read_traces

    report = team_report(db, actor=actor)
    read_traces.trace(db, actor, "report")
    return f"team-report-{report.generated_at:%Y%m%d}.csv", team_csv(report)


def team_csv(report: TeamReport) -> str:
    rows: list[list[Any]] = [
        ["team report", report.as_of],
        ["generated at", report.generated_at],
        [],
        ["broker", "firms", "portfolios", "assets", "interactions (30 days)"],
        *[[b.broker_name, b.firms, b.portfolios, b.assets, b.interactions] for b in report.brokers],
        [],
        ["top movers (1 month)", "currency", "value", "return", "drawdown"],
        *[
            [m.firm_name, m.reporting_currency, m.value, m.return_1m, m.drawdown]
            for m in report.top_movers
        ],
        [],
        ["largest drawdowns", "currency", "value", "return", "drawdown"],
        *[
            [m.firm_name, m.reporting_currency, m.value, m.return_1m, m.drawdown]
            for m in report.largest_drawdowns
        ],
        [],
        ["month", "interaction type", "count"],
        *[[c.month, c.interaction_type, c.count] for c in report.interactions_by_month],
    ]
    return _csv(rows)


# ---- what the performance page offers --------------------------------------------------------


class ReportOptions(BaseModel):
    benchmarks: list[str]  # active instruments' symbols
    traders: list[tuple[int, str]]  # the firm's traders (for a trader's report, or the email)
    can_email: bool  # may send a report to a trader of this firm


def may_email(actor: AnyActor) -> bool:
    """Reports are emailed by brokers, managers (people who send messages), never by traders."""
    from brm_app.auth.rbac import has

    return (
        isinstance(actor, Actor) and actor.role != Role.TRADER and has(actor, Permission.COMMS_SEND)
    )


def report_options(db: Session, *, actor: AnyActor, firm_id: object) -> ReportOptions:
    """The benchmark instruments and the firm's traders, for a user who may see the firm's
    portfolio (NotFound otherwise)."""
    from brm_app.services import portfolios

    firm, _ = portfolios.load_firm(db, actor, firm_id)
    symbols = list(
        db.exec(
            select(Instrument.symbol)
            .where(col(Instrument.active).is_(True))
            .order_by(Instrument.symbol)
            .limit(500)
        ).all()
    )
    people: list[tuple[int, str]] = []
    if may_email(actor):
        people = [
            (i, n)
            for i, n in db.exec(
                select(Trader.id, Trader.name)
                .where(Trader.firm_id == firm.id, col(Trader.archived_at).is_(None))
                .order_by(Trader.name_key)
                .limit(200)
            ).all()
            if i is not None
        ]
    return ReportOptions(benchmarks=symbols, traders=people, can_email=may_email(actor))


def team_interactions(
    db: Session, *, actor: AnyActor, broker_id: object = None
) -> list[MonthCount]:
    """Interactions per month and type of the actor's team, or of one broker of it."""
    require(actor, Permission.TEAM_VIEW)
    team = [b for b, _ in _team(db, actor)]
    if broker_id not in (None, ""):
        bid = require_id(broker_id, "broker_id")
        if bid not in team:
            raise ValidationFailed("is not one of your brokers", field="broker_id")
        team = [bid]
    return interactions_by_month(db, actor=actor, broker_ids=team)
