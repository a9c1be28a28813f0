"""Traders at client firms: their profile, roles, platform permissions, moves and portal access.

Rules: a trader's email is unique within their firm; roles come from the trader-role list (five
built in, more added by admins); a move to another firm is recorded (never delete and re-create)
and needs access to both firms; DELETE archives; granting portal access creates (or links) a user
with the trader role and returns its initial password once; revoking it, or the trader leaving,
deactivates that user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from brm_app.auth import credentials
from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.passwords import generate_password, hash_password
from brm_app.auth.rbac import Permission, require
from brm_app.db import utcnow
from brm_app.encryption.columns import blind_index
from brm_app.models.fields import name_key
from brm_app.models.firm import Firm
from brm_app.models.trader import (
    BUILT_IN_ROLES,
    Trader,
    TraderMove,
    TraderMovePublic,
    TraderPatch,
    TraderPermission,
    TraderPublic,
    TraderRole,
    TraderStatus,
    TraderWrite,
)
from brm_app.models.user import Role, User, email_index
from brm_app.services import access, audit, drafts, firms, legal_holds, search
from brm_app.services.errors import Conflict, DomainError, NotFound, ValidationFailed
from brm_app.services.pagination import Page, PageRequest, capped_count
from brm_app.services.validation import require_id, require_name, require_text

AnyActor = Actor | SystemActor

SORTS: dict[str, Any] = {
    "name": Trader.name_key,
    "role": Trader.role,
    "updated": Trader.updated_at,
}


@dataclass(frozen=True)
class TraderQuery:
    q: str | None = None
    firm_id: int | None = None
    status: TraderStatus | None = None
    role: str | None = None
    covered_by_me: bool = False
    sort: str = "name"
    direction: Literal["asc", "desc"] = "asc"


@dataclass(frozen=True)
class TraderSaved:
    trader: TraderPublic
    # Only when this save granted portal access with a new account: shown once.
    portal_initial_password: str | None = None


# ---- loading ---------------------------------------------------------------------------------


def load(
    db: Session,
    actor: AnyActor,
    trader_id: object,
    permission: Permission = Permission.TRADERS_VIEW,
    *,
    firm_id: object = None,
) -> Trader:
    return access.load_authorized(
        db,
        actor,
        Trader,
        trader_id,
        permission,
        field="trader_id",
        what="Trader",
        # Under /firms/{firm_id}/traders/{trader_id}: a trader of another firm is not found.
        belongs=lambda t: firm_id is None or t.firm_id == require_id(firm_id, "firm_id"),
    )


def to_public(db: Session, trader: Trader, firm_name: str | None = None) -> TraderPublic:
    if firm_name is None:
        firm_name = db.exec(select(Firm.name).where(Firm.id == trader.firm_id)).one()
    return TraderPublic(
        trader_id=trader.id,
        firm_id=trader.firm_id,
        firm_name=firm_name,
        name=trader.name,
        email=trader.email,
        phone=trader.phone,
        mobile=trader.mobile,
        role=trader.role,
        permissions=trader.permissions,
        status=TraderStatus(trader.status),
        portal_user_id=trader.user_id,
        created_at=trader.created_at,
        updated_at=trader.updated_at,
        archived_at=trader.archived_at,
    )


def get_trader(
    db: Session, *, actor: AnyActor, trader_id: object, firm_id: object = None
) -> TraderPublic:
    return to_public(db, load(db, actor, trader_id, firm_id=firm_id))


def list_traders(
    db: Session,
    *,
    actor: AnyActor,
    query: TraderQuery = TraderQuery(),
    page: PageRequest = PageRequest(),
) -> Page[TraderPublic]:
    """Traders at the firms the actor may see (or at one firm), searched, filtered and sorted in SQL."""
    require(actor, Permission.TRADERS_VIEW)
    if query.sort not in SORTS:
        raise ValidationFailed(f"must be one of {', '.join(SORTS)}", field="sort")
    if query.direction not in ("asc", "desc"):
        raise ValidationFailed("must be asc or desc", field="direction")
    conds = list_conditions(db, actor, query)
    col = SORTS[query.sort]
    order = (
        (col.desc(), Trader.id.desc())
        if query.direction == "desc"
        else (col.asc(), Trader.id.asc())
    )
    rows = db.exec(
        select(Trader, Firm.name)
        .join(Firm, Firm.id == Trader.firm_id)
        .where(*conds)
        .order_by(*order)
        .offset(page.offset)
        .limit(page.limit + 1)
    ).all()
    total, at_least = capped_count(db, select(Trader.id).where(*conds))
    return Page.build(
        [to_public(db, t, n) for t, n in rows], page=page, total=total, total_at_least=at_least
    )


def list_conditions(db: Session, actor: AnyActor, query: TraderQuery) -> list[Any]:
    """The WHERE of a trader list (visibility, firm, search, filters); exports use it too."""
    conds: list[Any] = [access.trader_condition(actor)]
    if query.firm_id is not None:
        firm = firms.load(db, actor, query.firm_id)  # 404 for a firm the actor may not see
        conds.append(Trader.firm_id == firm.id)
    if query.q:
        ids = search.trader_ids(db, query.q)
        if ids is not None:
            conds.append(Trader.id.in_(ids))
    if query.status:
        conds.append(Trader.status == query.status.value)
    if query.role:
        conds.append(Trader.role == query.role)
    if query.covered_by_me and isinstance(actor, Actor):
        conds.append(Trader.firm_id.in_(access.covered_firm_ids(actor.user_id)))
    return conds


def history(db: Session, *, actor: AnyActor, trader_id: object) -> list[TraderMovePublic]:
    """Where the trader worked before: every recorded move, newest first."""
    trader = load(db, actor, trader_id)
    from_firm, to_firm = sa.orm.aliased(Firm), sa.orm.aliased(Firm)
    rows = db.exec(
        select(TraderMove, from_firm.name, to_firm.name, User.name)
        .join(from_firm, from_firm.id == TraderMove.from_firm_id)
        .join(to_firm, to_firm.id == TraderMove.to_firm_id)
        .outerjoin(User, User.id == TraderMove.moved_by_id)
        .where(TraderMove.trader_id == trader.id)
        .order_by(TraderMove.moved_at.desc(), TraderMove.id.desc())
    ).all()
    return [
        TraderMovePublic(
            from_firm_id=m.from_firm_id,
            from_firm_name=fn,
            to_firm_id=m.to_firm_id,
            to_firm_name=tn,
            moved_at=m.moved_at,
            moved_by=by,
            reason=m.reason,
        )
        for m, fn, tn, by in rows
    ]


# ---- roles -----------------------------------------------------------------------------------


def roles(db: Session, *, actor: AnyActor) -> list[str]:
    require(actor, Permission.TRADERS_VIEW)
    return list(
        db.exec(select(TraderRole.name).order_by(TraderRole.built_in.desc(), TraderRole.name)).all()
    )


def add_role(db: Session, *, actor: AnyActor, name: object) -> list[str]:
    """Admins add a custom role traders can hold (names unique ignoring case)."""
    require(actor, Permission.TRADER_ROLES_MANAGE)
    name = require_name(name, max_length=60)
    if (
        db.exec(select(TraderRole.id).where(TraderRole.name_key == name_key(name))).first()
        is not None
    ):
        raise Conflict("This role already exists.", field="name")
    db.add(TraderRole(name=" ".join(name.split()), name_key=name_key(name), built_in=False))
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="trader_role.created",
        entity="trader_role",
        entity_id=name_key(name),
        changes={"name": name},
    )
    return roles(db, actor=actor)


def remove_role(db: Session, *, actor: AnyActor, name: object) -> list[str]:
    """Admins remove a custom role that no trader holds; built-in roles stay."""
    require(actor, Permission.TRADER_ROLES_MANAGE)
    name = require_text(name, "name", max_length=60, required=True)
    role = db.exec(select(TraderRole).where(TraderRole.name_key == name_key(name))).first()
    if role is None:
        raise NotFound("Role")
    if role.built_in:
        raise ValidationFailed("Built-in roles cannot be removed.", field="name")
    in_use = db.exec(select(func.count()).select_from(Trader).where(Trader.role == role.name)).one()
    if in_use:
        raise ValidationFailed(
            f"{in_use} trader(s) hold this role; change theirs first.", field="name"
        )
    db.delete(role)
    audit.record(
        db,
        actor=actor,
        action="trader_role.removed",
        entity="trader_role",
        entity_id=role.name_key,
        changes={"name": role.name},
    )
    return roles(db, actor=actor)


def _canonical_role(db: Session, role: str) -> str:
    found = db.exec(select(TraderRole.name).where(TraderRole.name_key == name_key(role))).first()
    if found is None:
        raise ValidationFailed("is not a trader role (an admin can add it)", field="role")
    return found


# ---- writing ---------------------------------------------------------------------------------


def _snapshot(t: Trader) -> dict[str, Any]:
    return {
        "firm_id": t.firm_id,
        "name": t.name,
        "email": t.email,
        "phone": t.phone,
        "mobile": t.mobile,
        "role": t.role,
        "permissions": [p.value for p in TraderPermission if getattr(t, p.value)],
        "status": t.status,
    }


def _email_taken(db: Session, firm_id: int, email: str, except_id: int | None = None) -> bool:
    stmt = select(Trader.id).where(
        Trader.firm_id == firm_id,
        Trader.email_bidx == blind_index("traders", "email", email),
        Trader.archived_at.is_(None),
    )
    if except_id is not None:
        stmt = stmt.where(Trader.id != except_id)
    return db.exec(stmt).first() is not None


def _set_permissions(t: Trader, permissions: list[TraderPermission]) -> None:
    wanted = {TraderPermission(p) for p in permissions}
    for p in TraderPermission:
        setattr(t, p.value, p in wanted)


def _sync_portal(db: Session, actor: AnyActor, trader: Trader, was_granted: bool) -> str | None:
    """Create, link, reactivate or deactivate the trader's portal account to match the trader."""
    wants = (
        trader.portal_access and trader.status == TraderStatus.ACTIVE and trader.archived_at is None
    )
    if wants == was_granted and (not wants or trader.user_id is not None):
        return None
    if not wants:
        if trader.user_id is not None:
            user = db.get(User, trader.user_id)
            if user is not None and user.is_active:
                user.is_active = False
                user.updated_at = utcnow()
                credentials.changed(db, user, reason="portal_revoked")
                audit.record(
                    db,
                    actor=actor,
                    action="trader.portal_revoked",
                    entity="trader",
                    entity_id=trader.id,
                    changes={"user_id": user.id},
                )
        return None
    require(actor, Permission.TRADER_PORTAL_MANAGE)
    password = None
    user = db.get(User, trader.user_id) if trader.user_id else None
    if user is None:
        user = db.exec(select(User).where(User.email_bidx == email_index(trader.email))).first()
        if user is not None and (
            user.role != Role.TRADER
            or db.exec(
                select(Trader.id).where(Trader.user_id == user.id, Trader.id != trader.id)
            ).first()
        ):
            raise Conflict(
                "This email belongs to another account; portal access needs its own.", field="email"
            )
    if user is None:
        password = generate_password()
        now = utcnow()
        user = User(
            email=trader.email,
            name=trader.name,
            role=Role.TRADER.value,
            password_hash=hash_password(password),
            # Someone else saw it: the trader chooses their own at first sign-in.
            must_change_password=True,
            is_active=True,
            credentials_changed_at=now,
            created_at=now,
            updated_at=now,
        )
        db.add(user)
        db.flush()
        audit.record(
            db,
            actor=actor,
            action="user.created",
            entity="user",
            entity_id=user.id,
            changes={
                "after": {
                    "email": user.email,
                    "name": user.name,
                    "role": user.role,
                    "via": "portal access",
                }
            },
        )
    elif not user.is_active:
        user.is_active = True
        user.updated_at = utcnow()
        db.add(user)
    trader.user_id = user.id
    db.add(trader)
    audit.record(
        db,
        actor=actor,
        action="trader.portal_granted",
        entity="trader",
        entity_id=trader.id,
        changes={"user_id": user.id, "new_account": password is not None},
    )
    return password


