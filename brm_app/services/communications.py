"""Communications with a trader on any channel: in-app, email (SendGrid) or SMS (Twilio).

Rules:
- `POST /communications` (the design's endpoint) sends to one trader: in-app needs their portal
  access; email needs the `receive_email` permission and an address; SMS needs `receive_sms`, a
  mobile number (E.164), and the number not opted out (STOP). The message lands in the given
  conversation, else the latest one with that trader, else a new one.
- Email and SMS go out as jobs (one per delivery), after the commit, never in the request. A
  delivery is marked "sending" (committed) before the provider is called and "sent" after; a
  temporary failure (HTTP 429/5xx, timeouts) goes back to "queued" and retries with backoff, up
  to BRM_DELIVERY_MAX_ATTEMPTS; a permanent one is "failed" with the provider's error. Neither
  provider takes an idempotency key, so a delivery found "sending" (its sender crashed) becomes
  "unknown": a person resends or dismisses it, it is never re-sent silently.
- Every status change is appended to the communication log. Content is never written to the
  server log; job payloads carry ids only.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from brm_app import events
from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.bootstrap import providers
from brm_app.db import is_postgres, unit_of_work, utcnow
from brm_app.jobs import queue
from brm_app.jobs.queue import ClaimedJob, PermanentJobError
from brm_app.models.communication import (
    Channel,
    CommunicationLogEntry,
    CommunicationPublic,
    Conversation,
    ConversationParticipant,
    DeliveryStatus,
    Direction,
    Message,
    MessageDelivery,
    SmsOptOut,
)
from brm_app.models.trader import Trader
from brm_app.models.user import Role
from brm_app.providers.base import ProviderError, SendResult
from brm_app.providers.email import OutgoingEmail
from brm_app.providers.sms import OutgoingSms
from brm_app.services import communication_log, conversations, traders
from brm_app.services.errors import NotFound, PermissionDenied, ValidationFailed
from brm_app.services.validation import optional_id, rid
from brm_app.settings import get_settings

AnyActor = Actor | SystemActor
SEND_KIND = "message.send"
SENDING_STALE = timedelta(minutes=15)
INTERRUPTED = "interrupted while sending; it may have gone out, so it is not re-sent"


def _channel(value: object) -> Channel:
    try:
        return Channel(str(value))
    except ValueError:
        raise ValidationFailed("must be in_app, email or sms", field="message_type") from None


def is_opted_out(db: Session, number: str | None) -> bool:
    return number is not None and db.get(SmsOptOut, number) is not None


def _check_reachable(db: Session, trader: Trader, channel: Channel) -> str | None:
    """The address for this channel, or ValidationFailed saying why the trader cannot get it."""
    if trader.archived_at is not None:
        raise ValidationFailed("This trader is archived.", field="trader_id")
    if channel == Channel.IN_APP:
        if not trader.portal_access:
            raise ValidationFailed(
                f"{trader.name} has no portal access: send an email or SMS instead",
                field="message_type",
            )
        return None
    if channel == Channel.EMAIL:
        if not trader.receive_email:
            raise ValidationFailed(
                f"{trader.name} has not agreed to receive email (receive_email)",
                field="message_type",
            )
        if not trader.email:
            raise ValidationFailed(f"{trader.name} has no email address", field="trader_id")
        return trader.email
    if not trader.receive_sms:
        raise ValidationFailed(
            f"{trader.name} has not agreed to receive SMS (receive_sms)", field="message_type"
        )
    if not trader.mobile:
        raise ValidationFailed(
            f"{trader.name} has no mobile number: SMS go only to a mobile number",
            field="trader_id",
        )
    if is_opted_out(db, trader.mobile):
        raise ValidationFailed(
            f"{trader.name}'s number has opted out of SMS (answered STOP); it can opt back in "
            "by texting START",
            field="message_type",
        )
    return trader.mobile


def _conversation_for(
    db: Session, actor: Actor, trader: Trader, conversation_id: object, channel: Channel
) -> Conversation:
    conv_id = optional_id(conversation_id, "conversation_id")
    if conv_id is not None:
        conv = conversations.load(db, actor, conv_id, Permission.COMMS_SEND)
        if conv.firm_id != trader.firm_id:
            raise ValidationFailed(
                "the trader does not work at this conversation's firm", field="conversation_id"
            )
        joined = db.exec(
            select(col(ConversationParticipant.id)).where(
                col(ConversationParticipant.conversation_id) == conv.id,
                col(ConversationParticipant.trader_id) == trader.id,
            )
        ).first()
        if joined is None:
            db.add(ConversationParticipant(conversation_id=rid(conv.id), trader_id=rid(trader.id)))
        return conv
    latest = db.exec(
        select(Conversation)
        .join(
            ConversationParticipant,
            col(ConversationParticipant.conversation_id) == col(Conversation.id),
        )
        .where(
            col(ConversationParticipant.trader_id) == trader.id,
            col(Conversation.firm_id) == trader.firm_id,
            conversations.conversation_condition(actor),
        )
        .order_by(col(Conversation.last_message_at).desc(), col(Conversation.id).desc())
        .limit(1)
    ).first()
    if latest is not None:
        return latest
    return conversations.start_conversation(
        db, actor=actor, trader_ids=[trader.id], need_portal=channel == Channel.IN_APP
    )


def send_to_trader(
    db: Session,
    *,
    actor: AnyActor,
    trader_id: object,
    message_type: object,
    content: object,
    conversation_id: object = None,
    attachment_ids: object = None,
) -> CommunicationPublic:
    """The design's POST /communications: a broker sends one trader a message on one channel."""
    require(actor, Permission.COMMS_SEND)
    if not isinstance(actor, Actor) or actor.role == Role.TRADER:
        raise PermissionDenied("Traders reply in their conversations.")
    channel = _channel(message_type)
    text = conversations.check_text(content)
    trader = traders.load(db, actor, trader_id)
    address = _check_reachable(db, trader, channel)
    if channel == Channel.SMS and attachment_ids:
        raise ValidationFailed("an SMS carries no attachments", field="attachment_ids")
    conv = _conversation_for(db, actor, trader, conversation_id, channel)
    conversations._writer_check(db, actor, conv)
    ids = conversations._attachment_ids(attachment_ids)
    recipient = f"{trader.name} <{address or trader.email}>"
    msg = conversations.record_message(
        db,
        actor=actor,
        conv=conv,
        text=text,
        channel=channel,
        direction=Direction.OUTBOUND,
        sender_user_id=actor.user_id,
        sender_trader_id=None,
        trader_id=trader.id,
        sender_label=f"{actor.name} <{actor.email}>",
        recipients=[recipient],
        attachment_ids=ids,
    )
    if address is not None:
        queue_delivery(db, msg, trader, channel, address)
    return conversations.messages_public(db, [msg])[0]


