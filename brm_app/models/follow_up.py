"""Follow-ups (what must happen next), their reminders, and in-app notifications."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PField
from sqlmodel import Field, SQLModel, Text

from brm_app.db import UTCDateTime, utcnow
from brm_app.encryption.columns import EncryptedText, new_row_key, register
from brm_app.models.fields import Moment, RecordId, check_text

TITLE_MAX = 200


class FollowUpStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class FollowUp(SQLModel, table=True):
    __tablename__ = "follow_ups"
    __table_args__ = (
        sa.Index("ix_follow_ups_assignee_due", "assignee_id", "due_at", "id"),
        sa.Index("ix_follow_ups_firm_due", "firm_id", "due_at", "id"),
        sa.Index("ix_follow_ups_status_due", "status", "due_at"),
        # A date range over everyone's follow-ups (team and admin calendars).
        sa.Index("ix_follow_ups_due", "due_at", "id"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=TITLE_MAX)
    # Encrypted (brm_app/encryption/columns.py), bound to this row by its row_key.
    row_key: str = Field(default_factory=new_row_key, max_length=32)
    notes: str | None = Field(default=None, sa_type=EncryptedText)
    due_at: datetime = Field(sa_type=UTCDateTime)
    assignee_id: int = Field(foreign_key="users.id")
    firm_id: int = Field(foreign_key="firms.id")
    interaction_id: int | None = Field(default=None, foreign_key="interactions.id")
    status: str = Field(default=FollowUpStatus.OPEN.value, max_length=10)
    snoozed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set once the assignee's manager was told it is overdue (so they are told once).
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


register(FollowUp, columns=("notes",))


class FollowUpTrader(SQLModel, table=True):
    __tablename__ = "follow_up_traders"
    __table_args__ = {"extend_existing": True}

    follow_up_id: int = Field(foreign_key="follow_ups.id", primary_key=True)
    trader_id: int = Field(foreign_key="traders.id", primary_key=True, index=True)


class Reminder(SQLModel, table=True):
    """A moment to remind the assignee of a follow-up. Fired exactly once by the scheduler."""

    __tablename__ = "reminders"
    __table_args__ = (
        # The scheduler's scan: unfired reminders by time (a partial index stays small).
        sa.Index(
            "ix_reminders_due",
            "remind_at",
            sqlite_where=sa.text("fired_at IS NULL"),
            postgresql_where=sa.text("fired_at IS NULL"),
        ),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    follow_up_id: int = Field(foreign_key="follow_ups.id", index=True)
    remind_at: datetime = Field(sa_type=UTCDateTime)
    fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # "sent" (a notification went out) or "skipped" (the follow-up was no longer open)
    outcome: str | None = Field(default=None, max_length=10)


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index("ix_notifications_user_created", "user_id", "created_at", "id"),
        sa.Index(
            "ix_notifications_unread",
            "user_id",
            sqlite_where=sa.text("read_at IS NULL"),
            postgresql_where=sa.text("read_at IS NULL"),
        ),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    kind: str = Field(max_length=30)
    # The title is shown in the bell and stays in clear: short, and never a message's text.
    title: str = Field(max_length=300)
    # Encrypted (message snippets, reminder texts land here), bound to this row by its row_key.
    row_key: str = Field(default_factory=new_row_key, max_length=32)
    body: str | None = Field(default=None, sa_type=EncryptedText)
    link: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


register(Notification, columns=("body",))


class NotificationDelivery(SQLModel, table=True):
    """One channel's delivery of a notification: in_app at once; email and sms by a job through
    their provider (services/deliveries.py)."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        sa.Index(
            "ix_notification_deliveries_pending",
            "channel",
            "id",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        ),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="notifications.id", index=True)
    channel: str = Field(max_length=10)
    # in_app: delivered. email/sms: pending -> sending -> sent | failed | unknown (the sender
    # stopped between marking it sending and hearing back: it is never re-sent silently).
    status: str = Field(max_length=10)
    attempts: int = Field(default=0)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None, max_length=500)
    provider_message_id: str | None = Field(default=None, max_length=200)
    # When it was marked "sending" (an old "sending" is swept to "unknown").
    sending_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ClientPresence(SQLModel, table=True):
    """Browser tabs open for a user, so notifications can be pushed to them live."""

    __tablename__ = "client_presence"
    __table_args__ = {"extend_existing": True}

    client_token: str = Field(primary_key=True, max_length=100)
    user_id: int = Field(foreign_key="users.id", index=True)
    seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CalendarFeed(SQLModel, table=True):
    """A user's secret iCalendar URL; only a hash of its token is kept."""

    __tablename__ = "calendar_feeds"
    __table_args__ = {"extend_existing": True}

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_fetched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AppSetting(SQLModel, table=True):
    """Settings admins change in the app (not deployment settings): JSON values by key."""

    __tablename__ = "app_settings"
    __table_args__ = {"extend_existing": True}

    key: str = Field(primary_key=True, max_length=60)
    value: str = Field(sa_type=Text)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by_id: int | None = Field(default=None, foreign_key="users.id")


# ---- schemas ---------------------------------------------------------------------------------

Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX),
    AfterValidator(check_text),
]


class FollowUpWrite(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Title
    notes: Annotated[str, StringConstraints(max_length=5000), AfterValidator(check_text)] | None = (
        None
    )
    due_at: Moment
    time_zone: (
        Annotated[str, StringConstraints(max_length=64), AfterValidator(check_text)] | None
    ) = None
    assignee_id: RecordId | None = PField(default=None, description="Default: the caller")
    firm_id: RecordId | None = None
    trader_ids: list[RecordId] = PField(default_factory=list, max_length=50)
    interaction_id: RecordId | None = None
    reminders: list[Moment] | None = PField(
        default=None,
        max_length=10,
        description="Times to be reminded; default: 1 day and 1 hour before",
    )


class FollowUpPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Title | None = None
    notes: Annotated[str, StringConstraints(max_length=5000), AfterValidator(check_text)] | None = (
        None
    )
    due_at: Moment | None = None
    time_zone: (
        Annotated[str, StringConstraints(max_length=64), AfterValidator(check_text)] | None
    ) = None
    assignee_id: RecordId | None = None
    trader_ids: list[RecordId] | None = PField(default=None, max_length=50)
    reminders: list[Moment] | None = PField(default=None, max_length=10)
    status: FollowUpStatus | None = None


class FollowUpPublic(BaseModel):
    follow_up_id: int
    title: str
    notes: str | None
    due_at: datetime
    assignee_id: int
    assignee_name: str
    firm_id: int
    firm_name: str
    trader_ids: list[int]
    trader_names: list[str]
    interaction_id: int | None
    reminders: list[datetime]
    status: FollowUpStatus
    overdue: bool
    snoozed_until: datetime | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class NotificationPublic(BaseModel):
    notification_id: int
    kind: str
    title: str
    body: str | None
    link: str | None
    created_at: datetime
    read: bool
