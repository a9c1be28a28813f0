"""Conversations with traders and their messages: who sees them, starting one, writing, correcting,
reading.

Who sees a conversation (the record rule, and the same rule as SQL for lists):
- the broker side follows the firm's current coverage: brokers covering the firm, plus the broker
  who started it; managers see their team's (conversations their brokers started or whose firm
  one of their brokers covers, and their own); a departed broker's conversations stay with their
  manager;
- a trader with portal access sees the conversations they are a participant of, while they still
  work at the conversation's firm (a trader who moves firm leaves; the messages stay in the log);
- compliance and admins see all of them, read-only (they lack COMMS_SEND).
Nobody else: a conversation one may not see answers NotFound.

Messages are never edited or deleted: a correction is a new message that refers to the earlier
one. Every message is appended to the communication log (and so to the audit chain), and a
"messages" live event tells the open pages of everyone who sees the conversation.

Message text is encrypted at rest: the search finds messages by whole words (every word of the
query, through the keyed word index `message_search_terms`), subjects, firm and trader names by
substring as before.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlmodel import Session, col, select

from brm_app import events
from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, has, require
from brm_app.db import utcnow
from brm_app.encryption import terms
from brm_app.encryption.columns import open_value
from brm_app.models.communication import (
    SUBJECT_MAX,
    TEXT_MAX,
    Channel,
    CommunicationLogEntry,
    CommunicationPublic,
    Conversation,
    ConversationParticipant,
    ConversationPublic,
    ConversationRead,
    DeliveryPublic,
    DeliveryStatus,
    Direction,
    Message,
    MessageAttachment,
    MessageDelivery,
    MessageRead,
    MessageSearchTerm,
    ParticipantPublic,
    ReadReceipt,
)
from brm_app.models.firm import Firm, FirmCoverage
from brm_app.models.trader import Trader
from brm_app.models.user import Role, User
from brm_app.services import access, attachments, communication_log
from brm_app.services.errors import NotFound, PermissionDenied, ValidationFailed
from brm_app.services.pagination import Page, PageRequest, escape_like
from brm_app.services.validation import optional_id, require_id, require_text, rid

AnyActor = Actor | SystemActor
TOPIC = "messages"
_READ_ALL = {Role.ADMIN, Role.COMPLIANCE}


# ---- access ------------------------------------------------------------------------------------


def portal_trader(db: Session, user_id: int) -> Trader | None:
    """The trader record behind a portal account (live, with portal access)."""
    return db.exec(
        select(Trader).where(
            col(Trader.user_id) == user_id,
            col(Trader.archived_at).is_(None),
            col(Trader.portal_access).is_(True),
        )
    ).first()


def _team_ids(manager_id: int) -> Any:
    return select(col(User.id)).where(
        sa.or_(col(User.manager_id) == manager_id, col(User.id) == manager_id)
    )


def conversation_condition(actor: AnyActor) -> sa.ColumnElement[bool]:
    """SQL condition on `conversations`: those the actor may see."""
    if isinstance(actor, SystemActor) or actor.role in _READ_ALL:
        return sa.true()
    if actor.role == Role.BROKER:
        return sa.or_(
            col(Conversation.firm_id).in_(access.covered_firm_ids(actor.user_id)),
            col(Conversation.started_by_id) == actor.user_id,
        )
    if actor.role == Role.MANAGER:
        team = _team_ids(actor.user_id)
        return sa.or_(
            col(Conversation.started_by_id).in_(team),
            col(Conversation.firm_id).in_(
                select(col(FirmCoverage.firm_id)).where(col(FirmCoverage.broker_id).in_(team))
            ),
        )
    if actor.role == Role.TRADER:
        return (
            select(col(ConversationParticipant.id))
            .join(Trader, col(Trader.id) == col(ConversationParticipant.trader_id))
            .where(
                col(ConversationParticipant.conversation_id) == col(Conversation.id),
                col(Trader.user_id) == actor.user_id,
                col(Trader.firm_id) == col(Conversation.firm_id),
                col(Trader.archived_at).is_(None),
                col(Trader.portal_access).is_(True),
            )
            .exists()
        )
    return sa.false()


def conversation_visible(
    actor: Actor, permission: Permission, conv: Conversation, db: Session
) -> bool:
    """The record rule (bootstrap.wire installs it): the list condition, for one conversation."""
    found = db.exec(
        select(col(Conversation.id)).where(
            col(Conversation.id) == conv.id, conversation_condition(actor)
        )
    ).first()
    return found is not None


def load(
    db: Session,
    actor: AnyActor,
    conversation_id: object,
    permission: Permission = Permission.COMMS_VIEW,
) -> Conversation:
    return access.load_authorized(
        db,
        actor,
        Conversation,
        conversation_id,
        permission,
        field="conversation_id",
        what="Conversation",
    )


_AUDIENCE = sa.text(
    """
    SELECT broker_id FROM firm_coverage WHERE firm_id = :firm
    UNION
    SELECT manager_id FROM users
     WHERE manager_id IS NOT NULL
       AND (id = :starter OR id IN (SELECT broker_id FROM firm_coverage WHERE firm_id = :firm))
    UNION
    SELECT t.user_id FROM traders t
      JOIN conversation_participants p ON p.trader_id = t.id
     WHERE p.conversation_id = :conv AND t.firm_id = :firm AND t.portal_access
       AND t.user_id IS NOT NULL
    """
).columns(broker_id=sa.Integer)


def audience(db: Session, conv: Conversation) -> set[int]:
    """The users whose open pages show this conversation (for live events): its broker side,
    their managers, and its traders' portal accounts. Compliance and admins reload.

    One statement, written once (it runs for every message and every delivery status)."""
    params = {"firm": conv.firm_id, "starter": conv.started_by_id, "conv": conv.id}
    people = {int(u) for (u,) in db.connection().execute(_AUDIENCE, params) if u is not None}
    people.add(conv.started_by_id)
    return people


# ---- reading -----------------------------------------------------------------------------------


def _unread_expr(user_id: int) -> Any:
    # Correlated to the messages query it sits in (its immediate outer query), never to
    # `conversations` two levels up: that would not correlate and would match every row.
    last_read = (
        select(col(ConversationRead.last_read_message_id))
        .where(
            col(ConversationRead.conversation_id) == col(Message.conversation_id),
            col(ConversationRead.user_id) == user_id,
        )
        .scalar_subquery()
    )
    return (
        select(sa.func.count(col(Message.id)))
        .where(
            col(Message.conversation_id) == col(Conversation.id),
            col(Message.id) > sa.func.coalesce(last_read, 0),
            sa.or_(col(Message.sender_user_id).is_(None), col(Message.sender_user_id) != user_id),
        )
        .scalar_subquery()
    )


def _traders_of(db: Session, conv_ids: Iterable[int]) -> dict[int, list[ParticipantPublic]]:
    out: dict[int, list[ParticipantPublic]] = {}
    ids = list(conv_ids)
    if not ids:
        return out
    for cid, tid, name in db.exec(
        select(col(ConversationParticipant.conversation_id), col(Trader.id), col(Trader.name))
        .join(Trader, col(Trader.id) == col(ConversationParticipant.trader_id))
        .where(col(ConversationParticipant.conversation_id).in_(ids))
        .order_by(col(Trader.name_key), col(Trader.id))
    ).all():
        out.setdefault(cid, []).append(ParticipantPublic(trader_id=tid, user_id=None, name=name))
    return out


def _conversations_public(
    db: Session, actor: AnyActor, rows: Sequence[tuple[Conversation, int]]
) -> list[ConversationPublic]:
    if not rows:
        return []
    ids = [rid(c.id) for c, _ in rows]
    traders = _traders_of(db, ids)
    firm_rows = db.exec(
        select(col(Firm.id), col(Firm.name), col(Firm.recording_disclosed_on)).where(
            col(Firm.id).in_({c.firm_id for c, _ in rows})
        )
    ).all()
    firm_names = {i: name for i, name, _ in firm_rows}
    disclosed = {i: day is not None for i, _, day in firm_rows}
    starters = dict(
        db.exec(
            select(col(User.id), col(User.name)).where(
                col(User.id).in_({c.started_by_id for c, _ in rows})
            )
        ).all()
    )
    latest_ids = (
        select(sa.func.max(col(Message.id))).where(col(Message.conversation_id).in_(ids))
    ).group_by(col(Message.conversation_id))
    last_text = {
        # A column read returns the stored envelope (the model's type is the opened text).
        conv_id: open_value("messages", "text", row_key, cast(bytes, text))
        for conv_id, row_key, text in db.exec(
            select(col(Message.conversation_id), col(Message.row_key), col(Message.text)).where(
                col(Message.id).in_(latest_ids)
            )
        ).all()
    }
    return [
        ConversationPublic(
            conversation_id=c.id,
            firm_id=c.firm_id,
            firm_name=firm_names.get(c.firm_id, ""),
            recording_disclosed=disclosed.get(c.firm_id, False),
            subject=c.subject,
            started_by_id=c.started_by_id,
            started_by_name=starters.get(c.started_by_id, ""),
            traders=traders.get(rid(c.id), []),
            created_at=c.created_at,
            last_message_at=c.last_message_at,
            last_message=(last_text.get(rid(c.id)) or "")[:140],
            unread=unread or 0,
        )
        for c, unread in rows
    ]


def index_words(conn: sa.Connection, messages: Iterable[tuple[int, str]]) -> int:
    """The words of messages (id, plaintext) into the search index, in one insert per 5,000
    rows (every path that adds a message calls this); the number of rows added."""
    table = MessageSearchTerm.__table__  # type: ignore[attr-defined]
    batch: list[dict[str, int]] = []
    n = 0
    for message_id, text in messages:
        batch.extend(
            {"message_id": message_id, "term": t} for t in terms.terms(terms.MESSAGES, text)
        )
        if len(batch) >= 5000:
            conn.execute(sa.insert(table), batch)
            n, batch = n + len(batch), []
    if batch:
        conn.execute(sa.insert(table), batch)
        n += len(batch)
    return n


def messages_with_words(text: str) -> Any:
    """The ids of the messages holding every word of `text` (whole words, case-insensitive;
    none when `text` has no word of two characters or more)."""
    t = MessageSearchTerm
    wanted = terms.terms(terms.MESSAGES, text)
    if not wanted:
        return select(col(t.message_id)).where(sa.false())
    return (
        select(col(t.message_id))
        .where(col(t.term).in_(wanted))
        .group_by(col(t.message_id))
        .having(sa.func.count(sa.distinct(col(t.term))) == len(wanted))
    )


def list_conversations(
    db: Session,
    *,
    actor: AnyActor,
    q: object = None,
    firm_id: object = None,
    trader_id: object = None,
    page: PageRequest = PageRequest(),
) -> Page[ConversationPublic]:
    """Newest activity first, with the actor's unread count; search by trader, firm, subject
    (substring) or the messages' words (whole words)."""
    require(actor, Permission.COMMS_VIEW)
    conds: list[Any] = [conversation_condition(actor)]
    firm = optional_id(firm_id, "firm_id")
    if firm is not None:
        conds.append(col(Conversation.firm_id) == firm)
    trader = optional_id(trader_id, "trader_id")
    if trader is not None:
        conds.append(
            col(Conversation.id).in_(
                select(col(ConversationParticipant.conversation_id)).where(
                    col(ConversationParticipant.trader_id) == trader
                )
            )
        )
    text = require_text(q, "q", max_length=200)
    if text:
        pattern = f"%{escape_like(text.lower())}%"
        conds.append(
            sa.or_(
                sa.func.lower(col(Conversation.subject)).like(pattern, escape="\\"),
                col(Conversation.firm_id).in_(
                    select(col(Firm.id)).where(
                        sa.func.lower(col(Firm.name)).like(pattern, escape="\\")
                    )
                ),
                col(Conversation.id).in_(
                    select(col(ConversationParticipant.conversation_id))
                    .join(Trader, col(Trader.id) == col(ConversationParticipant.trader_id))
                    .where(sa.func.lower(col(Trader.name)).like(pattern, escape="\\"))
                ),
                col(Conversation.id).in_(
                    select(col(Message.conversation_id)).where(
                        col(Message.id).in_(messages_with_words(text))
                    )
                ),
            )
        )
    user_id = getattr(actor, "user_id", None) or 0
    rows = db.exec(
        select(Conversation, _unread_expr(user_id))
        .where(*conds)
        .order_by(col(Conversation.last_message_at).desc(), col(Conversation.id).desc())
        .offset(page.offset)
        .limit(page.limit + 1)
    ).all()
    total = db.exec(select(sa.func.count()).select_from(Conversation).where(*conds)).one()
    return Page.build(
        _conversations_public(db, actor, [(c, n) for c, n in rows]), page=page, total=total
    )