def create_trader(
    db: Session, *, actor: AnyActor, firm_id: object, data: TraderWrite
) -> TraderSaved:
    require(actor, Permission.TRADERS_EDIT)
    firm = firms.load(db, actor, firm_id, Permission.TRADERS_EDIT)
    if firm.archived_at is not None:
        raise ValidationFailed("This firm is archived; restore it first.", field="firm_id")
    if data.firm_id is not None and data.firm_id != firm.id:
        raise ValidationFailed("does not match the firm in the address", field="firm_id")
    if _email_taken(db, firm.id, data.email):
        raise Conflict("A trader with this email already works at this firm.", field="email")
    now = utcnow()
    trader = Trader(
        firm_id=firm.id,
        name=data.name,
        name_key=name_key(data.name),
        email=data.email,
        phone=data.phone,
        mobile=data.mobile,
        role=_canonical_role(db, data.role),
        status=data.status.value,
        created_at=now,
        updated_at=now,
    )
    _set_permissions(trader, data.permissions)
    db.add(trader)
    try:
        db.flush()
    except sa.exc.IntegrityError:
        raise Conflict(
            "A trader with this email already works at this firm.", field="email"
        ) from None
    audit.record(
        db,
        actor=actor,
        action="trader.created",
        entity="trader",
        entity_id=trader.id,
        changes={"after": _snapshot(trader)},
    )
    password = _sync_portal(db, actor, trader, was_granted=False)
    return TraderSaved(to_public(db, trader, firm.name), password)


