"""Server-side records of authentication: browser sessions and login throttling."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from brm_app.db import UTCDateTime, utcnow


class UserSession(SQLModel, table=True):
    """A browser session. Only hashes of the cookie token and of the one-time login ticket are kept."""

    __tablename__ = "user_sessions"
    __table_args__ = {"extend_existing": True}

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    ticket_hash: str | None = Field(default=None, max_length=64, unique=True)
    ticket_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoke_reason: str | None = Field(default=None, max_length=40)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)


class LoginThrottle(SQLModel, table=True):
    """Failed sign-in counters per account (`acct:<the email's blind index>`, never the email)
    and per client address (`ip:<addr>`)."""

    __tablename__ = "login_throttle"
    __table_args__ = {"extend_existing": True}

    key: str = Field(primary_key=True, max_length=300)
    failures: int = Field(default=0)
    window_started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_failure_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Slowing down: no attempt is taken before this instant.
    retry_after: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Locked out: visible to admins, who can lift it.
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class UserTotp(SQLModel, table=True):
    """A user's TOTP secret, encrypted with a key derived from BRM_SECRET_KEY (a copy of the
    database alone does not reveal it). `confirmed_at` is None while enrolment awaits its first
    code; `last_step` is the last 30-second step accepted, so a code is never taken twice."""

    __tablename__ = "user_totp"
    __table_args__ = {"extend_existing": True}

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    secret_encrypted: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_step: int | None = Field(default=None, sa_type=BigInteger)


class RecoveryCode(SQLModel, table=True):
    """One-time recovery codes of two-factor sign-in: only SHA-256 hashes of 80-bit codes."""

    __tablename__ = "mfa_recovery_codes"
    __table_args__ = {"extend_existing": True}

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    code_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