def unread_total(db: Session, *, actor: AnyActor) -> int:
    """Unread messages over every conversation the actor sees (the badge)."""
    if isinstance(actor, SystemActor) or actor.role in _READ_ALL:
        return 0  # read-only roles keep no read state
    value = db.exec(
        select(sa.func.coalesce(sa.func.sum(_unread_expr(actor.user_id)), 0)).where(
            conversation_condition(actor)
        )
    ).one()
    return int(value or 0)


def get_conversation(
    db: Session, *, actor: AnyActor, conversation_id: object
) -> ConversationPublic:
    conv = load(db, actor, conversation_id)
    user_id = getattr(actor, "user_id", None) or 0
    unread = db.exec(select(_unread_expr(user_id)).where(col(Conversation.id) == conv.id)).one()
    return _conversations_public(db, actor, [(conv, unread)])[0]


def messages_public(db: Session, rows: Sequence[Message]) -> list[CommunicationPublic]:
    """Public records for messages: names, attachments, deliveries and receipts in batched queries."""
    if not rows:
        return []
    ids = [m.id for m in rows]
    user_ids = {m.sender_user_id for m in rows if m.sender_user_id}
    trader_ids = {m.sender_trader_id for m in rows if m.sender_trader_id}
    users = dict(
        db.exec(select(col(User.id), col(User.name)).where(col(User.id).in_(user_ids))).all()
    )
    traders = dict(
        db.exec(
            select(col(Trader.id), col(Trader.name)).where(col(Trader.id).in_(trader_ids))
        ).all()
    )
    atts: dict[int | None, list[Any]] = {}
    for a in db.exec(
        select(MessageAttachment)
        .where(col(MessageAttachment.message_id).in_(ids))
        .order_by(col(MessageAttachment.id))
    ).all():
        atts.setdefault(a.message_id, []).append(attachments.to_public(a))
    dels: dict[int | None, list[DeliveryPublic]] = {}
    for d in db.exec(
        select(MessageDelivery)
        .where(col(MessageDelivery.message_id).in_(ids))
        .order_by(col(MessageDelivery.id))
    ).all():
        dels.setdefault(d.message_id, []).append(
            DeliveryPublic(
                delivery_id=d.id,
                channel=Channel(d.channel),
                address=d.address,
                status=DeliveryStatus(d.status),
                attempts=d.attempts,
                provider_message_id=d.provider_message_id,
                error=d.error,
                sent_at=d.sent_at,
                delivered_at=d.delivered_at,
            )
        )
    reads: dict[int | None, list[ReadReceipt]] = {}
    for mid, uid, name, at in db.exec(
        select(
            col(MessageRead.message_id),
            col(MessageRead.user_id),
            col(User.name),
            col(MessageRead.read_at),
        )
        .join(User, col(User.id) == col(MessageRead.user_id))
        .where(col(MessageRead.message_id).in_(ids))
        .order_by(col(MessageRead.read_at))
    ).all():
        reads.setdefault(mid, []).append(ReadReceipt(user_id=uid, name=name, read_at=at))
    out = []
    for m in rows:
        sender = (
            users.get(m.sender_user_id, "")
            if m.sender_user_id
            else traders.get(m.sender_trader_id, "")
        )
        broker_id = m.sender_user_id if m.direction == Direction.OUTBOUND.value else None
        out.append(
            CommunicationPublic(
                communication_id=m.id,
                conversation_id=m.conversation_id,
                firm_id=m.firm_id,
                broker_id=broker_id,
                trader_id=m.trader_id,
                sender_name=sender,
                sender_user_id=m.sender_user_id,
                message_type=Channel(m.channel),
                direction=Direction(m.direction),
                content=m.text,
                sent_at=m.sent_at,
                correction_of=m.correction_of_id,
                attachments=atts.get(m.id, []),
                deliveries=dels.get(m.id, []),
                read_by=reads.get(m.id, []),
            )
        )
    return out


