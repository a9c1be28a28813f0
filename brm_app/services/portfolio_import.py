"""CSV imports: a trade blotter into a firm's portfolio (brokers without an OMS), the
instrument master and FX history (admins).

Rules: the whole file is checked first, and booked only when every row passes (a file with a
bad row changes nothing and names each bad row and field, up to 50); blotter rows pass the same
checks as a booking by hand (services.portfolios) and come in with source "import"; the holdings
are checked once over the whole file (a sell needs what the file or the portfolio holds);
instruments are created, or updated when the symbol exists. Each import is one audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic import Field as PField
from sqlmodel import Session, col, select

from brm_app import events
from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.encryption.columns import blind_index
from brm_app.models.fields import BodyDay
from brm_app.models.portfolio import (
    Amount,
    Currency,
    FxDailyRate,
    Instrument,
    InstrumentWrite,
    TransactionWrite,
    TxSource,
)
from brm_app.models.trader import Trader
from brm_app.providers.market_data import DailyRate
from brm_app.services import audit, instruments, market_data, portfolios
from brm_app.services.bulk import csv_format
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.services.ledger import Oversold, compute
from brm_app.services.validation import pydantic_errors

AnyActor = Actor | SystemActor
MAX_REPORTED = 50
BLOTTER_COLUMNS = (
    "kind", "symbol", "trade_date", "settlement_date", "quantity", "price", "amount",
    "currency", "fees", "trader", "note",
)  # fmt: skip
INSTRUMENT_COLUMNS = ("symbol", "name", "asset_class", "currency", "isin", "exchange", "active")
FX_COLUMNS = ("date", "base", "quote", "rate")


class FxRateRow(BaseModel):
    """One day's rate of a pair: 1 `base` costs `rate` `quote`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    date: BodyDay
    base: Currency
    quote: Currency
    rate: Amount = PField(gt=0)

    @model_validator(mode="after")
    def _two_currencies(self) -> FxRateRow:
        if self.base == self.quote:
            raise ValueError("base and quote must differ")
        return self


class ImportResult(BaseModel):
    rows: int
    booked: int = 0
    created: int = 0
    updated: int = 0
    # A preview: every check ran (holdings included), nothing was kept.
    dry_run: bool = False


@dataclass
class _Rows:
    """The file's rows as {column: text}, by the header's (case-insensitive) names."""

    file: csv_format.CsvFile
    columns: dict[int, str]

    @classmethod
    def of(cls, data: object, known: tuple[str, ...]) -> _Rows:
        f = csv_format.parse(data)
        names = [h.strip().lower().replace(" ", "_") for h in f.header]
        unknown = [h for h in names if h and h not in known]
        if unknown:
            raise ValidationFailed(
                f"unknown column {unknown[0]!r} (known: {', '.join(known)})", field="file"
            )
        return cls(f, {i: n for i, n in enumerate(names) if n})

    def __iter__(self) -> Any:
        for number, cells in self.file.records():
            yield (
                number,
                {
                    name: csv_format.unescape_cell(cells[i].strip())
                    for i, name in self.columns.items()
                    if i < len(cells) and cells[i].strip()
                },
            )


def _fail(problems: dict[str, str]) -> None:
    if problems:
        raise ValidationFailed(problems)


def import_blotter(
    db: Session, *, actor: AnyActor, firm_id: object, data: object, dry_run: bool = False
) -> ImportResult:
    """Book the file's rows into the firm's portfolio, or with `dry_run` check them all exactly
    as a booking would (inside a savepoint rolled back at the end) and keep nothing."""
    firm, portfolio = portfolios.load_firm(db, actor, firm_id, Permission.PORTFOLIOS_TRADE)
    rows = _Rows.of(data, BLOTTER_COLUMNS)
    checked: list[portfolios.Checked] = []
    problems: dict[str, str] = {}
    # Emails are encrypted: matched by their blind index.
    traders = dict(
        db.exec(
            select(Trader.email_bidx, Trader.id).where(
                Trader.firm_id == firm.id, col(Trader.archived_at).is_(None)
            )
        ).all()
    )
    for number, values in rows:
        trader = values.pop("trader", None)
        try:
            data_row = TransactionWrite.model_validate(values)
            one = portfolios.check_transaction(db, firm, data_row)
            if trader:
                digest = blind_index("traders", "email", trader)
                if digest not in traders:
                    raise ValidationFailed("is not a trader of this firm (email)", field="trader")
                one = portfolios.Checked(**{**one.__dict__, "trader_id": traders[digest]})
            checked.append(one)
        except ValidationError as exc:
            for k, v in pydantic_errors(exc).items():
                problems.setdefault(f"row {number}: {k}", v)
        except ValidationFailed as exc:
            for k, v in exc.errors.items():
                problems.setdefault(f"row {number}: {k}", v)
        if len(problems) >= MAX_REPORTED:
            break
    _fail(problems)
    if not checked:
        raise ValidationFailed("The file has no rows.", field="file")
    savepoint = db.begin_nested() if dry_run else None
    try:
        portfolio = portfolios._portfolio_for_update(db, firm, portfolio)
        for one in checked:
            portfolios.store(
                db, actor=actor, portfolio=portfolio, checked=one, source=TxSource.IMPORT,
                check_holdings=False, flush=False,
            )  # fmt: skip
        db.flush()
        try:
            ledger = compute(
                portfolios._txs(db, portfolios.ident(portfolio.id)),
                allow_short=portfolio.allow_short,
            )
        except Oversold as exc:
            symbol = db.get(Instrument, exc.instrument_id)
            raise ValidationFailed(
                f"the file sells more {symbol.symbol if symbol else exc.instrument_id} than the "
                f"portfolio holds ({exc.held.normalize():f} on {exc.day.isoformat()})",
                field="file",
            ) from None
    finally:
        if savepoint is not None:
            savepoint.rollback()
            db.expire_all()
    if dry_run:
        return ImportResult(rows=len(checked), dry_run=True)
    portfolios.refresh_snapshot(db, portfolio, ledger)
    audit.record(
        db, actor=actor, action="portfolio.import", entity="firm", entity_id=firm.id,
        changes={"rows": len(checked)},
    )  # fmt: skip
    events.publish(db, portfolios.TOPIC, (), portfolios.ident(firm.id))
    return ImportResult(rows=len(checked), booked=len(checked))


