"""Account security: passwords an admin chose must be changed; two-factor sign-in with TOTP
(window, replay, recovery codes, encryption at rest, throttling, per-role requirement, reset)."""

from __future__ import annotations

import dataclasses

import pyotp
import pytest
from sqlmodel import select

from brm_app.auth import totp
from brm_app.auth.actor import SystemActor
from brm_app.db import unit_of_work
from brm_app.models.audit import AuditEvent
from brm_app.models.auth_records import RecoveryCode, UserTotp
from brm_app.models.user import Role, User, UserCreate, UserUpdate
from brm_app.services import app_settings, authentication, demo, firms, first_start, two_factor
from brm_app.services import users as users_service
from brm_app.services.errors import (
    BadCredentials,
    Conflict,
    PermissionDenied,
    SecondFactorNeeded,
    SetupRequired,
    TooManyAttempts,
    ValidationFailed,
)
from tests.factories import PASSWORD, make_user

T0 = 1_900_000_020.0  # the start of a 30-second step


@pytest.fixture
def clock(monkeypatch):
    """The time TOTP codes are checked against: now[0], moved by the test."""
    now = [T0]
    monkeypatch.setattr(totp, "_clock", lambda: now[0])
    return now


def code_at(secret: str, t: float) -> str:
    return pyotp.TOTP(secret).at(t)


def actor_of(user_id: int, **kw):
    with unit_of_work() as db:
        return authentication.actor_of(db.get(User, user_id), ip="10.0.0.9", **kw)


def enrol(settings, actor, clock) -> tuple[str, list[str]]:
    with unit_of_work(write=True) as db:
        secret = two_factor.begin_enrolment(db, actor=actor, settings=settings).secret
    with unit_of_work(write=True) as db:
        codes = two_factor.confirm_enrolment(
            db, actor=actor, code=code_at(secret, clock[0]), settings=settings
        )
    return secret, codes


def token(settings, email, otp=None, password=PASSWORD):
    with unit_of_work(write=True) as db:
        return authentication.issue_api_token(
            db, email=email, password=password, otp=otp, ip="10.0.0.9", settings=settings
        )


def audit_actions(user_id: int) -> list[str]:
    with unit_of_work() as db:
        rows = db.exec(
            select(AuditEvent.action)
            .where(AuditEvent.entity == "user", AuditEvent.entity_id == str(user_id))
            .order_by(AuditEvent.seq)
        ).all()
    return list(rows)


# ---- TOTP itself -------------------------------------------------------------------------------


def test_codes_are_taken_one_step_either_side_and_no_further():
    secret = totp.new_secret()
    here = totp.current_step(T0)
    for offset in (-30, 0, 30):
        assert totp.matching_step(secret, code_at(secret, T0 + offset), last_step=None, now=T0) == (
            here + offset // 30
        )
    for offset in (-60, 60, 3600):
        assert (
            totp.matching_step(secret, code_at(secret, T0 + offset), last_step=None, now=T0) is None
        )
    # A step at or before the last one used is never taken again.
    assert totp.matching_step(secret, code_at(secret, T0), last_step=here, now=T0) is None
    assert totp.matching_step(secret, code_at(secret, T0 - 30), last_step=here, now=T0) is None
    assert totp.matching_step(secret, code_at(secret, T0 + 30), last_step=here, now=T0) == here + 1
    assert totp.matching_step(secret, "12345", last_step=None, now=T0) is None
    assert totp.matching_step(secret, "abcdef", last_step=None, now=T0) is None


def test_the_secret_is_encrypted_at_rest_and_bound_to_its_user(settings, clock):
    user = make_user(Role.BROKER)
    secret, _ = enrol(settings, user, clock)
    with unit_of_work() as db:
        stored = db.get(UserTotp, user.user_id).secret_encrypted
    assert secret not in stored and secret.lower() not in stored.lower()
    assert totp.decrypt(stored, user_id=user.user_id, secret_key=settings.secret_key) == secret
    with pytest.raises(totp.SecretUnreadable):
        totp.decrypt(stored, user_id=user.user_id + 1, secret_key=settings.secret_key)
    with pytest.raises(totp.SecretUnreadable):
        totp.decrypt(stored, user_id=user.user_id, secret_key="another key " * 4)


