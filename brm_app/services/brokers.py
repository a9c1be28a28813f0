"""What "an active broker" is, defined once: a user with the broker role whose account is active.

Only active brokers cover firms (primary or secondary), are assigned follow-ups, become the default
broker of an import, appear in broker pickers and filters, and have a calendar others choose.
Every one of those asks here, so a change to the definition (say, a leave of absence) is made once.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select

from brm_app.models.user import Role, User
from brm_app.services.errors import ValidationFailed
from brm_app.services.validation import require_id


def active_broker() -> sa.ColumnElement[bool]:
    """SQL condition on `users`: the row is an active broker (also usable on `User.__table__`)."""
    return sa.and_(col(User.role) == Role.BROKER.value, col(User.is_active).is_(True))


def is_active_broker(user: User | None) -> bool:
    """The same rule on a loaded row."""
    return user is not None and user.role == Role.BROKER and bool(user.is_active)


def active_brokers(
    db: Session, *, among: sa.Select[int] | list[int] | None = None
) -> list[tuple[int, str]]:
    """(id, name) of the active brokers, by name; `among` limits them to those ids."""
    stmt = select(User.id, User.name).where(active_broker())
    if among is not None:
        stmt = stmt.where(col(User.id).in_(among))
    rows = db.exec(stmt.order_by(col(User.name), col(User.id))).all()
    return [(i, n) for i, n in rows if i is not None]


def check_active_broker(db: Session, broker_id: object, field: str) -> int:
    """The id if it names an active broker; else a field error ("must be an active broker")."""
    broker_id = require_id(broker_id, field)
    if not is_active_broker(db.get(User, broker_id)):
        raise ValidationFailed("must be an active broker", field=field)
    return broker_id