def queue_delivery(
    db: Session, msg: Message, trader: Trader, channel: Channel, address: str
) -> MessageDelivery:
    s = get_settings()
    delivery = MessageDelivery(
        message_id=rid(msg.id),
        trader_id=rid(trader.id),
        channel=channel.value,
        address=address,
        provider=s.email_provider if channel == Channel.EMAIL else s.sms_provider,
        status=DeliveryStatus.QUEUED.value,
        queued_at=utcnow(),
        updated_at=utcnow(),
    )
    db.add(delivery)
    db.flush()
    assert delivery.id is not None
    queue.enqueue(
        db,
        SEND_KIND,
        {"delivery_id": delivery.id},
        key=f"{SEND_KIND}:{delivery.id}",
        max_attempts=s.delivery_max_attempts,
    )
    return delivery


# ---- the delivery job ------------------------------------------------------------------------


def _log_status(
    db: Session, d: MessageDelivery, actor: AnyActor | None = None, *, publish: bool = True
) -> None:
    msg = db.get(Message, d.message_id)
    assert msg is not None
    communication_log.append(
        db,
        actor=actor,
        entry=CommunicationLogEntry(
            kind="delivery",
            occurred_at=utcnow(),
            message_id=rid(msg.id),
            conversation_id=msg.conversation_id,
            firm_id=msg.firm_id,
            broker_id=msg.sender_user_id if msg.direction == Direction.OUTBOUND.value else None,
            trader_id=d.trader_id,
            channel=d.channel,
            direction=msg.direction,
            sender=d.provider,
            recipients=json.dumps([d.address]),
            content="",
            delivery_id=d.id,
            status=d.status,
            attempts=d.attempts,
            provider_message_id=d.provider_message_id,
            error=d.error,
            content_hash="",
        ),
    )
    if not publish:
        return
    conv = db.get(Conversation, msg.conversation_id)
    if conv is not None:
        events.publish(db, conversations.TOPIC, conversations.audience(db, conv), rid(conv.id))


