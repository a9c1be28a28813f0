"""Legal holds: compliance holds a firm, a trader, a broker or a date range, with a reason.

While a hold is active (placed, not released):
- the retention purge never removes what it covers (`HeldSets` gives the SQL conditions);
- what it covers cannot be voided, archived, merged or moved to another firm: the services that
  do so call `ensure_*_not_held`, which raises Conflict (HTTP 409, a message in the UI).
What a hold covers: a firm hold, the firm and every record of it; a trader hold, the trader and
the records that name them; a broker hold, the records the broker logged, was assigned or wrote;
a date range hold, the records dated in the range (UTC days, both ends included).
Placing and releasing are audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.db import utcnow
from brm_app.models.communication import Conversation, ConversationParticipant, Message
from brm_app.models.firm import Firm
from brm_app.models.follow_up import FollowUp, FollowUpTrader
from brm_app.models.interaction import Interaction, InteractionTrader
from brm_app.models.retention import REASON_MAX, HoldScope, LegalHold, LegalHoldPublic
from brm_app.models.trader import Trader
from brm_app.models.user import Role, User
from brm_app.services import audit
from brm_app.services.errors import Conflict, NotFound, ValidationFailed
from brm_app.services.validation import require_day, require_id, require_text

AnyActor = Actor | SystemActor
P = Permission
MAX_DAYS = 3660  # a date range hold spans at most ten years


def _day(value: Any, name: str) -> date:
    return require_day(value, name)


def _reason(value: Any, name: str = "reason") -> str:
    text = require_text(value, name, max_length=REASON_MAX, required=True)
    if len(text) < 3:
        raise ValidationFailed("give a reason of at least 3 characters", field=name)
    return text


def _subject(db: Session, hold: LegalHold) -> str:
    if hold.scope == HoldScope.FIRM:
        firm = db.get(Firm, hold.firm_id)
        return f"Firm {firm.name if firm else hold.firm_id}"
    if hold.scope == HoldScope.TRADER:
        trader = db.get(Trader, hold.trader_id)
        return f"Trader {trader.name if trader else hold.trader_id}"
    if hold.scope == HoldScope.BROKER:
        user = db.get(User, hold.broker_id)
        return f"Broker {user.name if user else hold.broker_id}"
    return f"{hold.date_from} to {hold.date_to}"


def _name(db: Session, user_id: int | None) -> str | None:
    user = db.get(User, user_id) if user_id is not None else None
    return user.name if user else None


def _public(db: Session, hold: LegalHold) -> LegalHoldPublic:
    assert hold.id is not None
    return LegalHoldPublic(
        hold_id=hold.id,
        scope=HoldScope(hold.scope),
        firm_id=hold.firm_id,
        trader_id=hold.trader_id,
        broker_id=hold.broker_id,
        date_from=hold.date_from,
        date_to=hold.date_to,
        subject=_subject(db, hold),
        reason=hold.reason,
        placed_by=_name(db, hold.placed_by_id),
        placed_at=hold.placed_at,
        released_by=_name(db, hold.released_by_id),
        released_at=hold.released_at,
        release_reason=hold.release_reason,
        active=hold.released_at is None,
    )


def place_hold(
    db: Session,
    *,
    actor: Actor,
    scope: Any,
    reason: Any,
    subject_id: Any = None,
    date_from: Any = None,
    date_to: Any = None,
) -> LegalHoldPublic:
    """Compliance places a hold on a firm, trader or broker (`subject_id`) or a date range."""
    require(actor, P.LEGAL_HOLDS)
    if scope not in {s.value for s in HoldScope}:
        raise ValidationFailed("must be firm, trader, broker or dates", field="scope")
    hold = LegalHold(scope=scope, reason=_reason(reason), placed_by_id=actor.user_id)
    if scope == HoldScope.DATES:
        start, end = _day(date_from, "date_from"), _day(date_to, "date_to")
        if end < start:
            raise ValidationFailed("must not be before the start date", field="date_to")
        if (end - start).days > MAX_DAYS:
            raise ValidationFailed("at most ten years per hold", field="date_to")
        hold.date_from, hold.date_to = start, end
    else:
        sid = require_id(subject_id, "subject_id")
        if scope == HoldScope.FIRM:
            if db.get(Firm, sid) is None:
                raise NotFound("Firm")
            hold.firm_id = sid
        elif scope == HoldScope.TRADER:
            if db.get(Trader, sid) is None:
                raise NotFound("Trader")
            hold.trader_id = sid
        else:
            user = db.get(User, sid)
            if user is None or user.role not in (Role.BROKER, Role.MANAGER):
                raise NotFound("Broker")
            hold.broker_id = sid
    db.add(hold)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="legal_hold.placed",
        entity="legal_hold",
        entity_id=hold.id,
        changes={
            "scope": hold.scope,
            "firm_id": hold.firm_id,
            "trader_id": hold.trader_id,
            "broker_id": hold.broker_id,
            "date_from": hold.date_from,
            "date_to": hold.date_to,
            "reason": hold.reason,
        },
    )
    return _public(db, hold)


def release_hold(db: Session, *, actor: Actor, hold_id: Any, reason: Any) -> LegalHoldPublic:
    """Compliance releases a hold, with a reason; what it held follows retention again."""
    require(actor, P.LEGAL_HOLDS)
    hold = db.get(LegalHold, require_id(hold_id, "hold_id"))
    if hold is None:
        raise NotFound("Legal hold")
    text = _reason(reason)
    if hold.released_at is not None:
        raise Conflict("This hold was already released.", field="hold_id")
    hold.released_at = utcnow()
    hold.released_by_id = actor.user_id
    hold.release_reason = text
    db.add(hold)
    audit.record(
        db,
        actor=actor,
        action="legal_hold.released",
        entity="legal_hold",
        entity_id=hold.id,
        changes={"reason": text, "subject": _subject(db, hold)},
    )
    return _public(db, hold)


def list_holds(
    db: Session, *, actor: AnyActor, active_only: bool = False, limit: int = 200
) -> list[LegalHoldPublic]:
    require(actor, P.LEGAL_HOLDS)
    stmt = select(LegalHold)
    if active_only:
        stmt = stmt.where(col(LegalHold.released_at).is_(None))
    rows = db.exec(stmt.order_by(col(LegalHold.id).desc()).limit(limit)).all()
    return [_public(db, h) for h in rows]


def get_hold(db: Session, *, actor: AnyActor, hold_id: Any) -> LegalHoldPublic:
    require(actor, P.LEGAL_HOLDS)
    hold = db.get(LegalHold, require_id(hold_id, "hold_id"))
    if hold is None:
        raise NotFound("Legal hold")
    return _public(db, hold)


def find_subjects(db: Session, *, actor: AnyActor, scope: Any, q: Any) -> list[dict[str, Any]]:
    """Up to 10 firms, traders or brokers whose name contains `q` (to pick a hold's subject)."""
    from brm_app.services.regulator_export import matching_subjects

    require(actor, P.LEGAL_HOLDS)
    return matching_subjects(db, scope=scope, q=q)


# ---- what is held ------------------------------------------------------------------------------


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass
class HeldSets:
    """The active holds, by kind (read once per purge batch or per check)."""

    firm_ids: set[int] = field(default_factory=set)
    trader_ids: set[int] = field(default_factory=set)
    broker_ids: set[int] = field(default_factory=set)
    ranges: list[tuple[datetime, datetime]] = field(default_factory=list)  # [start, end)

    def any(self) -> bool:
        return bool(self.firm_ids or self.trader_ids or self.broker_ids or self.ranges)

    def in_range(self, column: Any) -> Any:
        """SQL: the column's moment is inside a held date range."""
        return sa.or_(sa.false(), *[sa.and_(column >= a, column < b) for a, b in self.ranges])

    def overlaps(self, start: Any, end: Any) -> Any:
        """SQL: the period [start, end] meets a held date range."""
        return sa.or_(sa.false(), *[sa.and_(start < b, end >= a) for a, b in self.ranges])

    def moment_held(self, moment: datetime | None) -> bool:
        if moment is None:
            return False
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return any(a <= moment < b for a, b in self.ranges)


def active(db: Session) -> HeldSets:
    held = HeldSets()
    for hold in db.exec(select(LegalHold).where(col(LegalHold.released_at).is_(None))).all():
        if hold.firm_id is not None:
            held.firm_ids.add(hold.firm_id)
        if hold.trader_id is not None:
            held.trader_ids.add(hold.trader_id)
        if hold.broker_id is not None:
            held.broker_ids.add(hold.broker_id)
        if hold.date_from is not None and hold.date_to is not None:
            held.ranges.append((_start(hold.date_from), _start(hold.date_to + timedelta(days=1))))
    return held


def conversation_held(held: HeldSets) -> Any:
    """SQL: a conversation a hold covers (its firm, a trader or broker in it, its period)."""
    c, p, m = Conversation, ConversationParticipant, Message
    conds: list[Any] = [held.overlaps(c.created_at, c.last_message_at)]
    if held.firm_ids:
        conds.append(col(c.firm_id).in_(held.firm_ids))
    if held.trader_ids or held.broker_ids:
        traders, brokers = held.trader_ids or {0}, held.broker_ids or {0}
        conds.append(
            sa.exists().where(
                col(p.conversation_id) == col(c.id),
                sa.or_(col(p.trader_id).in_(traders), col(p.user_id).in_(brokers)),
            )
        )
        conds.append(
            sa.exists().where(
                col(m.conversation_id) == col(c.id),
                sa.or_(
                    col(m.trader_id).in_(traders),
                    col(m.sender_trader_id).in_(traders),
                    col(m.sender_user_id).in_(brokers),
                ),
            )
        )
    return sa.or_(*conds)


def interaction_held(held: HeldSets) -> Any:
    """SQL: an interaction a hold covers (its firm, broker, a trader, its date)."""
    i, it = Interaction, InteractionTrader
    conds: list[Any] = [held.in_range(i.occurred_at)]
    if held.firm_ids:
        conds.append(col(i.firm_id).in_(held.firm_ids))
    if held.broker_ids:
        conds.append(col(i.broker_id).in_(held.broker_ids))
    if held.trader_ids:
        conds.append(
            sa.exists().where(
                col(it.interaction_id) == col(i.id), col(it.trader_id).in_(held.trader_ids)
            )
        )
    return sa.or_(*conds)


def follow_up_held(held: HeldSets) -> Any:
    """SQL: a follow-up a hold covers (its firm, assignee, a trader, its due date)."""
    f, ft = FollowUp, FollowUpTrader
    conds: list[Any] = [held.in_range(f.due_at)]
    if held.firm_ids:
        conds.append(col(f.firm_id).in_(held.firm_ids))
    if held.broker_ids:
        conds.append(col(f.assignee_id).in_(held.broker_ids))
    if held.trader_ids:
        conds.append(
            sa.exists().where(
                col(ft.follow_up_id) == col(f.id), col(ft.trader_id).in_(held.trader_ids)
            )
        )
    return sa.or_(*conds)


def ensure_firm_records_not_held(db: Session, firm_id: int, *, what: str) -> None:
    """A firm whose interactions, follow-ups or conversations a hold covers (a broker or a date
    range) cannot be merged away: its records would move to another firm."""
    held = active(db)
    if not held.any():
        return
    for model, condition in (
        (Interaction, interaction_held(held)),
        (FollowUp, follow_up_held(held)),
        (Conversation, conversation_held(held)),
    ):
        if (
            db.exec(select(model.id).where(model.firm_id == firm_id, condition).limit(1)).first()
            is not None
        ):
            raise Conflict(
                f"Records of this firm are under a legal hold: it cannot be {what} until "
                "compliance releases the hold.",
                field="firm_id",
            )


def ensure_firm_not_held(db: Session, firm_id: int, *, what: str) -> None:
    """A held firm cannot be archived or merged (either side of a merge loses or gains records
    only through the source; the source is what must stay as it is)."""
    held = active(db)
    if firm_id in held.firm_ids:
        raise Conflict(
            f"This firm is under a legal hold: it cannot be {what} until "
            "compliance releases the hold.",
            field="firm_id",
        )
    if (
        held.trader_ids
        and db.exec(
            select(Trader.id).where(
                Trader.firm_id == firm_id,
                col(Trader.id).in_(held.trader_ids),
                col(Trader.archived_at).is_(None),
            )
        ).first()
    ):
        raise Conflict(
            f"A trader of this firm is under a legal hold: the firm cannot be {what} "
            "until compliance releases the hold.",
            field="firm_id",
        )


def ensure_trader_not_held(db: Session, trader: Trader, *, what: str) -> None:
    """A held trader (or a trader of a held firm) cannot be moved or archived."""
    held = active(db)
    if trader.id in held.trader_ids:
        raise Conflict(
            f"This trader is under a legal hold: they cannot be {what} until "
            "compliance releases the hold.",
            field="trader_id",
        )
    if trader.firm_id in held.firm_ids:
        raise Conflict(
            f"This trader's firm is under a legal hold: they cannot be {what} until "
            "compliance releases the hold.",
            field="trader_id",
        )


def ensure_interaction_not_held(db: Session, row: Interaction, *, what: str) -> None:
    """A held interaction (its firm, one of its traders, its broker or its date) stays as it is."""
    held = active(db)
    if not held.any():
        return
    trader_held = (
        bool(held.trader_ids)
        and db.exec(
            select(InteractionTrader.trader_id).where(
                InteractionTrader.interaction_id == row.id,
                col(InteractionTrader.trader_id).in_(held.trader_ids),
            )
        ).first()
        is not None
    )
    if (
        row.firm_id in held.firm_ids
        or row.broker_id in held.broker_ids
        or trader_held
        or held.moment_held(row.occurred_at)
    ):
        raise Conflict(
            f"This interaction is under a legal hold: it cannot be {what} until "
            "compliance releases the hold.",
            field="interaction_id",
        )
