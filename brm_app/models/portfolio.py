"""Instruments, portfolios and their transactions, prices and FX rates, and service-account keys.

Holdings are never stored: they are derived from the transactions (services.portfolios). Amounts
are exact decimals: NUMERIC on PostgreSQL, text on SQLite (whose NUMERIC affinity would turn them
into floating point), read back as `Decimal` either way.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PField
from sqlmodel import Field, SQLModel

from brm_app.db import UTCDateTime, utcnow
from brm_app.encryption.columns import EncryptedText, new_row_key, register
from brm_app.models.fields import BodyDay, RecordId, check_name, check_text


def plain(value: Decimal) -> Decimal:
    """Without trailing zeros and never in exponent form: 100.0000 -> 100, 1.50 -> 1.5."""
    n = value.normalize()
    return n.quantize(Decimal(1)) if n.as_tuple().exponent > 0 else n  # type: ignore[operator]


class ExactDecimal(sa.types.TypeDecorator[Decimal]):
    """A Decimal stored exactly: NUMERIC(28, 10) on PostgreSQL, canonical text on SQLite."""

    impl = sa.Numeric(28, 10)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(40))
        return dialect.type_descriptor(sa.Numeric(28, 10, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value)
        if dialect.name == "sqlite":
            return format(value.normalize(), "f")
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        if value is None:
            return None
        return plain(Decimal(str(value)))


def exact_column() -> Any:
    """The migration's spelling of ExactDecimal (text on SQLite, NUMERIC elsewhere)."""
    return sa.Numeric(28, 10).with_variant(sa.String(40), "sqlite")


class AssetClass(StrEnum):
    EQUITY = "equity"
    BOND = "bond"
    FUND = "fund"
    FX = "fx"
    COMMODITY = "commodity"
    CASH = "cash"


class TxKind(StrEnum):
    BUY = "buy"
    SELL = "sell"
    DIVIDEND = "dividend"  # also bond coupons
    FEE = "fee"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    TRANSFER_IN = "transfer_in"
    TRANSFER_OUT = "transfer_out"
    SPLIT = "split"
    # Written only by the retention purge in place of the transactions it removes: the ledger's
    # state at the end of its trade date. With an instrument: `quantity` units, `amount` their
    # cost, `price` the realized P&L; without: `amount` the cash balance and `price` the
    # contributions of its currency (services.ledger).
    OPENING = "opening"


class TxSource(StrEnum):
    MANUAL = "manual"
    OMS = "oms"
    IMPORT = "import"


# Kinds that move an instrument's quantity (an instrument is required), and those that move cash only.
TRADE_KINDS = (TxKind.BUY, TxKind.SELL)
SECURITY_KINDS = (TxKind.BUY, TxKind.SELL, TxKind.SPLIT)
CASH_KINDS = (TxKind.DEPOSIT, TxKind.WITHDRAWAL)