def _set_status(db: Session, d: MessageDelivery, status: DeliveryStatus, **values: Any) -> None:
    now = utcnow()
    d.status = status.value
    d.updated_at = now
    for name, value in values.items():
        setattr(d, name, value)
    if status == DeliveryStatus.SENT and d.sent_at is None:
        d.sent_at = now
    if status == DeliveryStatus.DELIVERED:
        d.delivered_at = now
    if status in (DeliveryStatus.FAILED, DeliveryStatus.BOUNCED):
        d.failed_at = now
    db.add(d)
    db.flush()
    # "sending" lasts as long as the provider's call: logged, but the open pages hear of the
    # status that follows it (one live event, and one audience lookup, fewer per email).
    _log_status(db, d, publish=status != DeliveryStatus.SENDING)


def _outgoing(db: Session, d: MessageDelivery) -> OutgoingEmail | OutgoingSms:
    msg = db.get(Message, d.message_id)
    conv = db.get(Conversation, msg.conversation_id) if msg else None
    if msg is None or conv is None:
        raise PermanentJobError(f"delivery {d.id}: its message is gone")
    s = get_settings()
    reference = f"delivery:{d.id}"
    if d.channel == Channel.EMAIL.value:
        reply_to = f"reply+{conv.reply_token}@{s.inbound_domain}" if s.inbound_domain else None
        subject = conv.subject or "A message from your broker"
        return OutgoingEmail(
            to=d.address, subject=subject, text=msg.text, reference=reference, reply_to=reply_to
        )
    if is_opted_out(db, d.address):
        raise PermanentJobError(f"delivery {d.id}: the number has opted out of SMS (STOP)")
    return OutgoingSms(
        to=d.address,
        text=msg.text,
        reference=reference,
        status_callback=f"{s.public_url}/api/v1/webhooks/twilio/status",
    )


def _load_locked(db: Session, delivery_id: int) -> MessageDelivery | None:
    stmt = select(MessageDelivery).where(col(MessageDelivery.id) == delivery_id)
    if is_postgres(db):
        stmt = stmt.with_for_update()
    return db.exec(stmt).first()


def send(job: ClaimedJob) -> None:
    """The job handler (payload {"delivery_id": N}): send one email or SMS, at most once."""
    delivery_id = job.payload["delivery_id"]
    problem: PermanentJobError | None = None
    message: OutgoingEmail | OutgoingSms | None = None
    with unit_of_work(write=True) as db:
        d = _load_locked(db, delivery_id)
        if d is None or d.status not in (DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value):
            return  # gone, done, failed or waiting for a person
        if d.status == DeliveryStatus.SENDING.value:
            _set_status(db, d, DeliveryStatus.UNKNOWN, error=INTERRUPTED)
            problem = PermanentJobError(f"delivery {delivery_id}: {INTERRUPTED}")
        else:
            try:
                message = _outgoing(db, d)
            except PermanentJobError as exc:
                _set_status(db, d, DeliveryStatus.FAILED, error=str(exc)[:500])
                problem = exc
            else:
                _set_status(
                    db, d, DeliveryStatus.SENDING, sending_at=utcnow(), attempts=d.attempts + 1
                )
    if problem is not None:
        raise problem
    assert message is not None
    try:
        result: SendResult = (
            providers().email.send(message)
            if isinstance(message, OutgoingEmail)
            else providers().sms.send(message)
        )
    except ProviderError as exc:
        retry = exc.temporary and job.attempt < job.max_attempts
        with unit_of_work(write=True) as db:
            d = _load_locked(db, delivery_id)
            if d is not None:
                _set_status(
                    db,
                    d,
                    DeliveryStatus.QUEUED if retry else DeliveryStatus.FAILED,
                    error=str(exc)[:500],
                )
        if retry:
            raise
        raise PermanentJobError(f"delivery {delivery_id}: {exc}") from None
    with unit_of_work(write=True) as db:
        d = _load_locked(db, delivery_id)
        if d is not None:
            _set_status(
                db,
                d,
                DeliveryStatus.SENT,
                error=None,
                provider_message_id=(result.provider_message_id or "")[:200] or None,
            )


