"""Exporting firms and traders as CSV: every row the actor may see under the list filters.

Rules: exporting needs Permission.DATA_EXPORT on top of seeing the records; the rows are those
of the firm / trader list for the same filters and sort (the list's own conditions and access
rules), all of them rather than one page, read page by page with a keyset so a large book never
sits in memory; the columns are the import columns, so an export imports unchanged.
Each export is recorded in the audit trail (who exported what, with which filters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, cast

import sqlalchemy as sa
from sqlmodel import Session, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.encryption.columns import open_value
from brm_app.models.firm import CoverageRole, Firm, FirmCoverage
from brm_app.models.trader import Trader, TraderPermission
from brm_app.models.user import User
from brm_app.services import audit, firms, traders
from brm_app.services.bulk.csv_format import (
    FIRM_COLUMNS,
    LIST_SEPARATOR,
    TRADER_COLUMNS,
    csv_text,
)
from brm_app.services.errors import ValidationFailed
from brm_app.services.firms import FirmQuery
from brm_app.services.traders import TraderQuery

AnyActor = Actor | SystemActor
PAGE_SIZE = 1000
BOM = "\ufeff"


def _check_order(sorts: dict[str, Any], query: FirmQuery | TraderQuery) -> None:
    if query.sort not in sorts:
        raise ValidationFailed(f"must be one of {', '.join(sorts)}", field="sort")
    if query.direction not in ("asc", "desc"):
        raise ValidationFailed("must be asc or desc", field="direction")


def _firm_conditions(db: Session, actor: AnyActor, query: FirmQuery) -> list[Any]:
    require(actor, Permission.DATA_EXPORT)
    require(actor, Permission.FIRMS_VIEW)
    _check_order(firms.SORTS, query)
    # The firm list's own conditions: visibility, search, filters.
    return firms.list_conditions(db, actor, query)


def _trader_conditions(db: Session, actor: AnyActor, query: TraderQuery) -> list[Any]:
    """The trader list's own conditions for the same query."""
    require(actor, Permission.DATA_EXPORT)
    require(actor, Permission.TRADERS_VIEW)
    _check_order(traders.SORTS, query)
    return traders.list_conditions(db, actor, query)


def check_export(db: Session, *, actor: AnyActor, query: FirmQuery | TraderQuery) -> None:
    """Refuse an export the actor may not make (or with bad filters); record the one they may."""
    if isinstance(query, FirmQuery):
        kind = "firms"
        _firm_conditions(db, actor, query)
    elif isinstance(query, TraderQuery):
        kind = "traders"
        _trader_conditions(db, actor, query)
    else:
        raise ValidationFailed("unknown export", field="kind")
    filters = {k: v for k, v in dataclasses.asdict(query).items() if v not in (None, False, "")}
    audit.record(
        db,
        actor=actor,
        action="data.exported",
        entity="export",
        entity_id=kind,
        changes={"kind": kind, "filters": filters},
    )
    from brm_app.services import read_traces

    read_traces.trace(db, actor, "export")


def _after(sort_col: Any, id_col: Any, desc: bool, value: Any, last_id: int) -> Any:
    if desc:
        return sa.or_(sort_col < value, sa.and_(sort_col == value, id_col < last_id))
    return sa.or_(sort_col > value, sa.and_(sort_col == value, id_col > last_id))


def _order(sort_col: Any, id_col: Any, desc: bool) -> tuple[Any, Any]:
    return (sort_col.desc(), id_col.desc()) if desc else (sort_col.asc(), id_col.asc())


# ---- firms ---------------------------------------------------------------------------------


def export_firms_csv(
    db: Session,
    *,
    actor: AnyActor,
    query: FirmQuery = FirmQuery(),
    bom: bool = False,
    page_size: int = PAGE_SIZE,
) -> Iterator[str]:
    """CSV text in chunks (header first). Permission and filters are checked before it returns."""
    conds = _firm_conditions(db, actor, query)
    return _firm_chunks(db, conds, query, bom, page_size)


