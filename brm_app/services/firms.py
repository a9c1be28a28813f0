"""Client firms: the book, its coverage, archiving instead of deleting, and merging duplicates.

Rules enforced here (and so for the browser, the API, the CLI and imports alike):
- names are unique ignoring case and spacing; an LEI belongs to one firm;
- a broker who creates a firm becomes its primary broker; only managers and admins assign
  coverage (a firm created by a manager or admin must name its primary broker);
- brokers see and change only firms they cover; a trader sees only their own firm, read-only,
  without the internal notes; a firm the actor may not see is "not found";
- DELETE archives: the firm leaves every list, stays retained, and admins can restore it;
- a merge moves the source's traders (and coverage) to the target and archives the source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, has, require
from brm_app.db import utcnow
from brm_app.models.fields import name_key
from brm_app.models.firm import (
    AccountStatus,
    Address,
    BrokerRef,
    ContactDetails,
    Coverage,
    CoverageRole,
    Firm,
    FirmCoverage,
    FirmListItem,
    FirmPatch,
    FirmPublic,
    FirmWrite,
    Tier,
)
from brm_app.models.trader import Trader, TraderMove
from brm_app.models.user import Role, User
from brm_app.services import access, audit, drafts, legal_holds, search
from brm_app.services.brokers import active_broker, active_brokers, check_active_broker
from brm_app.services.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from brm_app.services.pagination import (
    Page,
    PageRequest,
    capped_count,
    decode_cursor,
    encode_cursor,
)
from brm_app.services.validation import require_id, rid

AnyActor = Actor | SystemActor

SORTS: dict[str, Any] = {
    "name": Firm.name_key,
    "updated": Firm.updated_at,
    "created": Firm.created_at,
    "tier": Firm.tier,
    "status": Firm.account_status,
    "city": func.coalesce(Firm.city, ""),
    "country": func.coalesce(Firm.country, ""),
}
_DATETIME_SORTS = {"updated", "created"}


# Built once: a fresh aliased() per request costs ~1-3 ms of column adaptation.
_PRIMARY = aliased(FirmCoverage)
_BROKER = aliased(User)


@dataclass(frozen=True)
class FirmQuery:
    q: str | None = None
    status: AccountStatus | None = None
    tier: Tier | None = None
    covered_by_me: bool = False
    broker_id: int | None = None
    archived: bool = False
    sort: str = "name"
    direction: Literal["asc", "desc"] = "asc"
    # Only these firms (a selection on the list: bulk export); still only those one may see.
    ids: tuple[int, ...] | None = None


# ---- loading with access checks --------------------------------------------------------------


def load(
    db: Session, actor: AnyActor, firm_id: object, permission: Permission = Permission.FIRMS_VIEW
) -> Firm:
    """The firm if the actor may use it for `permission`; else NotFound (or PermissionDenied by role)."""
    return access.load_authorized(
        db, actor, Firm, firm_id, permission, field="firm_id", what="Firm"
    )


def _load_live(db: Session, actor: AnyActor, firm_id: object, permission: Permission) -> Firm:
    firm = load(db, actor, firm_id, permission)
    if firm.archived_at is not None:
        raise ValidationFailed("This firm is archived; restore it first.", field="firm_id")
    return firm


# ---- reading ---------------------------------------------------------------------------------


def _coverage(db: Session, firm_ids: list[int]) -> dict[int, Coverage]:
    out = {fid: Coverage(primary=None, secondary=[]) for fid in firm_ids}
    if not firm_ids:
        return out
    rows = db.exec(
        select(FirmCoverage.firm_id, FirmCoverage.role, User.id, User.name)
        .join(User, User.id == FirmCoverage.broker_id)
        .where(FirmCoverage.firm_id.in_(firm_ids))
        .order_by(User.name)
    ).all()
    for firm_id, role, user_id, name in rows:
        ref = BrokerRef(user_id=user_id, name=name)
        if role == CoverageRole.PRIMARY:
            out[firm_id].primary = ref
        else:
            out[firm_id].secondary.append(ref)
    return out


def _trader_count(db: Session, firm_id: int) -> int:
    return db.exec(
        select(func.count())
        .select_from(Trader)
        .where(Trader.firm_id == firm_id, Trader.archived_at.is_(None))
    ).one()


def to_public(db: Session, actor: AnyActor, firm: Firm) -> FirmPublic:
    hide_internal = isinstance(actor, Actor) and actor.role == Role.TRADER
    return FirmPublic(
        firm_id=firm.id,
        name=firm.name,
        lei=firm.lei,
        address=Address(
            street=firm.street, city=firm.city, postal_code=firm.postal_code, country=firm.country
        ),
        contact_details=ContactDetails(phone=firm.phone, email=firm.email, website=firm.website),
        account_status=AccountStatus(firm.account_status),
        tier=Tier(firm.tier),
        notes=None if hide_internal else firm.notes,
        coverage=_coverage(db, [firm.id])[firm.id],
        trader_count=_trader_count(db, firm.id),
        recording_disclosed_on=firm.recording_disclosed_on,
        created_at=firm.created_at,
        updated_at=firm.updated_at,
        archived_at=firm.archived_at,
        merged_into_id=firm.merged_into_id,
    )


def get_firm(db: Session, *, actor: AnyActor, firm_id: object) -> FirmPublic:
    return to_public(db, actor, load(db, actor, firm_id))


def list_conditions(db: Session, actor: AnyActor, query: FirmQuery) -> list[Any]:
    """The WHERE of a firm list (visibility, search, filters); exports use it too."""
    if query.archived:
        require(actor, Permission.FIRMS_RESTORE)
        conds: list[Any] = [Firm.archived_at.is_not(None)]
    else:
        conds = [access.firm_condition(actor)]
    if query.q:
        ids = search.firm_ids(db, query.q)
        lei = query.q.strip().upper()
        if ids is not None:
            conds.append(
                sa.or_(Firm.id.in_(ids), Firm.lei == lei) if len(lei) == 20 else Firm.id.in_(ids)
            )
    if query.status:
        conds.append(Firm.account_status == query.status.value)
    if query.tier:
        conds.append(Firm.tier == query.tier.value)
    if query.covered_by_me and isinstance(actor, Actor):
        conds.append(Firm.id.in_(access.covered_firm_ids(actor.user_id)))
    if query.broker_id is not None:
        conds.append(Firm.id.in_(access.covered_firm_ids(require_id(query.broker_id, "broker_id"))))
    if query.ids is not None:
        conds.append(col(Firm.id).in_([require_id(i, "ids") for i in query.ids]))
    return conds


def list_firms(
    db: Session,
    *,
    actor: AnyActor,
    query: FirmQuery = FirmQuery(),
    page: PageRequest = PageRequest(),
    cursor: str | None = None,
) -> Page[FirmListItem]:
    """One page of the firms the actor may see, filtered, sorted and counted in SQL."""
    require(actor, Permission.FIRMS_VIEW)
    if query.sort not in SORTS:
        raise ValidationFailed(f"must be one of {', '.join(SORTS)}", field="sort")
    if query.direction not in ("asc", "desc"):
        raise ValidationFailed("must be asc or desc", field="direction")
    conds = list_conditions(db, actor, query)
    sort_col = SORTS[query.sort]
    desc = query.direction == "desc"

    page_conds = list(conds)
    if cursor:
        page_conds.append(_after_cursor(cursor, query, sort_col, desc))

    primary, broker = _PRIMARY, _BROKER
    # Deferred join: pick the page's ids on firms alone (an index walk for OFFSET, the search
    # hits sorted for q), then join coverage and count traders for those rows only.
    order = (sort_col.desc(), Firm.id.desc()) if desc else (sort_col.asc(), Firm.id.asc())
    page_ids = select(Firm.id).where(*page_conds).order_by(*order).limit(page.limit + 1)
    if not cursor:
        page_ids = page_ids.offset(page.offset)
    trader_count = (
        select(func.count())
        .select_from(Trader)
        .where(Trader.firm_id == Firm.id, Trader.archived_at.is_(None))
        .correlate(Firm)
        .scalar_subquery()
    )
    stmt = (
        select(
            Firm.id,
            Firm.name,
            Firm.lei,
            Firm.city,
            Firm.country,
            Firm.account_status,
            Firm.tier,
            Firm.updated_at,
            Firm.archived_at,
            broker.id,
            broker.name,
            trader_count,
            sort_col,
        )
        .outerjoin(
            primary, sa.and_(primary.firm_id == Firm.id, primary.role == CoverageRole.PRIMARY.value)
        )
        .outerjoin(broker, broker.id == primary.broker_id)
        .where(Firm.id.in_(page_ids))
        .order_by(*order)
    )
    rows = db.exec(stmt).all()
    items = [
        FirmListItem(
            firm_id=r[0],
            name=r[1],
            lei=r[2],
            city=r[3],
            country=r[4],
            account_status=AccountStatus(r[5]),
            tier=Tier(r[6]),
            updated_at=r[7],
            archived_at=r[8],
            primary_broker=BrokerRef(user_id=r[9], name=r[10]) if r[9] else None,
            trader_count=r[11],
        )
        for r in rows
    ]
    total, at_least = capped_count(db, select(Firm.id).where(*conds))
    next_cursor = None
    if len(rows) > page.limit:
        last = rows[page.limit - 1]
        next_cursor = encode_cursor(
            {"s": query.sort, "d": query.direction, "v": last[12], "id": last[0]}
        )
    return Page.build(
        items, page=page, total=total, total_at_least=at_least, next_cursor=next_cursor
    )


def _after_cursor(cursor: str, query: FirmQuery, sort_col: Any, desc: bool) -> Any:
    data = decode_cursor(cursor)
    if (
        data.get("s") != query.sort
        or data.get("d") != query.direction
        or not isinstance(data.get("id"), int)
    ):
        raise ValidationFailed("does not belong to this sort order", field="cursor")
    value = data.get("v")
    if query.sort in _DATETIME_SORTS:
        try:
            value = datetime.fromisoformat(str(value))
        except ValueError:
            raise ValidationFailed("is not a cursor this API returned", field="cursor") from None
        if value.tzinfo is None:
            raise ValidationFailed("is not a cursor this API returned", field="cursor")
    elif not isinstance(value, str):
        raise ValidationFailed("is not a cursor this API returned", field="cursor")
    last_id = data["id"]
    # A row-value comparison: SQLite and PostgreSQL seek the (sort, id) index to it directly.
    if desc:
        return sa.tuple_(sort_col, Firm.id) < sa.tuple_(value, last_id)
    return sa.tuple_(sort_col, Firm.id) > sa.tuple_(value, last_id)


def may_list_brokers(actor: AnyActor) -> bool:
    return not (isinstance(actor, Actor) and actor.role == Role.TRADER)


def brokers(db: Session, *, actor: AnyActor) -> list[BrokerRef]:
    """Active brokers, for coverage pickers and filters (staff only)."""
    if not may_list_brokers(actor):
        raise PermissionDenied()
    return [BrokerRef(user_id=i, name=n) for i, n in active_brokers(db)]


# ---- writing ---------------------------------------------------------------------------------


def _snapshot(firm: Firm) -> dict[str, Any]:
    return {
        "name": firm.name,
        "lei": firm.lei,
        "street": firm.street,
        "city": firm.city,
        "postal_code": firm.postal_code,
        "country": firm.country,
        "phone": firm.phone,
        "email": firm.email,
        "website": firm.website,
        "account_status": firm.account_status,
        "tier": firm.tier,
        "notes": firm.notes,
        "recording_disclosed_on": firm.recording_disclosed_on,
    }


def _coverage_snapshot(db: Session, firm_id: int) -> dict[str, Any]:
    rows = db.exec(
        select(FirmCoverage.broker_id, FirmCoverage.role).where(FirmCoverage.firm_id == firm_id)
    ).all()
    return {
        "primary_broker_id": next((b for b, r in rows if r == CoverageRole.PRIMARY), None),
        "secondary_broker_ids": sorted(b for b, r in rows if r == CoverageRole.SECONDARY),
    }


def _check_unique(db: Session, *, name: str, lei: str | None, except_id: int | None = None) -> None:
    stmt = select(Firm.id, Firm.archived_at).where(Firm.name_key == name_key(name))
    if except_id is not None:
        stmt = stmt.where(Firm.id != except_id)
    clash = db.exec(stmt).first()
    if clash is not None:
        hint = " (it is archived: an admin can restore it)" if clash[1] is not None else ""
        raise Conflict(f"A firm with this name already exists{hint}.", field="name")
    if lei:
        stmt = select(Firm.id).where(Firm.lei == lei)
        if except_id is not None:
            stmt = stmt.where(Firm.id != except_id)
        if db.exec(stmt).first() is not None:
            raise Conflict("Another firm already has this LEI.", field="lei")


def _apply(
    firm: Firm,
    *,
    name=None,
    lei=...,
    address: Address | None = None,
    contact: ContactDetails | None = None,
    account_status=None,
    tier=None,
    notes=...,
    recording_disclosed_on=...,
) -> None:
    if name is not None:
        firm.name = name
        firm.name_key = name_key(name)
    if lei is not ...:
        firm.lei = lei
    if address is not None:
        firm.street, firm.city = address.street, address.city
        firm.postal_code, firm.country = address.postal_code, address.country
    if contact is not None:
        firm.phone, firm.email, firm.website = contact.phone, contact.email, contact.website
    if account_status is not None:
        firm.account_status = AccountStatus(account_status).value
    if tier is not None:
        firm.tier = Tier(tier).value
    if notes is not ...:
        firm.notes = notes
    if recording_disclosed_on is not ...:
        firm.recording_disclosed_on = recording_disclosed_on


def _write_coverage(
    db: Session,
    actor: AnyActor,
    firm: Firm,
    primary_id: int | None,
    secondary_ids: list[int] | None,
) -> bool:
    """Replace the firm's coverage (primary_id None keeps the current primary). True if it changed."""
    current = _coverage_snapshot(db, firm.id)
    primary = (
        current["primary_broker_id"]
        if primary_id is None
        else check_active_broker(db, primary_id, "primary_broker_id")
    )
    if secondary_ids is None:
        secondary = set(current["secondary_broker_ids"])
    else:
        secondary = {check_active_broker(db, b, "secondary_broker_ids") for b in secondary_ids}
    secondary.discard(primary)
    wanted = {b: CoverageRole.SECONDARY.value for b in secondary}
    if primary is not None:
        wanted[primary] = CoverageRole.PRIMARY.value
    existing = {
        c.broker_id: c
        for c in db.exec(select(FirmCoverage).where(FirmCoverage.firm_id == firm.id)).all()
    }
    if {b: c.role for b, c in existing.items()} == wanted:
        return False
    assigned_by = actor.user_id if isinstance(actor, Actor) else None
    for broker_id, row in existing.items():
        if broker_id not in wanted or row.role != wanted[broker_id]:
            db.delete(row)
    db.flush()
    for broker_id, role in wanted.items():
        if broker_id not in existing or existing[broker_id].role != role:
            db.add(
                FirmCoverage(
                    firm_id=firm.id, broker_id=broker_id, role=role, assigned_by_id=assigned_by
                )
            )
    db.flush()
    return True


