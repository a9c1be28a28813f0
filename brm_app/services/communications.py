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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, NamedTuple

from sqlmodel import Session, col, select

from brm_app import events
from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.bootstrap import providers
from brm_app.db import is_postgres, unit_of_work, utcnow
from brm_app.encryption.columns import blind_index
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


def opt_out_of(db: Session, number: str | None) -> SmsOptOut | None:
    """The opt-out (STOP) of this number, if it has one: found by its blind index."""
    if not number:
        return None
    return db.exec(
        select(SmsOptOut).where(
            col(SmsOptOut.number_bidx) == blind_index("sms_opt_outs", "number", number)
        )
    ).first()


def is_opted_out(db: Session, number: str | None) -> bool:
    return opt_out_of(db, number) is not None


def sms_opt_out_note(db: Session, *, actor: AnyActor, trader_id: object) -> str:
    """For the broker side (a conversation, the trader's communications tab): "SMS: <name> opted
    out since <date>" while the trader's mobile is opted out (STOP), else ""."""
    trader = traders.load(db, actor, trader_id)
    row = opt_out_of(db, trader.mobile)
    if row is None:
        return ""
    return (
        f"SMS: {trader.name} opted out since {row.opted_out_at:%Y-%m-%d} (answered STOP); "
        "no SMS goes to them until they text START"
    )


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


def _log_entry(msg: Message, d: MessageDelivery) -> CommunicationLogEntry:
    """The log's record of a delivery's status as it is now."""
    return CommunicationLogEntry(
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
    )


def _apply(d: MessageDelivery, status: DeliveryStatus, values: dict[str, Any]) -> None:
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


# One change of a delivery's status: the delivery, its new status, the other columns set.
Change = tuple[MessageDelivery, DeliveryStatus, dict[str, Any]]


def _set_statuses(db: Session, changes: list[Change]) -> None:
    """Apply each change, log each in the communication log (and the audit chain), and tell the
    open pages of each conversation once. The messages and conversations come from the session
    (a batch loads them first: `_preload`)."""
    if not changes:
        return
    for d, status, values in changes:
        _apply(d, status, values)
        db.add(d)
    db.flush()
    entries, told = [], set()
    for d, status, _ in changes:
        msg = db.get(Message, d.message_id)
        assert msg is not None
        entries.append(_log_entry(msg, d))
        # "sending" lasts as long as the provider's call: logged, but the open pages hear of the
        # status that follows it (one live event, and one audience lookup, fewer per email).
        if status != DeliveryStatus.SENDING:
            told.add(msg.conversation_id)
    communication_log.append_many(db, actor=None, entries=entries)
    for conv_id in sorted(told):
        conv = db.get(Conversation, conv_id)
        if conv is not None:
            events.publish(db, conversations.TOPIC, conversations.audience(db, conv), conv_id)


def _set_status(db: Session, d: MessageDelivery, status: DeliveryStatus, **values: Any) -> None:
    _set_statuses(db, [(d, status, values)])


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


class _Loaded(NamedTuple):
    deliveries: dict[int, MessageDelivery]
    # Their messages and conversations: held here while the session's `get` finds them (the
    # session keeps only weak references to what it loaded).
    related: list[Message | Conversation]


def _load_many_locked(db: Session, delivery_ids: list[int]) -> _Loaded:
    """A batch's deliveries (locked on PostgreSQL) and, in two more queries, their messages and
    conversations, which `_outgoing` and `_set_statuses` then get from the session."""
    stmt = select(MessageDelivery).where(col(MessageDelivery.id).in_(delivery_ids))
    if is_postgres(db):
        stmt = stmt.with_for_update()
    found = {rid(d.id): d for d in db.exec(stmt).all()}
    message_ids = sorted({d.message_id for d in found.values()})
    msgs = list(db.exec(select(Message).where(col(Message.id).in_(message_ids))).all())
    conv_ids = sorted({m.conversation_id for m in msgs})
    convs = db.exec(select(Conversation).where(col(Conversation.id).in_(conv_ids))).all()
    return _Loaded(found, [*msgs, *convs])


# A batch of deliveries (the runner's `Batched`): at most this many claimed together, and this
# many provider calls at a time. Worst case, every call waits its 10 s timeout: 50 / 8 rounds of
# 10 s, well inside a job's 2-minute lease, so no other runner takes a batch over mid-flight.
SEND_BATCH = 50
SEND_CONCURRENCY = 8

Outgoing = OutgoingEmail | OutgoingSms


