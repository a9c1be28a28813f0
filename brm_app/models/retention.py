"""Retention, legal holds and read traces.

- `legal_holds`: compliance holds a firm, a trader, a broker or a date range, with a reason;
  while a hold is active (not released) what it covers is never purged and cannot be voided,
  archived, merged or moved to another firm.
- `read_traces`: who read what sensitive thing and when (a trader's contact details revealed, an
  attachment, a report or an export downloaded); written by a job, never on the read path.
- `retention_purge_grants`: the one sanctioned way past the append-only triggers. The purge
  inserts a row in its own transaction and removes it before committing; the triggers on the
  audit trail and the communication log let a DELETE through only while such a row exists (on
  PostgreSQL only in the transaction that wrote it; for the audit trail only up to `max_key`).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from brm_app.db import UTCDateTime, utcnow

REASON_MAX = 500


class HoldScope(StrEnum):
    FIRM = "firm"
    TRADER = "trader"
    BROKER = "broker"
    DATES = "dates"


class LegalHold(SQLModel, table=True):
    __tablename__ = "legal_holds"
    __table_args__ = (
        sa.Index("ix_legal_holds_active", "released_at", "scope"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=10)
    firm_id: int | None = Field(default=None, foreign_key="firms.id", index=True)
    trader_id: int | None = Field(default=None, foreign_key="traders.id", index=True)
    broker_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    # A date range hold: records dated from date_from to date_to (both included, UTC days).
    date_from: date | None = Field(default=None)
    date_to: date | None = Field(default=None)
    reason: str = Field(max_length=REASON_MAX)
    placed_by_id: int | None = Field(default=None, foreign_key="users.id")
    placed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    released_by_id: int | None = Field(default=None, foreign_key="users.id")
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    release_reason: str | None = Field(default=None, max_length=REASON_MAX)


class ReadTrace(SQLModel, table=True):
    __tablename__ = "read_traces"
    __table_args__ = (
        sa.Index("ix_read_traces_time", "read_at", "id"),
        sa.Index("ix_read_traces_user", "user_id", "read_at"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="users.id")
    # What was read: see services.read_traces.WHAT (contact_details, attachment, report, export,
    # audit_values).
    what: str = Field(max_length=30, index=True)
    target_id: int | None = Field(default=None)
    read_at: datetime = Field(sa_type=UTCDateTime)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The job that wrote it (a retried job writes it once).
    job_id: int | None = Field(default=None, unique=True)


class PurgeGrant(SQLModel, table=True):
    __tablename__ = "retention_purge_grants"
    __table_args__ = {"extend_existing": True}

    table_name: str = Field(primary_key=True, max_length=60)
    # The audit trail: events with seq up to this may go; None: any row of the table.
    max_key: int | None = Field(default=None, sa_type=sa.BigInteger)
    # PostgreSQL: the transaction that may use it (txid_current()).
    txid: int | None = Field(default=None, sa_type=sa.BigInteger)


# ---- schemas ---------------------------------------------------------------------------------


class LegalHoldPublic(BaseModel):
    hold_id: int
    scope: HoldScope
    firm_id: int | None
    trader_id: int | None
    broker_id: int | None
    date_from: date | None
    date_to: date | None
    # What it holds, in words ("Firm Acme Ltd", "Broker Ben Broker", "2026-01-01 to 2026-03-31").
    subject: str
    reason: str
    placed_by: str | None
    placed_at: datetime
    released_by: str | None
    released_at: datetime | None
    release_reason: str | None
    active: bool


class ReadTracePublic(BaseModel):
    trace_id: int
    user_id: int | None
    user: str | None
    what: str
    target_id: int | None
    read_at: datetime


class RetentionPublic(BaseModel):
    """Years each kind of record is kept after its end (its last change)."""

    communications: int
    attachments: int
    interactions: int
    follow_ups: int
    transactions: int
    audit_trail: int