def test_enrolment_needs_a_current_code_and_shows_a_qr_code(settings, clock):
    user = make_user(Role.BROKER)
    with unit_of_work(write=True) as db:
        started = two_factor.begin_enrolment(db, actor=user, settings=settings)
    assert started.qr_data_uri.startswith("data:image/svg+xml")
    assert started.uri.startswith("otpauth://totp/") and started.secret in started.uri
    with pytest.raises(ValidationFailed) as wrong, unit_of_work(write=True) as db:
        two_factor.confirm_enrolment(
            db, actor=user, code=code_at(started.secret, T0 + 120), settings=settings
        )
    assert "code" in wrong.value.errors
    with unit_of_work() as db:
        assert db.get(User, user.user_id).mfa_enabled is False
    # Not on yet: signing in needs no code.
    assert token(settings, user.email).access_token
    with unit_of_work(write=True) as db:
        codes = two_factor.confirm_enrolment(
            db, actor=user, code=code_at(started.secret, T0), settings=settings
        )
    assert len(codes) == 10 == len(set(codes))
    assert "user.mfa_enrolled" in audit_actions(user.user_id)
    with pytest.raises(Conflict), unit_of_work(write=True) as db:
        two_factor.begin_enrolment(db, actor=user, settings=settings)


# ---- signing in with the second factor -----------------------------------------------------------


def test_sign_in_needs_the_code_and_refuses_a_replayed_one(settings, clock):
    user = make_user(Role.BROKER)
    secret, _ = enrol(settings, user, clock)  # uses the code of step T0
    with pytest.raises(SecondFactorNeeded) as missing:
        token(settings, user.email)
    assert missing.value.missing
    # The enrolment's own code cannot be used again.
    with pytest.raises(SecondFactorNeeded) as replay:
        token(settings, user.email, otp=code_at(secret, T0))
    assert not replay.value.missing
    clock[0] = T0 + 30
    assert token(settings, user.email, otp=code_at(secret, T0 + 30)).access_token
    with pytest.raises(SecondFactorNeeded):
        token(settings, user.email, otp=code_at(secret, T0 + 30))
    # Written with a space, the next step's code is taken in the browser sign-in too.
    nxt = code_at(secret, T0 + 60)
    with unit_of_work(write=True) as db:
        ticket = authentication.sign_in(
            db,
            email=user.email,
            password=PASSWORD,
            otp=nxt[:3] + " " + nxt[3:],
            ip="10.0.0.9",
            user_agent="pytest",
            settings=settings,
        )
    assert ticket
    # A wrong password stays a wrong password, whatever the code.
    with pytest.raises(BadCredentials) as bad:
        token(settings, user.email, otp=code_at(secret, T0 + 60), password="not the password!")
    assert not isinstance(bad.value, SecondFactorNeeded)


def test_recovery_codes_are_stored_hashed_and_work_once(settings, clock):
    user = make_user(Role.BROKER)
    _, codes = enrol(settings, user, clock)
    with unit_of_work() as db:
        hashes = db.exec(
            select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.user_id)
        ).all()
    assert len(hashes) == 10
    assert not {c.replace("-", "") for c in codes} & set(hashes)
    assert set(hashes) == {totp.recovery_hash(c) for c in codes}
    assert token(settings, user.email, otp=codes[0].upper()).access_token
    with pytest.raises(SecondFactorNeeded):
        token(settings, user.email, otp=codes[0])
    assert token(settings, user.email, otp=codes[1]).access_token
    assert audit_actions(user.user_id).count("auth.recovery_code_used") == 2
    with unit_of_work() as db:
        assert two_factor.status(db, actor=user).recovery_codes_left == 8


def test_wrong_codes_are_throttled_like_wrong_passwords(settings, clock):
    user = make_user(Role.BROKER)
    secret, _ = enrol(settings, user, clock)
    for _ in range(settings.login_slow_after):
        with pytest.raises(SecondFactorNeeded):
            token(settings, user.email, otp="000000" if code_at(secret, T0) != "000000" else "1")
    # Slowed now: even the right code waits, and a code-less try does not clear the counter.
    with pytest.raises(TooManyAttempts):
        token(settings, user.email, otp=code_at(secret, T0 + 30))
    assert audit_actions(user.user_id).count("auth.sign_in_failed") == settings.login_slow_after