def create_firm(
    db: Session, *, actor: AnyActor, data: FirmWrite, public: bool = True
) -> FirmPublic | None:
    """Create a firm; `public=False` (bulk imports) skips reading the new record back."""
    require(actor, Permission.FIRMS_CREATE)
    is_broker = access.works_own_book(actor)
    primary_id, secondary_ids = data.primary_broker_id, data.secondary_broker_ids
    if is_broker:
        if (primary_id not in (None, actor.user_id)) or secondary_ids:
            raise PermissionDenied(
                "Only managers and admins assign coverage; you become the primary broker."
            )
        primary_id = actor.user_id
    elif primary_id is None:
        raise ValidationFailed("choose the firm's primary broker", field="primary_broker_id")
    _check_unique(db, name=data.name, lei=data.lei)
    now = utcnow()
    firm = Firm(
        name=data.name,
        name_key=name_key(data.name),
        created_at=now,
        updated_at=now,
        created_by_id=getattr(actor, "user_id", None),
    )
    _apply(
        firm,
        lei=data.lei,
        address=data.address,
        contact=data.contact_details,
        account_status=data.account_status,
        tier=data.tier,
        notes=data.notes,
        recording_disclosed_on=data.recording_disclosed_on,
    )
    db.add(firm)
    try:
        db.flush()
    except sa.exc.IntegrityError:
        raise Conflict("A firm with this name or LEI already exists.", field="name") from None
    coverage = _add_coverage(db, actor, firm, primary_id, secondary_ids or [])
    audit.record(
        db,
        actor=actor,
        action="firm.created",
        entity="firm",
        entity_id=firm.id,
        changes={"after": {**_snapshot(firm), **coverage}},
    )
    return to_public(db, actor, firm) if public else None


