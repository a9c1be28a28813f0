"""Two-factor sign-in with TOTP: enrolment, the second-factor check, recovery codes, turning it
off and an admin's reset.

Rules: a user enrols by scanning the QR code (or typing the secret) and confirming one current
code; only then is it on, and ten recovery codes are shown that once (stored hashed, each usable
once). A code is accepted within one 30-second step of drift and never twice. Turning it off needs
the password and a current code, and is refused while the user's role requires it. An admin can
reset a user's two-factor sign-in (lost phone): the user's sessions, tokens and feeds end. Every
enrolment, turning off, reset and use of a recovery code is audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, delete, func, or_, select, update

from brm_app.auth import credentials, totp
from brm_app.auth.actor import Actor, user_label
from brm_app.auth.passwords import verify_password
from brm_app.auth.rbac import Permission, require
from brm_app.db import utcnow
from brm_app.models.auth_records import RecoveryCode, UserTotp
from brm_app.models.user import User, UserPublic
from brm_app.services import app_settings, audit
from brm_app.services.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed
from brm_app.services.validation import require_id
from brm_app.settings import Settings


@dataclass(frozen=True)
class TwoFactorStatus:
    enabled: bool
    required: bool
    recovery_codes_left: int


@dataclass(frozen=True)
class Enrolment:
    """What the user's app needs: shown during enrolment only, never stored in clear."""

    secret: str
    uri: str
    qr_data_uri: str


def _me(db: Session, actor: Actor) -> User:
    user = db.get(User, actor.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("The account is not active.")
    return user


def _id(user: User) -> int:
    assert user.id is not None  # a stored row
    return user.id


def _codes_left(db: Session, user_id: int) -> int:
    return db.exec(
        select(func.count())
        .select_from(RecoveryCode)
        .where(col(RecoveryCode.user_id) == user_id, col(RecoveryCode.used_at).is_(None))
    ).one()


def status(db: Session, *, actor: Actor) -> TwoFactorStatus:
    """The signed-in user's own two-factor state (any user, also before their setup is done)."""
    user = _me(db, actor)
    return TwoFactorStatus(
        enabled=user.mfa_enabled,
        required=app_settings.mfa_required_for(db, user.role),
        recovery_codes_left=_codes_left(db, _id(user)) if user.mfa_enabled else 0,
    )


def begin_enrolment(db: Session, *, actor: Actor, settings: Settings) -> Enrolment:
    """A new secret awaiting its first code (replaces an unfinished enrolment)."""
    user = _me(db, actor)
    if user.mfa_enabled:
        raise Conflict("Two-factor sign-in is already on.")
    secret = totp.new_secret()
    user_id = _id(user)
    row = db.get(UserTotp, user_id) or UserTotp(user_id=user_id, secret_encrypted="")
    row.secret_encrypted = totp.encrypt(secret, user_id=user_id, secret_key=settings.secret_key)
    row.created_at = utcnow()
    row.confirmed_at = None
    row.last_step = None
    db.add(row)
    uri = totp.provisioning_uri(secret, account=user.email)
    return Enrolment(secret=secret, uri=uri, qr_data_uri=totp.qr_data_uri(uri))


def confirm_enrolment(db: Session, *, actor: Actor, code: object, settings: Settings) -> list[str]:
    """Turn two-factor sign-in on with a current code; returns the recovery codes (shown once)."""
    user = _me(db, actor)
    user_id = _id(user)
    row = db.get(UserTotp, user_id)
    if user.mfa_enabled or row is None or row.confirmed_at is not None:
        raise Conflict("Start the set-up first: there is no enrolment waiting for a code.")
    normalized = totp.normalize_code(code)
    if normalized is None or not totp.is_totp_shape(normalized):
        raise ValidationFailed("enter the 6-digit code your app shows", field="code")
    try:
        secret = totp.decrypt(row.secret_encrypted, user_id=user_id, secret_key=settings.secret_key)
    except totp.SecretUnreadable:
        raise Conflict("The set-up has expired; start it again.") from None
    step = totp.matching_step(secret, normalized, last_step=None)
    if step is None:
        raise ValidationFailed(
            "is not the code your app shows now (check the phone's clock)", field="code"
        )
    now = utcnow()
    row.confirmed_at = now
    row.last_step = step
    db.add(row)
    user.mfa_enabled = True
    user.updated_at = now
    db.add(user)
    codes = _new_recovery_codes(db, user_id)
    audit.record(
        db,
        actor=actor,
        action="user.mfa_enrolled",
        entity="user",
        entity_id=user.id,
        changes={"method": "totp", "recovery_codes": len(codes)},
    )
    return codes


def _new_recovery_codes(db: Session, user_id: int) -> list[str]:
    db.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    codes = totp.new_recovery_codes()
    for code in codes:
        db.add(RecoveryCode(user_id=user_id, code_hash=totp.recovery_hash(code)))
    return codes


def _remove(db: Session, user: User) -> None:
    db.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    db.exec(delete(UserTotp).where(col(UserTotp.user_id) == user.id))
    user.mfa_enabled = False
    user.updated_at = utcnow()
    db.add(user)


def verify(db: Session, *, user: User, code: object, settings: Settings, ip: str | None) -> bool:
    """The second factor of a user who has it on: a current TOTP code (not used before) or an
    unused recovery code (then used up, audited). Each is taken at most once, also when two
    requests race (conditional updates)."""
    normalized = totp.normalize_code(code)
    if normalized is None or not user.mfa_enabled:
        return False
    user_id = _id(user)
    if totp.is_totp_shape(normalized):
        row = db.get(UserTotp, user_id)
        if row is None or row.confirmed_at is None:
            return False
        try:
            secret = totp.decrypt(
                row.secret_encrypted, user_id=user_id, secret_key=settings.secret_key
            )
        except totp.SecretUnreadable:
            return False
        step = totp.matching_step(secret, normalized, last_step=row.last_step)
        if step is None:
            return False
        taken = db.exec(
            update(UserTotp)
            .where(
                col(UserTotp.user_id) == user_id,
                or_(col(UserTotp.last_step).is_(None), col(UserTotp.last_step) < step),
            )
            .values(last_step=step)
        ).rowcount
        return taken == 1
    used = db.exec(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user_id,
            col(RecoveryCode.code_hash) == totp.recovery_hash(normalized),
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=utcnow())
    ).rowcount
    if used != 1:
        return False
    audit.record(
        db,
        actor=None,
        actor_label=user_label(user.id, user.name),
        action="auth.recovery_code_used",
        entity="user",
        entity_id=user.id,
        changes={"left": _codes_left(db, user_id)},
        ip=ip,
    )
    return True


