"""Interactions: every touchpoint with traders, kept as versioned records of the firm.

Rules: an interaction involves one or more traders of one firm the actor may use; type and outcome
come from the admin-managed lists, the outcome allowed for the type; the date is read in the
given (or the user's) time zone and stored in UTC; without a subject (the design document's
interaction has none) it is "<type> with <trader names>" (never taken from the notes: they are
encrypted at rest and subjects are not); an edit
saves a new version and keeps every earlier one exactly as saved; the logging broker, managers
and admins edit; nobody deletes — an admin voids with a reason and the voided record stays
visible to compliance and admins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from types import SimpleNamespace
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import sqlalchemy as sa
from sqlmodel import Session, func, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, has, require
from brm_app.db import utcnow
from brm_app.encryption.columns import new_row_key, seal_row
from brm_app.models.firm import Firm
from brm_app.models.interaction import (
    SUBJECT_MAX,
    Interaction,
    InteractionPublic,
    InteractionTrader,
    InteractionVersion,
    InteractionVersionPublic,
    InteractionWrite,
)
from brm_app.models.trader import Trader
from brm_app.models.user import Role, User
from brm_app.services import access, audit, firms, interaction_config, legal_holds
from brm_app.services.errors import PermissionDenied, ValidationFailed
from brm_app.services.pagination import (
    Page,
    PageRequest,
    capped_count,
    decode_cursor,
    encode_cursor,
)
from brm_app.services.validation import require_id, require_text

AnyActor = Actor | SystemActor
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)


# ---- time zones --------------------------------------------------------------------------------


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: object, field_name: str = "time_zone") -> ZoneInfo:
    if not isinstance(name, str) or name not in _zones():
        raise ValidationFailed(
            "is not a time zone (use an IANA name like Europe/London)", field=field_name
        )
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        raise ValidationFailed("is not a time zone", field=field_name) from None


def user_zone_name(db: Session, actor: AnyActor) -> str:
    if isinstance(actor, SystemActor):
        return "UTC"
    if actor.time_zone is not None:
        return actor.time_zone
    tz = db.exec(select(User.time_zone).where(User.id == actor.user_id)).first()
    return tz or "UTC"


def to_utc(moment: datetime, tz_name: str) -> datetime:
    """An aware datetime as UTC; a naive one is read as wall-clock time in tz_name."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(tz_name))
    return moment.astimezone(UTC)


