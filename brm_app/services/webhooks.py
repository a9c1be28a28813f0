"""What the providers tell us: delivery statuses (SendGrid's Event Webhook, Twilio's status
callback) and replies (SendGrid Inbound Parse, Twilio inbound SMS, with STOP/START).

Every webhook is verified before anything is read from it: SendGrid's ECDSA signature over
timestamp + raw body (`X-Twilio-Email-Event-Webhook-Signature`/`-Timestamp`), Twilio's
`X-Twilio-Signature` (HMAC of the public URL and the sorted parameters). An unsigned, wrongly
signed or already processed one is refused (WebhookRefused, 403) and changes nothing; each event
is processed once (WebhookEvent: SendGrid's sg_event_id, Twilio's message sid and status).

Replies are matched to their conversation (the Reply-To token of an email; an SMS to the
trader's latest SMS conversation) and recorded like in-app messages (the log, the live event);
what cannot be matched goes to the triage list that compliance and admins read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from email.utils import getaddresses
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook
from sqlmodel import Session, col, select
from twilio.request_validator import RequestValidator

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.db import is_postgres, utcnow
from brm_app.encryption.columns import blind_index
from brm_app.models.communication import (
    TEXT_MAX,
    Channel,
    Conversation,
    ConversationParticipant,
    DeliveryStatus,
    Direction,
    InboundTriage,
    Message,
    MessageDelivery,
    SmsOptOut,
    TriagePublic,
    WebhookEvent,
)
from brm_app.models.fields import check_phone
from brm_app.models.trader import Trader
from brm_app.services import attachments, audit, communications, conversations, traders
from brm_app.services.errors import Conflict, DomainError, NotFound, ValidationFailed
from brm_app.services.pagination import Page, PageRequest
from brm_app.services.validation import optional_id, require_id, require_text, rid
from brm_app.settings import get_settings

SYSTEM = SystemActor(label="system:webhook")
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "UNSTOP", "YES"}
SENDGRID_STATUS = {
    "delivered": DeliveryStatus.DELIVERED,
    "bounce": DeliveryStatus.BOUNCED,
    "dropped": DeliveryStatus.FAILED,
}
TWILIO_STATUS = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
}
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


class WebhookRefused(DomainError):
    status = 403


# ---- verification ------------------------------------------------------------------------------


def verify_sendgrid(raw: bytes, headers: Mapping[str, str]) -> None:
    """SendGrid's ECDSA signature over timestamp + raw body, or WebhookRefused."""
    key_text = get_settings().sendgrid_webhook_public_key
    signature, timestamp = headers.get(SIGNATURE), headers.get(TIMESTAMP)
    if not key_text:
        raise WebhookRefused("SendGrid webhooks are not configured (no verification key).")
    if not signature or not timestamp:
        raise WebhookRefused("The webhook is not signed.")
    try:
        key = EventWebhook(key_text).public_key
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(
            base64.b64decode(signature, validate=True),
            timestamp.encode() + raw,
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, binascii.Error, ValueError, AssertionError):
        raise WebhookRefused("The webhook's signature does not match.") from None


def verify_twilio(url: str, params: Mapping[str, str], signature: str | None) -> None:
    token = get_settings().twilio_auth_token
    if not token:
        raise WebhookRefused("Twilio webhooks are not configured (no auth token).")
    if not signature or not RequestValidator(token).validate(url, dict(params), signature):
        raise WebhookRefused("The webhook's signature does not match.")


def public_url(path: str) -> str:
    """The address the provider called (Twilio signs it): the public URL, never the Host header."""
    return f"{get_settings().public_url}{path}"


def _first_time(db: Session, provider: str, event_id: str) -> bool:
    """Record an event as processed; False when it was processed before (a replay)."""
    event_id = event_id[:200]
    seen = db.exec(
        select(WebhookEvent.id).where(
            col(WebhookEvent.provider) == provider, col(WebhookEvent.event_id) == event_id
        )
    ).first()
    if seen is not None:
        return False
    db.add(WebhookEvent(provider=provider, event_id=event_id, received_at=utcnow()))
    db.flush()
    return True