def list_messages(
    db: Session,
    *,
    actor: AnyActor,
    conversation_id: object,
    before_id: object = None,
    limit: object = 50,
) -> list[CommunicationPublic]:
    """The last `limit` messages (before `before_id` to page back), oldest first."""
    conv = load(db, actor, conversation_id)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
        raise ValidationFailed("must be between 1 and 200", field="limit")
    conds: list[Any] = [col(Message.conversation_id) == conv.id]
    before = optional_id(before_id, "before_id")
    if before is not None:
        conds.append(col(Message.id) < before)
    rows = db.exec(
        select(Message).where(*conds).order_by(col(Message.id).desc()).limit(limit)
    ).all()
    return messages_public(db, list(reversed(rows)))


def get_message(db: Session, *, actor: AnyActor, communication_id: object) -> CommunicationPublic:
    mid = require_id(communication_id, "communication_id")
    row = db.get(Message, mid)
    if row is None:
        raise NotFound("Communication")
    try:
        load(db, actor, row.conversation_id)
    except NotFound:
        raise NotFound("Communication") from None
    return messages_public(db, [row])[0]


def trader_communications(
    db: Session, *, actor: AnyActor, trader_id: object, page: PageRequest = PageRequest()
) -> Page[CommunicationPublic]:
    """Every communication with one trader on every channel, newest first: the messages of the
    conversations they take part in that the actor sees."""
    from brm_app.services import traders

    require(actor, Permission.COMMS_VIEW)
    trader = traders.load(db, actor, trader_id)
    # The trader's conversations the actor sees, first (a handful): the visibility rule on them
    # alone, not the set of every conversation the actor sees (bench: api_trader_communications).
    conv_ids = list(
        db.exec(
            select(col(Conversation.id))
            .join(
                ConversationParticipant,
                col(ConversationParticipant.conversation_id) == col(Conversation.id),
            )
            .where(
                col(ConversationParticipant.trader_id) == trader.id, conversation_condition(actor)
            )
        ).all()
    )
    if not conv_ids:
        return Page.build([], page=page, total=0)
    conds = [col(Message.conversation_id).in_(conv_ids)]
    rows = db.exec(
        select(Message)
        .where(*conds)
        .order_by(col(Message.sent_at).desc(), col(Message.id).desc())
        .offset(page.offset)
        .limit(page.limit + 1)
    ).all()
    total = db.exec(select(sa.func.count()).select_from(Message).where(*conds)).one()
    return Page.build(messages_public(db, list(rows)), page=page, total=total)