def test_password_change_asks_for_the_code(settings, clock):
    user = make_user(Role.BROKER)
    secret, _ = enrol(settings, user, clock)

    def change(otp):
        with unit_of_work(write=True) as db:
            authentication.change_own_password(
                db,
                actor=user,
                current_password=PASSWORD,
                new_password="a brand new passphrase",
                otp=otp,
                settings=settings,
            )

    with pytest.raises(ValidationFailed) as missing:
        change(None)
    assert "otp" in missing.value.errors
    with pytest.raises(ValidationFailed) as wrong:
        change(code_at(secret, T0))  # already used by the enrolment
    assert "otp" in wrong.value.errors
    change(code_at(secret, T0 + 30))
    clock[0] = T0 + 30
    issued = token(
        settings, user.email, password="a brand new passphrase", otp=code_at(secret, T0 + 60)
    )
    assert issued.access_token


def test_turning_off_needs_password_and_code_and_is_refused_when_the_role_requires_it(
    settings, clock
):
    admin = make_user(Role.ADMIN)
    user = make_user(Role.BROKER)
    secret, _ = enrol(settings, user, clock)
    with unit_of_work(write=True) as db:
        app_settings.update_security(db, actor=admin, mfa_required_roles=["broker"])
    with pytest.raises(ValidationFailed), unit_of_work(write=True) as db:
        two_factor.disable(
            db, actor=user, password=PASSWORD, code=code_at(secret, T0 + 30), settings=settings
        )
    with unit_of_work(write=True) as db:
        app_settings.update_security(db, actor=admin, mfa_required_roles=[])
    with pytest.raises(ValidationFailed) as bad_password, unit_of_work(write=True) as db:
        two_factor.disable(
            db,
            actor=user,
            password="wrong password!!",
            code=code_at(secret, T0 + 30),
            settings=settings,
        )
    assert "password" in bad_password.value.errors
    with unit_of_work(write=True) as db:
        two_factor.disable(
            db, actor=user, password=PASSWORD, code=code_at(secret, T0 + 30), settings=settings
        )
    assert token(settings, user.email).access_token
    assert "user.mfa_disabled" in audit_actions(user.user_id)


def test_an_admin_resets_two_factor_audited_and_sessions_end(settings, clock):
    admin = make_user(Role.ADMIN)
    user = make_user(Role.BROKER)
    enrol(settings, user, clock)
    with pytest.raises(SecondFactorNeeded):
        token(settings, user.email)
    manager = make_user(Role.MANAGER)
    with pytest.raises(PermissionDenied), unit_of_work(write=True) as db:
        two_factor.admin_reset(db, actor=manager, user_id=user.user_id)
    with unit_of_work(write=True) as db:
        two_factor.admin_reset(db, actor=admin, user_id=user.user_id)
    with unit_of_work() as db:
        assert db.get(User, user.user_id).mfa_enabled is False
        assert db.get(UserTotp, user.user_id) is None
        assert not db.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.user_id)).all()
        event = db.exec(select(AuditEvent).where(AuditEvent.action == "user.mfa_reset")).one()
    assert (
        event.entity_id == str(user.user_id)
        and event.actor_label == f"{admin.name} #{admin.user_id}"
    )
    assert token(settings, user.email).access_token
    with pytest.raises(Conflict), unit_of_work(write=True) as db:
        two_factor.admin_reset(db, actor=admin, user_id=user.user_id)


