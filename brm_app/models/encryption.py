"""Encryption at rest bookkeeping: a known value per key (the start-up key check) and the
progress of a key rotation (resumable)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from brm_app.db import UTCDateTime, utcnow


class EncryptionCanary(SQLModel, table=True):
    """A known value encrypted with each key the database has used: at start, every key not
    retired must be in the ring and open its canary, or the app refuses to start."""

    __tablename__ = "encryption_canaries"
    __table_args__ = {"extend_existing": True}

    kid: str = Field(primary_key=True, max_length=32)
    value: bytes = Field(sa_type=sa.LargeBinary)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Set when a rotation has re-encrypted every value away from this key.
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class KeyRotation(SQLModel, table=True):
    """How far `brm keys rotate` has re-encrypted each table to key `kid` (resumable)."""

    __tablename__ = "key_rotations"
    __table_args__ = {"extend_existing": True}

    kid: str = Field(primary_key=True, max_length=32)
    table_name: str = Field(primary_key=True, max_length=60)
    last_id: int = Field(default=0)
    done: bool = Field(default=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
