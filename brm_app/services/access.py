"""Record-level access for firms and traders (the rules bootstrap.wire() installs in rbac).

- Managers, compliance and admins see every live firm; only admins see archived ones.
- Brokers see, and change, only the firms they cover (primary or secondary), and their traders.
- A trader (portal user) sees only their own firm, read-only, and their own trader record.
The same rules exist twice, as a check on one loaded record (`require`) and as a SQL condition
for lists (`firm_condition`, `trader_condition`), and the access-matrix tests hold them together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, has, require
from brm_app.models.firm import Firm, FirmCoverage
from brm_app.models.trader import Trader
from brm_app.models.user import Role
from brm_app.services.errors import NotFound
from brm_app.services.validation import require_id

_SEE_ALL = {Role.ADMIN, Role.MANAGER, Role.COMPLIANCE}
_FIRM = aliased(Firm)  # the trader's own firm, apart from any firm the outer query joins

T = TypeVar("T")


def load_authorized(
    db: Session,
    actor: Actor | SystemActor,
    model: type[T],
    record_id: object,
    permission: Permission,
    *,
    field: str,
    what: str,
    belongs: Callable[[T], bool] | None = None,
) -> T:
    """The record of `model` with that id if the actor may use it for `permission`. NotFound when
    it is missing, outside the parent the path names (`belongs`), or unseen by record rules (so
    ids cannot be probed); PermissionDenied when the role may not do this at all."""
    record_id = require_id(record_id, field)
    require(actor, permission)
    row = db.get(model, record_id)
    if row is None or (belongs is not None and not belongs(row)):
        raise NotFound(what)
    require(actor, permission, row, db=db, what=what)
    return row


def works_own_book(actor: Actor | SystemActor) -> bool:
    """A broker: sees and works only the firms they cover, and becomes the primary broker of
    the firms they create (others review or assign across the whole book)."""
    return isinstance(actor, Actor) and actor.role == Role.BROKER


def covered_firm_ids(broker_id: int) -> SelectOfScalar[int]:
    return select(FirmCoverage.firm_id).where(FirmCoverage.broker_id == broker_id)


def covering_broker_ids(firm_id: int) -> SelectOfScalar[int]:
    return select(FirmCoverage.broker_id).where(FirmCoverage.firm_id == firm_id)


def own_firm_ids(user_id: int) -> SelectOfScalar[int]:
    """The firm of the trader record linked to a portal user."""
    return select(Trader.firm_id).where(Trader.user_id == user_id, Trader.archived_at.is_(None))


def firm_condition(
    actor: Actor | SystemActor, *, include_archived: bool = False
) -> sa.ColumnElement[bool]:
    """SQL condition on `firms` selecting what the actor may see in lists."""
    live = Firm.archived_at.is_(None)
    if include_archived and has(actor, Permission.FIRMS_RESTORE):
        live = sa.true()
    if isinstance(actor, SystemActor) or actor.role in _SEE_ALL:
        return live
    if actor.role == Role.BROKER:
        return sa.and_(live, Firm.id.in_(covered_firm_ids(actor.user_id)))
    if actor.role == Role.TRADER:
        return sa.and_(live, Firm.id.in_(own_firm_ids(actor.user_id)))
    return sa.false()


def in_visible_firm(actor: Actor | SystemActor, firm_id_col: Any) -> sa.ColumnElement[bool]:
    """SQL condition: the firm whose id is in `firm_id_col` (of a joined or correlated table) is
    one the actor may see. For those who see every live firm it checks that one firm by primary
    key (EXISTS), instead of `IN (all live firm ids)`, which SQLite builds in full per query."""
    if isinstance(actor, SystemActor) or actor.role in _SEE_ALL:
        return select(_FIRM.id).where(_FIRM.id == firm_id_col, _FIRM.archived_at.is_(None)).exists()
    if actor.role == Role.BROKER:
        return firm_id_col.in_(covered_firm_ids(actor.user_id))
    if actor.role == Role.TRADER:
        return firm_id_col.in_(own_firm_ids(actor.user_id))
    return sa.false()


def trader_condition(actor: Actor | SystemActor) -> sa.ColumnElement[bool]:
    """SQL condition on `traders` (joined with nothing) selecting what the actor may see."""
    live = Trader.archived_at.is_(None)
    if isinstance(actor, SystemActor) or actor.role in _SEE_ALL:
        # EXISTS on the firm's primary key: `IN (SELECT id FROM firms ...)` made SQLite build a
        # list of every live firm (100,000 ids) for each query.
        return sa.and_(
            live,
            select(_FIRM.id)
            .where(_FIRM.id == Trader.firm_id, _FIRM.archived_at.is_(None))
            .exists(),
        )
    if actor.role == Role.BROKER:
        return sa.and_(live, Trader.firm_id.in_(covered_firm_ids(actor.user_id)))
    if actor.role == Role.TRADER:
        return sa.and_(live, Trader.user_id == actor.user_id)
    return sa.false()


_COVERAGE = FirmCoverage.__table__  # type: ignore[attr-defined]
# Core, on the connection: it runs for every check of a broker's firm.
_COVERS = sa.select(_COVERAGE.c.firm_id).where(
    _COVERAGE.c.firm_id == sa.bindparam("firm_id"),
    _COVERAGE.c.broker_id == sa.bindparam("broker_id"),
)


def covers(db: Session, broker_id: int, firm_id: int) -> bool:
    db.flush()  # as the ORM would before a query: coverage added in this transaction counts
    found = db.connection().execute(_COVERS, {"firm_id": firm_id, "broker_id": broker_id})
    return found.first() is not None


def firm_visible(actor: Actor, permission: Permission, firm: Firm, db: Session) -> bool:
    if firm.archived_at is not None:
        return has(actor, Permission.FIRMS_RESTORE)
    if actor.role in _SEE_ALL:
        return True
    if actor.role == Role.BROKER:
        return covers(db, actor.user_id, firm.id)
    if actor.role == Role.TRADER:
        return (
            db.exec(own_firm_ids(actor.user_id).where(Trader.firm_id == firm.id)).first()
            is not None
        )
    return False


def trader_visible(actor: Actor, permission: Permission, trader: Trader, db: Session) -> bool:
    if trader.archived_at is not None and not has(actor, Permission.FIRMS_RESTORE):
        return False
    if actor.role == Role.TRADER:
        return trader.user_id == actor.user_id
    firm = db.get(Firm, trader.firm_id)
    return firm is not None and firm_visible(actor, permission, firm, db)