# ---- delivery statuses ----------------------------------------------------------------------------


def _delivery_of_ref(db: Session, ref: object) -> MessageDelivery | None:
    if isinstance(ref, str) and (m := re.fullmatch(r"delivery:(\d{1,10})", ref)):
        return db.get(MessageDelivery, int(m.group(1)))
    return None


def sendgrid_events(db: Session, raw: bytes, headers: Mapping[str, str]) -> int:
    """The Event Webhook (a JSON array): returns how many deliveries changed."""
    verify_sendgrid(raw, headers)
    try:
        events = json.loads(raw)
    except ValueError:
        raise WebhookRefused("The webhook's body is not JSON.") from None
    if not isinstance(events, list):
        raise WebhookRefused("The webhook's body is not a list of events.")
    fresh, changed = 0, 0
    for event in events[:1000]:
        if not isinstance(event, dict) or not isinstance(event.get("sg_event_id"), str):
            continue
        if not _first_time(db, "sendgrid", event["sg_event_id"]):
            continue
        fresh += 1
        status = SENDGRID_STATUS.get(str(event.get("event")))
        delivery = _delivery_of_ref(db, event.get("brm_ref"))
        if delivery is None and isinstance(event.get("sg_message_id"), str):
            delivery = communications.delivery_by_provider_id(
                db, "sendgrid", event["sg_message_id"].split(".")[0]
            )
        if status is None or delivery is None:
            continue
        reason = event.get("reason") or event.get("response")
        if communications.apply_status(
            db, delivery, status, error=str(reason)[:500] if reason else None
        ):
            changed += 1
    if events and not fresh:
        raise WebhookRefused("Every event in this webhook was processed before (a replay).")
    return changed


def twilio_status(db: Session, params: Mapping[str, str], signature: str | None) -> bool:
    verify_twilio(public_url("/api/v1/webhooks/twilio/status"), params, signature)
    sid, status_name = params.get("MessageSid", ""), params.get("MessageStatus", "")
    if not sid or not status_name:
        raise WebhookRefused("The status callback names no message or status.")
    if not _first_time(db, "twilio", f"{sid}:{status_name}"):
        raise WebhookRefused("This status was processed before (a replay).")
    status = TWILIO_STATUS.get(status_name)
    delivery = communications.delivery_by_provider_id(db, "twilio", sid)
    if status is None or delivery is None:
        return False
    code = params.get("ErrorCode")
    error = f"Twilio error {code}" if code else None
    return communications.apply_status(db, delivery, status, error=error)


# ---- replies -------------------------------------------------------------------------------------


def _triage(
    db: Session,
    channel: Channel,
    sender: str,
    to: str,
    subject: str,
    text: str,
    files: Sequence[dict[str, Any]] = (),
) -> None:
    row = InboundTriage(
        channel=channel.value,
        from_address=sender[:254],
        to_address=to[:254],
        subject=subject[:200],
        text=text[:TEXT_MAX],
        received_at=utcnow(),
        attachments=json.dumps(list(files)),
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor=SYSTEM,
        action="communication.triaged",
        entity="inbound_triage",
        entity_id=row.id,
        changes={"channel": channel.value},
    )


def _clean_text(text: str) -> str:
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text).strip()
    return text[:TEXT_MAX] or "(empty message)"


def _with_refusals(text: str, refused: Sequence[str]) -> str:
    """The email's text, and a note of the files that were not accepted (kept in the log)."""
    if not refused:
        return text
    note = "\n\n[Attachments not accepted: " + "; ".join(refused) + "]"
    return (text[: TEXT_MAX - len(note)] + note)[:TEXT_MAX]