def create_traders(
    db: Session, *, actor: AnyActor, items: Sequence[tuple[int, TraderWrite]]
) -> list[DomainError | None]:
    """Create many traders at once (bulk imports), each (firm id, data): for each item, the error
    that `create_trader` would raise for it (and then nothing of it is written), or None.

    The same rules as create_trader, checked for the whole batch in a few queries (the firms
    and the actor's access to each, emails already working at the firm or earlier in the
    batch, the roles), then one insert and one audit event per trader. An item that grants
    portal access (which creates an account) goes through create_trader itself. A trader
    written by someone else between the checks and the insert surfaces as IntegrityError."""
    require(actor, Permission.TRADERS_EDIT)
    results: list[DomainError | None] = [None] * len(items)
    firm_ids = {require_id(firm_id, "firm_id") for firm_id, _ in items}
    found = {f.id: f for f in firms._chunked_in(db, select(Firm), Firm.id, firm_ids)}
    usable: dict[int, DomainError | None] = {}
    for firm_id in firm_ids:
        firm = found.get(firm_id)
        try:
            if firm is None:
                raise NotFound("Firm")
            require(actor, Permission.TRADERS_EDIT, firm, db=db, what="Firm")
            if firm.archived_at is not None:
                raise ValidationFailed("This firm is archived; restore it first.", field="firm_id")
            usable[firm_id] = None
        except DomainError as exc:
            usable[firm_id] = exc
    # Emails are encrypted: compared by their blind index.
    digests = [blind_index("traders", "email", data.email) for _, data in items]
    taken = {
        (f, e)
        for f, e in firms._chunked_in(
            db,
            select(Trader.firm_id, Trader.email_bidx).where(
                col(Trader.firm_id).in_(firm_ids), col(Trader.archived_at).is_(None)
            ),
            Trader.email_bidx,
            set(digests),
        )
    }
    roles = dict(db.exec(select(TraderRole.name_key, TraderRole.name)).all())
    now = utcnow()
    new: list[Any] = []
    one_by_one: list[int] = []
    for index, (firm_id, data) in enumerate(items):
        try:
            problem = usable[firm_id]
            if problem is not None:
                raise problem
            if data.firm_id is not None and data.firm_id != firm_id:
                raise ValidationFailed("does not match the firm in the address", field="firm_id")
            if (firm_id, digests[index]) in taken:
                raise Conflict(
                    "A trader with this email already works at this firm.", field="email"
                )
            role = roles.get(name_key(data.role))
            if role is None:
                raise ValidationFailed("is not a trader role (an admin can add it)", field="role")
        except DomainError as exc:
            results[index] = exc
            continue
        taken.add((firm_id, digests[index]))
        if (
            TraderPermission.PORTAL_ACCESS in data.permissions
            and data.status == TraderStatus.ACTIVE
        ):
            one_by_one.append(index)  # creates a portal account: the single path does that
            continue
        trader = drafts.draft(
            Trader,
            firm_id=firm_id,
            name=data.name,
            name_key=name_key(data.name),
            email=data.email,
            phone=data.phone,
            role=role,
            status=data.status.value,
            created_at=now,
            updated_at=now,
        )
        _set_permissions(trader, data.permissions)
        new.append(trader)
    if new:
        ids = (
            db.connection()
            .execute(
                sa.insert(drafts.table(Trader)).returning(
                    drafts.table(Trader).c.id, sort_by_parameter_order=True
                ),
                [drafts.values(Trader, t) for t in new],
            )
            .scalars()
            .all()
        )
        changes = []
        for trader_id, trader in zip(ids, new, strict=True):
            trader.id = trader_id
            changes.append(
                audit.Change("trader.created", "trader", trader_id, {"after": _snapshot(trader)})
            )
        audit.record_many(db, actor=actor, events=changes)
    for index in one_by_one:
        firm_id, data = items[index]
        try:
            with db.begin_nested():
                create_trader(db, actor=actor, firm_id=firm_id, data=data)
        except DomainError as exc:
            results[index] = exc
    return results


