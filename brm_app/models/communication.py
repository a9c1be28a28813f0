"""Communications: conversations with traders, their messages on every channel (in-app, email,
SMS), attachments, read receipts, deliveries through the providers, and the append-only
communication log that compliance searches.

- `conversations` belong to a firm; `conversation_participants` name its traders (and the users
  who took part); the broker side otherwise follows the firm's current coverage.
- `messages` are never edited or deleted: a correction is a new message (`correction_of_id`).
- `message_deliveries` track one outbound email or SMS through its provider (their status
  changes; every change is also appended to the log).
- `communication_log` is append-only: each entry's content hash is recorded in the audit trail's
  hash chain, so `brm audit verify` names an entry altered in the database.
- Encrypted at rest (brm_app/encryption/columns.py): message text, a delivery's address, an
  unmatched inbound item's sender, subject and text, and a log entry's sender, recipients and
  content. Searches match whole words through keyed word indexes (`message_search_terms`,
  `communication_log_terms`; brm_app/encryption/terms.py).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Field, SQLModel, Text

from brm_app.db import UTCDateTime, utcnow
from brm_app.encryption.columns import EncryptedText, new_row_key, normalise_phone, register

TEXT_MAX = 10_000
SUBJECT_MAX = 200
ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
FILENAME_MAX = 200


class Channel(StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"
    SMS = "sms"


class Direction(StrEnum):
    OUTBOUND = "outbound"  # from the firm's brokers to traders
    INBOUND = "inbound"  # from a trader


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        sa.Index("ix_conversations_firm_last", "firm_id", "last_message_at", "id"),
        sa.Index("ix_conversations_last", "last_message_at", "id"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    firm_id: int = Field(foreign_key="firms.id")
    started_by_id: int = Field(foreign_key="users.id", index=True)
    subject: str = Field(default="", max_length=SUBJECT_MAX)
    # The per-conversation token of its email Reply-To address (reply+<token>@BRM_INBOUND_DOMAIN).
    reply_token: str = Field(max_length=40, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_message_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ConversationParticipant(SQLModel, table=True):
    """A trader of the conversation, or a user who took part (the broker who started it ...).
    Read state is per user: `last_read_message_id` drives unread counts."""

    __tablename__ = "conversation_participants"
    __table_args__ = (
        sa.UniqueConstraint("conversation_id", "trader_id", name="ux_participant_trader"),
        sa.UniqueConstraint("conversation_id", "user_id", name="ux_participant_user"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id", index=True)
    trader_id: int | None = Field(default=None, foreign_key="traders.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    joined_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ConversationRead(SQLModel, table=True):
    """How far each user has read a conversation (unread counts)."""

    __tablename__ = "conversation_reads"
    __table_args__ = {"extend_existing": True}

    conversation_id: int = Field(foreign_key="conversations.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True, index=True)
    last_read_message_id: int = Field(default=0)
    read_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        sa.Index("ix_messages_conversation", "conversation_id", "id"),
        sa.Index("ix_messages_trader_sent", "trader_id", "sent_at", "id"),
        sa.Index("ix_messages_sent", "sent_at", "id"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id")
    firm_id: int = Field(foreign_key="firms.id", index=True)
    # Who wrote it: a user (broker side, or a trader's portal account) ...
    sender_user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    # ... or, for inbound messages, the trader (a reply by email or SMS has no user behind it).
    sender_trader_id: int | None = Field(default=None, foreign_key="traders.id")
    # The trader it is to (outbound) or from (inbound), when it concerns one trader.
    trader_id: int | None = Field(default=None, foreign_key="traders.id")
    channel: str = Field(max_length=10)
    direction: str = Field(max_length=10)
    row_key: str = Field(default_factory=new_row_key, max_length=32)
    text: str = Field(sa_type=EncryptedText)
    correction_of_id: int | None = Field(default=None, foreign_key="messages.id")
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


register(Message, columns=("text",))


class MessageSearchTerm(SQLModel, table=True):
    """A word of a message, as a keyed digest (brm_app/encryption/terms.py): conversation search
    matches whole words without the database holding them."""

    __tablename__ = "message_search_terms"
    __table_args__ = (
        sa.Index("ix_message_search_terms_term", "term", "message_id"),
        {"extend_existing": True},
    )

    message_id: int = Field(foreign_key="messages.id", primary_key=True)
    term: int = Field(sa_type=sa.BigInteger, primary_key=True)


class MessageAttachment(SQLModel, table=True):
    """A file uploaded to a conversation, stored under the data folder (never the web root) by its
    hash; `message_id` is set when a message carries it."""

    __tablename__ = "message_attachments"
    __table_args__ = {"extend_existing": True}

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="messages.id", index=True)
    # The user who uploaded it; None for a file that came in with an email (its message names
    # the trader who sent it).
    uploaded_by_id: int | None = Field(default=None, foreign_key="users.id")
    filename: str = Field(max_length=FILENAME_MAX)
    content_type: str = Field(max_length=120)
    size: int
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MessageRead(SQLModel, table=True):
    """A read receipt: this user read this message at this time."""

    __tablename__ = "message_reads"
    __table_args__ = {"extend_existing": True}

    message_id: int = Field(foreign_key="messages.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    read_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MessageDelivery(SQLModel, table=True):
    """One outbound email or SMS through its provider."""

    __tablename__ = "message_deliveries"
    __table_args__ = (
        sa.Index("ix_message_deliveries_provider_id", "provider", "provider_message_id"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id", index=True)
    trader_id: int = Field(foreign_key="traders.id")
    channel: str = Field(max_length=10)
    # A copy of the trader's email or mobile: encrypted (nothing looks a delivery up by it).
    row_key: str = Field(default_factory=new_row_key, max_length=32)
    address: str = Field(sa_type=EncryptedText)
    provider: str = Field(max_length=20)
    status: str = Field(default=DeliveryStatus.QUEUED.value, max_length=12, index=True)
    attempts: int = Field(default=0)
    provider_message_id: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=500)
    queued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sending_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


register(MessageDelivery, columns=("address",))


class CommunicationLogEntry(SQLModel, table=True):
    """Append-only: a message (its content) or a delivery's status change, as it was at that time.
    Its `content_hash` is also recorded in the audit chain (action "communication.logged").

    `sender`, `recipients` and `content` are encrypted in place, bound to the entry's `row_key`.
    Database triggers refuse any change of the other columns (row_key included) and a change of
    these three except inside a key rotation's own transaction (its grant, see
    services/key_rotation.py); the content hash is a keyed digest of the plaintext, so a
    ciphertext replaced or moved from another entry is named by `verify_log`."""

    __tablename__ = "communication_log"
    __table_args__ = (
        sa.Index("ix_communication_log_trader", "trader_id", "occurred_at", "id"),
        sa.Index("ix_communication_log_firm", "firm_id", "occurred_at", "id"),
        sa.Index("ix_communication_log_broker", "broker_id", "occurred_at", "id"),
        sa.Index("ix_communication_log_time", "occurred_at", "id"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # "message" | "delivery"
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    message_id: int = Field(foreign_key="messages.id", index=True)
    conversation_id: int = Field(foreign_key="conversations.id")
    firm_id: int = Field(foreign_key="firms.id")
    broker_id: int | None = Field(default=None, foreign_key="users.id")
    trader_id: int | None = Field(default=None, foreign_key="traders.id")
    channel: str = Field(max_length=10)
    direction: str = Field(max_length=10)
    row_key: str = Field(default_factory=new_row_key, max_length=32)
    sender: str = Field(sa_type=EncryptedText)
    recipients: str = Field(sa_type=EncryptedText)  # JSON list of names/addresses
    content: str = Field(sa_type=EncryptedText)
    attachments: str = Field(sa_type=Text, default="[]")  # JSON [{filename, sha256, size}]
    delivery_id: int | None = Field(default=None, foreign_key="message_deliveries.id")
    status: str | None = Field(default=None, max_length=12)
    attempts: int | None = Field(default=None)
    provider_message_id: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=500)
    content_hash: str = Field(max_length=64)


register(CommunicationLogEntry, columns=("sender", "recipients", "content"))


class CommunicationLogTerm(SQLModel, table=True):
    """A word of a log entry's content, sender or recipients, as a keyed digest (compliance
    search by whole words)."""

    __tablename__ = "communication_log_terms"
    __table_args__ = (
        sa.Index("ix_communication_log_terms_term", "term", "entry_id"),
        {"extend_existing": True},
    )

    entry_id: int = Field(foreign_key="communication_log.id", primary_key=True)
    term: int = Field(sa_type=sa.BigInteger, primary_key=True)


class WebhookEvent(SQLModel, table=True):
    """A provider event already processed (replays change nothing)."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        sa.UniqueConstraint("provider", "event_id", name="ux_webhook_events"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20)
    event_id: str = Field(max_length=200)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SmsOptOut(SQLModel, table=True):
    """A number that answered STOP: no SMS goes to it until it answers START. The number is
    encrypted (0010o); it is looked up, and unique, by its blind index."""

    __tablename__ = "sms_opt_outs"
    __table_args__ = (
        sa.Index("ux_sms_opt_outs_number_bidx", "number_bidx", unique=True),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    row_key: str = Field(default_factory=new_row_key, max_length=32)
    number: str = Field(sa_type=EncryptedText)
    number_bidx: str = Field(default="", max_length=32)
    opted_out_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


register(SmsOptOut, columns=("number",), indexes={"number": normalise_phone})


class InboundTriage(SQLModel, table=True):
    """An inbound email or SMS that matched no trader or conversation (compliance and admins)."""

    __tablename__ = "inbound_triage"
    __table_args__ = {"extend_existing": True}

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=10)
    row_key: str = Field(default_factory=new_row_key, max_length=32)
    from_address: str = Field(sa_type=EncryptedText)
    # Our own inbound address: not personal, kept plain.
    to_address: str = Field(max_length=254)
    subject: str = Field(default="", sa_type=EncryptedText)
    text: str = Field(sa_type=EncryptedText)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # Files that came with an email, kept in the attachment store: JSON
    # [{filename, content_type, size, sha256}] (they join the message when it is assigned).
    attachments: str = Field(sa_type=Text, default="[]", sa_column_kwargs={"server_default": "[]"})
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by_id: int | None = Field(default=None, foreign_key="users.id")
    # How it was resolved: "assigned" (to a trader and conversation: a message was recorded) or
    # "dismissed" (with a reason).
    resolution: str | None = Field(default=None, max_length=10)
    resolution_reason: str | None = Field(default=None, max_length=500)
    trader_id: int | None = Field(default=None, foreign_key="traders.id")
    conversation_id: int | None = Field(default=None, foreign_key="conversations.id")
    message_id: int | None = Field(default=None, foreign_key="messages.id")


