"""Browser sessions: random server-made tokens, stored only as SHA-256 hashes.

Sign-in creates the session with a one-time ticket (valid a minute); the browser trades the ticket
for the session cookie over HTTP, so the cookie can be HttpOnly and the token never passes through
page scripts or Reflex state.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlmodel import Session, select, update

from brm_app.db import utcnow, write_aside
from brm_app.models.auth_records import UserSession
from brm_app.models.user import User
from brm_app.settings import Settings

COOKIE_NAME = "brm_session"
TICKET_SECONDS = 60
# last_seen_at is written at most this often (each time in a short write transaction).
TOUCH_EVERY = timedelta(seconds=30)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start(
    db: Session, *, user: User, ip: str | None, user_agent: str | None, settings: Settings
) -> str:
    """Create a session awaiting its cookie; return the one-time ticket."""
    now = utcnow()
    ticket = new_secret()
    db.add(
        UserSession(
            user_id=user.id,
            ticket_hash=digest(ticket),
            ticket_expires_at=now + timedelta(seconds=TICKET_SECONDS),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.session_absolute_hours),
            ip=(ip or "")[:64] or None,
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    return ticket


def establish(db: Session, *, ticket: str) -> tuple[str, UserSession] | None:
    """Trade a ticket for the session token (once). None if the ticket is unknown, used or stale."""
    if not isinstance(ticket, str) or not 20 <= len(ticket) <= 100:
        return None
    row = db.exec(select(UserSession).where(UserSession.ticket_hash == digest(ticket))).first()
    now = utcnow()
    if (
        row is None
        or row.revoked_at is not None
        or row.token_hash is not None
        or row.ticket_expires_at is None
        or row.ticket_expires_at < now
    ):
        return None
    token = new_secret()
    row.ticket_hash = None
    row.ticket_expires_at = None
    row.token_hash = digest(token)
    row.last_seen_at = now
    db.add(row)
    return token, row


def resolve(
    db: Session, *, token: str | None, settings: Settings, touch: bool = True
) -> tuple[UserSession, User] | None:
    """The live session and its active user for a cookie token, or None.

    Idle and absolute lifetimes are enforced here; an expired session is marked revoked. Both
    that mark and the last-seen touch go through `write_aside`: a caller that only reads keeps a
    read transaction, and the write is a short one of its own.
    """
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    row = db.exec(select(UserSession).where(UserSession.token_hash == digest(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    idle_limit = timedelta(minutes=settings.session_idle_minutes)
    if row.expires_at <= now or now - row.last_seen_at > idle_limit:
        reason = "expired" if row.expires_at <= now else "idle"
        _update_live(db, row.id, revoked_at=now, revoke_reason=reason)
        return None
    user = db.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    if touch and now - row.last_seen_at > TOUCH_EVERY:
        _update_live(db, row.id, last_seen_at=now)
    return row, user


def _update_live(db: Session, session_id: int, **values) -> None:
    """Change a session that is not revoked (yet), outside the caller's read transaction."""
    with write_aside(db) as writer:
        writer.exec(
            update(UserSession)
            .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
            .values(**values)
        )


def revoke(db: Session, row: UserSession, *, reason: str) -> None:
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoke_reason = reason
        db.add(row)


def revoke_all(db: Session, *, user_id: int, reason: str, keep_id: int | None = None) -> int:
    """Revoke every live session of a user (except `keep_id`); returns how many."""
    stmt = (
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoke_reason=reason)
    )
    if keep_id is not None:
        stmt = stmt.where(UserSession.id != keep_id)
    return db.exec(stmt).rowcount or 0


def session_from_cookie_header(cookie_header: str | None) -> str | None:
    """The session token out of a raw Cookie header (as Reflex and Starlette hand it to us).

    Split the way browsers send it (`name=value; name=value`), not with http.cookies: that parser
    stops at the first cookie it cannot read, so a malformed cookie from another app on the same
    host (sent before ours) would hide the session."""
    if not cookie_header or not isinstance(cookie_header, str):
        return None
    for part in cookie_header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name.strip() == COOKIE_NAME:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value or None
    return None
