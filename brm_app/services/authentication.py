"""Signing in and out, browser sessions and API tokens.

Rules: one generic message for any bad credentials (unknown email, wrong password, deactivated
account); failed attempts are slowed and then locked (see auth.throttle); every sign-in, failure,
lockout and sign-out is audited; sessions rotate at sign-in and die at once at sign-out.
A user with two-factor sign-in on also gives a one-time code (a wrong code counts as a failed
attempt, throttled alike; the counter is cleared only by a complete sign-in). A user whose
password an admin chose, or whose role requires two-factor sign-in they have not set up, signs
in but can do nothing else until that is done (Actor.setup_required, refused by rbac.require).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from brm_app.auth import credentials, sessions, throttle, tokens
from brm_app.auth.actor import Actor, user_label
from brm_app.auth.passwords import PasswordPolicyError, check_policy, hash_password, verify_password
from brm_app.db import UTCDateTime, utcnow
from brm_app.encryption.columns import open_value
from brm_app.models.user import Role, User, email_index
from brm_app.services import app_settings, audit, two_factor
from brm_app.services.errors import (
    AccountLocked,
    BadCredentials,
    NotAuthenticated,
    SecondFactorNeeded,
    TooManyAttempts,
    ValidationFailed,
)
from brm_app.settings import Settings, get_settings

BAD_CREDENTIALS = "Email or password is incorrect."
UNKNOWN_ACCOUNT = "unknown account"
LOCKED = (
    "Too many failed sign-in attempts: sign-in is locked for a while. "
    "Try again later or ask an administrator to unlock the account."
)
SLOW_DOWN = "Too many failed sign-in attempts. Wait {seconds} seconds and try again."
OTP_NEEDED = (
    "A one-time code is needed: send `otp`, the current code of your authenticator app "
    "(or one of your recovery codes)."
)
OTP_MISSING = "Enter the one-time code from your authenticator app (or a recovery code)."
OTP_WRONG = (
    "That one-time code is not valid. Enter the current code from your app (or a recovery code)."
)


def actor_of(
    user: User,
    *,
    ip: str | None,
    session_id: int | None = None,
    setup_required: str | None = None,
) -> Actor:
    return Actor(
        user_id=user.id,
        role=Role(user.role),
        email=user.email,
        name=user.name,
        ip=ip,
        session_id=session_id,
        setup_required=setup_required,
    )


def setup_required(
    db: Session, *, role: str, must_change_password: bool, mfa_enabled: bool
) -> str | None:
    """What the account must do before anything else: "password", "mfa" or nothing (None)."""
    if must_change_password:
        return "password"
    if not mfa_enabled and app_settings.mfa_required_for(db, role):
        return "mfa"
    return None


def _setup_of(db: Session, user: User) -> str | None:
    return setup_required(
        db,
        role=user.role,
        must_change_password=user.must_change_password,
        mfa_enabled=user.mfa_enabled,
    )


def _record_failure(
    db: Session,
    *,
    user: User | None,
    reason: str,
    via: str,
    ip: str | None,
    keys: list[str],
    settings: Settings,
) -> None:
    """Audit a failed attempt and count it against the account and the client address. The
    events name the user, or "unknown account", never the email typed (users' emails are
    encrypted); `account` is the throttle's key for it (the email's blind index), the same
    for every attempt at one email."""
    label = user_label(user.id, user.name) if user is not None else UNKNOWN_ACCOUNT
    audit.record(
        db,
        actor=None,
        actor_label=label,
        action="auth.sign_in_failed",
        entity="user",
        entity_id=user.id if user else None,
        changes={"reason": reason, "via": via, "account": keys[0]},
        ip=ip,
    )
    if throttle.record_failure(db, key=keys[0], settings=settings, is_ip=False):
        audit.record(
            db,
            actor=None,
            actor_label=label,
            action="auth.account_locked",
            entity="user",
            entity_id=user.id if user else None,
            changes={"minutes": settings.login_lock_minutes},
            ip=ip,
        )
    ipk = keys[1] if len(keys) > 1 else None
    if ipk is not None and throttle.record_failure(db, key=ipk, settings=settings, is_ip=True):
        audit.record(
            db,
            actor=None,
            actor_label=label,
            action="auth.address_locked",
            entity="client_address",
            entity_id=ip,
            changes={"minutes": settings.login_lock_minutes},
            ip=ip,
        )


def _authenticate(
    db: Session,
    *,
    email: object,
    password: object,
    ip: str | None,
    settings: Settings,
    via: str,
    otp: object = None,
) -> User:
    """Check credentials (and the one-time code of a user with two-factor sign-in on) under the
    throttle. Failures are committed before the error is raised."""
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

    user = db.exec(select(User).where(User.email_bidx == email_index(email))).first()
    ok = verify_password(password, user.password_hash if user else None)
    if ok and user is not None and user.is_active:
        if user.mfa_enabled:
            if otp is None or otp == "":
                # Not a guess: the password was right. Nothing is counted, nothing cleared.
                raise SecondFactorNeeded(OTP_MISSING, missing=True)
            if not two_factor.verify(db, user=user, code=otp, settings=settings, ip=ip):
                _record_failure(
                    db,
                    user=user,
                    reason="wrong_code",
                    via=via,
                    ip=ip,
                    keys=keys,
                    settings=settings,
                )
                db.commit()
                raise SecondFactorNeeded(OTP_WRONG, missing=False)
        throttle.clear(db, throttle.account_key(email))
        return user

    reason = "unknown_email" if user is None else ("inactive" if ok else "wrong_password")
    _record_failure(db, user=user, reason=reason, via=via, ip=ip, keys=keys, settings=settings)
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
    otp: object = None,
) -> str:
    """Check credentials and open a session; returns the one-time ticket for the cookie exchange."""
    user = _authenticate(
        db, email=email, password=password, ip=ip, settings=settings, via="browser", otp=otp
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
    return actor_of(user, ip=ip, session_id=row.id, setup_required=_setup_of(db, user))


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
    db: Session,
    *,
    email: object,
    password: object,
    ip: str | None,
    settings: Settings,
    otp: object = None,
) -> ApiToken:
    """A token for the password grant; with two-factor sign-in on, `otp` is needed too. A user
    whose setup is pending gets a token that only changes the password (see setup_required)."""
    user = _authenticate(
        db, email=email, password=password, ip=ip, settings=settings, via="api", otp=otp
    )
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


# Every API call's one query: the token's user and the per-role two-factor rule, as plain text
# SQL on the connection (no ORM compilation: this runs before every route).
_TOKEN_USER = sa.text(
    "SELECT u.id, u.role, u.row_key, u.email, u.name, u.is_active, u.credentials_changed_at, "
    "u.must_change_password, u.mfa_enabled, u.time_zone, "
    "(SELECT s.value FROM app_settings s WHERE s.key = :security_key) AS security "
    "FROM users u WHERE u.id = :uid"
).columns(
    sa.column("id", sa.Integer),
    sa.column("role", sa.String),
    sa.column("row_key", sa.String),
    sa.column("email", sa.LargeBinary),
    sa.column("name", sa.String),
    sa.column("is_active", sa.Boolean),
    sa.column("credentials_changed_at", UTCDateTime),
    sa.column("must_change_password", sa.Boolean),
    sa.column("mfa_enabled", sa.Boolean),
    sa.column("time_zone", sa.String),
    sa.column("security", sa.Text),
)


def api_token_claims(token: str, *, settings: Settings) -> tokens.TokenClaims:
    """The token's signature and claims (no database): NotAuthenticated when they fail."""
    try:
        return tokens.decode_cached(token, secret=settings.secret_key)
    except tokens.InvalidToken:
        raise NotAuthenticated("The access token is invalid or has expired.") from None