def _record_reply(
    db: Session,
    conv: Conversation,
    trader: Trader,
    channel: Channel,
    text: str,
    sender: str,
    files: Sequence[dict[str, Any]] = (),
) -> Message:
    ids = attachments.add_inbound(db, conversation_id=rid(conv.id), files=files) if files else []
    return conversations.record_message(
        db,
        actor=None,
        conv=conv,
        text=_clean_text(text),
        attachment_ids=ids,
        channel=channel,
        direction=Direction.INBOUND,
        sender_user_id=None,
        sender_trader_id=trader.id,
        trader_id=trader.id,
        sender_label=f"{trader.name} <{sender}>",
        recipients=[f"brokers of firm {conv.firm_id}"],
    )


def _participant(db: Session, conv: Conversation, email: str) -> Trader | None:
    return db.exec(
        select(Trader)
        .join(ConversationParticipant, col(ConversationParticipant.trader_id) == col(Trader.id))
        .where(
            col(ConversationParticipant.conversation_id) == conv.id,
            col(Trader.firm_id) == conv.firm_id,
            col(Trader.email_bidx) == blind_index("traders", "email", email),
        )
    ).first()


def sendgrid_inbound(
    db: Session,
    raw: bytes,
    headers: Mapping[str, str],
    form: Mapping[str, str],
    files: Sequence[tuple[str, bytes]] = (),
) -> str:
    """Inbound Parse: an email reply, with its files (name, bytes) as attachments: checked like
    uploads (type by content, size); those refused are named in the message. Returns "matched"
    or "triage" (the triage item keeps the accepted files)."""
    verify_sendgrid(raw, headers)
    sender = next((a for _, a in getaddresses([form.get("from", "")]) if a), "")
    recipients = [a for _, a in getaddresses([form.get("to", ""), form.get("cc", "")]) if a]
    subject, text = form.get("subject", ""), form.get("text", "")
    message_id = re.search(r"(?im)^message-id:\s*(\S+)", form.get("headers", ""))
    key = (
        message_id.group(1)
        if message_id
        else hashlib.sha256(f"{sender}|{subject}|{text}".encode()).hexdigest()
    )
    if not _first_time(db, "sendgrid-inbound", key):
        raise WebhookRefused("This email was processed before (a replay).")
    domain = get_settings().inbound_domain or ""
    conv = None
    for address in recipients:
        local, _, host = address.lower().partition("@")
        if host == domain and local.startswith("reply+"):
            token = address.split("@", 1)[0][len("reply+") :]
            conv = db.exec(
                select(Conversation).where(col(Conversation.reply_token) == token)
            ).first()
            if conv is not None:
                break
    trader = _participant(db, conv, sender) if conv is not None and sender else None
    kept, refused = attachments.keep_inbound(files)
    text = _with_refusals(text, refused)
    if conv is None or trader is None:
        _triage(db, Channel.EMAIL, sender, ", ".join(recipients), subject, text, kept)
        return "triage"
    _record_reply(db, conv, trader, Channel.EMAIL, text, sender, kept)
    return "matched"


def _latest_sms_conversation(db: Session, trader: Trader) -> Conversation | None:
    base = (
        select(Conversation)
        .join(
            ConversationParticipant,
            col(ConversationParticipant.conversation_id) == col(Conversation.id),
        )
        .where(
            col(ConversationParticipant.trader_id) == trader.id,
            col(Conversation.firm_id) == trader.firm_id,
        )
    )
    with_sms = db.exec(
        base.where(
            col(Conversation.id).in_(
                select(Message.conversation_id).where(
                    col(Message.trader_id) == trader.id, col(Message.channel) == Channel.SMS.value
                )
            )
        )
        .order_by(col(Conversation.last_message_at).desc())
        .limit(1)
    ).first()
    return (
        with_sms
        or db.exec(base.order_by(col(Conversation.last_message_at).desc()).limit(1)).first()
    )