# ---- writing -----------------------------------------------------------------------------------


def _writer_check(db: Session, actor: AnyActor, conv: Conversation) -> Trader | None:
    """May the actor write here? Returns the actor's trader record when they are a trader."""
    require(actor, Permission.COMMS_SEND)
    if isinstance(actor, Actor) and actor.role == Role.TRADER:
        me = portal_trader(db, actor.user_id)
        if me is None or me.firm_id != conv.firm_id:
            raise NotFound("Conversation")
        return me
    firm = db.get(Firm, conv.firm_id)
    if firm is None or firm.archived_at is not None:
        raise ValidationFailed("This firm is archived.", field="conversation_id")
    return None


def _participant_traders(db: Session, conv: Conversation) -> list[Trader]:
    return list(
        db.exec(
            select(Trader)
            .join(ConversationParticipant, col(ConversationParticipant.trader_id) == col(Trader.id))
            .where(col(ConversationParticipant.conversation_id) == conv.id)
            .order_by(col(Trader.name_key), col(Trader.id))
        ).all()
    )


def _ensure_user_participant(db: Session, conv_id: int, user_id: int) -> None:
    exists = db.exec(
        select(col(ConversationParticipant.id)).where(
            col(ConversationParticipant.conversation_id) == conv_id,
            col(ConversationParticipant.user_id) == user_id,
        )
    ).first()
    if exists is None:
        db.add(ConversationParticipant(conversation_id=conv_id, user_id=user_id))