def _firm_chunks(
    db: Session, conds: list[Any], query: FirmQuery, bom: bool, page_size: int
) -> Iterator[str]:
    yield (BOM if bom else "") + csv_text([FIRM_COLUMNS])
    sort_col = firms.SORTS[query.sort]
    desc = query.direction == "desc"
    last: tuple[Any, int] | None = None
    while True:
        page_conds = list(conds)
        if last is not None:
            page_conds.append(_after(sort_col, Firm.id, desc, *last))
        rows = db.exec(
            select(  # type: ignore[call-overload]  # (more columns than its overloads)
                Firm.id,
                Firm.name,
                Firm.lei,
                Firm.street,
                Firm.city,
                Firm.postal_code,
                Firm.country,
                Firm.phone,
                Firm.email,
                Firm.website,
                Firm.account_status,
                Firm.tier,
                Firm.notes,
                sort_col,
                Firm.row_key,
            )
            .where(*page_conds)
            .order_by(*_order(sort_col, Firm.id, desc))
            .limit(page_size)
        ).all()
        if not rows:
            return
        coverage = _coverage_emails(db, [r[0] for r in rows])
        yield csv_text(
            [
                *(v or "" for v in _opened_firm(r)[1:13]),
                *coverage.get(r[0], ("", "")),
            ]
            for r in rows
        )
        if len(rows) < page_size:
            return
        last = (rows[-1][13], rows[-1][0])


# Positions of the encrypted columns in the firm export's rows (street, postal code, phone,
# email, website, notes): decrypted as each page is written.
_FIRM_SEALED = {3: "street", 5: "postal_code", 7: "phone", 8: "email", 9: "website", 12: "notes"}


def _opened_firm(row: Any) -> list[Any]:
    values = list(row)
    for i, name in _FIRM_SEALED.items():
        values[i] = open_value("firms", name, row[-1], values[i])
    return values


def _coverage_emails(db: Session, firm_ids: list[int]) -> dict[int, tuple[str, str]]:
    """firm id -> (primary broker's email, secondary brokers' emails joined by ';')."""
    primary: dict[int, str] = {}
    secondary: dict[int, list[str]] = {}
    rows = db.exec(
        select(FirmCoverage.firm_id, FirmCoverage.role, User.email, User.row_key)
        .join(User, User.id == FirmCoverage.broker_id)
        .where(FirmCoverage.firm_id.in_(firm_ids))
    ).all()
    # Emails are encrypted: opened, then sorted (as the SQL sorted them before).
    opened = sorted(
        (open_value("users", "email", row_key, cast(bytes, sealed)) or "", firm_id, role)
        for firm_id, role, sealed, row_key in rows
    )
    for email, firm_id, role in opened:
        if role == CoverageRole.PRIMARY:
            primary[firm_id] = email
        else:
            secondary.setdefault(firm_id, []).append(email)
    return {
        fid: (primary.get(fid, ""), LIST_SEPARATOR.join(secondary.get(fid, []))) for fid in firm_ids
    }


# ---- traders -------------------------------------------------------------------------------


def export_traders_csv(
    db: Session,
    *,
    actor: AnyActor,
    query: TraderQuery = TraderQuery(),
    bom: bool = False,
    page_size: int = PAGE_SIZE,
) -> Iterator[str]:
    """CSV text in chunks (header first). Permission and filters are checked before it returns."""
    conds = _trader_conditions(db, actor, query)
    return _trader_chunks(db, conds, query, bom, page_size)


def _trader_chunks(
    db: Session, conds: list[Any], query: TraderQuery, bom: bool, page_size: int
) -> Iterator[str]:
    yield (BOM if bom else "") + csv_text([TRADER_COLUMNS])
    sort_col = traders.SORTS[query.sort]
    desc = query.direction == "desc"
    flags = [getattr(Trader, p.value) for p in TraderPermission]
    last: tuple[Any, int] | None = None
    while True:
        page_conds = list(conds)
        if last is not None:
            page_conds.append(_after(sort_col, Trader.id, desc, *last))
        rows = db.exec(
            select(  # type: ignore[call-overload]  # (more columns than its overloads)
                Trader.id,
                Firm.name,
                Firm.lei,
                Trader.name,
                Trader.email,
                Trader.phone,
                Trader.role,
                Trader.status,
                sort_col,
                *flags,
                Trader.row_key,
            )
            .join(Firm, Firm.id == Trader.firm_id)
            .where(*page_conds)
            .order_by(*_order(sort_col, Trader.id, desc))
            .limit(page_size)
        ).all()
        if not rows:
            return
        yield csv_text(
            [
                r[1],
                r[2] or "",
                r[3],
                open_value("traders", "email", r[-1], r[4]) or "",
                open_value("traders", "phone", r[-1], r[5]) or "",
                r[6],
                LIST_SEPARATOR.join(
                    p.value for p, on in zip(TraderPermission, r[9:-1], strict=True) if on
                ),
                r[7],
            ]
            for r in rows
        )
        if len(rows) < page_size:
            return
        last = (rows[-1][8], rows[-1][0])