class Instrument(SQLModel, table=True):
    __tablename__ = "instruments"
    __table_args__ = {"extend_existing": True}

    id: int | None = Field(default=None, primary_key=True)
    symbol: str = Field(max_length=20, unique=True)
    name: str = Field(max_length=200)
    asset_class: str = Field(max_length=20)
    currency: str = Field(max_length=3)
    isin: str | None = Field(default=None, max_length=12, unique=True)
    exchange: str | None = Field(default=None, max_length=20)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Portfolio(SQLModel, table=True):
    """A firm's one portfolio, created with its first transaction."""

    __tablename__ = "portfolios"
    __table_args__ = {"extend_existing": True}

    id: int | None = Field(default=None, primary_key=True)
    firm_id: int = Field(foreign_key="firms.id", unique=True)
    allow_short: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The last booked transaction (the API's `last_updated` is the later of this and the prices).
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PortfolioTransaction(SQLModel, table=True):
    """One booked transaction; never changed or deleted. A correction is a reversing entry (same
    kind, `reverses_id` naming the original) and the pair then counts for nothing."""

    __tablename__ = "portfolio_transactions"
    __table_args__ = (
        sa.Index("ix_portfolio_tx_portfolio_date", "portfolio_id", "trade_date", "id"),
        sa.Index("ix_portfolio_tx_trader", "trader_id", "trade_date"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    portfolio_id: int = Field(foreign_key="portfolios.id")
    kind: str = Field(max_length=20)
    instrument_id: int | None = Field(default=None, foreign_key="instruments.id")
    trade_date: date
    settlement_date: date
    # Units (for a split: new units per old unit, e.g. 2 for a 2-for-1 split).
    quantity: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    price: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    # Cash amount of dividends, fees, deposits, withdrawals and cash transfers.
    amount: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    currency: str = Field(max_length=3)
    fees: Decimal = Field(default=Decimal(0), sa_type=ExactDecimal)
    trader_id: int | None = Field(default=None, foreign_key="traders.id")
    source: str = Field(default=TxSource.MANUAL.value, max_length=10)
    # The OMS's order and execution ids (exec_id is unique in oms_executions).
    order_id: str | None = Field(default=None, max_length=64)
    exec_id: str | None = Field(default=None, max_length=64)
    # Free text about a client's transaction (and a reversal's reason): encrypted, bound to this
    # row by its row_key (brm_app/encryption/columns.py).
    row_key: str = Field(default_factory=new_row_key, max_length=32)
    note: str | None = Field(default=None, sa_type=EncryptedText)
    reverses_id: int | None = Field(
        default=None, foreign_key="portfolio_transactions.id", unique=True
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="users.id")


register(PortfolioTransaction, columns=("note",))


class PortfolioHolding(SQLModel, table=True):
    """What the ledger gives, kept per portfolio and instrument after every booking (rewritten
    from the transactions, never edited): revaluing every portfolio after a tick reads these and
    the latest prices, not two million transactions. Reads of one portfolio use the ledger."""

    __tablename__ = "portfolio_holdings"
    __table_args__ = {"extend_existing": True}

    portfolio_id: int = Field(foreign_key="portfolios.id", primary_key=True)
    instrument_id: int = Field(foreign_key="instruments.id", primary_key=True)
    currency: str = Field(max_length=3)
    quantity: Decimal = Field(sa_type=ExactDecimal)
    cost: Decimal = Field(sa_type=ExactDecimal)
    realized: Decimal = Field(sa_type=ExactDecimal)


class PortfolioCash(SQLModel, table=True):
    """Cash per currency and net contributions, as the ledger gives them (see PortfolioHolding)."""

    __tablename__ = "portfolio_cash"
    __table_args__ = {"extend_existing": True}

    portfolio_id: int = Field(foreign_key="portfolios.id", primary_key=True)
    currency: str = Field(max_length=3, primary_key=True)
    balance: Decimal = Field(sa_type=ExactDecimal)
    contributions: Decimal = Field(sa_type=ExactDecimal)


class OmsExecution(SQLModel, table=True):
    """Every execution report received, by its exec_id: a resend with the same content changes
    nothing, one with different content is refused (409)."""

    __tablename__ = "oms_executions"
    __table_args__ = {"extend_existing": True}

    exec_id: str = Field(primary_key=True, max_length=64)
    content_hash: str = Field(max_length=64)
    firm_id: int = Field(foreign_key="firms.id")
    transaction_id: int | None = Field(default=None, foreign_key="portfolio_transactions.id")
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    api_key_id: int | None = Field(default=None, foreign_key="api_keys.id")


class InstrumentPrice(SQLModel, table=True):
    """The latest price of each instrument, as the feed last sent it."""

    __tablename__ = "instrument_prices"
    __table_args__ = {"extend_existing": True}

    instrument_id: int = Field(foreign_key="instruments.id", primary_key=True)
    price: Decimal = Field(sa_type=ExactDecimal)
    # The previous day's close (today's change is measured from it).
    prev_close: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    as_of: datetime = Field(sa_type=UTCDateTime)


class DailyClose(SQLModel, table=True):
    __tablename__ = "daily_closes"
    __table_args__ = {"extend_existing": True}

    instrument_id: int = Field(foreign_key="instruments.id", primary_key=True)
    day: date = Field(primary_key=True)
    close: Decimal = Field(sa_type=ExactDecimal)


class FxRate(SQLModel, table=True):
    """1 unit of `base` costs `rate` units of `quote` (EUR/USD 1.08: base EUR, quote USD)."""

    __tablename__ = "fx_rates"
    __table_args__ = {"extend_existing": True}

    base: str = Field(max_length=3, primary_key=True)
    quote: str = Field(max_length=3, primary_key=True)
    rate: Decimal = Field(sa_type=ExactDecimal)
    as_of: datetime = Field(sa_type=UTCDateTime)


class FxDailyRate(SQLModel, table=True):
    """FX history: one rate per pair and day (1 `base` costs `rate` `quote`), from the feed's
    history, each day's last tick and CSV imports; the performance series convert each day at
    that day's rate (services.market_data.FxHistory)."""

    __tablename__ = "fx_daily_rates"
    __table_args__ = {"extend_existing": True}

    base: str = Field(max_length=3, primary_key=True)
    quote: str = Field(max_length=3, primary_key=True)
    day: date = Field(primary_key=True)
    rate: Decimal = Field(sa_type=ExactDecimal)


class ApiKey(SQLModel, table=True):
    """A service account's key: stored as a SHA-256 hash (the key is 32 random bytes, shown once),
    limited to its scopes and, when `firm_ids` is set, to those firms; revoked, never deleted."""

    __tablename__ = "api_keys"
    __table_args__ = {"extend_existing": True}

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True)
    scopes: str = Field(max_length=200)
    # JSON list of firm ids, or None for every firm.
    firm_ids: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# ---- schemas ---------------------------------------------------------------------------------

Currency = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$"),
]
ShortName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(check_name),
]
Symbol = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_upper=True,
        min_length=1,
        max_length=20,
        pattern=r"^[A-Za-z0-9.\-/:_]+$",
    ),
]
Note = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(check_text)
]
# Decimals come as JSON numbers or strings; never NaN or infinity.
Amount = Annotated[Decimal, PField(allow_inf_nan=False, max_digits=28, decimal_places=10)]