def _save(
    db: Session, actor: AnyActor, trader: Trader, values: dict[str, Any], reason: str | None = None
) -> TraderSaved:
    before = _snapshot(trader)
    was_granted = (
        trader.portal_access and trader.status == TraderStatus.ACTIVE and trader.user_id is not None
    )
    target_firm_id = values.pop("firm_id", None)
    target = None
    if target_firm_id is not None and target_firm_id != trader.firm_id:
        target = firms.load(
            db, actor, target_firm_id, Permission.TRADERS_EDIT
        )  # 404 before anything else
        legal_holds.ensure_trader_not_held(db, trader, what="moved to another firm")
        if target.archived_at is not None:
            raise ValidationFailed("The new firm is archived.", field="firm_id")
    final_email = values.get("email", trader.email)
    final_firm = target.id if target is not None else trader.firm_id
    if (target is not None or final_email != trader.email) and _email_taken(
        db, final_firm, final_email, except_id=trader.id
    ):
        where = "the new firm" if target is not None else "this firm"
        raise Conflict(f"A trader with this email already works at {where}.", field="email")
    if "role" in values:
        values["role"] = _canonical_role(db, values["role"])
    if (
        "permissions" in values
        and (TraderPermission.PORTAL_ACCESS in values["permissions"]) != trader.portal_access
    ):
        require(actor, Permission.TRADER_PORTAL_MANAGE)
    if target is not None:
        db.add(
            TraderMove(
                trader_id=trader.id,
                from_firm_id=trader.firm_id,
                to_firm_id=target.id,
                moved_by_id=getattr(actor, "user_id", None),
                reason=reason,
            )
        )
        audit.record(
            db,
            actor=actor,
            action="trader.moved",
            entity="trader",
            entity_id=trader.id,
            changes={"from_firm_id": trader.firm_id, "to_firm_id": target.id, "reason": reason},
        )
        trader.firm_id = target.id
    if "name" in values:
        trader.name, trader.name_key = values["name"], name_key(values["name"])
    trader.email = final_email
    if "phone" in values:
        trader.phone = values["phone"]
    if "mobile" in values:
        trader.mobile = values["mobile"]
    if "role" in values:
        trader.role = values["role"]
    if "status" in values:
        trader.status = TraderStatus(values["status"]).value
    if "permissions" in values:
        _set_permissions(trader, values["permissions"])
    changes = audit.diff(before, _snapshot(trader))
    password = None
    if changes:
        trader.updated_at = utcnow()
        db.add(trader)
        try:
            db.flush()
        except sa.exc.IntegrityError:
            raise Conflict(
                "A trader with this email already works at this firm.", field="email"
            ) from None
        changes.pop("firm_id", None)  # the move has its own audit event
        if changes:
            audit.record(
                db,
                actor=actor,
                action="trader.updated",
                entity="trader",
                entity_id=trader.id,
                changes=changes,
            )
        password = _sync_portal(db, actor, trader, was_granted)
    return TraderSaved(to_public(db, trader), password)