def create_firms(
    db: Session, *, actor: AnyActor, items: Sequence[FirmWrite]
) -> list[DomainError | None]:
    """Create many firms at once (bulk imports): for each item, the error that `create_firm`
    would raise for it (and then nothing of it is written), or None when it was created.

    The same rules as create_firm, checked for the whole batch in a few queries (uniqueness
    among existing firms and earlier items, active brokers), then written with one insert per
    table and one audit event per firm. A firm written by someone else between the checks and
    the insert surfaces as IntegrityError from this call (nothing of the batch is then usable:
    roll back and retry it item by item)."""
    require(actor, Permission.FIRMS_CREATE)
    is_broker = access.works_own_book(actor)
    results: list[DomainError | None] = [None] * len(items)
    names = {name_key(d.name) for d in items}
    leis = {d.lei for d in items if d.lei}
    taken_names = dict(
        _chunked_in(db, select(Firm.name_key, Firm.archived_at), Firm.name_key, names)
    )
    taken_leis = set(_chunked_in(db, select(Firm.lei), Firm.lei, leis))
    broker_ids = {d.primary_broker_id for d in items if d.primary_broker_id is not None}
    broker_ids |= {b for d in items for b in d.secondary_broker_ids or []}
    if is_broker and actor.user_id is not None:
        broker_ids.add(actor.user_id)
    active = set(_chunked_in(db, select(User.id).where(active_broker()), User.id, broker_ids))
    now = utcnow()
    created_by = getattr(actor, "user_id", None)
    assigned_by = actor.user_id if isinstance(actor, Actor) else None
    new: list[tuple[int, Any, int, list[int]]] = []
    for index, data in enumerate(items):
        primary_id, secondary_ids = data.primary_broker_id, data.secondary_broker_ids
        try:
            if is_broker:
                if (primary_id not in (None, actor.user_id)) or secondary_ids:
                    raise PermissionDenied(
                        "Only managers and admins assign coverage; you become the primary broker."
                    )
                primary_id = actor.user_id
            elif primary_id is None:
                raise ValidationFailed(
                    "choose the firm's primary broker", field="primary_broker_id"
                )
            key = name_key(data.name)
            if key in taken_names:
                hint = " (it is archived: an admin can restore it)" if taken_names[key] else ""
                raise Conflict(f"A firm with this name already exists{hint}.", field="name")
            if data.lei and data.lei in taken_leis:
                raise Conflict("Another firm already has this LEI.", field="lei")
            if primary_id is None or primary_id not in active:
                raise ValidationFailed("must be an active broker", field="primary_broker_id")
            if any(b not in active for b in secondary_ids or []):
                raise ValidationFailed("must be an active broker", field="secondary_broker_ids")
        except DomainError as exc:
            results[index] = exc
            continue
        taken_names[key] = None
        if data.lei:
            taken_leis.add(data.lei)
        firm = drafts.draft(
            Firm,
            name=data.name,
            name_key=key,
            created_at=now,
            updated_at=now,
            created_by_id=created_by,
        )
        _apply(
            firm,
            lei=data.lei,
            address=data.address,
            contact=data.contact_details,
            account_status=data.account_status,
            tier=data.tier,
            notes=data.notes,
        )
        secondary = sorted(set(secondary_ids or []) - {primary_id})
        assert primary_id is not None  # refused above otherwise
        new.append((index, firm, primary_id, secondary))
    if not new:
        return results
    ids = (
        db.connection()
        .execute(
            sa.insert(drafts.table(Firm)).returning(
                drafts.table(Firm).c.id, sort_by_parameter_order=True
            ),
            [drafts.values(Firm, firm) for _, firm, _, _ in new],
        )
        .scalars()
        .all()
    )
    coverage_rows = []
    changes = []
    for firm_id, (_, firm, primary, secondary) in zip(ids, new, strict=True):
        firm.id = firm_id
        coverage_rows.append(
            {
                "firm_id": firm_id,
                "broker_id": primary,
                "role": CoverageRole.PRIMARY.value,
                "assigned_at": now,
                "assigned_by_id": assigned_by,
            }
        )
        coverage_rows.extend(
            {
                "firm_id": firm_id,
                "broker_id": b,
                "role": CoverageRole.SECONDARY.value,
                "assigned_at": now,
                "assigned_by_id": assigned_by,
            }
            for b in secondary
        )
        coverage = {"primary_broker_id": primary, "secondary_broker_ids": secondary}
        changes.append(
            audit.Change(
                "firm.created", "firm", firm_id, {"after": {**_snapshot(firm), **coverage}}
            )
        )
    _insert_coverage(db, coverage_rows)
    audit.record_many(db, actor=actor, events=changes)
    return results