def sweep_interrupted(db: Session) -> int:
    """Deliveries left "sending" long ago (their sender stopped) become "unknown"."""
    stale = db.exec(
        select(MessageDelivery).where(
            col(col(MessageDelivery.status)) == DeliveryStatus.SENDING.value,
            col(col(MessageDelivery.sending_at)) < utcnow() - SENDING_STALE,
        )
    ).all()
    for d in stale:
        _set_status(db, d, DeliveryStatus.UNKNOWN, error=INTERRUPTED)
    return len(stale)


def _load_delivery(db: Session, actor: AnyActor, delivery_id: object) -> MessageDelivery:
    from brm_app.services.validation import require_id

    d = db.get(MessageDelivery, require_id(delivery_id, "delivery_id"))
    if d is None:
        raise NotFound("Delivery")
    msg = db.get(Message, d.message_id)
    try:
        conversations.load(db, actor, msg.conversation_id if msg else 0, Permission.COMMS_SEND)
    except (NotFound, ValidationFailed):
        raise NotFound("Delivery") from None
    if isinstance(actor, Actor) and actor.role == Role.TRADER:
        raise NotFound("Delivery")
    return d


def resend(db: Session, *, actor: AnyActor, delivery_id: object) -> None:
    """A person resends a delivery whose fate is unknown (or that failed): a new attempt, queued."""
    d = _load_delivery(db, actor, delivery_id)
    if d.status not in (DeliveryStatus.UNKNOWN.value, DeliveryStatus.FAILED.value):
        raise ValidationFailed("only an unknown or failed delivery is resent", field="delivery_id")
    if d.channel == Channel.SMS.value and is_opted_out(db, d.address):
        raise ValidationFailed("the number has opted out of SMS (STOP)", field="delivery_id")
    _set_status(db, d, DeliveryStatus.QUEUED, error=None)
    queue.enqueue(
        db,
        SEND_KIND,
        {"delivery_id": rid(d.id)},
        key=f"{SEND_KIND}:{d.id}:{d.attempts}:{utcnow().timestamp()}",
        max_attempts=get_settings().delivery_max_attempts,
    )


def dismiss(db: Session, *, actor: AnyActor, delivery_id: object) -> None:
    """A person decides an unknown delivery went out (or does not matter): it is marked failed
    with that decision, and not resent."""
    d = _load_delivery(db, actor, delivery_id)
    if d.status != DeliveryStatus.UNKNOWN.value:
        raise ValidationFailed("only an unknown delivery is dismissed", field="delivery_id")
    _set_status(
        db, d, DeliveryStatus.FAILED, error=f"dismissed by {getattr(actor, 'email', 'system')}"
    )


def delivery_by_provider_id(
    db: Session, provider: str, provider_message_id: str
) -> MessageDelivery | None:
    return db.exec(
        select(MessageDelivery).where(
            col(MessageDelivery.provider) == provider,
            col(MessageDelivery.provider_message_id) == provider_message_id,
        )
    ).first()


def apply_status(
    db: Session, d: MessageDelivery, status: DeliveryStatus, error: str | None = None
) -> bool:
    """A provider's report (webhook): moves the delivery on, never back (a late "sent" does not
    undo "delivered"). Returns whether anything changed."""
    order = {
        DeliveryStatus.QUEUED.value: 0,
        DeliveryStatus.SENDING.value: 1,
        DeliveryStatus.UNKNOWN.value: 1,
        DeliveryStatus.SENT.value: 2,
        DeliveryStatus.DELIVERED.value: 3,
        DeliveryStatus.BOUNCED.value: 3,
        DeliveryStatus.FAILED.value: 3,
    }
    if order[status.value] < order.get(d.status, 0) or status.value == d.status:
        return False
    _set_status(db, d, status, error=(error or d.error) and (error or d.error or "")[:500])
    return True