def _set_read(db: Session, conv_id: int, user_id: int, message_id: int) -> None:
    row = db.get(ConversationRead, (conv_id, user_id))
    if row is None:
        db.add(
            ConversationRead(
                conversation_id=conv_id,
                user_id=user_id,
                last_read_message_id=message_id,
                read_at=utcnow(),
            )
        )
    elif row.last_read_message_id < message_id:
        row.last_read_message_id, row.read_at = message_id, utcnow()
        db.add(row)


def check_text(value: object) -> str:
    return require_text(value, "content", max_length=TEXT_MAX, required=True)


def start_conversation(
    db: Session,
    *,
    actor: AnyActor,
    trader_ids: object,
    subject: object = None,
    need_portal: bool = True,
) -> Conversation:
    """A broker (or manager) starts a conversation with traders of one firm they work with.
    For in-app messages every trader needs portal access."""
    require(actor, Permission.COMMS_SEND)
    if not isinstance(actor, Actor) or actor.role == Role.TRADER:
        raise PermissionDenied("Conversations are started by the firm's brokers.")
    if not isinstance(trader_ids, list) or not trader_ids:
        raise ValidationFailed("choose at least one trader", field="trader_ids")
    if len(trader_ids) > 50:
        raise ValidationFailed("at most 50 traders", field="trader_ids")
    ids = list(dict.fromkeys(require_id(t, "trader_ids") for t in trader_ids))
    subject_text = require_text(subject, "subject", max_length=SUBJECT_MAX)
    may_see = sa.case((access.trader_condition(actor), True), else_=False)
    found = {
        t.id: (t, seen)
        for t, seen in db.exec(select(Trader, may_see).where(col(Trader.id).in_(ids))).all()
    }
    people: list[Trader] = []
    for tid in ids:
        t, seen = found.get(tid, (None, False))
        if t is None or not seen or t.archived_at is not None:
            raise ValidationFailed(f"trader {tid} is not one you can message", field="trader_ids")
        if need_portal and not t.portal_access:
            raise ValidationFailed(
                f"{t.name} has no portal access: send an email or SMS instead",
                field="trader_ids",
            )
        people.append(t)
    firm_ids = {t.firm_id for t in people}
    if len(firm_ids) > 1:
        raise ValidationFailed("traders must all work at one firm", field="trader_ids")
    from brm_app.services import firms

    firm = firms.load(db, actor, firm_ids.pop(), Permission.COMMS_SEND)
    if firm.archived_at is not None:
        raise ValidationFailed("This firm is archived.", field="trader_ids")
    now = utcnow()
    conv = Conversation(
        firm_id=rid(firm.id),
        started_by_id=actor.user_id,
        subject=subject_text,
        reply_token=secrets.token_urlsafe(18),
        created_at=now,
        last_message_at=now,
    )
    db.add(conv)
    db.flush()
    for t in people:
        db.add(
            ConversationParticipant(
                conversation_id=rid(conv.id), trader_id=rid(t.id), joined_at=now
            )
        )
    db.add(
        ConversationParticipant(conversation_id=rid(conv.id), user_id=actor.user_id, joined_at=now)
    )
    from brm_app.services import audit

    audit.record(
        db,
        actor=actor,
        action="conversation.started",
        entity="conversation",
        entity_id=conv.id,
        changes={"firm_id": firm.id, "trader_ids": ids, "subject": subject_text},
    )
    db.flush()
    return conv


