"""Supervisory review (FINRA 3110(b)(4)): communications and interactions the review rules
select, and the evidence of each review.

- `review_items`: one per selected record (a message in the communication log, or a saved
  version of an interaction), with the hit in context as it read when selected. Its `status` and
  `assigned_to_id` say where it stands; how it got there is in `review_actions`.
- `review_actions`: the evidence (who did what to which item, when, with which comment). Append-
  only: the database refuses UPDATE and DELETE, and each action is also in the audit chain.
- `review_scans`: how far the selection job has read each source (the last id it looked at).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, Text

from brm_app.db import UTCDateTime, utcnow
from brm_app.encryption.columns import EncryptedText, new_row_key, register

COMMENT_MAX = 2_000


class ReviewSource(StrEnum):
    MESSAGE = "message"  # a communication_log entry of kind "message" (every channel)
    INTERACTION = "interaction"  # an interaction_versions row (each saved version)


class ReviewReason(StrEnum):
    LEXICON = "lexicon"
    ATTACHMENT = "attachment"
    SAMPLE = "sample"


class ReviewStatus(StrEnum):
    OPEN = "open"
    ESCALATED = "escalated"
    APPROVED = "approved"
    FLAGGED = "flagged"


class ReviewAction(StrEnum):
    APPROVE = "approve"
    ESCALATE = "escalate"
    FLAG = "flag"


class ReviewItem(SQLModel, table=True):
    __tablename__ = "review_items"
    __table_args__ = (
        sa.UniqueConstraint("source", "source_id", name="ux_review_items_source"),
        sa.Index("ix_review_items_status", "status", "created_at", "id"),
        sa.Index("ix_review_items_broker", "broker_id", "created_at"),
        sa.Index("ix_review_items_assigned", "assigned_to_id", "status"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=20)
    source_id: int
    firm_id: int = Field(foreign_key="firms.id")
    # Whose communication it is (never its reviewer); None for an inbound message no broker took.
    broker_id: int | None = Field(default=None, foreign_key="users.id")
    # The conversation or interaction to open from the queue.
    link: str = Field(max_length=200)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    reason: str = Field(max_length=20)
    # The lexicon term that matched (every term that did, comma-separated).
    rule: str | None = Field(default=None, max_length=500)
    # The hit in context (a copy of message or notes text): encrypted, bound to this row.
    row_key: str = Field(default_factory=new_row_key, max_length=32)
    excerpt: str = Field(sa_type=EncryptedText)
    hit_start: int = 0
    hit_end: int = 0
    status: str = Field(default=ReviewStatus.OPEN, max_length=12)
    assigned_to_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


register(ReviewItem, columns=("excerpt",))


class ReviewEvidence(SQLModel, table=True):
    __tablename__ = "review_actions"
    __table_args__ = (
        sa.Index("ix_review_actions_item", "item_id", "id"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="review_items.id")
    reviewer_id: int = Field(foreign_key="users.id")
    action: str = Field(max_length=12)
    comment: str | None = Field(default=None, sa_type=Text)
    escalated_to_id: int | None = Field(default=None, foreign_key="users.id")
    acted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReviewScan(SQLModel, table=True):
    __tablename__ = "review_scans"
    __table_args__ = {"extend_existing": True}

    source: str = Field(primary_key=True, max_length=20)
    last_id: int = 0


class ExportScope(StrEnum):
    FIRM = "firm"
    TRADER = "trader"
    BROKER = "broker"


class RegulatorExport(SQLModel, table=True):
    """An archive of everything about a firm, trader or broker over a date range, built by a job
    (its progress here) and kept encrypted on disk (AES-256-GCM, bound to this row's id) until
    downloaded; `archive_sha256` is the digest of the plaintext zip."""

    __tablename__ = "regulator_exports"
    __table_args__ = (
        sa.Index("ix_regulator_exports_requested", "requested_by_id", "id"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    requested_by_id: int = Field(foreign_key="users.id")
    scope: str = Field(max_length=10)
    scope_id: int
    scope_label: str = Field(max_length=300)
    date_from: date
    date_to: date
    status: str = Field(default="queued", max_length=10)  # queued, running, done, failed
    progress: int = 0  # percent
    records: int = 0
    files: int = 0
    size: int = 0
    archive_sha256: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    downloads: int = 0