def _insert_coverage(db: Session, rows: list[dict[str, Any]]) -> None:
    db.connection().execute(sa.insert(drafts.table(FirmCoverage)), rows)


def _chunked_in(
    db: Session, stmt: Any, column: Any, values: set[Any], size: int = 500
) -> list[Any]:
    """The rows of `stmt` where `column` is one of `values`, asked in slices (bound-parameter
    limits)."""
    ordered = sorted(values, key=str)
    out: list[Any] = []
    for start in range(0, len(ordered), size):
        out.extend(db.exec(stmt.where(column.in_(ordered[start : start + size]))).all())
    return out


def _add_coverage(
    db: Session, actor: AnyActor, firm: Firm, primary_id: int, secondary_ids: list[int]
) -> dict[str, Any]:
    """Coverage of a brand-new firm (nothing to compare with or replace); returns its snapshot."""
    primary = check_active_broker(db, primary_id, "primary_broker_id")
    secondary = {check_active_broker(db, b, "secondary_broker_ids") for b in secondary_ids} - {
        primary
    }
    assigned_by = actor.user_id if isinstance(actor, Actor) else None
    db.add(
        FirmCoverage(
            firm_id=firm.id,
            broker_id=primary,
            role=CoverageRole.PRIMARY.value,
            assigned_by_id=assigned_by,
        )
    )
    for broker_id in sorted(secondary):
        db.add(
            FirmCoverage(
                firm_id=firm.id,
                broker_id=broker_id,
                role=CoverageRole.SECONDARY.value,
                assigned_by_id=assigned_by,
            )
        )
    db.flush()
    return {"primary_broker_id": primary, "secondary_broker_ids": sorted(secondary)}