def _sender_label(db: Session, actor: AnyActor, me: Trader | None) -> str:
    if me is not None:
        return f"{me.name} <{me.email}>"
    if isinstance(actor, Actor):
        return f"{actor.name} <{actor.email}>"
    return "system"


def record_message(
    db: Session,
    *,
    actor: AnyActor | None,
    conv: Conversation,
    text: str,
    channel: Channel,
    direction: Direction,
    sender_user_id: int | None,
    sender_trader_id: int | None,
    trader_id: int | None,
    sender_label: str,
    recipients: list[str],
    correction_of_id: int | None = None,
    attachment_ids: Sequence[int] = (),
) -> Message:
    """Store a message (checked by the caller), its attachments, the log entry, read state and
    the live event. Used by in-app sends, email/SMS sends and inbound replies alike."""
    now = utcnow()
    msg = Message(
        conversation_id=rid(conv.id),
        firm_id=conv.firm_id,
        sender_user_id=sender_user_id,
        sender_trader_id=sender_trader_id,
        trader_id=trader_id,
        channel=channel.value,
        direction=direction.value,
        text=text,
        correction_of_id=correction_of_id,
        sent_at=now,
    )
    db.add(msg)
    db.flush()
    assert msg.id is not None
    index_words(db.connection(), [(msg.id, text)])
    atts = (
        attachments.claim_for_message(
            db,
            actor=actor or SystemActor(),
            conversation_id=rid(conv.id),
            message_id=msg.id,
            ids=list(attachment_ids),
        )
        if attachment_ids
        else []
    )
    conv.last_message_at = now
    db.add(conv)
    if sender_user_id is not None:
        _ensure_user_participant(db, rid(conv.id), sender_user_id)
        # Writing in a conversation reads it: receipts for what came before.
        _read_through(db, rid(conv.id), sender_user_id, rid(msg.id))
    communication_log.append(
        db,
        actor=actor,
        entry=CommunicationLogEntry(
            kind="message",
            occurred_at=now,
            message_id=msg.id,
            conversation_id=rid(conv.id),
            firm_id=conv.firm_id,
            broker_id=sender_user_id if direction == Direction.OUTBOUND else None,
            trader_id=trader_id,
            channel=channel.value,
            direction=direction.value,
            sender=sender_label[:300],
            recipients=json.dumps(recipients),
            content=text,
            attachments=json.dumps(
                [{"filename": a.filename, "sha256": a.sha256, "size": a.size} for a in atts]
            ),
            content_hash="",
        ),
    )
    people = audience(db, conv)
    events.publish(db, TOPIC, people, rid(conv.id))
    _notify_new_message(db, conv, people - {sender_user_id or 0}, sender_label, text)
    return msg


