"""Portfolios over REST: the design document's `GET /firms/{firm_id}/portfolio` and
`POST /firms/{firm_id}/portfolio/update`, a firm's transactions (list, book, reverse), the
instrument master and its prices.

Every rule lives in services.portfolios / services.instruments; these routes parse, call and
shape. A firm the caller may not see answers 404, exactly as the firm routes do.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Path, Query

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import MAX_ID, Day, FirmId, Limit, NoNul, Offset
from brm_app.api.schemas import ERRORS, PageOut
from brm_app.models.portfolio import (
    AssetClass,
    InstrumentPublic,
    InstrumentWrite,
    PortfolioPublic,
    PortfolioSettings,
    TransactionPublic,
    TransactionReverse,
    TransactionWrite,
    TxKind,
    TxSource,
)
from brm_app.services import instruments, portfolio_import, portfolios
from brm_app.services.pagination import PageRequest
from brm_app.services.portfolio_import import ImportResult
from brm_app.services.portfolios import TransactionQuery

router = ApiRouter(prefix="/api/v1", tags=["portfolios"], responses=ERRORS)

TransactionId = Annotated[int, Path(ge=1, le=MAX_ID, description="A transaction id")]
InstrumentId = Annotated[int, Path(ge=1, le=MAX_ID, description="An instrument id")]


@router.get("/firms/{firm_id}/portfolio", response_model=PortfolioPublic)
def get_portfolio(firm_id: FirmId, db: DB, actor: CurrentActor) -> PortfolioPublic:
    """The firm's portfolio valued at the latest stored prices: `assets` (holdings with
    quantity, average cost, last price, market value, unrealized and realized P&L, weight),
    cash per currency, totals in the firm's reporting currency, `performance_metrics` and
    `last_updated`. Before its first transaction a firm's portfolio is empty (`portfolio_id`
    null). Amounts are exact decimals, sent as strings."""
    return portfolios.get_portfolio(db, actor=actor, firm_id=firm_id)


@router.post("/firms/{firm_id}/portfolio/update", response_model=PortfolioPublic)
def update_portfolio(firm_id: FirmId, db: DB, actor: CurrentActor) -> PortfolioPublic:
    """Revalue now: fetch the latest prices and FX rates of the portfolio's instruments from the
    market data provider, store them, and return the portfolio valued at them."""
    return portfolios.revalue(db, actor=actor, firm_id=firm_id)


@router.patch("/firms/{firm_id}/portfolio/settings", response_model=PortfolioPublic)
def update_portfolio_settings(
    firm_id: FirmId, body: PortfolioSettings, db: DB, actor: CurrentActor
) -> PortfolioPublic:
    """The firm's reporting currency (ISO 4217; null: the server's default) and whether the
    portfolio allows short positions. Only the fields sent change."""
    return portfolios.update_settings(db, actor=actor, firm_id=firm_id, data=body)


@router.get("/firms/{firm_id}/portfolio/transactions", response_model=PageOut[TransactionPublic])
def list_transactions(
    firm_id: FirmId,
    db: DB,
    actor: CurrentActor,
    kind: Annotated[TxKind | None, Query(description="Only this kind")] = None,
    instrument_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    trader_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    source: Annotated[TxSource | None, Query(description="manual, oms or import")] = None,
    date_from: Annotated[Day | None, Query(description="Trade date from")] = None,
    date_to: Annotated[Day | None, Query(description="Trade date to, inclusive")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageOut[TransactionPublic]:
    """The firm's transactions, newest trade date first (reversed ones carry `reversed_by_id`;
    reversing entries `reverses_id`)."""
    page = portfolios.list_transactions(
        db,
        actor=actor,
        firm_id=firm_id,
        page=PageRequest(offset=offset, limit=limit),
        query=TransactionQuery(
            kind=kind.value if kind else None,
            instrument_id=instrument_id,
            trader_id=trader_id,
            source=source.value if source else None,
            date_from=date_from,
            date_to=date_to,
        ),
    )
    return PageOut[TransactionPublic].of(page)


@router.post(
    "/firms/{firm_id}/portfolio/transactions", response_model=TransactionPublic, status_code=201
)
def book_transaction(
    firm_id: FirmId, body: TransactionWrite, db: DB, actor: CurrentActor
) -> TransactionPublic:
    """Book a transaction (brokers covering the firm, managers, admins). The firm's portfolio is
    created with its first transaction."""
    return portfolios.book_transaction(db, actor=actor, firm_id=firm_id, data=body)


@router.post(
    "/firms/{firm_id}/portfolio/transactions/{transaction_id}/reverse",
    response_model=TransactionPublic,
    status_code=201,
)
def reverse_transaction(
    firm_id: FirmId,
    transaction_id: TransactionId,
    body: TransactionReverse,
    db: DB,
    actor: CurrentActor,
) -> TransactionPublic:
    """Book the reversing entry of a transaction (nothing is deleted; the pair then counts for
    nothing). Refused when later sells would then exceed the holdings."""
    return portfolios.reverse_transaction(
        db, actor=actor, firm_id=firm_id, transaction_id=transaction_id, reason=body.reason
    )


CsvBody = Annotated[
    bytes,
    Body(media_type="text/csv", description="A CSV file (UTF-8), its first row naming columns"),
]


DryRun = Annotated[
    bool, Query(description="Check every row (as the import would) and keep nothing")
]


@router.post("/firms/{firm_id}/portfolio/import", response_model=ImportResult)
def import_blotter(
    firm_id: FirmId, body: CsvBody, db: DB, actor: CurrentActor, dry_run: DryRun = False
) -> ImportResult:
    """A trade blotter for brokers without an OMS: columns kind, symbol, trade_date,
    settlement_date, quantity, price, amount, currency, fees, trader (email), note. Booked whole
    (source "import") or not at all: every bad row and field is named. `dry_run=true` previews."""
    return portfolio_import.import_blotter(
        db, actor=actor, firm_id=firm_id, data=body, dry_run=dry_run
    )


@router.post("/instrument-imports", response_model=ImportResult)
def import_instruments(
    body: CsvBody, db: DB, actor: CurrentActor, dry_run: DryRun = False
) -> ImportResult:
    """The instrument master from CSV (admins): columns symbol, name, asset_class, currency,
    isin, exchange, active; an existing symbol is updated. Whole or not at all. `dry_run=true`
    previews."""
    return portfolio_import.import_instruments(db, actor=actor, data=body, dry_run=dry_run)


@router.post("/fx-rate-imports", response_model=ImportResult)
def import_fx_rates(
    body: CsvBody, db: DB, actor: CurrentActor, dry_run: DryRun = False
) -> ImportResult:
    """FX history from CSV (admins): columns date, base, quote, rate (1 base costs `rate`
    quote, e.g. `2026-03-02,EUR,USD,1.0842`); a day's rate replaces what that day had. Whole or
    not at all. `dry_run=true` previews. Performance converts each day at its rate."""
    return portfolio_import.import_fx_rates(db, actor=actor, data=body, dry_run=dry_run)


@router.get("/instruments", response_model=PageOut[InstrumentPublic])
def list_instruments(
    db: DB,
    actor: CurrentActor,
    q: Annotated[str | None, Query(max_length=100, description="Symbol or name"), NoNul] = None,
    asset_class: AssetClass | None = None,
    include_inactive: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageOut[InstrumentPublic]:
    """The instrument master with each one's last price."""
    page = instruments.list_instruments(
        db,
        actor=actor,
        page=PageRequest(offset=offset, limit=limit),
        q=q,
        asset_class=asset_class.value if asset_class else None,
        include_inactive=include_inactive,
    )
    return PageOut[InstrumentPublic].of(page)