def twilio_inbound(db: Session, params: Mapping[str, str], signature: str | None) -> str:
    """An SMS from a trader, a reply to their latest SMS conversation (or triage when it matches
    nobody); STOP opts the number out, START back in, and is recorded as the reply it is."""
    verify_twilio(public_url("/api/v1/webhooks/twilio/inbound"), params, signature)
    sid = params.get("MessageSid", "")
    if not sid:
        raise WebhookRefused("The message has no MessageSid.")
    if not _first_time(db, "twilio-inbound", sid):
        raise WebhookRefused("This message was processed before (a replay).")
    body = params.get("Body", "")
    try:
        number = check_phone(params.get("From", ""))
    except ValueError:
        _triage(db, Channel.SMS, params.get("From", ""), params.get("To", ""), "", body)
        return "triage"
    word = body.strip().upper()
    trader = db.exec(
        select(Trader)
        .where(
            col(Trader.mobile_bidx) == blind_index("traders", "mobile", number),
            col(Trader.archived_at).is_(None),
        )
        .order_by(col(Trader.updated_at).desc())
    ).first()
    outcome = "matched"
    if word in STOP_WORDS:
        _opt_out(db, number, trader)
        outcome = "opted_out"
    elif word in START_WORDS and _opt_in(db, number, trader):
        outcome = "opted_in"
    # The keyword is the trader's communication too: recorded like any reply (conversation,
    # log, live), or triaged when it matches nobody (the opt-out is honoured either way).
    conv = _latest_sms_conversation(db, trader) if trader is not None else None
    if trader is None or conv is None:
        _triage(db, Channel.SMS, number, params.get("To", ""), "", body)
        return "triage" if outcome == "matched" else outcome
    _record_reply(db, conv, trader, Channel.SMS, body, number)
    return outcome


def _opt_out(db: Session, number: str, trader: Trader | None) -> None:
    """STOP: no SMS goes to `number` until START. The audit event names the opt-out row (and
    the trader when the number is theirs); the number itself is kept only as a digest and a
    sealed value (audit.SENSITIVE_FIELDS)."""
    if communications.opt_out_of(db, number) is not None:
        return
    row = SmsOptOut(number=number, opted_out_at=utcnow())
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor=SYSTEM,
        action="sms.opted_out",
        entity="sms_opt_out",
        entity_id=row.id,
        changes={"number": number, "trader_id": None if trader is None else trader.id},
    )


def _opt_in(db: Session, number: str, trader: Trader | None) -> bool:
    """START (or UNSTOP, YES): the number may receive SMS again; False when it was not opted out."""
    row = communications.opt_out_of(db, number)
    if row is None:
        return False
    row_id = row.id
    db.delete(row)
    db.flush()
    audit.record(
        db,
        actor=SYSTEM,
        action="sms.opted_in",
        entity="sms_opt_out",
        entity_id=row_id,
        changes={"number": number, "trader_id": None if trader is None else trader.id},
    )
    return True


# ---- the triage list ---------------------------------------------------------------------------


TRIAGE_STATES = ("open", "resolved")


def _triage_public(r: InboundTriage) -> TriagePublic:
    return TriagePublic(
        triage_id=rid(r.id),
        channel=Channel(r.channel),
        from_address=r.from_address,
        to_address=r.to_address,
        subject=r.subject,
        text=r.text,
        received_at=r.received_at,
        resolved_at=r.resolved_at,
        attachments=json.loads(r.attachments or "[]"),
        resolution=r.resolution,
        resolution_reason=r.resolution_reason,
        resolved_by_id=r.resolved_by_id,
        trader_id=r.trader_id,
        conversation_id=r.conversation_id,
        communication_id=r.message_id,
    )


def list_triage(
    db: Session,
    *,
    actor: Actor | SystemActor,
    page: PageRequest = PageRequest(),
    state: object = None,
) -> Page[TriagePublic]:
    """Inbound email and SMS that matched nothing, newest first (compliance and admins);
    `state` "open" (not yet resolved) or "resolved" narrows the list."""
    require(actor, Permission.COMMS_LOG)
    if state is not None and state not in TRIAGE_STATES:
        raise ValidationFailed("must be open or resolved", field="state")
    stmt = select(InboundTriage)
    if state == "open":
        stmt = stmt.where(col(InboundTriage.resolved_at).is_(None))
    elif state == "resolved":
        stmt = stmt.where(col(InboundTriage.resolved_at).is_not(None))
    rows = db.exec(
        stmt.order_by(col(InboundTriage.received_at).desc(), col(InboundTriage.id).desc())
        .offset(page.offset)
        .limit(page.limit + 1)
    ).all()
    items: list[Any] = [_triage_public(r) for r in rows]
    return Page.build(items, page=page, total=None)