def _notify_new_message(
    db: Session, conv: Conversation, user_ids: set[int], sender: str, text: str
) -> None:
    """Those who asked to hear of new messages (preferences, kind "message"), on their channels."""
    from brm_app.services import notifications, preferences

    for user_id, channels in preferences.wanted_by(db, user_ids, "message").items():
        notifications.notify(
            db,
            user_id=user_id,
            kind="message",
            title=f"New message from {sender.split(' <')[0]}"[:300],
            body=text[:200],
            link=f"/communications?conversation={conv.id}",
            channels=channels,
        )


def _recipients(db: Session, conv: Conversation, me: Trader | None) -> list[str]:
    if me is not None:  # a trader writes to the firm's broker side
        starter = db.get(User, conv.started_by_id)
        return [f"brokers of firm {conv.firm_id}"] + ([starter.email] if starter else [])
    return [f"{t.name} <{t.email}>" for t in _participant_traders(db, conv)]


def send_message(
    db: Session,
    *,
    actor: AnyActor,
    conversation_id: object,
    content: object,
    correction_of: object = None,
    attachment_ids: object = None,
) -> CommunicationPublic:
    """An in-app message in a conversation the actor may write in (its brokers and traders)."""
    text = check_text(content)
    conv = load(db, actor, conversation_id, Permission.COMMS_SEND)
    me = _writer_check(db, actor, conv)
    if me is None and not any(
        t.portal_access and t.firm_id == conv.firm_id and t.archived_at is None
        for t in _participant_traders(db, conv)
    ):
        raise ValidationFailed(
            "none of this conversation's traders has portal access: send an email or SMS",
            field="message_type",
        )
    corrects = _check_correction(db, actor, conv, correction_of)
    ids = _attachment_ids(attachment_ids)
    msg = record_message(
        db,
        actor=actor,
        conv=conv,
        text=text,
        channel=Channel.IN_APP,
        direction=Direction.INBOUND if me is not None else Direction.OUTBOUND,
        sender_user_id=actor.user_id,
        sender_trader_id=me.id if me is not None else None,
        trader_id=me.id if me is not None else _single_trader_id(db, conv),
        sender_label=_sender_label(db, actor, me),
        recipients=_recipients(db, conv, me),
        correction_of_id=corrects,
        attachment_ids=ids,
    )
    return messages_public(db, [msg])[0]


def _single_trader_id(db: Session, conv: Conversation) -> int | None:
    people = _participant_traders(db, conv)
    return people[0].id if len(people) == 1 else None


def _attachment_ids(value: object) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationFailed("must be a list of attachment ids", field="attachment_ids")
    return [require_id(v, "attachment_ids") for v in value]


def _check_correction(
    db: Session, actor: AnyActor, conv: Conversation, correction_of: object
) -> int | None:
    """A correction refers to an earlier message of the same author in the same conversation."""
    earlier_id = optional_id(correction_of, "correction_of")
    if earlier_id is None:
        return None
    earlier = db.get(Message, earlier_id)
    if (
        earlier is None
        or earlier.conversation_id != conv.id
        or earlier.sender_user_id != getattr(actor, "user_id", None)
    ):
        raise ValidationFailed(
            "must be one of your own earlier messages in this conversation", field="correction_of"
        )
    return earlier.id