def replace_trader(
    db: Session, *, actor: AnyActor, trader_id: object, firm_id: object, data: TraderWrite
) -> TraderSaved:
    trader = load(db, actor, trader_id, Permission.TRADERS_EDIT, firm_id=firm_id)
    _ensure_live(trader)
    values = data.model_dump()
    values["status"] = data.status
    return _save(db, actor, trader, values)


def patch_trader(
    db: Session, *, actor: AnyActor, trader_id: object, firm_id: object, data: TraderPatch
) -> TraderSaved:
    trader = load(db, actor, trader_id, Permission.TRADERS_EDIT, firm_id=firm_id)
    _ensure_live(trader)
    values = {k: getattr(data, k) for k in data.model_fields_set}
    for key in ("name", "email", "role", "status", "permissions"):
        if key in values and values[key] is None:
            raise ValidationFailed("cannot be empty", field=key)
    return _save(db, actor, trader, values)


def move_trader(
    db: Session, *, actor: AnyActor, trader_id: object, to_firm_id: object, reason: object = None
) -> TraderSaved:
    """Move a trader to another firm the actor may use; the old firm stays in their history."""
    trader = load(db, actor, trader_id, Permission.TRADERS_EDIT)
    _ensure_live(trader)
    to_firm_id = require_id(to_firm_id, "firm_id")
    if to_firm_id == trader.firm_id:
        raise ValidationFailed("The trader already works at this firm.", field="firm_id")
    reason_text = require_text(reason, "reason", max_length=200) or None
    return _save(db, actor, trader, {"firm_id": to_firm_id}, reason_text)