def _update(
    db: Session, actor: AnyActor, firm_id: object, values: dict[str, Any], coverage: tuple | None
) -> FirmPublic:
    firm = _load_live(db, actor, firm_id, Permission.FIRMS_EDIT)
    before = {**_snapshot(firm), **_coverage_snapshot(db, firm.id)}
    if coverage is not None and coverage != (None, None):
        wanted_primary, wanted_secondary = coverage
        current = _coverage_snapshot(db, firm.id)
        changes_coverage = (
            wanted_primary is not None and wanted_primary != current["primary_broker_id"]
        ) or (
            wanted_secondary is not None
            and sorted(set(wanted_secondary)) != current["secondary_broker_ids"]
        )
        if changes_coverage:
            require(actor, Permission.COVERAGE_ASSIGN)
            _write_coverage(db, actor, firm, wanted_primary, wanted_secondary)
    new_name = values.get("name", firm.name)
    new_lei = values.get("lei", firm.lei)
    if name_key(new_name) != firm.name_key or new_lei != firm.lei:
        _check_unique(
            db, name=new_name, lei=new_lei if new_lei != firm.lei else None, except_id=firm.id
        )
    _apply(firm, **values)
    after = {**_snapshot(firm), **_coverage_snapshot(db, firm.id)}
    changes = audit.diff(before, after)
    if changes:
        firm.updated_at = utcnow()
        db.add(firm)
        try:
            db.flush()
        except sa.exc.IntegrityError:
            raise Conflict("A firm with this name or LEI already exists.", field="name") from None
        audit.record(
            db,
            actor=actor,
            action="firm.updated",
            entity="firm",
            entity_id=firm.id,
            changes=changes,
        )
    return to_public(db, actor, firm)


