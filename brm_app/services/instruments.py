"""The instrument master: what can be held and traded.

Rules: symbols are unique (stored upper case); an ISIN, when given, is 12 characters with a valid
ISO 6166 check digit and unique; currencies are 3-letter codes; admins add, edit and deactivate
(instruments are never deleted: transactions refer to them); everyone who sees portfolios lists them.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.db import utcnow
from brm_app.models.portfolio import (
    DailyClose,
    Instrument,
    InstrumentPrice,
    InstrumentPublic,
    InstrumentWrite,
)
from brm_app.services import audit
from brm_app.services.errors import Conflict, NotFound, ValidationFailed
from brm_app.services.pagination import Page, PageRequest, escape_like
from brm_app.services.validation import parse, require_id

AnyActor = Actor | SystemActor
_ISIN_RE = re.compile(r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$")


def isin_check_digit_ok(isin: str) -> bool:
    """ISO 6166: letters become two digits (A=10 ... Z=35), then the Luhn check over all digits."""
    digits = "".join(str(int(ch, 36)) for ch in isin)
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def check_isin(value: str) -> str:
    isin = value.strip().upper()
    if not _ISIN_RE.match(isin):
        raise ValidationFailed(
            "must be 12 characters: a 2-letter country code, 9 letters or digits and a check digit",
            field="isin",
        )
    if not isin_check_digit_ok(isin):
        raise ValidationFailed("is not a valid ISIN (the check digit does not match)", field="isin")
    return isin


def to_public(row: Instrument, price: InstrumentPrice | None = None) -> InstrumentPublic:
    return InstrumentPublic(
        instrument_id=row.id,
        symbol=row.symbol,
        name=row.name,
        asset_class=row.asset_class,
        currency=row.currency,
        isin=row.isin,
        exchange=row.exchange,
        active=row.active,
        last_price=price.price if price else None,
        price_as_of=price.as_of if price else None,
    )


def _snapshot(row: Instrument) -> dict[str, Any]:
    return {
        "symbol": row.symbol,
        "name": row.name,
        "asset_class": row.asset_class,
        "currency": row.currency,
        "isin": row.isin,
        "exchange": row.exchange,
        "active": row.active,
    }


def _check_unique(db: Session, data: InstrumentWrite, isin: str | None, own_id: int | None) -> None:
    clash = db.exec(select(Instrument.id).where(Instrument.symbol == data.symbol)).first()
    if clash is not None and clash != own_id:
        raise Conflict(f"An instrument with the symbol {data.symbol} exists.", field="symbol")
    if isin:
        clash = db.exec(select(Instrument.id).where(Instrument.isin == isin)).first()
        if clash is not None and clash != own_id:
            raise Conflict(f"An instrument with the ISIN {isin} exists.", field="isin")


def create_instrument(
    db: Session, *, actor: AnyActor, data: InstrumentWrite | dict[str, Any]
) -> InstrumentPublic:
    require(actor, Permission.INSTRUMENTS_MANAGE)
    if isinstance(data, dict):
        data = parse(InstrumentWrite, data)
    isin = check_isin(data.isin) if data.isin else None
    _check_unique(db, data, isin, None)
    row = Instrument(
        symbol=data.symbol,
        name=data.name,
        asset_class=data.asset_class.value,
        currency=data.currency,
        isin=isin,
        exchange=data.exchange or None,
        active=data.active,
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="instrument.create",
        entity="instrument",
        entity_id=row.id,
        changes=_snapshot(row),
    )
    return to_public(row)


def update_instrument(
    db: Session, *, actor: AnyActor, instrument_id: object, data: InstrumentWrite | dict[str, Any]
) -> InstrumentPublic:
    require(actor, Permission.INSTRUMENTS_MANAGE)
    row = db.get(Instrument, require_id(instrument_id, "instrument_id"))
    if row is None:
        raise NotFound("Instrument")
    if isinstance(data, dict):
        data = parse(InstrumentWrite, data)
    isin = check_isin(data.isin) if data.isin else None
    _check_unique(db, data, isin, row.id)
    before = _snapshot(row)
    row.symbol, row.name, row.asset_class = data.symbol, data.name, data.asset_class.value
    row.currency, row.isin, row.exchange, row.active = (
        data.currency,
        isin,
        data.exchange or None,
        data.active,
    )
    row.updated_at = utcnow()
    db.add(row)
    db.flush()
    changes = audit.diff(before, _snapshot(row))
    if changes:
        audit.record(
            db,
            actor=actor,
            action="instrument.update",
            entity="instrument",
            entity_id=row.id,
            changes=changes,
        )
    return to_public(row, db.get(InstrumentPrice, row.id))


def get_instrument(db: Session, *, actor: AnyActor, instrument_id: object) -> InstrumentPublic:
    require(actor, Permission.PORTFOLIOS_VIEW)
    row = db.get(Instrument, require_id(instrument_id, "instrument_id"))
    if row is None:
        raise NotFound("Instrument")
    return to_public(row, db.get(InstrumentPrice, row.id))


def list_instruments(
    db: Session,
    *,
    actor: AnyActor,
    page: PageRequest,
    q: str | None = None,
    asset_class: str | None = None,
    include_inactive: bool = False,
) -> Page[InstrumentPublic]:
    require(actor, Permission.PORTFOLIOS_VIEW)
    conds: list[Any] = []
    if not include_inactive:
        conds.append(col(Instrument.active).is_(True))
    if asset_class:
        conds.append(Instrument.asset_class == asset_class)
    if q and q.strip():
        like = f"{escape_like(q.strip().upper())}%"
        conds.append(
            sa.or_(
                col(Instrument.symbol).like(like, escape="\\"),
                func.upper(Instrument.name).like(
                    f"%{escape_like(q.strip().upper())}%", escape="\\"
                ),
            )
        )
    total = db.exec(select(func.count()).select_from(Instrument).where(*conds)).one()
    rows = db.exec(
        select(Instrument, InstrumentPrice)
        .join(
            InstrumentPrice,
            col(InstrumentPrice.instrument_id) == Instrument.id,
            isouter=True,
        )
        .where(*conds)
        .order_by(Instrument.symbol)
        .offset(page.offset)
        .limit(page.limit + 1)
    ).all()
    return Page.build([to_public(i, p) for i, p in rows], page=page, total=total)


def resolve(
    db: Session, *, instrument_id: int | None = None, symbol: str | None = None
) -> Instrument:
    """The active instrument named by id or symbol, else a ValidationFailed naming the field."""
    row: Instrument | None = None
    if instrument_id is not None:
        row = db.get(Instrument, instrument_id)
        field = "instrument_id"
    elif symbol:
        row = db.exec(select(Instrument).where(Instrument.symbol == symbol.strip().upper())).first()
        field = "symbol"
    else:
        raise ValidationFailed("is required for this kind of transaction", field="instrument_id")
    if row is None:
        raise ValidationFailed("is not a known instrument", field=field)
    if not row.active:
        raise ValidationFailed(f"{row.symbol} is inactive: it cannot be traded", field=field)
    return row


class ClosePublic(BaseModel):
    day: date
    close: Decimal


def daily_closes(
    db: Session,
    *,
    actor: AnyActor,
    instrument_id: object,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[ClosePublic]:
    """An instrument's daily closes, oldest first, at most 800 days per call."""
    require(actor, Permission.PORTFOLIOS_VIEW)
    row = db.get(Instrument, require_id(instrument_id, "instrument_id"))
    if row is None:
        raise NotFound("Instrument")
    end = date_to or utcnow().date()
    start = date_from or end - timedelta(days=731)
    if end < start:
        raise ValidationFailed("ends before it starts", field="date_to")
    start = max(start, end - timedelta(days=800))
    rows = db.exec(
        select(DailyClose)
        .where(DailyClose.instrument_id == row.id, DailyClose.day >= start, DailyClose.day <= end)
        .order_by(col(DailyClose.day))
    ).all()
    return [ClosePublic(day=r.day, close=r.close) for r in rows]