def import_instruments(
    db: Session, *, actor: AnyActor, data: object, dry_run: bool = False
) -> ImportResult:
    """Create or update (by symbol) the file's instruments, or with `dry_run` only check them
    (inside a savepoint rolled back at the end)."""
    require(actor, Permission.INSTRUMENTS_MANAGE)
    rows = _Rows.of(data, INSTRUMENT_COLUMNS)
    parsed: list[tuple[int, InstrumentWrite]] = []
    problems: dict[str, str] = {}
    for number, values in rows:
        if "active" in values:
            values["active"] = values["active"].lower() not in ("0", "no", "false", "n")
        try:
            parsed.append((number, InstrumentWrite.model_validate(values)))
        except ValidationError as exc:
            for k, v in pydantic_errors(exc).items():
                problems.setdefault(f"row {number}: {k}", v)
        if len(problems) >= MAX_REPORTED:
            break
    if not parsed and not problems:
        raise ValidationFailed("The file has no rows.", field="file")
    # The rows that parsed go through the service's checks too (ISIN check digit, an ISIN
    # another instrument has) even when others did not parse, so every bad row is named at
    # once; with any problem, or in a preview, nothing is kept.
    savepoint = db.begin_nested() if dry_run or problems else None
    created = updated = 0
    try:
        if len(problems) < MAX_REPORTED:
            created, updated = _store_instruments(db, actor, parsed, problems)
    finally:
        if savepoint is not None:
            savepoint.rollback()
            db.expire_all()
    _fail(_by_row(problems))
    return ImportResult(rows=len(parsed), created=created, updated=updated, dry_run=dry_run)


def _by_row(problems: dict[str, str]) -> dict[str, str]:
    """The problems in the file's row order ("row N: field" keys), the first 50."""

    def row(key: str) -> int:
        head = key.split(":", 1)[0].removeprefix("row ")
        return int(head) if head.isdigit() else 0

    ordered = sorted(problems.items(), key=lambda kv: row(kv[0]))
    return dict(ordered[:MAX_REPORTED])


def _store_instruments(
    db: Session,
    actor: AnyActor,
    parsed: list[tuple[int, InstrumentWrite]],
    problems: dict[str, str],
) -> tuple[int, int]:
    existing = {
        i.symbol: i.id
        for i in db.exec(
            select(Instrument).where(col(Instrument.symbol).in_([w.symbol for _, w in parsed]))
        )
    }
    created = updated = 0
    for number, write in parsed:
        try:
            with db.begin_nested():
                if write.symbol in existing:
                    instruments.update_instrument(
                        db, actor=actor, instrument_id=existing[write.symbol], data=write
                    )
                    updated += 1
                else:
                    made = instruments.create_instrument(db, actor=actor, data=write)
                    existing[write.symbol] = made.instrument_id
                    created += 1
        except DomainError as exc:
            errors = exc.errors if isinstance(exc, ValidationFailed) else {"symbol": exc.message}
            for k, v in errors.items():
                problems.setdefault(f"row {number}: {k}", v)
    return created, updated


def import_fx_rates(
    db: Session, *, actor: AnyActor, data: object, dry_run: bool = False
) -> ImportResult:
    """FX history from CSV (admins): columns date, base, quote, rate (1 base costs `rate`
    quote). A day's rate replaces what that day had; whole or not at all; the valuations from the
    earliest day imported are rebuilt by their job. `dry_run` only checks."""
    require(actor, Permission.INSTRUMENTS_MANAGE)
    rows = _Rows.of(data, FX_COLUMNS)
    parsed: list[FxRateRow] = []
    problems: dict[str, str] = {}
    for number, values in rows:
        try:
            parsed.append(FxRateRow.model_validate(values))
        except ValidationError as exc:
            for k, v in pydantic_errors(exc).items():
                problems.setdefault(f"row {number}: {k}", v)
        if len(problems) >= MAX_REPORTED:
            break
    _fail(problems)
    if not parsed:
        raise ValidationFailed("The file has no rows.", field="file")
    keys = {(r.base, r.quote, r.date) for r in parsed}
    have = {
        (b, q, d)
        for b, q, d in db.exec(
            select(col(FxDailyRate.base), col(FxDailyRate.quote), col(FxDailyRate.day)).where(
                col(FxDailyRate.base).in_({k[0] for k in keys}),
                col(FxDailyRate.quote).in_({k[1] for k in keys}),
                col(FxDailyRate.day).in_({k[2] for k in keys}),
            )
        ).all()
    }
    # New days, and days that had a rate (replaced, even by the same one).
    created, updated = len(keys - have), len(keys & have)
    if dry_run:
        return ImportResult(rows=len(parsed), created=created, updated=updated, dry_run=True)
    market_data.record_daily_rates(db, [DailyRate(r.base, r.quote, r.date, r.rate) for r in parsed])
    audit.record(
        db, actor=actor, action="fx_rates.import", entity="fx_rates", entity_id=None,
        changes={"rows": len(parsed), "first_day": min(r.date for r in parsed).isoformat(),
                 "last_day": max(r.date for r in parsed).isoformat()},
    )  # fmt: skip
    return ImportResult(rows=len(parsed), created=created, updated=updated)