def replace_firm(db: Session, *, actor: AnyActor, firm_id: object, data: FirmWrite) -> FirmPublic:
    """PUT: every profile field takes the value sent (omitted ones become empty)."""
    values = {
        "name": data.name,
        "lei": data.lei,
        "address": data.address,
        "contact": data.contact_details,
        "account_status": data.account_status,
        "tier": data.tier,
        "notes": data.notes,
        "recording_disclosed_on": data.recording_disclosed_on,
    }
    return _update(db, actor, firm_id, values, (data.primary_broker_id, data.secondary_broker_ids))


def patch_firm(db: Session, *, actor: AnyActor, firm_id: object, data: FirmPatch) -> FirmPublic:
    """PATCH: only the fields sent change; inside address and contact_details too."""
    sent = data.model_fields_set
    values: dict[str, Any] = {}
    if "name" in sent:
        if data.name is None:
            raise ValidationFailed("is required", field="name")
        values["name"] = data.name
    if "lei" in sent:
        values["lei"] = data.lei
    if "notes" in sent:
        values["notes"] = data.notes
    if "recording_disclosed_on" in sent:
        values["recording_disclosed_on"] = data.recording_disclosed_on
    for key in ("account_status", "tier"):
        if key in sent:
            if getattr(data, key) is None:
                raise ValidationFailed("cannot be empty", field=key)
            values[key] = getattr(data, key)
    if "address" in sent or "contact_details" in sent:
        firm = _load_live(db, actor, firm_id, Permission.FIRMS_EDIT)
        if "address" in sent and data.address is not None:
            current = Address(
                street=firm.street,
                city=firm.city,
                postal_code=firm.postal_code,
                country=firm.country,
            )
            values["address"] = current.model_copy(
                update={k: getattr(data.address, k) for k in data.address.model_fields_set}
            )
        if "contact_details" in sent and data.contact_details is not None:
            current_c = ContactDetails(phone=firm.phone, email=firm.email, website=firm.website)
            values["contact"] = current_c.model_copy(
                update={
                    k: getattr(data.contact_details, k)
                    for k in data.contact_details.model_fields_set
                }
            )
    coverage = (
        data.primary_broker_id if "primary_broker_id" in sent else None,
        data.secondary_broker_ids if "secondary_broker_ids" in sent else None,
    )
    return _update(db, actor, firm_id, values, coverage)


