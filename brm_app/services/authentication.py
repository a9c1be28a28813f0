"""Signing in and out, browser sessions and API tokens.

Rules: one generic message for any bad credentials (unknown email, wrong password, deactivated
account); failed attempts are slowed and then locked (see auth.throttle); every sign-in, failure,
lockout and sign-out is audited; sessions rotate at sign-in and die at once at sign-out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from brm_app.auth import credentials, sessions, throttle, tokens
from brm_app.auth.actor import Actor
from brm_app.auth.passwords import PasswordPolicyError, check_policy, hash_password, verify_password
from brm_app.db import utcnow
from brm_app.models.user import Role, User
from brm_app.services import audit
from brm_app.services.errors import (
    AccountLocked,
    BadCredentials,
    NotAuthenticated,
    TooManyAttempts,
    ValidationFailed,
)
from brm_app.settings import Settings, get_settings

BAD_CREDENTIALS = "Email or password is incorrect."
LOCKED = (
    "Too many failed sign-in attempts: sign-in is locked for a while. "
    "Try again later or ask an administrator to unlock the account."
)
SLOW_DOWN = "Too many failed sign-in attempts. Wait {seconds} seconds and try again."


def actor_of(user: User, *, ip: str | None, session_id: int | None = None) -> Actor:
    return Actor(
        user_id=user.id,
        role=Role(user.role),
        email=user.email,
        name=user.name,
        ip=ip,
        session_id=session_id,
    )


def _authenticate(
    db: Session, *, email: object, password: object, ip: str | None, settings: Settings, via: str
) -> User:
    """Check credentials under the throttle. Failures are committed before the error is raised."""
    if not isinstance(email, str) or not isinstance(password, str):
        raise ValidationFailed("Enter your email and password.")
    email = email.strip().lower()[:254]
    if not email or not password:
        raise ValidationFailed("Enter your email and password.")
    keys = [throttle.account_key(email)]
    if (ipk := throttle.ip_key(ip)) is not None:
        keys.append(ipk)
    verdict = throttle.check(db, keys)
    if verdict.blocked_until is not None:
        wait = max(1, math.ceil((verdict.blocked_until - utcnow()).total_seconds()))
        if keys[0] in verdict.locked_keys:
            # Hash like a wrong password would, so the answer's timing does not tell who is locked.
            verify_password(password, None)
            raise AccountLocked(LOCKED, wait)
        message = LOCKED if verdict.hard_lock else SLOW_DOWN.format(seconds=wait)
        raise TooManyAttempts(message, wait)

    user = db.exec(select(User).where(User.email == email)).first()
    ok = verify_password(password, user.password_hash if user else None)
    if ok and user is not None and user.is_active:
        throttle.clear(db, throttle.account_key(email))
        return user

    reason = "unknown_email" if user is None else ("inactive" if ok else "wrong_password")
    audit.record(
        db,
        actor=None,
        actor_label=email,
        action="auth.sign_in_failed",
        entity="user",
        entity_id=user.id if user else None,
        changes={"reason": reason, "via": via},
        ip=ip,
    )
    if throttle.record_failure(db, key=keys[0], settings=settings, is_ip=False):
        audit.record(
            db,
            actor=None,
            actor_label=email,
            action="auth.account_locked",
            entity="user",
            entity_id=user.id if user else None,
            changes={"minutes": settings.login_lock_minutes},
            ip=ip,
        )
    if ipk is not None and throttle.record_failure(db, key=ipk, settings=settings, is_ip=True):
        audit.record(
            db,
            actor=None,
            actor_label=email,
            action="auth.address_locked",
            entity="client_address",
            entity_id=ip,
            changes={"minutes": settings.login_lock_minutes},
            ip=ip,
        )
    db.commit()
    raise BadCredentials(BAD_CREDENTIALS)


def sign_in(
    db: Session,
    *,
    email: object,
    password: object,
    ip: str | None,
    user_agent: str | None,
    settings: Settings,
) -> str:
    """Check credentials and open a session; returns the one-time ticket for the cookie exchange."""
    user = _authenticate(
        db, email=email, password=password, ip=ip, settings=settings, via="browser"
    )
    ticket = sessions.start(db, user=user, ip=ip, user_agent=user_agent, settings=settings)
    user.last_login_at = utcnow()
    db.add(user)
    audit.record(
        db,
        actor=actor_of(user, ip=ip),
        action="auth.sign_in",
        entity="user",
        entity_id=user.id,
        changes={"via": "browser"},
    )
    return ticket


def establish_session(db: Session, *, ticket: str, previous_token: str | None) -> str | None:
    """Trade the sign-in ticket for the session token; the browser's previous session is revoked."""
    result = sessions.establish(db, ticket=ticket)
    if result is None:
        return None
    token, row = result
    if previous_token:
        old = db.exec(
            select(sessions.UserSession).where(
                sessions.UserSession.token_hash == sessions.digest(previous_token)
            )
        ).first()
        if old is not None and old.id != row.id:
            sessions.revoke(db, old, reason="rotated")
    return token


