"""The append-only, hash-chained audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Field, SQLModel, Text

from brm_app.db import UTCDateTime, utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_entity", "entity", "entity_id"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    # Position in the chain: gapless, so a removed event shows as a gap.
    seq: int = Field(unique=True)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_id: int | None = Field(default=None, index=True)
    actor_label: str = Field(max_length=300)
    action: str = Field(max_length=60, index=True)
    entity: str = Field(max_length=60)
    entity_id: str | None = Field(default=None, max_length=64)
    changes: str = Field(sa_type=Text)  # canonical JSON
    ip: str | None = Field(default=None, max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditSealedValues(SQLModel, table=True):
    """The encrypted values of an audit event (encryption at rest): the event's `changes` (and
    so its hash) hold only a keyed digest of each encrypted field; the value itself is here,
    encrypted, outside what the chain covers, so key rotation and purges can rewrite it."""

    __tablename__ = "audit_sealed_values"
    __table_args__ = {"extend_existing": True}

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    row_key: str = Field(max_length=32)
    payload: bytes = Field(sa_type=sa.LargeBinary)


class AuditEventPublic(BaseModel):
    event_id: int
    seq: int
    occurred_at: datetime
    actor_id: int | None
    actor_label: str
    action: str
    entity: str
    entity_id: str | None
    changes: dict[str, Any]
    ip: str | None
