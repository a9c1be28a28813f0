"""User administration (admins) and each user's own profile.

Rules: only admins list, create and change users; emails are unique ignoring case; an admin cannot
deactivate or demote themselves, and the last active admin stays; deactivation and password resets
revoke the user's sessions and API tokens at once. A password an admin sets or generates (a new
user, a reset) must be changed by its user at the next sign-in; only the first start's admin from
BRM_ADMIN_PASSWORD and the demo accounts are created without that.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, func, or_, select

from brm_app.auth import credentials, throttle
from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.passwords import (
    PasswordPolicyError,
    check_policy,
    generate_password,
    hash_password,
)
from brm_app.auth.rbac import Permission, require
from brm_app.db import utcnow
from brm_app.encryption.columns import open_row
from brm_app.models.auth_records import LoginThrottle
from brm_app.models.user import (
    NAME_MAX,
    Role,
    User,
    UserCreate,
    UserPublic,
    UserUpdate,
    email_index,
)
from brm_app.services import audit
from brm_app.services.errors import Conflict, NotFound, ValidationFailed
from brm_app.services.pagination import Page, PageRequest, escape_like
from brm_app.services.validation import normalize_email, require_id, require_name


def _snapshot(user: User) -> dict:
    return {
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "is_active": user.is_active,
        "manager_id": user.manager_id,
    }


def _public(db: Session, user: User) -> UserPublic:
    locks = throttle.locked_accounts(db, [user.email])
    return UserPublic.of(user, locks.get(user.email))


def _get(db: Session, user_id: object) -> User:
    user = db.get(User, require_id(user_id, "user_id"))
    if user is None:
        raise NotFound("User")
    return user


def _check_password(password: object, *, email: str, field: str = "password") -> str:
    try:
        return check_policy(password, email=email)
    except PasswordPolicyError as exc:
        raise ValidationFailed(str(exc), field=field) from None


def _check_manager(db: Session, manager_id: int | None) -> None:
    if manager_id is None:
        return
    manager = db.get(User, require_id(manager_id, "manager_id"))
    if manager is None or manager.role not in (Role.MANAGER, Role.ADMIN) or not manager.is_active:
        raise ValidationFailed("must be an active manager", field="manager_id")


def _email_taken(db: Session, email: str, *, except_id: int | None = None) -> bool:
    stmt = select(User.id).where(User.email_bidx == email_index(email))
    if except_id is not None:
        stmt = stmt.where(User.id != except_id)
    return db.exec(stmt).first() is not None


def _active_admins(db: Session) -> int:
    return db.exec(
        select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.is_active)
    ).one()


def list_users(
    db: Session,
    *,
    actor: Actor,
    page: PageRequest,
    q: str | None = None,
    role: str | None = None,
    status: str | None = None,
) -> Page[UserPublic]:
    require(actor, Permission.USERS_VIEW)
    conds = []
    if q and q.strip():
        # The email is encrypted: it matches whole (by its blind index), the name any part.
        pattern = f"%{escape_like(q.strip().lower())}%"
        conds.append(
            or_(
                User.email_bidx == email_index(q.strip()),
                func.lower(User.name).like(pattern, escape="\\"),
            )
        )
    if role:
        if role not in {r.value for r in Role}:
            raise ValidationFailed("is not a role", field="role")
        conds.append(User.role == role)
    if status == "active":
        conds.append(User.is_active)
    elif status == "inactive":
        conds.append(sa.not_(User.is_active))
    elif status == "locked":
        now = utcnow()
        locked_keys = select(throttle.LoginThrottle.key).where(
            throttle.LoginThrottle.locked_until > now
        )
        conds.append(sa.literal(throttle.ACCOUNT_PREFIX).concat(User.email_bidx).in_(locked_keys))
    elif status:
        raise ValidationFailed("must be active, inactive or locked", field="status")
    total = db.exec(select(func.count()).select_from(User).where(*conds)).one()
    rows = db.exec(
        select(User)
        .where(*conds)
        .order_by(User.name, User.id)
        .offset(page.offset)
        .limit(page.limit + 1)
    ).all()
    locks = throttle.locked_accounts(db, [u.email for u in rows])
    return Page.build([UserPublic.of(u, locks.get(u.email)) for u in rows], page=page, total=total)


def get_user(db: Session, *, actor: Actor, user_id: object) -> UserPublic:
    require(actor, Permission.USERS_VIEW)
    return _public(db, _get(db, user_id))


_USERS = User.__table__  # type: ignore[attr-defined]
_THROTTLE = LoginThrottle.__table__  # type: ignore[attr-defined]
# /users/me: Core statements on the connection (the cheapest authenticated call stays cheap).
_ME = sa.select(_USERS).where(_USERS.c.id == sa.bindparam("uid"))
_LOCK = sa.select(_THROTTLE.c.locked_until).where(
    _THROTTLE.c.key == sa.bindparam("key"), _THROTTLE.c.locked_until > sa.bindparam("now")
)


def get_me(db: Session, *, actor: Actor) -> UserPublic:
    conn = db.connection()
    row = conn.execute(_ME, {"uid": actor.user_id}).mappings().first()
    if row is None:
        raise NotFound("User")
    locked = conn.execute(
        _LOCK, {"key": throttle.ACCOUNT_PREFIX + row["email_bidx"], "now": utcnow()}
    ).scalar()
    return UserPublic(
        user_id=row["id"],
        email=open_row("users", row, ("email",))["email"],
        name=row["name"],
        role=Role(row["role"]),
        is_active=row["is_active"],
        manager_id=row["manager_id"],
        created_at=row["created_at"],
        last_login_at=row["last_login_at"],
        time_zone=row["time_zone"],
        # Dropped here when /users/me became a Core statement: every page load then showed
        # the browser's locale whatever My account said.
        locale=row["locale"] or "",
        locked_until=locked,
        email_reminders=row["email_reminders"],
        must_change_password=row["must_change_password"],
        mfa_enabled=row["mfa_enabled"],
    )


def managers(db: Session, *, actor: Actor) -> list[UserPublic]:
    """Active managers, for assigning a broker's manager."""
    require(actor, Permission.USERS_VIEW)
    rows = db.exec(
        select(User).where(User.role == Role.MANAGER, User.is_active).order_by(User.name)
    ).all()
    return [UserPublic.of(u) for u in rows]