class InstrumentWrite(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    symbol: Symbol
    name: ShortName
    asset_class: AssetClass
    currency: Currency
    isin: (
        Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, max_length=20)]
        | None
    ) = None
    exchange: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, max_length=20), AfterValidator(check_name)
        ]
        | None
    ) = None
    active: bool = True


class InstrumentPublic(BaseModel):
    instrument_id: int
    symbol: str
    name: str
    asset_class: str
    currency: str
    isin: str | None
    exchange: str | None
    active: bool
    last_price: Decimal | None = None
    price_as_of: datetime | None = None


class TransactionWrite(BaseModel):
    """A transaction to book. Buys, sells and splits need an instrument (by id or symbol) and a
    quantity; buys and sells a price; dividends, fees, deposits and withdrawals an amount;
    transfers either an instrument with quantity and price (its cost) or a cash amount."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: TxKind
    instrument_id: RecordId | None = None
    symbol: Symbol | None = None
    trade_date: BodyDay
    settlement_date: BodyDay | None = None
    quantity: Amount | None = None
    price: Amount | None = None
    amount: Amount | None = None
    currency: Currency | None = None
    fees: Amount = Decimal(0)
    trader_id: RecordId | None = None
    note: Note | None = None


class PortfolioSettings(BaseModel):
    """A firm's portfolio settings; only the fields sent change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # The firm's reporting currency (null: the BRM_REPORTING_CURRENCY setting).
    reporting_currency: Currency | None = None
    # Allow sells of more than is held (short positions); needs the portfolio to exist.
    allow_short: bool | None = None