def test_a_role_that_requires_two_factor_must_enrol_before_anything_else(settings, clock):
    admin = make_user(Role.ADMIN)
    user = make_user(Role.BROKER)
    with unit_of_work(write=True) as db:
        app_settings.update_security(db, actor=admin, mfa_required_roles=["broker"])
    with pytest.raises(ValidationFailed), unit_of_work(write=True) as db:
        app_settings.update_security(db, actor=admin, mfa_required_roles=["pope"])
    with pytest.raises(PermissionDenied), unit_of_work(write=True) as db:
        app_settings.update_security(db, actor=user, mfa_required_roles=[])
    issued = token(settings, user.email)
    with unit_of_work() as db:
        pending = authentication.actor_for_api_token(
            db, token=issued.access_token, ip=None, settings=settings
        )
    assert pending.setup_required == "mfa"
    with pytest.raises(SetupRequired), unit_of_work() as db:
        firms.list_firms(db, actor=pending, page=_page())
    # Enrolment works for the pending actor, and then the actor is whole again.
    enrol(settings, pending, clock)
    with unit_of_work() as db:
        assert actor_of(user.user_id).setup_required is None
        assert (
            authentication.setup_required(
                db, role="broker", must_change_password=False, mfa_enabled=True
            )
            is None
        )


def _page():
    from brm_app.services.pagination import PageRequest

    return PageRequest(offset=0, limit=10)


# ---- passwords an admin chose ----------------------------------------------------------------


def must_change(user_id: int) -> bool:
    with unit_of_work() as db:
        return db.get(User, user_id).must_change_password


def test_admin_created_and_reset_passwords_must_be_changed_by_their_user(settings):
    admin = make_user(Role.ADMIN)
    with unit_of_work(write=True) as db:
        created = users_service.create_user(
            db,
            actor=admin,
            data=UserCreate(email="new@test.example", name="New One", role=Role.BROKER),
        )
    uid = created.user.user_id
    assert must_change(uid) and created.user.must_change_password
    issued = token(settings, "new@test.example", password=created.initial_password)
    with unit_of_work() as db:
        pending = authentication.actor_for_api_token(
            db, token=issued.access_token, ip=None, settings=settings
        )
    assert pending.setup_required == "password"
    with pytest.raises(SetupRequired) as refused, unit_of_work() as db:
        firms.list_firms(db, actor=pending, page=_page())
    assert "choose your own password" in refused.value.message
    with unit_of_work(write=True) as db:
        authentication.change_own_password(
            db,
            actor=pending,
            current_password=created.initial_password,
            new_password="my very own passphrase",
            settings=settings,
        )
    assert not must_change(uid)
    assert actor_of(uid).setup_required is None

    with unit_of_work(write=True) as db:
        users_service.reset_password(db, actor=admin, user_id=uid)
    assert must_change(uid)
    typed = _set_password(admin, uid, "typed by the admin 1")
    assert must_change(uid)
    with unit_of_work(write=True) as db:
        authentication.change_own_password(
            db,
            actor=actor_of(uid),
            current_password=typed,
            new_password="my very own passphrase 2",
            settings=settings,
        )
    assert not must_change(uid)
    _set_password(admin, uid, "typed by the admin 2")
    assert must_change(uid)
    # An admin setting their own password is choosing it.
    _set_password(admin, admin.user_id, "the admin's own passphrase")
    assert not must_change(admin.user_id)


def _set_password(admin, uid: int, password: str) -> str:
    with unit_of_work(write=True) as db:
        users_service.update_user(db, actor=admin, user_id=uid, data=UserUpdate(password=password))
    return password


def test_the_first_admin_from_the_environment_and_the_demo_accounts_are_exempt(settings, tmp_path):
    with unit_of_work(write=True) as db:
        chosen = first_start.create_first_admin(
            db,
            settings=dataclasses.replace(
                settings, admin_email="first@test.example", admin_password="chosen by operator 1"
            ),
        )
        generated = first_start.create_first_admin(
            db,
            settings=dataclasses.replace(
                settings, admin_email="second@test.example", admin_password=None
            ),
        )
        demo_result = demo.load(db, credentials_file=tmp_path / "demo.txt")
    assert generated.generated_password
    with unit_of_work() as db:
        by_email = {u.email: u.must_change_password for u in db.exec(select(User)).all()}
    assert by_email[chosen.email] is False
    assert by_email[generated.email] is True
    assert demo_result.created and all(by_email[e] is False for e in demo_result.created)
    # The CLI's users are an operator's choice for someone else: they must change it.
    with unit_of_work(write=True) as db:
        cli = users_service.create_user(
            db,
            actor=SystemActor(label="system:cli"),
            data=UserCreate(email="cli@test.example", name="Cli User", role=Role.BROKER),
        )
    assert cli.user.must_change_password