def actor_for_token_claims(db: Session, *, claims: tokens.TokenClaims, ip: str | None) -> Actor:
    """The account behind verified claims: still active, credentials unchanged since the token
    was issued (read on every call: a password change or deactivation voids it at once)."""
    row = (
        db.connection()
        .execute(_TOKEN_USER, {"uid": claims.user_id, "security_key": app_settings.SECURITY_KEY})
        .first()
    )
    if row is None or not row.is_active:
        raise NotAuthenticated("The account is not active.")
    if claims.credentials_version != tokens.credentials_version(row.credentials_changed_at):
        raise NotAuthenticated("The access token was issued before the credentials changed.")
    if row.must_change_password:
        setup: str | None = "password"
    elif (
        not row.mfa_enabled
        and row.role in app_settings.security_rules(row.security).mfa_required_roles
    ):
        setup = "mfa"
    else:
        setup = None
    return Actor(
        user_id=row.id,
        role=Role(row.role),
        # Encrypted: opened for the actor (its label in the audit trail, a sender's address).
        email=open_value("users", "email", row.row_key, row.email) or "",
        name=row.name,
        ip=ip,
        setup_required=setup,
        time_zone=row.time_zone,
    )


def actor_for_api_token(db: Session, *, token: str, ip: str | None, settings: Settings) -> Actor:
    """Every API call: the token must be valid and its user still active, with unchanged credentials."""
    claims = api_token_claims(token, settings=settings)
    return actor_for_token_claims(db, claims=claims, ip=ip)


def change_own_password(
    db: Session,
    *,
    actor: Actor,
    current_password: object,
    new_password: object,
    settings: Settings,
    otp: object = None,
) -> int:
    """Needs the current password, and a one-time code when two-factor sign-in is on (a wrong
    one counts as a failed sign-in attempt). Clears "must change password". Other sessions, all
    API tokens and all calendar feeds of the user are revoked."""
    user = db.get(User, actor.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("The account is not active.")
    if not isinstance(current_password, str) or not verify_password(
        current_password, user.password_hash
    ):
        raise ValidationFailed("is not your current password", field="current_password")
    if user.mfa_enabled:
        keys = [throttle.account_key(user.email)]
        if (ipk := throttle.ip_key(actor.ip)) is not None:
            keys.append(ipk)
        verdict = throttle.check(db, keys)
        if verdict.blocked_until is not None:
            wait = max(1, math.ceil((verdict.blocked_until - utcnow()).total_seconds()))
            raise TooManyAttempts(SLOW_DOWN.format(seconds=wait), wait)
        if otp is None or otp == "":
            raise ValidationFailed("is needed: the current code of your app", field="otp")
        if not two_factor.verify(db, user=user, code=otp, settings=settings, ip=actor.ip):
            _record_failure(
                db,
                user=user,
                reason="wrong_code",
                via="password_change",
                ip=actor.ip,
                keys=keys,
                settings=settings,
            )
            db.commit()
            raise ValidationFailed("is not a valid one-time code", field="otp")
    try:
        check_policy(new_password, email=user.email)
    except PasswordPolicyError as exc:
        raise ValidationFailed(str(exc), field="new_password") from None
    if verify_password(new_password, user.password_hash):
        raise ValidationFailed("must differ from the current password", field="new_password")
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
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