def local_day_bounds(
    day_from: date | None, day_to: date | None, tz_name: str
) -> tuple[datetime | None, datetime | None]:
    """The UTC instants where day_from starts and the day after day_to starts, in tz_name."""
    tz = zone(tz_name)
    for field_name, day in (("date_from", day_from), ("date_to", day_to)):
        if day is not None and not 1900 <= day.year <= 2999:
            raise ValidationFailed("must be between the years 1900 and 2999", field=field_name)
    start = datetime.combine(day_from, time(), tzinfo=tz).astimezone(UTC) if day_from else None
    end = (
        datetime.combine(day_to + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
        if day_to
        else None
    )
    if start and end and end <= start:
        raise ValidationFailed("ends before it starts", field="date_to")
    return start, end


# ---- access ------------------------------------------------------------------------------------


def interaction_visible(
    actor: Actor, permission: Permission, interaction: Interaction, db: Session
) -> bool:
    if interaction.voided_at is not None and not has(actor, Permission.INTERACTIONS_VIEW_VOIDED):
        return False
    firm = db.get(Firm, interaction.firm_id)
    return firm is not None and access.firm_visible(actor, permission, firm, db)


def load(
    db: Session,
    actor: AnyActor,
    interaction_id: object,
    permission: Permission = Permission.INTERACTIONS_VIEW,
) -> Interaction:
    return access.load_authorized(
        db,
        actor,
        Interaction,
        interaction_id,
        permission,
        field="interaction_id",
        what="Interaction",
    )


def may_edit(actor: AnyActor, row: Interaction) -> bool:
    """Beyond seeing it and INTERACTIONS_LOG: a broker edits only what they logged themselves."""
    return not (isinstance(actor, Actor) and actor.role == Role.BROKER) or (
        row.broker_id == actor.user_id
    )


def visible_condition(actor: AnyActor) -> Any:
    conds = [access.in_visible_firm(actor, Interaction.firm_id)]
    if not has(actor, Permission.INTERACTIONS_VIEW_VOIDED):
        conds.append(Interaction.voided_at.is_(None))
    return sa.and_(*conds)


# ---- reading -----------------------------------------------------------------------------------


def to_public(db: Session, rows: list[Interaction]) -> list[InteractionPublic]:
    """Public records for a page of interactions: names fetched in three batched queries."""
    if not rows:
        return []
    ids = [r.id for r in rows]
    links: dict[int, list[tuple[int, str]]] = {}
    for interaction_id, trader_id, name in db.exec(
        select(InteractionTrader.interaction_id, Trader.id, Trader.name)
        .join(Trader, Trader.id == InteractionTrader.trader_id)
        .where(InteractionTrader.interaction_id.in_(ids))
        .order_by(Trader.name_key, Trader.id)
    ).all():
        links.setdefault(interaction_id, []).append((trader_id, name))
    firm_names = dict(
        db.exec(select(Firm.id, Firm.name).where(Firm.id.in_({r.firm_id for r in rows}))).all()
    )
    broker_names = dict(
        db.exec(select(User.id, User.name).where(User.id.in_({r.broker_id for r in rows}))).all()
    )
    return [
        _public(
            r, firm_names.get(r.firm_id, ""), broker_names.get(r.broker_id, ""), links.get(r.id, [])
        )
        for r in rows
    ]


def _public(
    r: Interaction, firm_name: str, broker_name: str, people: list[tuple[int, str]]
) -> InteractionPublic:
    """`people`: the (id, name) of its traders, in name order."""
    return InteractionPublic(
        interaction_id=r.id,
        firm_id=r.firm_id,
        firm_name=firm_name,
        broker_id=r.broker_id,
        broker_name=broker_name,
        trader_ids=[t for t, _ in people],
        trader_names=[n for _, n in people],
        interaction_type=r.interaction_type,
        interaction_date=r.occurred_at,
        time_zone=r.time_zone,
        duration_minutes=r.duration_minutes,
        subject=r.subject,
        notes=r.notes,
        outcome=r.outcome,
        version=r.version,
        created_at=r.created_at,
        updated_at=r.updated_at,
        voided=r.voided_at is not None,
        voided_at=r.voided_at,
        void_reason=r.void_reason,
    )


def get_interaction(db: Session, *, actor: AnyActor, interaction_id: object) -> InteractionPublic:
    return to_public(db, [load(db, actor, interaction_id)])[0]


def versions(
    db: Session, *, actor: AnyActor, interaction_id: object
) -> list[InteractionVersionPublic]:
    """Every version, oldest first, each exactly as it was saved, with who saved it and when."""
    row = load(db, actor, interaction_id)
    found = db.exec(
        select(InteractionVersion, User.name)
        .join(User, User.id == InteractionVersion.saved_by_id)
        .where(InteractionVersion.interaction_id == row.id)
        .order_by(InteractionVersion.version)
    ).all()
    return [
        InteractionVersionPublic(
            version=v.version,
            saved_at=v.saved_at,
            saved_by_id=v.saved_by_id,
            saved_by=name,
            data=v.data,
        )
        for v, name in found
    ]


def names_in_versions(
    db: Session, found: list[InteractionVersionPublic]
) -> tuple[dict[int, str], dict[int, str]]:
    """(firm id -> name, trader id -> name) for the ids the saved versions hold, so a history
    can name them. `found` comes from versions(), which checked access to the interaction."""
    firm_ids: set[int] = set()
    trader_ids: set[int] = set()
    for v in found:
        data = json.loads(v.data)
        if isinstance(data.get("firm_id"), int):
            firm_ids.add(data["firm_id"])
        trader_ids.update(t for t in data.get("trader_ids") or [] if isinstance(t, int))
    firms_by_id = dict(db.exec(select(Firm.id, Firm.name).where(Firm.id.in_(firm_ids))).all())
    traders_by_id = dict(
        db.exec(select(Trader.id, Trader.name).where(Trader.id.in_(trader_ids))).all()
    )
    return firms_by_id, traders_by_id


@dataclass(frozen=True)
class InteractionQuery:
    firm_id: int | None = None
    trader_id: int | None = None
    broker_id: int | None = None
    types: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    date_from: date | None = None
    date_to: date | None = None
    include_voided: bool = False
    direction: Literal["desc", "asc"] = "desc"


def list_interactions(
    db: Session,
    *,
    actor: AnyActor,
    query: InteractionQuery = InteractionQuery(),
    page: PageRequest = PageRequest(),
    cursor: str | None = None,
) -> Page[InteractionPublic]:
    """Newest first (or oldest first), filtered by firm, trader, broker, type, outcome and date."""
    require(actor, Permission.INTERACTIONS_VIEW)
    conds: list[Any] = []
    if query.firm_id is not None:
        firm = firms.load(db, actor, query.firm_id, Permission.INTERACTIONS_VIEW)
        conds.append(Interaction.firm_id == firm.id)
    elif query.trader_id is None:
        conds.append(Interaction.firm_id.in_(select(Firm.id).where(access.firm_condition(actor))))
    else:
        # The trader's index drives: test each of their interactions' firms.
        conds.append(access.in_visible_firm(actor, Interaction.firm_id))
    date_col = Interaction.occurred_at
    if query.trader_id is not None:
        from brm_app.services import traders

        trader = traders.load(db, actor, query.trader_id)
        date_col = InteractionTrader.occurred_at
        conds.append(InteractionTrader.trader_id == trader.id)
    if not (query.include_voided and has(actor, Permission.INTERACTIONS_VIEW_VOIDED)):
        conds.append(Interaction.voided_at.is_(None))
    if query.broker_id is not None:
        conds.append(Interaction.broker_id == require_id(query.broker_id, "broker_id"))
    if query.types:
        conds.append(Interaction.interaction_type.in_(query.types))
    if query.outcomes:
        conds.append(Interaction.outcome.in_(query.outcomes))
    start, end = local_day_bounds(query.date_from, query.date_to, user_zone_name(db, actor))
    if start:
        conds.append(date_col >= start)
    if end:
        conds.append(date_col < end)
    desc = query.direction == "desc"
    page_conds = list(conds)
    if cursor:
        data = decode_cursor(cursor)
        try:
            when, last_id = datetime.fromisoformat(str(data["t"])), data["id"]
        except (KeyError, ValueError, TypeError):
            raise ValidationFailed("is not a cursor this API returned", field="cursor") from None
        if when.tzinfo is None:
            raise ValidationFailed("is not a cursor this API returned", field="cursor")
        id_col = InteractionTrader.interaction_id if query.trader_id is not None else Interaction.id
        if desc:
            page_conds.append(sa.or_(date_col < when, sa.and_(date_col == when, id_col < last_id)))
        else:
            page_conds.append(sa.or_(date_col > when, sa.and_(date_col == when, id_col > last_id)))
    stmt = select(Interaction)
    if query.trader_id is not None:
        stmt = stmt.join(InteractionTrader, InteractionTrader.interaction_id == Interaction.id)
        order = (InteractionTrader.occurred_at, InteractionTrader.interaction_id)
    else:
        order = (Interaction.occurred_at, Interaction.id)
    stmt = (
        stmt.where(*page_conds)
        .order_by(*(c.desc() if desc else c.asc() for c in order))
        .limit(page.limit + 1)
    )
    if not cursor:
        stmt = stmt.offset(page.offset)
    rows = list(db.exec(stmt).all())
    count_q = select(Interaction.id)
    if query.trader_id is not None:
        count_q = count_q.join(
            InteractionTrader, InteractionTrader.interaction_id == Interaction.id
        )
    total, at_least = capped_count(db, count_q.where(*conds))
    next_cursor = None
    if len(rows) > page.limit:
        last = rows[page.limit - 1]
        next_cursor = encode_cursor({"t": last.occurred_at.isoformat(), "id": last.id})
    return Page.build(
        to_public(db, rows),
        page=page,
        total=total,
        total_at_least=at_least,
        next_cursor=next_cursor,
    )


# ---- writing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    firm: Firm
    trader_ids: list[int]
    traders: list[Trader]  # in name order
    interaction_type: str
    outcome: str | None
    occurred_at: datetime
    time_zone: str
    duration_minutes: int | None
    subject: str


def derive_subject(type_name: str, trader_names: list[str]) -> str:
    """The subject of an interaction logged without one: "<type> with <trader names>" ("Meeting
    with Ann Lee and Bo Chan"). Not the notes' first line: subjects are stored in clear (search
    and the palette read them) while notes are encrypted."""
    names = (
        trader_names if len(trader_names) < 2 else [", ".join(trader_names[:-1]), trader_names[-1]]
    )
    subject = f"{type_name} with {' and '.join(names)}"
    if len(subject) > SUBJECT_MAX:  # many traders: name the first, count the others
        subject = f"{type_name} with {trader_names[0]} and {len(trader_names) - 1} others"
    return subject[:SUBJECT_MAX]


def _check(
    db: Session, actor: AnyActor, data: InteractionWrite, *, fixed_firm_id: int | None = None
) -> _Checked:
    if data.trader_id is not None and data.trader_ids:
        raise ValidationFailed("send trader_id or trader_ids, not both", field="trader_ids")
    trader_ids = list(
        dict.fromkeys(data.trader_ids or ([data.trader_id] if data.trader_id else []))
    )
    if not trader_ids:
        raise ValidationFailed("choose at least one trader", field="trader_ids")
    # One query: each trader with whether the actor may see them.
    may_see = sa.case((access.trader_condition(actor), True), else_=False)
    found = db.exec(select(Trader, may_see).where(Trader.id.in_(trader_ids))).all()
    people = {t.id: t for t, _ in found}
    visible = {t.id for t, seen in found if seen}
    for tid in trader_ids:
        if tid not in people or tid not in visible or people[tid].archived_at is not None:
            raise ValidationFailed(
                f"trader {tid} is not one you can log an interaction with", field="trader_ids"
            )
    firm_ids = {people[t].firm_id for t in trader_ids}
    if fixed_firm_id is not None and data.firm_id not in (None, fixed_firm_id):
        raise ValidationFailed("an interaction cannot move to another firm", field="firm_id")
    expected_firm = fixed_firm_id or data.firm_id
    if len(firm_ids) > 1 or (expected_firm is not None and firm_ids != {expected_firm}):
        raise ValidationFailed(
            "traders must all work at the interaction's firm", field="trader_ids"
        )
    firm = firms.load(db, actor, firm_ids.pop(), Permission.INTERACTIONS_LOG)
    if firm.archived_at is not None:
        raise ValidationFailed("This firm is archived.", field="firm_id")
    type_name, outcome = interaction_config.resolve(db, data.interaction_type, data.outcome)
    tz_name = data.time_zone or user_zone_name(db, actor)
    zone(tz_name)
    occurred_at = to_utc(data.interaction_date, tz_name)
    if not EARLIEST <= occurred_at <= utcnow() + timedelta(days=366):
        raise ValidationFailed("must be between 1990 and a year from now", field="interaction_date")
    duration = data.duration_minutes
    if data.interaction_end is not None:
        ends = to_utc(data.interaction_end, tz_name)
        if ends < occurred_at:
            raise ValidationFailed("ends before it starts", field="interaction_end")
        minutes = int((ends - occurred_at).total_seconds() // 60)
        if minutes > 24 * 60:
            raise ValidationFailed("must be within 24 hours of the start", field="interaction_end")
        if duration is not None and duration != minutes:
            raise ValidationFailed("does not match interaction_end", field="duration_minutes")
        duration = minutes
    ordered = sorted((people[t] for t in trader_ids), key=lambda t: (t.name_key, t.id))
    subject = data.subject or derive_subject(type_name, [t.name for t in ordered])
    return _Checked(
        firm, trader_ids, ordered, type_name, outcome, occurred_at, tz_name, duration, subject
    )


def _version_json(row: Interaction, trader_ids: list[int]) -> str:
    return json.dumps(
        {
            "firm_id": row.firm_id,
            "trader_ids": sorted(trader_ids),
            "interaction_type": row.interaction_type,
            "interaction_date": row.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "time_zone": row.time_zone,
            "duration_minutes": row.duration_minutes,
            "subject": row.subject,
            "notes": row.notes,
            "outcome": row.outcome,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _refresh_last_contact(db: Session, firm_id: int) -> None:
    latest = db.exec(
        select(func.max(Interaction.occurred_at)).where(
            Interaction.firm_id == firm_id, Interaction.voided_at.is_(None)
        )
    ).one()
    db.exec(sa.update(Firm).where(Firm.id == firm_id).values(last_interaction_at=latest))


_INSERT_INTERACTION = sa.insert(Interaction.__table__)  # type: ignore[attr-defined]
_INSERT_VERSION = sa.insert(InteractionVersion.__table__)  # type: ignore[attr-defined]
_INSERT_TRADER_LINK = sa.insert(InteractionTrader.__table__)  # type: ignore[attr-defined]


def log_interaction(db: Session, *, actor: AnyActor, data: InteractionWrite) -> InteractionPublic:
    require(actor, Permission.INTERACTIONS_LOG)
    checked = _check(db, actor, data)
    now = utcnow()
    actor_id = getattr(actor, "user_id", None)
    if actor_id is None:
        raise PermissionDenied("Interactions are logged by a person.")
    values = {
        "firm_id": checked.firm.id,
        "broker_id": actor_id,
        "interaction_type": checked.interaction_type,
        "occurred_at": checked.occurred_at,
        "time_zone": checked.time_zone,
        "duration_minutes": checked.duration_minutes,
        "subject": checked.subject,
        "notes": data.notes or None,
        "outcome": checked.outcome,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "updated_by_id": actor_id,
        "row_key": new_row_key(),
    }
    # Plain inserts on the connection (the ORM's unit of work cost more than the statements);
    # `row` is what the answer is built from, not a session object.
    db.flush()
    conn = db.connection()
    # Core statements seal their encrypted values themselves (the notes; the version's JSON).
    inserted = conn.execute(
        _INSERT_INTERACTION, seal_row("interactions", values)
    ).inserted_primary_key
    assert inserted is not None
    # Not a session object, and no model validation: the values were checked above.
    row = cast(
        Interaction, SimpleNamespace(id=inserted[0], voided_at=None, void_reason=None, **values)
    )
    conn.execute(
        _INSERT_VERSION,
        seal_row(
            "interaction_versions",
            {
                "interaction_id": row.id,
                "version": 1,
                "row_key": new_row_key(),
                "data": _version_json(row, checked.trader_ids),
                "saved_at": now,
                "saved_by_id": actor_id,
            },
        ),
    )
    conn.execute(
        _INSERT_TRADER_LINK,
        [
            {"interaction_id": row.id, "trader_id": tid, "occurred_at": row.occurred_at}
            for tid in checked.trader_ids
        ],
    )
    last = checked.firm.last_interaction_at
    if last is None or row.occurred_at > last:
        db.exec(
            sa.update(Firm)
            .where(Firm.id == checked.firm.id)
            .values(last_interaction_at=row.occurred_at)
        )
    audit.record(
        db,
        actor=actor,
        action="interaction.logged",
        entity="interaction",
        entity_id=row.id,
        changes={
            "firm_id": row.firm_id,
            "type": row.interaction_type,
            "outcome": row.outcome,
            "trader_ids": checked.trader_ids,
        },
    )
    db.flush()
    # Everything it shows is at hand: no need to read it back.
    broker_name = getattr(actor, "name", None) or db.get(User, actor_id).name
    people = [(t.id, t.name) for t in checked.traders]
    return _public(row, checked.firm.name, broker_name, people)


def edit_interaction(
    db: Session, *, actor: AnyActor, interaction_id: object, data: InteractionWrite
) -> InteractionPublic:
    """Save a new version; every earlier version stays retrievable exactly as it was."""
    row = load(db, actor, interaction_id, Permission.INTERACTIONS_LOG)
    if row.voided_at is not None:
        raise ValidationFailed("A voided interaction cannot be edited.", field="interaction_id")
    actor_id = getattr(actor, "user_id", None)
    if not may_edit(actor, row):
        raise PermissionDenied("Only the broker who logged it, a manager or an admin can edit it.")
    checked = _check(db, actor, data, fixed_firm_id=row.firm_id)
    old_traders = sorted(
        db.exec(
            select(InteractionTrader.trader_id).where(InteractionTrader.interaction_id == row.id)
        ).all()
    )
    before = json.loads(_version_json(row, old_traders))
    row.interaction_type = checked.interaction_type
    row.occurred_at = checked.occurred_at
    row.time_zone = checked.time_zone
    row.duration_minutes = checked.duration_minutes
    row.subject = checked.subject
    row.notes = data.notes or None
    row.outcome = checked.outcome
    new_json = _version_json(row, checked.trader_ids)
    changes = audit.diff(before, json.loads(new_json))
    if not changes:
        db.refresh(row)
        return to_public(db, [row])[0]
    now = utcnow()
    row.version += 1
    row.updated_at = now
    row.updated_by_id = actor_id
    db.add(row)
    db.add(
        InteractionVersion(
            interaction_id=row.id,
            version=row.version,
            data=new_json,
            saved_at=now,
            saved_by_id=actor_id,
        )
    )
    db.exec(sa.delete(InteractionTrader).where(InteractionTrader.interaction_id == row.id))
    for tid in checked.trader_ids:
        db.add(InteractionTrader(interaction_id=row.id, trader_id=tid, occurred_at=row.occurred_at))
    db.flush()
    _refresh_last_contact(db, row.firm_id)
    audit.record(
        db,
        actor=actor,
        action="interaction.edited",
        entity="interaction",
        entity_id=row.id,
        changes={"version": row.version, **changes},
    )
    return to_public(db, [row])[0]


def void_interaction(
    db: Session, *, actor: AnyActor, interaction_id: object, reason: object
) -> InteractionPublic:
    """Admins void an interaction with a reason; it stays on record (compliance and admins see it)."""
    require(actor, Permission.INTERACTIONS_VOID)
    row = load(db, actor, interaction_id, Permission.INTERACTIONS_VOID)
    reason = require_text(reason, "reason", max_length=500, required=True)
    if len(reason) < 3:
        raise ValidationFailed("give a reason of at least 3 characters", field="reason")
    if row.voided_at is not None:
        raise ValidationFailed("This interaction is already voided.", field="interaction_id")
    legal_holds.ensure_interaction_not_held(db, row, what="voided")
    row.voided_at = utcnow()
    row.voided_by_id = getattr(actor, "user_id", None)
    row.void_reason = reason
    db.add(row)
    db.flush()
    _refresh_last_contact(db, row.firm_id)
    audit.record(
        db,
        actor=actor,
        action="interaction.voided",
        entity="interaction",
        entity_id=row.id,
        changes={"reason": reason},
    )
    return to_public(db, [row])[0]


def move_to_firm(db: Session, source_id: int, target_id: int) -> dict[str, int]:
    """Firm merge hook: the source firm's interactions become the target's."""
    moved = db.exec(
        sa.update(Interaction).where(Interaction.firm_id == source_id).values(firm_id=target_id)
    ).rowcount
    # Traders matched to a trader of the target (same email) hand their interactions over.
    for old_id, new_id in db.exec(
        select(Trader.id, Trader.merged_into_id).where(
            Trader.firm_id == source_id, Trader.merged_into_id.is_not(None)
        )
    ).all():
        db.exec(
            sa.update(InteractionTrader)
            .where(InteractionTrader.trader_id == old_id)
            .values(trader_id=new_id)
        )
    _refresh_last_contact(db, target_id)
    return {"interactions_moved": moved or 0}