register(InboundTriage, columns=("from_address", "subject", "text"))


class NotificationPreference(SQLModel, table=True):
    """Which channels reach a user for one kind of event (no row: the defaults)."""

    __tablename__ = "notification_preferences"
    __table_args__ = {"extend_existing": True}

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    kind: str = Field(primary_key=True, max_length=40)
    in_app: bool = Field(default=True)
    email: bool = Field(default=False)
    sms: bool = Field(default=False)


class QuietHours(SQLModel, table=True):
    """A user's quiet hours (their time zone): email and SMS wait until they end."""

    __tablename__ = "quiet_hours"
    __table_args__ = {"extend_existing": True}

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    start_minute: int  # minutes after local midnight
    end_minute: int


# ---- schemas ---------------------------------------------------------------------------------


class AttachmentPublic(BaseModel):
    attachment_id: int
    conversation_id: int
    message_id: int | None
    filename: str
    content_type: str
    size: int
    sha256: str


class DeliveryPublic(BaseModel):
    delivery_id: int
    channel: Channel
    address: str
    status: DeliveryStatus
    attempts: int
    provider_message_id: str | None
    error: str | None
    sent_at: datetime | None
    delivered_at: datetime | None


class ReadReceipt(BaseModel):
    user_id: int
    name: str
    read_at: datetime