class TransactionReverse(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Note | None = None


class TransactionPublic(BaseModel):
    transaction_id: int
    portfolio_id: int
    firm_id: int
    kind: str
    instrument_id: int | None
    symbol: str | None
    trade_date: date
    settlement_date: date
    quantity: Decimal | None
    price: Decimal | None
    amount: Decimal | None
    currency: str
    fees: Decimal
    trader_id: int | None
    trader_name: str | None
    source: str
    order_id: str | None
    exec_id: str | None
    note: str | None
    reverses_id: int | None
    reversed_by_id: int | None
    created_at: datetime


class HoldingPublic(BaseModel):
    instrument_id: int
    symbol: str
    name: str
    asset_class: str
    currency: str
    quantity: Decimal
    average_cost: Decimal
    cost_basis: Decimal
    last_price: Decimal | None
    price_as_of: datetime | None
    market_value: Decimal | None
    market_value_reporting: Decimal | None
    unrealized_pnl: Decimal | None
    realized_pnl: Decimal
    day_change: Decimal | None
    weight: Decimal | None


class CashPublic(BaseModel):
    currency: str
    balance: Decimal
    balance_reporting: Decimal | None


class PerformanceMetrics(BaseModel):
    today_change: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    net_contributions: Decimal
    simple_return: Decimal | None


class PortfolioPublic(BaseModel):
    portfolio_id: int | None
    firm_id: int
    firm_name: str
    reporting_currency: str
    assets: list[HoldingPublic]
    cash: list[CashPublic]
    market_value: Decimal
    cash_value: Decimal
    total_value: Decimal
    performance_metrics: PerformanceMetrics
    last_updated: datetime | None
    # Currencies without an FX rate to the reporting currency (left out of the totals).
    missing_fx: list[str] = []
    allow_short: bool = False


def _default_scopes() -> list[Literal["oms.executions"]]:
    return ["oms.executions"]


class ApiKeyWrite(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: ShortName
    scopes: list[Literal["oms.executions"]] = PField(
        default_factory=_default_scopes, min_length=1, max_length=5
    )
    firm_ids: list[RecordId] | None = PField(default=None, max_length=200)


class ApiKeyPublic(BaseModel):
    api_key_id: int
    name: str
    prefix: str
    scopes: list[str]
    firm_ids: list[int] | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    # The key itself: shown once, never stored.
    key: str


# ---- the OMS's execution reports (FIX ExecutionReport, 35=8, as JSON) ----------------------------

FixId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(check_name),
]


class ExecutionReport(BaseModel):
    """One execution report. `exec_type`: F (trade, a fill) books a transaction; H (trade cancel)
    books the reversing entry of the fill named by `exec_ref_id`; G (trade correct) reverses that
    fill and books this one instead; any other type (0 new, 4 canceled, 5 replaced, 8 rejected
    ...) is recorded without a transaction. `side`: buy/sell or FIX 1/2. `account`: the firm's
    LEI or id; `trader`: the trader's email or id (optional)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    exec_id: FixId
    order_id: FixId
    cl_ord_id: FixId | None = None
    exec_ref_id: FixId | None = None
    exec_type: Annotated[str, StringConstraints(min_length=1, max_length=1, to_upper=True)]
    ord_status: (
        Annotated[str, StringConstraints(min_length=1, max_length=1, to_upper=True)] | None
    ) = None
    symbol: Symbol
    side: Annotated[str, StringConstraints(to_lower=True, pattern=r"^(buy|sell|1|2)$")]
    last_qty: Amount | None = None
    last_px: Amount | None = None
    cum_qty: Amount | None = None
    leaves_qty: Amount | None = None
    avg_px: Amount | None = None
    currency: Currency | None = None
    transact_time: datetime
    settl_date: date | None = None
    account: FixId
    trader: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=254),
            AfterValidator(check_text),
        ]
        | None
    ) = None


class ExecutionBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The limit (1,000) is the service's, answered with 413; this bound only stops absurd bodies.
    executions: list[dict[str, Any]] = PField(min_length=1, max_length=100_000)


class ExecutionResult(BaseModel):
    exec_id: str
    # booked | reversed | corrected | recorded | duplicate
    status: str
    transaction_id: int | None = None


class ExecutionBatchResult(BaseModel):
    received: int
    booked: int
    duplicates: int
    results: list[ExecutionResult]