@router.post("/instruments", response_model=InstrumentPublic, status_code=201)
def create_instrument(body: InstrumentWrite, db: DB, actor: CurrentActor) -> InstrumentPublic:
    """Add an instrument (admins). The ISIN, when given, must carry a valid check digit."""
    return instruments.create_instrument(db, actor=actor, data=body)


@router.get("/instruments/{instrument_id}", response_model=InstrumentPublic)
def get_instrument(instrument_id: InstrumentId, db: DB, actor: CurrentActor) -> InstrumentPublic:
    return instruments.get_instrument(db, actor=actor, instrument_id=instrument_id)


@router.put("/instruments/{instrument_id}", response_model=InstrumentPublic)
def update_instrument(
    instrument_id: InstrumentId, body: InstrumentWrite, db: DB, actor: CurrentActor
) -> InstrumentPublic:
    """Edit an instrument (admins); `active: false` stops new trades in it."""
    return instruments.update_instrument(db, actor=actor, instrument_id=instrument_id, data=body)


@router.get("/instruments/{instrument_id}/prices", response_model=list[instruments.ClosePublic])
def instrument_prices(
    instrument_id: InstrumentId,
    db: DB,
    actor: CurrentActor,
    date_from: Annotated[Day | None, Query(description="From this day")] = None,
    date_to: Annotated[Day | None, Query(description="To this day, inclusive")] = None,
) -> list[instruments.ClosePublic]:
    """Daily closes, oldest first (at most two years and a bit per call)."""
    return instruments.daily_closes(
        db, actor=actor, instrument_id=instrument_id, date_from=date_from, date_to=date_to
    )
