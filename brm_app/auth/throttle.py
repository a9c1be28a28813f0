"""Slowing and locking repeated failed sign-ins, per account and per client address.

After `login_slow_after` failures an account must wait 1, 2, 4 ... (at most 30) seconds between
attempts; after `login_lock_after` it is locked for `login_lock_minutes` (admins see and lift it).
A client address that fails `ip_lock_after` times is locked the same way. Counters forget failures
older than the lock period. (OWASP ASVS 2.2.1: at most 100 failed attempts per hour per account.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, delete, select

from brm_app.db import utcnow
from brm_app.models.auth_records import LoginThrottle
from brm_app.models.user import email_index
from brm_app.settings import Settings

ACCOUNT_PREFIX = "acct:"


def account_key(email: str) -> str:
    """The throttle key of the account signing in as `email` (known or not): the email's blind
    index, never the address itself (users.email is encrypted, and so is every copy)."""
    return ACCOUNT_PREFIX + email_index(email.strip().lower()[:254])


def ip_key(ip: str | None) -> str | None:
    return ("ip:" + ip[:64]) if ip else None


@dataclass(frozen=True)
class Verdict:
    blocked_until: datetime | None
    hard_lock: bool
    locked_keys: frozenset[str] = frozenset()


def check(db: Session, keys: list[str]) -> Verdict:
    """Whether any key is currently blocked (a short delay or a lock)."""
    now = utcnow()
    rows = db.exec(select(LoginThrottle).where(LoginThrottle.key.in_(keys))).all()
    locked = {r.key: r.locked_until for r in rows if r.locked_until and r.locked_until > now}
    if locked:
        return Verdict(max(locked.values()), True, frozenset(locked))
    waits = [r.retry_after for r in rows if r.retry_after and r.retry_after > now]
    return Verdict(max(waits) if waits else None, False)


def record_failure(db: Session, *, key: str, settings: Settings, is_ip: bool) -> bool:
    """Count one failure; return True when this failure locked the key."""
    now = utcnow()
    window = timedelta(minutes=settings.login_lock_minutes)
    row = db.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(key=key, failures=0, window_started_at=now, last_failure_at=now)
    elif now - row.last_failure_at > window:
        row.failures = 0
        row.window_started_at = now
        row.retry_after = None
    row.failures += 1
    row.last_failure_at = now
    lock_after = settings.ip_lock_after if is_ip else settings.login_lock_after
    locked = False
    if row.failures >= lock_after:
        locked = row.locked_until is None or row.locked_until <= now
        row.locked_until = now + window
    elif not is_ip and row.failures >= settings.login_slow_after:
        delay = min(2 ** (row.failures - settings.login_slow_after), 30)
        row.retry_after = now + timedelta(seconds=delay)
    db.add(row)
    return locked


def clear(db: Session, key: str) -> bool:
    """Forget a key's failures (after a good sign-in, or an admin unlock). True if it was locked."""
    row = db.get(LoginThrottle, key)
    if row is None:
        return False
    was_locked = bool(row.locked_until and row.locked_until > utcnow())
    db.exec(delete(LoginThrottle).where(LoginThrottle.key == key))
    return was_locked


def locked_accounts(db: Session, emails: list[str]) -> dict[str, datetime]:
    """email -> locked_until for the given accounts that are hard-locked now."""
    if not emails:
        return {}
    now = utcnow()
    email_of = {account_key(e): e for e in emails}
    keys = list(email_of)
    # One account (a profile, every /users/me): an equality, not an expanding IN list.
    match = LoginThrottle.key == keys[0] if len(keys) == 1 else LoginThrottle.key.in_(keys)
    rows = db.exec(select(LoginThrottle).where(match, LoginThrottle.locked_until > now)).all()
    return {email_of[r.key]: r.locked_until for r in rows}