class CommunicationPublic(BaseModel):
    """A message (the design's CommunicationLog names)."""

    communication_id: int
    conversation_id: int
    firm_id: int
    broker_id: int | None
    trader_id: int | None
    sender_name: str
    # The user who wrote it (a broker, or a trader's portal account); None for an email/SMS reply.
    sender_user_id: int | None = None
    message_type: Channel
    direction: Direction
    content: str
    sent_at: datetime
    correction_of: int | None
    attachments: list[AttachmentPublic]
    deliveries: list[DeliveryPublic]
    read_by: list[ReadReceipt]


class ParticipantPublic(BaseModel):
    trader_id: int | None
    user_id: int | None
    name: str


class ConversationPublic(BaseModel):
    conversation_id: int
    firm_id: int
    firm_name: str
    subject: str
    started_by_id: int
    started_by_name: str
    traders: list[ParticipantPublic]
    created_at: datetime
    last_message_at: datetime
    last_message: str
    unread: int
    # MiFID II: the firm's client was told communications are recorded (False: the composer warns).
    recording_disclosed: bool = True


class LogEntryPublic(BaseModel):
    entry_id: int
    kind: str
    occurred_at: datetime
    communication_id: int
    conversation_id: int
    firm_id: int
    broker_id: int | None
    trader_id: int | None
    message_type: Channel
    direction: Direction
    sender: str
    recipients: list[str]
    content: str
    attachments: list[dict[str, object]]
    status: str | None
    attempts: int | None
    provider_message_id: str | None
    error: str | None
    content_hash: str


class TriagePublic(BaseModel):
    triage_id: int
    channel: Channel
    from_address: str
    to_address: str
    subject: str
    text: str
    received_at: datetime
    resolved_at: datetime | None
    attachments: list[dict[str, object]] = []
    resolution: str | None = None
    resolution_reason: str | None = None
    resolved_by_id: int | None = None
    trader_id: int | None = None
    conversation_id: int | None = None
    communication_id: int | None = None


class PreferencePublic(BaseModel):
    kind: str
    in_app: bool
    email: bool
    sms: bool
