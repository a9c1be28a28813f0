"""Server-side records of authentication: browser sessions and login throttling."""

from __future__ import annotations

from datetime import datetime

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
    """Failed sign-in counters per account (`acct:<email>`) and per client address (`ip:<addr>`)."""

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