def _open_item(db: Session, actor: Actor | SystemActor, triage_id: object) -> InboundTriage:
    require(actor, Permission.COMMS_LOG)
    item_id = require_id(triage_id, "triage_id")
    stmt = select(InboundTriage).where(col(InboundTriage.id) == item_id)
    if is_postgres(db):
        stmt = stmt.with_for_update()
    item = db.exec(stmt).first()
    if item is None:
        raise NotFound("Triage item")
    if item.resolved_at is not None:
        raise Conflict(f"This item was already {item.resolution or 'resolved'}.")
    return item


def assign_triage(
    db: Session,
    *,
    actor: Actor | SystemActor,
    triage_id: object,
    trader_id: object,
    conversation_id: object = None,
) -> TriagePublic:
    """Compliance or an admin says who sent an unmatched email or SMS: it becomes the trader's
    inbound message in the conversation (by default their latest one at their firm), with the
    email's files, in the log and live like any reply. Audited; an item is resolved once."""
    item = _open_item(db, actor, triage_id)
    trader = traders.load(db, actor, require_id(trader_id, "trader_id"))
    if trader.archived_at is not None:
        raise ValidationFailed("This trader is archived.", field="trader_id")
    conv_id = optional_id(conversation_id, "conversation_id")
    if conv_id is not None:
        conv = conversations.load(db, actor, conv_id)
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
            db.flush()
    else:
        found = db.exec(
            select(Conversation)
            .join(
                ConversationParticipant,
                col(ConversationParticipant.conversation_id) == col(Conversation.id),
            )
            .where(
                col(ConversationParticipant.trader_id) == trader.id,
                col(Conversation.firm_id) == trader.firm_id,
            )
            .order_by(col(Conversation.last_message_at).desc(), col(Conversation.id).desc())
            .limit(1)
        ).first()
        if found is None:
            raise ValidationFailed(
                f"{trader.name} has no conversation yet: a broker starts one first",
                field="conversation_id",
            )
        conv = found
    text = item.text if not item.subject else f"{item.subject}\n\n{item.text}"
    msg = _record_reply(
        db,
        conv,
        trader,
        Channel(item.channel),
        text,
        item.from_address,
        json.loads(item.attachments or "[]"),
    )
    item.resolved_at = utcnow()
    item.resolved_by_id = getattr(actor, "user_id", None)
    item.resolution = "assigned"
    item.trader_id, item.conversation_id, item.message_id = trader.id, conv.id, msg.id
    db.add(item)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="communication.triage_assigned",
        entity="inbound_triage",
        entity_id=item.id,
        changes={"trader_id": trader.id, "conversation_id": conv.id, "message_id": msg.id},
    )
    return _triage_public(item)


def dismiss_triage(
    db: Session, *, actor: Actor | SystemActor, triage_id: object, reason: object
) -> TriagePublic:
    """Compliance or an admin decides an unmatched email or SMS needs no message (spam, a wrong
    number ...), saying why. It stays in the list as dismissed; audited."""
    item = _open_item(db, actor, triage_id)
    why = require_text(reason, "reason", max_length=500, required=True)
    item.resolved_at = utcnow()
    item.resolved_by_id = getattr(actor, "user_id", None)
    item.resolution = "dismissed"
    item.resolution_reason = why
    db.add(item)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="communication.triage_dismissed",
        entity="inbound_triage",
        entity_id=item.id,
        changes={"reason": why},
    )
    return _triage_public(item)