def disable(
    db: Session, *, actor: Actor, password: object, code: object, settings: Settings
) -> None:
    """Turn one's own two-factor sign-in off: needs the password and a current code."""
    user = _me(db, actor)
    if not user.mfa_enabled:
        raise Conflict("Two-factor sign-in is not on.")
    if app_settings.mfa_required_for(db, user.role):
        raise ValidationFailed(
            "Your role requires two-factor sign-in: it cannot be turned off.", field="code"
        )
    if not isinstance(password, str) or not verify_password(password, user.password_hash):
        raise ValidationFailed("is not your current password", field="password")
    if not verify(db, user=user, code=code, settings=settings, ip=actor.ip):
        raise ValidationFailed("is not a valid one-time code", field="code")
    _remove(db, user)
    audit.record(db, actor=actor, action="user.mfa_disabled", entity="user", entity_id=user.id)


def new_recovery_codes(db: Session, *, actor: Actor, code: object, settings: Settings) -> list[str]:
    """A fresh set of ten recovery codes (the old ones stop working); needs a current code."""
    user = _me(db, actor)
    if not user.mfa_enabled:
        raise Conflict("Two-factor sign-in is not on.")
    if not verify(db, user=user, code=code, settings=settings, ip=actor.ip):
        raise ValidationFailed("is not a valid one-time code", field="code")
    codes = _new_recovery_codes(db, _id(user))
    audit.record(
        db,
        actor=actor,
        action="user.mfa_recovery_codes_renewed",
        entity="user",
        entity_id=user.id,
        changes={"recovery_codes": len(codes)},
    )
    return codes


def admin_reset(db: Session, *, actor: Actor, user_id: object) -> UserPublic:
    """An admin turns a user's two-factor sign-in off (lost phone). The user's sessions, API
    tokens and calendar feeds end; if their role requires it, they enrol again at next sign-in."""
    require(actor, Permission.USERS_MANAGE)
    user = db.get(User, require_id(user_id, "user_id"))
    if user is None:
        raise NotFound("User")
    if not user.mfa_enabled and db.get(UserTotp, user.id) is None:
        raise Conflict("This user has no two-factor sign-in to reset.")
    was_on = user.mfa_enabled
    _remove(db, user)
    revoked = credentials.changed(db, user, reason="mfa_reset")
    audit.record(
        db,
        actor=actor,
        action="user.mfa_reset",
        entity="user",
        entity_id=user.id,
        changes={
            "was_enabled": was_on,
            "sessions_revoked": revoked.sessions,
            "feeds_revoked": revoked.feeds,
        },
    )
    return UserPublic.of(user)
