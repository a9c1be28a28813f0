"""The interaction types and outcomes brokers choose from, and which outcomes each type allows.
Eight types and six outcomes are built in; admins add types and outcomes and set the pairs."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.models.fields import name_key
from brm_app.models.interaction import InteractionOutcome, InteractionType, InteractionTypeOutcome
from brm_app.services import audit
from brm_app.services.errors import Conflict, NotFound, ValidationFailed
from brm_app.services.validation import require_name, require_text


@dataclass(frozen=True)
class TypeConfig:
    name: str
    active: bool
    built_in: bool
    outcomes: list[str]


def config(db: Session, *, include_inactive: bool = False) -> list[TypeConfig]:
    """Types in display order, each with its allowed outcomes in display order."""
    types = db.exec(
        select(InteractionType).order_by(InteractionType.sort_order, InteractionType.name)
    ).all()
    pairs = db.exec(
        select(InteractionTypeOutcome.type_id, InteractionOutcome.name)
        .join(InteractionOutcome, InteractionOutcome.id == InteractionTypeOutcome.outcome_id)
        .order_by(InteractionOutcome.sort_order, InteractionOutcome.name)
    ).all()
    by_type: dict[int, list[str]] = {}
    for type_id, outcome in pairs:
        by_type.setdefault(type_id, []).append(outcome)
    return [
        TypeConfig(t.name, t.is_active, t.built_in, by_type.get(t.id, []))
        for t in types
        if include_inactive or t.is_active
    ]


def types_for(
    db: Session, *, actor: Actor | SystemActor, include_inactive: bool = False
) -> list[TypeConfig]:
    """The type list as people who log or read interactions see it (inactive ones: admins)."""
    require(actor, Permission.APP_SETTINGS if include_inactive else Permission.INTERACTIONS_VIEW)
    return config(db, include_inactive=include_inactive)


def outcomes(db: Session) -> list[str]:
    return list(
        db.exec(
            select(InteractionOutcome.name).order_by(
                InteractionOutcome.sort_order, InteractionOutcome.name
            )
        ).all()
    )


_TYPES = InteractionType.__table__  # type: ignore[attr-defined]
_OUTCOMES = InteractionOutcome.__table__  # type: ignore[attr-defined]
_PAIRS = InteractionTypeOutcome.__table__  # type: ignore[attr-defined]
_RESOLVE = (
    sa.select(_TYPES.c.name, _TYPES.c.is_active, _OUTCOMES.c.name, _PAIRS.c.type_id)
    .select_from(_TYPES)
    .outerjoin(_OUTCOMES, _OUTCOMES.c.name_key == sa.bindparam("outcome_key"))
    .outerjoin(
        _PAIRS,
        sa.and_(_PAIRS.c.type_id == _TYPES.c.id, _PAIRS.c.outcome_id == _OUTCOMES.c.id),
    )
    .where(_TYPES.c.name_key == sa.bindparam("type_key"))
)


def resolve(db: Session, type_name: str, outcome_name: str | None) -> tuple[str, str | None]:
    """Canonical names for a type and outcome, or ValidationFailed naming the bad one."""
    # One query (it runs on every logged interaction): the type, the outcome and their pairing.
    outcome_key = name_key(outcome_name) if outcome_name is not None else None
    # Core on the connection, one prepared statement (after what this transaction added).
    db.flush()
    found = (
        db.connection()
        .execute(_RESOLVE, {"type_key": name_key(type_name), "outcome_key": outcome_key})
        .first()
    )
    if found is None or not found[1]:
        raise ValidationFailed(
            "is not an interaction type (an admin can add it)", field="interaction_type"
        )
    type_label = found[0]
    if outcome_name is None:
        return type_label, None
    _, _, outcome, allowed = found
    if outcome is None:
        raise ValidationFailed("is not an outcome (an admin can add it)", field="outcome")
    if allowed is None:
        raise ValidationFailed(f"is not allowed for a {type_label}", field="outcome")
    return type_label, outcome


def add_type(
    db: Session, *, actor: Actor | SystemActor, name: object, outcomes: list[str] | None = None
) -> list[TypeConfig]:
    require(actor, Permission.APP_SETTINGS)
    name = require_name(name, max_length=60)
    if db.exec(
        select(InteractionType.id).where(InteractionType.name_key == name_key(name))
    ).first():
        raise Conflict("This interaction type already exists.", field="name")
    itype = InteractionType(
        name=" ".join(name.split()), name_key=name_key(name), built_in=False, sort_order=1000
    )
    db.add(itype)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="interaction_type.created",
        entity="interaction_type",
        entity_id=itype.id,
        changes={"name": itype.name},
    )
    if outcomes is None:
        outcomes = [o for o in _all_outcome_names(db) if o != "No answer"]
    return set_allowed_outcomes(db, actor=actor, type_name=itype.name, outcomes=outcomes)


def add_outcome(db: Session, *, actor: Actor | SystemActor, name: object) -> list[str]:
    require(actor, Permission.APP_SETTINGS)
    name = require_name(name, max_length=60)
    if db.exec(
        select(InteractionOutcome.id).where(InteractionOutcome.name_key == name_key(name))
    ).first():
        raise Conflict("This outcome already exists.", field="name")
    outcome = InteractionOutcome(
        name=" ".join(name.split()), name_key=name_key(name), sort_order=1000
    )
    db.add(outcome)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="interaction_outcome.created",
        entity="interaction_outcome",
        entity_id=outcome.id,
        changes={"name": outcome.name},
    )
    return outcomes(db)


def set_allowed_outcomes(
    db: Session, *, actor: Actor | SystemActor, type_name: object, outcomes: object
) -> list[TypeConfig]:
    """Replace the outcomes a type allows (earlier interactions keep theirs)."""
    require(actor, Permission.APP_SETTINGS)
    type_name = require_text(type_name, "interaction_type", max_length=60, required=True)
    itype = db.exec(
        select(InteractionType).where(InteractionType.name_key == name_key(type_name))
    ).first()
    if itype is None:
        raise NotFound("Interaction type")
    if not isinstance(outcomes, list) or not all(isinstance(o, str) for o in outcomes):
        raise ValidationFailed("must be a list of outcome names", field="outcomes")
    wanted = {}
    for name in [require_text(o, "outcomes", max_length=60) for o in outcomes]:
        row = db.exec(
            select(InteractionOutcome).where(InteractionOutcome.name_key == name_key(name))
        ).first()
        if row is None:
            raise ValidationFailed(f"{name!r} is not an outcome", field="outcomes")
        wanted[row.id] = row.name
    current = {
        p.outcome_id: p
        for p in db.exec(
            select(InteractionTypeOutcome).where(InteractionTypeOutcome.type_id == itype.id)
        ).all()
    }
    before = sorted(_outcome_names(db, list(current)))
    for outcome_id, pair in current.items():
        if outcome_id not in wanted:
            db.delete(pair)
    for outcome_id in wanted:
        if outcome_id not in current:
            db.add(InteractionTypeOutcome(type_id=itype.id, outcome_id=outcome_id))
    db.flush()
    after = sorted(wanted.values())
    if before != after:
        audit.record(
            db,
            actor=actor,
            action="interaction_type.outcomes_set",
            entity="interaction_type",
            entity_id=itype.id,
            changes={"type": itype.name, "before": before, "after": after},
        )
    return config(db, include_inactive=True)


def set_type_active(
    db: Session, *, actor: Actor | SystemActor, type_name: object, active: object
) -> list[TypeConfig]:
    """Retire a type (no new interactions of it; old ones keep it) or bring it back."""
    require(actor, Permission.APP_SETTINGS)
    if not isinstance(active, bool):
        raise ValidationFailed("must be true or false", field="active")
    type_name = require_text(type_name, "interaction_type", max_length=60, required=True)
    itype = db.exec(
        select(InteractionType).where(InteractionType.name_key == name_key(type_name))
    ).first()
    if itype is None:
        raise NotFound("Interaction type")
    if itype.is_active != active:
        itype.is_active = active
        db.add(itype)
        audit.record(
            db,
            actor=actor,
            action="interaction_type.updated",
            entity="interaction_type",
            entity_id=itype.id,
            changes={"type": itype.name, "active": active},
        )
    return config(db, include_inactive=True)


def _all_outcome_names(db: Session) -> list[str]:
    return outcomes(db)


def _outcome_names(db: Session, ids: list[int]) -> list[str]:
    if not ids:
        return []
    return list(
        db.exec(select(InteractionOutcome.name).where(InteractionOutcome.id.in_(ids))).all()
    )