def send(job: ClaimedJob) -> None:
    """The job handler (payload {"delivery_id": N}): send one email or SMS, at most once."""
    problem = send_batch([job]).get(job.id)
    if problem is not None:
        raise problem


def send_batch(jobs: Sequence[ClaimedJob]) -> dict[int, Exception | None]:
    """Send a batch of deliveries, each at most once; the outcome per job id (None: done, else
    what it failed with, for the runner's retry/dead rules).

    Three transactions for the whole batch: every delivery marked "sending" (committed, and
    logged) before any provider call; the calls, SEND_CONCURRENCY at a time through the one
    provider client; then "sent", back to "queued" (temporary failure, the job retries) or
    "failed". A call that ends in anything but an answer or a ProviderError (the process dying
    is the extreme case) leaves its delivery "sending": the next attempt marks it "unknown" and
    never re-sends it."""
    outcome: dict[int, Exception | None] = {}
    job_of: dict[int, ClaimedJob] = {}
    for job in jobs:
        delivery_id = job.payload["delivery_id"]
        if delivery_id in job_of:
            outcome[job.id] = None  # a second job for one delivery: the first one sends it
        else:
            job_of[delivery_id] = job
    ready: list[tuple[int, Outgoing]] = []
    with unit_of_work(write=True) as db:
        loaded = _load_many_locked(db, sorted(job_of))
        found = loaded.deliveries
        changes: list[Change] = []
        for delivery_id, job in job_of.items():
            d = found.get(delivery_id)
            if d is None or d.status not in (
                DeliveryStatus.QUEUED.value,
                DeliveryStatus.SENDING.value,
            ):
                outcome[job.id] = None  # gone, done, failed or waiting for a person
            elif d.status == DeliveryStatus.SENDING.value:
                changes.append((d, DeliveryStatus.UNKNOWN, {"error": INTERRUPTED}))
                outcome[job.id] = PermanentJobError(f"delivery {delivery_id}: {INTERRUPTED}")
            else:
                try:
                    message = _outgoing(db, d)
                except PermanentJobError as exc:
                    changes.append((d, DeliveryStatus.FAILED, {"error": str(exc)[:500]}))
                    outcome[job.id] = exc
                else:
                    values = {"sending_at": utcnow(), "attempts": d.attempts + 1}
                    changes.append((d, DeliveryStatus.SENDING, values))
                    ready.append((delivery_id, message))
        _set_statuses(db, changes)
    if not ready:
        return outcome
    results = _call_providers(ready)
    with unit_of_work(write=True) as db:
        loaded = _load_many_locked(db, [delivery_id for delivery_id, _ in ready])
        found = loaded.deliveries
        changes = []
        for delivery_id, _ in ready:
            job, result, d = job_of[delivery_id], results[delivery_id], found.get(delivery_id)
            if isinstance(result, ProviderError):
                retry = result.temporary and job.attempt < job.max_attempts
                if d is not None:
                    status = DeliveryStatus.QUEUED if retry else DeliveryStatus.FAILED
                    changes.append((d, status, {"error": str(result)[:500]}))
                outcome[job.id] = (
                    result if retry else PermanentJobError(f"delivery {delivery_id}: {result}")
                )
            elif isinstance(result, Exception):
                outcome[job.id] = result  # stays "sending": it may have gone out
            else:
                if d is not None:
                    provider_id = (result.provider_message_id or "")[:200] or None
                    values = {"error": None, "provider_message_id": provider_id}
                    changes.append((d, DeliveryStatus.SENT, values))
                outcome[job.id] = None
        _set_statuses(db, changes)
    return outcome


def _call(message: Outgoing) -> SendResult | Exception:
    try:
        if isinstance(message, OutgoingEmail):
            return providers().email.send(message)
        return providers().sms.send(message)
    except Exception as exc:
        return exc


def _call_providers(ready: list[tuple[int, Outgoing]]) -> dict[int, SendResult | Exception]:
    """Each message handed to its provider, SEND_CONCURRENCY at a time (the SDKs block on the
    network; their clients are built once and shared). A result or the exception, per delivery."""
    if len(ready) == 1:
        ((delivery_id, message),) = ready
        return {delivery_id: _call(message)}
    with ThreadPoolExecutor(min(SEND_CONCURRENCY, len(ready)), "brm-send") as pool:
        results = pool.map(_call, [message for _, message in ready])
        return {delivery_id: r for (delivery_id, _), r in zip(ready, results, strict=True)}


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