@dataclass(frozen=True)
class CreatedUser:
    user: UserPublic
    # Shown once when the password was generated; None when the admin chose it.
    initial_password: str | None


def create_user(
    db: Session,
    *,
    actor: Actor | SystemActor,
    data: UserCreate,
    must_change_password: bool = True,
) -> CreatedUser:
    """`must_change_password=False` is for the first start and the demo accounts only."""
    require(actor, Permission.USERS_MANAGE)
    email = normalize_email(data.email)
    if _email_taken(db, email):
        raise Conflict("A user with this email already exists.", field="email")
    generated = None
    if data.password is None or data.password == "":
        generated = password = generate_password()
    else:
        password = _check_password(data.password, email=email)
    _check_manager(db, data.manager_id)
    now = utcnow()
    user = User(
        email=email,
        name=data.name,
        role=data.role.value,
        password_hash=hash_password(password),
        is_active=True,
        manager_id=data.manager_id,
        must_change_password=must_change_password,
        credentials_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    db.add(user)
    try:
        db.flush()
    except sa.exc.IntegrityError:
        raise Conflict("A user with this email already exists.", field="email") from None
    audit.record(
        db,
        actor=actor,
        action="user.created",
        entity="user",
        entity_id=user.id,
        changes={"after": _snapshot(user)},
    )
    return CreatedUser(_public(db, user), generated)


def update_user(db: Session, *, actor: Actor, user_id: object, data: UserUpdate) -> UserPublic:
    """Partial update. Deactivating revokes sessions and calendar feeds; so does a new password."""
    require(actor, Permission.USERS_MANAGE)
    user = _get(db, user_id)
    before = _snapshot(user)
    fields = data.model_fields_set
    if "email" in fields and data.email is not None:
        email = normalize_email(data.email)
        if email != user.email:
            if _email_taken(db, email, except_id=user.id):
                raise Conflict("A user with this email already exists.", field="email")
            # The lock follows the email it was counted for; move it with the account.
            throttle.clear(db, throttle.account_key(user.email))
            user.email = email
    if "name" in fields:
        if not data.name:
            raise ValidationFailed("is required", field="name")
        user.name = data.name
    demoting = "role" in fields and data.role is not None and data.role != Role(user.role)
    deactivating = "is_active" in fields and data.is_active is False and user.is_active
    if (demoting or deactivating) and user.id == actor.user_id:
        raise ValidationFailed(
            "You cannot deactivate yourself or change your own role.",
            field="is_active" if deactivating else "role",
        )
    if (demoting or deactivating) and user.role == Role.ADMIN and _active_admins(db) <= 1:
        raise ValidationFailed("The last active admin must stay an active admin.", field="role")
    if "role" in fields and data.role is not None:
        user.role = data.role.value
    if "manager_id" in fields:
        if data.manager_id == user.id:
            raise ValidationFailed("A user cannot be their own manager.", field="manager_id")
        _check_manager(db, data.manager_id)
        user.manager_id = data.manager_id
    revoked = credentials.Revoked(0, 0)
    if "is_active" in fields and data.is_active is not None and data.is_active != user.is_active:
        user.is_active = data.is_active
        if not data.is_active:
            revoked = credentials.changed(db, user, reason="deactivated")
    if "password" in fields and data.password:
        user.password_hash = hash_password(_check_password(data.password, email=user.email))
        # An admin chose it: its user must choose their own (unless the admin set their own).
        user.must_change_password = user.id != actor.user_id
        again = credentials.changed(db, user, reason="password_reset")
        revoked = credentials.Revoked(
            revoked.sessions + again.sessions, revoked.feeds + again.feeds
        )
    changes = audit.diff(before, _snapshot(user))
    if "password" in fields and data.password:
        changes["password"] = "reset"
    if not changes:
        return _public(db, user)
    user.updated_at = utcnow()
    db.add(user)
    action = "user.updated"
    if set(changes) == {"is_active"}:
        action = "user.deactivated" if not user.is_active else "user.reactivated"
    if revoked.sessions:
        changes["sessions_revoked"] = revoked.sessions
    if revoked.feeds:
        changes["feeds_revoked"] = revoked.feeds
    audit.record(db, actor=actor, action=action, entity="user", entity_id=user.id, changes=changes)
    return _public(db, user)


def set_active(db: Session, *, actor: Actor, user_id: object, active: bool) -> UserPublic:
    return update_user(db, actor=actor, user_id=user_id, data=UserUpdate(is_active=active))


def reset_password(
    db: Session, *, actor: Actor, user_id: object, new_password: str | None = None
) -> str | None:
    """Set a new password (given, or generated and returned once), which the user must change at
    their next sign-in. Revokes every session and calendar feed."""
    require(actor, Permission.USERS_MANAGE)
    user = _get(db, user_id)
    generated = None
    if not new_password:
        generated = new_password = generate_password()
    else:
        _check_password(new_password, email=user.email)
    user.password_hash = hash_password(new_password)
    user.must_change_password = user.id != actor.user_id
    user.updated_at = utcnow()
    revoked = credentials.changed(db, user, reason="password_reset")
    throttle.clear(db, throttle.account_key(user.email))
    audit.record(
        db,
        actor=actor,
        action="user.password_reset",
        entity="user",
        entity_id=user.id,
        changes={
            "sessions_revoked": revoked.sessions,
            "feeds_revoked": revoked.feeds,
            "generated": generated is not None,
        },
    )
    return generated


def unlock(db: Session, *, actor: Actor, user_id: object) -> UserPublic:
    require(actor, Permission.ACCOUNTS_UNLOCK)
    user = _get(db, user_id)
    if throttle.clear(db, throttle.account_key(user.email)):
        audit.record(db, actor=actor, action="user.unlocked", entity="user", entity_id=user.id)
    return _public(db, user)


# The locales offered on My account ("" is the browser's own): dates, times and numbers.
LOCALES: dict[str, str] = {
    "": "The browser's",
    "en-US": "English (United States)",
    "en-GB": "English (United Kingdom)",
    "de-DE": "Deutsch (Deutschland)",
    "de-CH": "Deutsch (Schweiz)",
    "fr-FR": "Français (France)",
    "es-ES": "Español (España)",
    "it-IT": "Italiano (Italia)",
    "nl-NL": "Nederlands (Nederland)",
    "ja-JP": "日本語 (日本)",
    "zh-CN": "中文 (中国)",
}


def update_profile(
    db: Session, *, actor: Actor, name: object, time_zone: object = None, locale: object = None
) -> UserPublic:
    """Each user's own name, time zone (IANA name; dates and times are shown in it) and locale
    (how dates, times and numbers are written; one of LOCALES, "" for the browser's)."""
    require(actor, Permission.PROFILE_EDIT)
    if locale is not None and (not isinstance(locale, str) or locale not in LOCALES):
        raise ValidationFailed("choose one of the locales offered", field="locale")
    if time_zone is not None:
        from brm_app.services.interactions import zone

        zone(time_zone)
    name = require_name(name, max_length=NAME_MAX)
    user = _get(db, actor.user_id)
    if time_zone is not None:
        _update_own(db, actor, user, "time_zone", time_zone)
    if locale is not None:
        _update_own(db, actor, user, "locale", locale)
    _update_own(db, actor, user, "name", name)
    return _public(db, user)


def _update_own(db: Session, actor: Actor, user: User, field: str, value: object) -> None:
    """One of the user's own settings, audited when it changes."""
    before = getattr(user, field)
    if value == before:
        return
    audit.record(
        db,
        actor=actor,
        action="user.profile_updated",
        entity="user",
        entity_id=user.id,
        changes=audit.diff({field: before}, {field: value}),
    )
    setattr(user, field, value)
    user.updated_at = utcnow()
    db.add(user)


def set_email_reminders(db: Session, *, actor: Actor, enabled: object) -> UserPublic:
    """Each user's own "also email me my reminders" (sent through the email provider)."""
    require(actor, Permission.PROFILE_EDIT)
    if not isinstance(enabled, bool):
        raise ValidationFailed("must be true or false", field="email_reminders")
    user = _get(db, actor.user_id)
    _update_own(db, actor, user, "email_reminders", enabled)
    return _public(db, user)
