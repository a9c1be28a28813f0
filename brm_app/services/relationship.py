"""The relationship view: a firm's or trader's timeline, and the firms due for contact.

A firm is due for contact when its last live interaction is older than its tier's interval
(admins set them; A: 14, B: 30, C: 90 days by default) or it never had one. The list puts the
longest-neglected first and shows, per firm, the last contact, interactions in the last 30 and
90 days, and open and overdue follow-ups.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, has, require
from brm_app.db import utcnow
from brm_app.models.firm import AccountStatus, Firm
from brm_app.models.follow_up import FollowUp, FollowUpPublic, FollowUpTrader
from brm_app.models.interaction import Interaction, InteractionPublic, InteractionTrader
from brm_app.models.portfolio import Portfolio, PortfolioTransaction, TransactionPublic
from brm_app.services import access, app_settings, firms, follow_ups, interactions, traders
from brm_app.services.errors import ValidationFailed
from brm_app.services.pagination import Page, PageRequest, capped_count
from brm_app.services.validation import require_id

AnyActor = Actor | SystemActor


@dataclass(frozen=True)
class TimelineEntry:
    kind: str  # "interaction" | "follow_up" | "trade" | "communication"
    at: datetime
    interaction: InteractionPublic | None = None
    follow_up: FollowUpPublic | None = None
    # Orders' fills and other portfolio transactions (OMS, manual, import).
    transaction: TransactionPublic | None = None
    communication: Any = None  # CommunicationPublic


@dataclass(frozen=True)
class Timeline:
    entries: list[TimelineEntry]
    has_more: bool
    before: datetime | None  # pass back to get older entries


def timeline(
    db: Session,
    *,
    actor: AnyActor,
    firm_id: object = None,
    trader_id: object = None,
    types: list[str] | None = None,
    outcomes: list[str] | None = None,
    include_follow_ups: bool = True,
    before: datetime | None = None,
    limit: int = 30,
) -> Timeline:
    """Interactions and follow-ups of a firm (or one trader), newest first."""
    require(actor, Permission.INTERACTIONS_VIEW)
    if (firm_id is None) == (trader_id is None):
        raise ValidationFailed("give a firm or a trader", field="firm_id")
    if not 1 <= limit <= 100:
        raise ValidationFailed("must be between 1 and 100", field="limit")
    i_conds: list[Any] = [Interaction.voided_at.is_(None)]
    f_conds: list[Any] = []
    t_conds: list[Any] = []
    if firm_id is not None:
        firm = firms.load(db, actor, firm_id, Permission.INTERACTIONS_VIEW)
        i_conds.append(Interaction.firm_id == firm.id)
        f_conds.append(FollowUp.firm_id == firm.id)
        t_conds.append(Portfolio.firm_id == firm.id)
    else:
        trader = traders.load(db, actor, trader_id)
        t_conds.append(PortfolioTransaction.trader_id == trader.id)
        i_conds.append(
            Interaction.id.in_(
                select(InteractionTrader.interaction_id).where(
                    InteractionTrader.trader_id == trader.id
                )
            )
        )
        f_conds.append(
            FollowUp.id.in_(
                select(FollowUpTrader.follow_up_id).where(FollowUpTrader.trader_id == trader.id)
            )
        )
    if types:
        i_conds.append(Interaction.interaction_type.in_(types))
    if outcomes:
        i_conds.append(Interaction.outcome.in_(outcomes))
    if before is not None and before.tzinfo is None:
        before = before.replace(tzinfo=UTC)  # a time without a zone is read as UTC
    if before is not None:
        i_conds.append(Interaction.occurred_at < before)
        f_conds.append(FollowUp.due_at < before)
    rows = list(
        db.exec(
            select(Interaction)
            .where(*i_conds)
            .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
            .limit(limit + 1)
        ).all()
    )
    entries = [
        TimelineEntry("interaction", p.interaction_date, interaction=p)
        for p in interactions.to_public(db, rows)
    ]
    if include_follow_ups and not outcomes:
        fus = list(
            db.exec(
                select(FollowUp)
                .where(*f_conds)
                .order_by(FollowUp.due_at.desc(), FollowUp.id.desc())
                .limit(limit + 1)
            ).all()
        )
        entries += [
            TimelineEntry("follow_up", p.due_at, follow_up=p) for p in follow_ups.to_public(db, fus)
        ]
    if include_follow_ups and not outcomes and not types and has(actor, Permission.PORTFOLIOS_VIEW):
        entries += _trades(db, t_conds, before, limit)
    if include_follow_ups and not outcomes and not types:
        checked_firm = firm.id if firm_id is not None else None
        checked_trader = trader.id if firm_id is None else None
        entries += _communications(db, actor, checked_firm, checked_trader, before, limit)
    entries.sort(key=lambda e: e.at, reverse=True)
    has_more = len(entries) > limit
    entries = entries[:limit]
    return Timeline(entries, has_more, entries[-1].at if has_more and entries else None)


def _trades(
    db: Session, conds: list[Any], before: datetime | None, limit: int
) -> list[TimelineEntry]:
    """Transactions as timeline entries, at the start of their trade date (UTC)."""
    from brm_app.services import portfolios

    t = PortfolioTransaction
    if before is not None:
        conds = [*conds, t.trade_date < before.astimezone(UTC).date()]
        if before.astimezone(UTC).time() != time():
            conds[-1] = t.trade_date <= before.astimezone(UTC).date()
    rows = db.exec(
        select(t, Portfolio.firm_id)
        .join(Portfolio, col(Portfolio.id) == t.portfolio_id)
        .where(*conds)
        .order_by(col(t.trade_date).desc(), col(t.id).desc())
        .limit(limit + 1)
    ).all()
    out = []
    for row, firm_id in rows:
        (pub,) = portfolios.to_public(db, [row], firm_id)
        at = datetime.combine(row.trade_date, time(), tzinfo=UTC)
        out.append(TimelineEntry("trade", at, transaction=pub))
    return out


def _communications(
    db: Session,
    actor: AnyActor,
    firm_id: object,
    trader_id: object,
    before: datetime | None,
    limit: int,
) -> list[TimelineEntry]:
    """Messages on every channel in the conversations the actor sees (the caller checked the
    firm or trader itself)."""
    from sqlmodel import col

    from brm_app.models.communication import Conversation, ConversationParticipant, Message
    from brm_app.services import conversations

    conds: list[Any] = [
        col(Message.conversation_id).in_(
            select(Conversation.id).where(conversations.conversation_condition(actor))
        )
    ]
    if firm_id is not None:
        conds.append(col(Message.firm_id) == firm_id)
    else:
        conds.append(
            col(Message.conversation_id).in_(
                select(ConversationParticipant.conversation_id).where(
                    col(ConversationParticipant.trader_id) == trader_id
                )
            )
        )
    if before is not None:
        conds.append(col(Message.sent_at) < before)
    rows = db.exec(
        select(Message)
        .where(*conds)
        .order_by(col(Message.sent_at).desc(), col(Message.id).desc())
        .limit(limit + 1)
    ).all()
    return [
        TimelineEntry("communication", m.sent_at, communication=m)
        for m in conversations.messages_public(db, list(rows))
    ]


@dataclass(frozen=True)
class DueFirm:
    firm_id: int
    name: str
    tier: str
    account_status: str
    primary_broker: str
    last_contact_at: datetime | None
    days_since: int | None
    interval_days: int
    interactions_30d: int
    interactions_90d: int
    open_follow_ups: int
    overdue_follow_ups: int


def due_for_contact(
    db: Session,
    *,
    actor: AnyActor,
    page: PageRequest = PageRequest(limit=20),
    broker_id: object = None,
    mine: bool = False,
) -> Page[DueFirm]:
    """Live Active/Prospect firms the actor sees whose last contact is older than their tier allows."""
    require(actor, Permission.INTERACTIONS_VIEW)
    rules = app_settings.get_rules(db)
    now = utcnow()
    overdue_by_tier = sa.or_(
        *[
            sa.and_(
                Firm.tier == tier,
                sa.or_(
                    Firm.last_interaction_at.is_(None),
                    Firm.last_interaction_at < now - timedelta(days=days),
                ),
            )
            for tier, days in rules.contact_days.items()
        ]
    )
    conds: list[Any] = [
        access.firm_condition(actor),
        Firm.account_status.in_([AccountStatus.ACTIVE.value, AccountStatus.PROSPECT.value]),
        overdue_by_tier,
    ]
    if mine and isinstance(actor, Actor):
        conds.append(Firm.id.in_(access.covered_firm_ids(actor.user_id)))
    if broker_id is not None:
        conds.append(Firm.id.in_(access.covered_firm_ids(require_id(broker_id, "broker_id"))))
    rows = db.exec(
        select(Firm)
        .where(*conds)
        .order_by(
            Firm.last_interaction_at.is_not(None), Firm.last_interaction_at, Firm.tier, Firm.id
        )
        .offset(page.offset)
        .limit(page.limit + 1)
    ).all()
    ids = [f.id for f in rows[: page.limit]]
    counts: dict[int, tuple[int, int]] = {}
    if ids:
        for fid, n30, n90 in db.exec(
            select(
                Interaction.firm_id,
                func.sum(
                    sa.case((Interaction.occurred_at >= now - timedelta(days=30), 1), else_=0)
                ),
                func.count(),
            )
            .where(
                Interaction.firm_id.in_(ids),
                Interaction.voided_at.is_(None),
                Interaction.occurred_at >= now - timedelta(days=90),
            )
            .group_by(Interaction.firm_id)
        ).all():
            counts[fid] = (int(n30 or 0), int(n90 or 0))
    open_counts = follow_ups.open_counts(db, ids)
    coverage = firms._coverage(db, ids)  # one query for every row's primary broker
    items = []
    for f in rows:
        last = f.last_interaction_at
        n30, n90 = counts.get(f.id, (0, 0))
        n_open, n_overdue = open_counts.get(f.id, (0, 0))
        primary = coverage.get(f.id)
        items.append(
            DueFirm(
                firm_id=f.id,
                name=f.name,
                tier=f.tier,
                account_status=f.account_status,
                primary_broker=primary.primary.name if primary and primary.primary else "",
                last_contact_at=last,
                days_since=(now - last).days if last else None,
                interval_days=rules.contact_days.get(f.tier, 30),
                interactions_30d=n30,
                interactions_90d=n90,
                open_follow_ups=n_open,
                overdue_follow_ups=n_overdue,
            )
        )
    total, at_least = capped_count(db, select(Firm.id).where(*conds))
    return Page.build(items, page=page, total=total, total_at_least=at_least)