def archive_trader(
    db: Session, *, actor: AnyActor, trader_id: object, firm_id: object = None
) -> None:
    """DELETE: the trader leaves the firm's lists but the record (and its history) is kept."""
    trader = load(db, actor, trader_id, Permission.TRADERS_EDIT, firm_id=firm_id)
    if trader.archived_at is not None:
        return
    legal_holds.ensure_trader_not_held(db, trader, what="archived")
    was_granted = trader.portal_access and trader.user_id is not None
    trader.archived_at = trader.updated_at = utcnow()
    db.add(trader)
    audit.record(
        db,
        actor=actor,
        action="trader.archived",
        entity="trader",
        entity_id=trader.id,
        changes={"name": trader.name, "firm_id": trader.firm_id},
    )
    _sync_portal(db, actor, trader, was_granted)


def _ensure_live(trader: Trader) -> None:
    if trader.archived_at is not None:
        raise ValidationFailed(
            "This trader was removed; their record is kept read-only.", field="trader_id"
        )


def ensure_built_in_roles(db: Session) -> None:
    """The five built-in roles exist (the migration inserts them; this repairs a tampered table)."""
    existing = set(db.exec(select(TraderRole.name_key)).all())
    for role in BUILT_IN_ROLES:
        if name_key(role) not in existing:
            db.add(TraderRole(name=role, name_key=name_key(role), built_in=True))