def mark_read(
    db: Session, *, actor: AnyActor, conversation_id: object, up_to: object = None
) -> int:
    """The actor has read the conversation (up to a message): read receipts for each message
    newly read, and their unread count drops. Returns the conversation's unread count left."""
    conv = load(db, actor, conversation_id)
    if not isinstance(actor, Actor) or not has(actor, Permission.COMMS_SEND):
        raise PermissionDenied("Reading as compliance or admin leaves no read receipts.")
    if actor.role == Role.TRADER:
        _writer_check(db, actor, conv)
    last = (
        db.exec(
            select(sa.func.max(col(Message.id))).where(col(Message.conversation_id) == conv.id)
        ).one()
        or 0
    )
    target = optional_id(up_to, "up_to")
    if target is not None:
        if target > last:
            raise ValidationFailed("is not a message of this conversation", field="up_to")
        last = target
    newly = _read_through(db, rid(conv.id), actor.user_id, last)
    db.flush()
    if newly:
        # The readers' receipts show on the writers' pages; the reader's own counts drop.
        events.publish(db, TOPIC, audience(db, conv) | {actor.user_id}, rid(conv.id))
    return _unread_of(db, rid(conv.id), actor.user_id)


def _read_through(db: Session, conv_id: int, user_id: int, last: int) -> int:
    """The user has read up to message `last`: a receipt for each message of others newly read.
    Returns how many."""
    state = db.get(ConversationRead, (conv_id, user_id))
    before = state.last_read_message_id if state else 0
    if last <= before:
        return 0
    newly = db.exec(
        select(col(Message.id)).where(
            col(Message.conversation_id) == conv_id,
            col(Message.id) > before,
            col(Message.id) <= last,
            sa.or_(col(Message.sender_user_id).is_(None), col(Message.sender_user_id) != user_id),
        )
    ).all()
    now = utcnow()
    # The receipts already there, in one query (not one per message: a sender catching up on
    # a long conversation reads it all at once).
    had: set[int] = set()
    for start in range(0, len(newly), 5000):  # (bound parameters per statement are limited)
        chunk = newly[start : start + 5000]
        had.update(
            db.exec(
                select(col(MessageRead.message_id)).where(
                    col(MessageRead.user_id) == user_id, col(MessageRead.message_id).in_(chunk)
                )
            ).all()
        )
    db.add_all(
        MessageRead(message_id=rid(mid), user_id=user_id, read_at=now)
        for mid in newly
        if mid not in had
    )
    _set_read(db, conv_id, user_id, last)
    return len(newly)


def _unread_of(db: Session, conv_id: int, user_id: int) -> int:
    return int(
        db.exec(select(_unread_expr(user_id)).where(col(Conversation.id) == conv_id)).one() or 0
    )


def move_to_firm(db: Session, source_id: int, target_id: int) -> dict[str, int]:
    """Firm merge hook: the merged firm's conversations (and messages) belong to the survivor;
    the log keeps each entry as it was written."""
    moved = db.exec(
        sa.update(Conversation)
        .where(col(Conversation.firm_id) == source_id)
        .values(firm_id=target_id)
    ).rowcount
    db.exec(sa.update(Message).where(col(Message.firm_id) == source_id).values(firm_id=target_id))
    for old_id, new_id in db.exec(
        select(col(Trader.id), col(Trader.merged_into_id)).where(
            col(Trader.firm_id) == source_id, col(Trader.merged_into_id).is_not(None)
        )
    ).all():
        taken = set(
            db.exec(
                select(col(ConversationParticipant.conversation_id)).where(
                    col(ConversationParticipant.trader_id) == new_id
                )
            ).all()
        )
        db.exec(
            sa.update(ConversationParticipant)
            .where(
                col(ConversationParticipant.trader_id) == old_id,
                col(ConversationParticipant.conversation_id).not_in(taken),
            )
            .values(trader_id=new_id)
        )
    return {"conversations_moved": moved or 0}


def on_broker_side(actor: Actor | SystemActor) -> bool:
    """Brokers and their managers write to traders (the composer's broker-side controls)."""
    return isinstance(actor, Actor) and actor.role in (Role.BROKER, Role.MANAGER)