def set_coverage(
    db: Session,
    *,
    actor: AnyActor,
    firm_id: object,
    primary_broker_id: object,
    secondary_broker_ids: list,
) -> FirmPublic:
    """Managers and admins assign the primary broker and the secondary brokers."""
    require(actor, Permission.COVERAGE_ASSIGN)
    if not isinstance(secondary_broker_ids, list):
        raise ValidationFailed("must be a list of broker ids", field="secondary_broker_ids")
    firm = _load_live(db, actor, firm_id, Permission.COVERAGE_ASSIGN)
    before = _coverage_snapshot(db, firm.id)
    if _write_coverage(
        db, actor, firm, require_id(primary_broker_id, "primary_broker_id"), secondary_broker_ids
    ):
        firm.updated_at = utcnow()
        db.add(firm)
        audit.record(
            db,
            actor=actor,
            action="firm.coverage_changed",
            entity="firm",
            entity_id=firm.id,
            changes=audit.diff(before, _coverage_snapshot(db, firm.id)),
        )
    return to_public(db, actor, firm)


def archive_firm(db: Session, *, actor: AnyActor, firm_id: object) -> None:
    """DELETE: the firm is archived, never removed; it leaves every list and admins can restore it."""
    firm = load(db, actor, firm_id, Permission.FIRMS_ARCHIVE)
    if firm.archived_at is not None:
        return
    legal_holds.ensure_firm_not_held(db, rid(firm.id), what="archived")
    firm.archived_at = firm.updated_at = utcnow()
    db.add(firm)
    audit.record(
        db,
        actor=actor,
        action="firm.archived",
        entity="firm",
        entity_id=firm.id,
        changes={"name": firm.name},
    )


def restore_firm(db: Session, *, actor: AnyActor, firm_id: object) -> FirmPublic:
    firm = load(db, actor, firm_id, Permission.FIRMS_RESTORE)
    if firm.archived_at is None:
        raise ValidationFailed("This firm is not archived.", field="firm_id")
    clash = db.exec(
        select(Firm.id).where(
            Firm.name_key == firm.name_key, Firm.id != firm.id, Firm.archived_at.is_(None)
        )
    ).first()
    if clash is not None:
        raise Conflict("A live firm already has this name; rename or merge it first.", field="name")
    firm.archived_at = None
    firm.updated_at = utcnow()
    db.add(firm)
    audit.record(
        db,
        actor=actor,
        action="firm.restored",
        entity="firm",
        entity_id=firm.id,
        changes={"name": firm.name, "was_merged_into": firm.merged_into_id},
    )
    firm.merged_into_id = None
    return to_public(db, actor, firm)