def actor_for_session(
    db: Session, *, token: str | None, ip: str | None, settings: Settings, touch: bool = True
) -> Actor | None:
    found = sessions.resolve(db, token=token, settings=settings, touch=touch)
    if found is None:
        return None
    row, user = found
    return actor_of(user, ip=ip, session_id=row.id)


SESSION_ENDED = "Your session has ended; please sign in again."


def browser_actor(
    db: Session,
    *,
    cookie_header: str | None,
    ip: str | None,
    settings: Settings | None = None,
    touch: bool = True,
) -> Actor:
    """The signed-in user behind a browser's raw Cookie header: the one place a session cookie
    becomes an actor (every Reflex event and service call, the import runner, the cookie routes
    under /api/session, and live pushes). NotAuthenticated when it names no live session.
    `touch=False` for what is not the user's own activity (a push must not keep a session alive)."""
    token = sessions.session_from_cookie_header(cookie_header)
    actor = actor_for_session(
        db, token=token, ip=ip, settings=settings or get_settings(), touch=touch
    )
    if actor is None:
        raise NotAuthenticated(SESSION_ENDED)
    return actor


def sign_out(db: Session, *, token: str | None, ip: str | None, settings: Settings) -> bool:
    """Revoke the session at once. Returns False if there was no live session."""
    if not token:
        return False
    row = db.exec(
        select(sessions.UserSession).where(
            sessions.UserSession.token_hash == sessions.digest(token)
        )
    ).first()
    if row is None or row.revoked_at is not None:
        return False
    sessions.revoke(db, row, reason="sign_out")
    user = db.get(User, row.user_id)
    audit.record(
        db,
        actor=actor_of(user, ip=ip, session_id=row.id),
        action="auth.sign_out",
        entity="user",
        entity_id=user.id,
    )
    return True


@dataclass(frozen=True)
class ApiToken:
    access_token: str
    expires_in: int
    token_type: str = "bearer"


def issue_api_token(
    db: Session, *, email: object, password: object, ip: str | None, settings: Settings
) -> ApiToken:
    user = _authenticate(db, email=email, password=password, ip=ip, settings=settings, via="api")
    token, expires_in = tokens.issue(
        user.id,
        cv=tokens.credentials_version(user.credentials_changed_at),
        secret=settings.secret_key,
        minutes=settings.token_minutes,
    )
    user.last_login_at = utcnow()
    db.add(user)
    audit.record(
        db,
        actor=actor_of(user, ip=ip),
        action="auth.token_issued",
        entity="user",
        entity_id=user.id,
        changes={"via": "api", "expires_in": expires_in},
    )
    return ApiToken(token, expires_in)


_TOKEN_USER = select(
    User.id, User.role, User.email, User.name, User.is_active, User.credentials_changed_at
).where(User.id == sa.bindparam("uid"))


def actor_for_api_token(db: Session, *, token: str, ip: str | None, settings: Settings) -> Actor:
    """Every API call: the token must be valid and its user still active, with unchanged credentials."""
    try:
        claims = tokens.decode(token, secret=settings.secret_key)
    except tokens.InvalidToken:
        raise NotAuthenticated("The access token is invalid or has expired.") from None
    # A plain row, not an ORM object: this runs on every API call.
    row = db.exec(_TOKEN_USER.params(uid=claims.user_id)).first()
    if row is None or not row.is_active:
        raise NotAuthenticated("The account is not active.")
    if claims.credentials_version != tokens.credentials_version(row.credentials_changed_at):
        raise NotAuthenticated("The access token was issued before the credentials changed.")
    return Actor(user_id=row.id, role=Role(row.role), email=row.email, name=row.name, ip=ip)


def change_own_password(
    db: Session, *, actor: Actor, current_password: object, new_password: object, settings: Settings
) -> int:
    """Needs the current password. Other sessions, all API tokens and all calendar feeds of the
    user are revoked."""
    user = db.get(User, actor.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("The account is not active.")
    if not isinstance(current_password, str) or not verify_password(
        current_password, user.password_hash
    ):
        raise ValidationFailed("is not your current password", field="current_password")
    try:
        check_policy(new_password, email=user.email)
    except PasswordPolicyError as exc:
        raise ValidationFailed(str(exc), field="new_password") from None
    if verify_password(new_password, user.password_hash):
        raise ValidationFailed("must differ from the current password", field="new_password")
    user.password_hash = hash_password(new_password)
    user.updated_at = utcnow()
    revoked = credentials.changed(
        db, user, reason="password_changed", keep_session_id=actor.session_id
    )
    audit.record(
        db,
        actor=actor,
        action="user.password_changed",
        entity="user",
        entity_id=user.id,
        changes={"sessions_revoked": revoked.sessions, "feeds_revoked": revoked.feeds},
    )
    return revoked.sessions