# Later modules (interactions, follow-ups, portfolios ...) re-point their rows from a merged firm
# to the surviving one: hook(db, source_id, target_id) -> {"what": count}. bootstrap.wire() lists
# them.
MergeHook = Callable[[Session, int, int], dict[str, int]]
_merge_hooks: tuple[MergeHook, ...] = ()


def install_merge_hooks(hooks: Sequence[MergeHook]) -> None:
    """Set the hooks every merge runs, in order, replacing any set before (so wiring twice
    runs each hook once)."""
    global _merge_hooks
    _merge_hooks = tuple(hooks)


def merge_hooks() -> tuple[MergeHook, ...]:
    return _merge_hooks


@dataclass(frozen=True)
class MergeResult:
    firm: FirmPublic
    traders_moved: int
    traders_matched: int
    moved: dict[str, int]


def merge_firms(
    db: Session, *, actor: AnyActor, source_id: object, target_id: object
) -> MergeResult:
    """Merge `source` into `target`: traders and coverage move, the source is archived.

    A source trader whose email already exists at the target is archived and linked to that
    trader (merged_into_id), so one person keeps one record.
    """
    require(actor, Permission.FIRMS_MERGE)
    target = _load_live(db, actor, target_id, Permission.FIRMS_MERGE)
    try:
        source = _load_live(db, actor, source_id, Permission.FIRMS_MERGE)
    except ValidationFailed as exc:
        raise ValidationFailed(
            exc.errors.get("firm_id", exc.message), field="source_firm_id"
        ) from None
    if source.id == target.id:
        raise ValidationFailed("A firm cannot be merged into itself.", field="source_firm_id")
    legal_holds.ensure_firm_not_held(db, rid(source.id), what="merged into another firm")
    legal_holds.ensure_firm_records_not_held(db, rid(source.id), what="merged into another firm")
    now = utcnow()
    actor_id = getattr(actor, "user_id", None)
    # The same person: the same email, compared by its blind index (emails are encrypted).
    target_emails = dict(
        db.exec(
            select(Trader.email_bidx, Trader.id).where(
                Trader.firm_id == target.id, Trader.archived_at.is_(None)
            )
        ).all()
    )
    moved = matched = 0
    for trader in db.exec(
        select(Trader).where(Trader.firm_id == source.id, Trader.archived_at.is_(None))
    ).all():
        if trader.email_bidx in target_emails:
            trader.archived_at = now
            trader.merged_into_id = target_emails[trader.email_bidx]
            matched += 1
        else:
            db.add(
                TraderMove(
                    trader_id=trader.id,
                    from_firm_id=source.id,
                    to_firm_id=target.id,
                    moved_at=now,
                    moved_by_id=actor_id,
                    reason=f"firm merge into #{target.id}",
                )
            )
            trader.firm_id = target.id
            moved += 1
        trader.updated_at = now
        db.add(trader)
    db.flush()
    # Coverage: the source's brokers join the target (the target's primary stays).
    target_cov = _coverage_snapshot(db, target.id)
    source_cov = _coverage_snapshot(db, source.id)
    brokers_to_add = {
        b for b in [source_cov["primary_broker_id"], *source_cov["secondary_broker_ids"]] if b
    }
    primary = target_cov["primary_broker_id"] or source_cov["primary_broker_id"]
    secondary = (set(target_cov["secondary_broker_ids"]) | brokers_to_add) - {primary}
    active = set(db.exec(select(User.id).where(User.id.in_(secondary), active_broker())).all())
    _write_coverage(db, SystemActor(), target, primary, sorted(active))
    extra: dict[str, int] = {}
    for hook in _merge_hooks:
        extra.update(hook(db, source.id, target.id))
    source.archived_at = source.updated_at = target.updated_at = now
    source.merged_into_id = target.id
    db.add(source)
    db.add(target)
    summary = {
        "source_id": source.id,
        "source_name": source.name,
        "target_id": target.id,
        "target_name": target.name,
        "traders_moved": moved,
        "traders_matched": matched,
        **extra,
    }
    audit.record(
        db, actor=actor, action="firm.merged", entity="firm", entity_id=target.id, changes=summary
    )
    audit.record(
        db,
        actor=actor,
        action="firm.archived",
        entity="firm",
        entity_id=source.id,
        changes={"name": source.name, "merged_into": target.id},
    )
    return MergeResult(to_public(db, actor, target), moved, matched, extra)


def can(actor: AnyActor, permission: Permission) -> bool:
    return has(actor, permission)
