"""Browser sessions: lifetime, rotation, revocation; sign-in throttling and lockout."""

import dataclasses
from datetime import timedelta

import pytest
from sqlmodel import select

from brm_app.auth import sessions, throttle
from brm_app.db import unit_of_work, utcnow
from brm_app.models.auth_records import UserSession
from brm_app.models.user import Role, User, UserUpdate
from brm_app.services import authentication, users
from brm_app.services.errors import NotAuthenticated, TooManyAttempts, ValidationFailed
from tests.factories import PASSWORD, make_user


def sign_in(settings, email, password=PASSWORD, ip="10.0.0.1") -> str:
    with unit_of_work(write=True) as db:
        return authentication.sign_in(
            db, email=email, password=password, ip=ip, user_agent="pytest", settings=settings
        )


def establish(ticket, previous=None):
    with unit_of_work(write=True) as db:
        return authentication.establish_session(db, ticket=ticket, previous_token=previous)


def login(settings, email, password=PASSWORD, ip="10.0.0.1", previous=None) -> str:
    token = establish(sign_in(settings, email, password, ip), previous)
    assert token
    return token


def actor_for(settings, token):
    with unit_of_work(write=True) as db:
        return authentication.actor_for_session(db, token=token, ip="10.0.0.1", settings=settings)


def session_row(token) -> UserSession:
    with unit_of_work() as db:
        return db.exec(
            select(UserSession).where(UserSession.token_hash == sessions.digest(token))
        ).one()


def test_login_gives_a_random_token_stored_only_as_hash(settings):
    user = make_user(Role.BROKER)
    token = login(settings, user.email)
    assert len(token) >= 40
    row = session_row(token)
    assert row.token_hash == sessions.digest(token) != token
    assert row.ticket_hash is None
    assert actor_for(settings, token).user_id == user.user_id


def test_ticket_works_once_and_expires(settings):
    user = make_user()
    ticket = sign_in(settings, user.email)
    assert establish(ticket)
    assert establish(ticket) is None  # used
    ticket2 = sign_in(settings, user.email)
    with unit_of_work(write=True) as db:
        row = db.exec(
            select(UserSession).where(UserSession.ticket_hash == sessions.digest(ticket2))
        ).one()
        row.ticket_expires_at = utcnow() - timedelta(seconds=1)
        db.add(row)
    assert establish(ticket2) is None


def test_login_rotates_the_browser_session(settings):
    user = make_user()
    first = login(settings, user.email)
    second = login(settings, user.email, previous=first)
    assert first != second
    assert actor_for(settings, first) is None
    assert session_row(first).revoke_reason == "rotated"
    assert actor_for(settings, second) is not None


def test_idle_timeout_ends_the_session(settings):
    user = make_user()
    token = login(settings, user.email)
    with unit_of_work(write=True) as db:
        row = db.exec(
            select(UserSession).where(UserSession.token_hash == sessions.digest(token))
        ).one()
        row.last_seen_at = utcnow() - timedelta(minutes=settings.session_idle_minutes, seconds=5)
        db.add(row)
    assert actor_for(settings, token) is None
    assert session_row(token).revoke_reason == "idle"


def test_activity_keeps_the_session_alive(settings):
    user = make_user()
    token = login(settings, user.email)
    with unit_of_work(write=True) as db:
        row = db.exec(
            select(UserSession).where(UserSession.token_hash == sessions.digest(token))
        ).one()
        row.last_seen_at = utcnow() - timedelta(minutes=settings.session_idle_minutes - 1)
        db.add(row)
    assert actor_for(settings, token) is not None
    assert utcnow() - session_row(token).last_seen_at < timedelta(seconds=5)


def test_absolute_lifetime_ends_the_session(settings):
    user = make_user()
    token = login(settings, user.email)
    row = session_row(token)
    assert row.expires_at - row.created_at == timedelta(hours=settings.session_absolute_hours)
    with unit_of_work(write=True) as db:
        row = db.get(UserSession, row.id)
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.add(row)
    assert actor_for(settings, token) is None
    assert session_row(token).revoke_reason == "expired"


def test_sign_out_revokes_at_once(settings):
    user = make_user()
    token = login(settings, user.email)
    with unit_of_work(write=True) as db:
        assert authentication.sign_out(db, token=token, ip="10.0.0.1", settings=settings)
    assert actor_for(settings, token) is None
    with unit_of_work(write=True) as db:
        assert not authentication.sign_out(db, token=token, ip="10.0.0.1", settings=settings)


def test_deactivation_revokes_every_session(settings):
    admin = make_user(Role.ADMIN)
    user = make_user()
    tokens = [login(settings, user.email) for _ in range(2)]
    with unit_of_work(write=True) as db:
        users.update_user(db, actor=admin, user_id=user.user_id, data=UserUpdate(is_active=False))
    assert all(actor_for(settings, t) is None for t in tokens)
    with pytest.raises(ValidationFailed, match="incorrect"):
        sign_in(settings, user.email)


def test_own_password_change_keeps_this_session_and_ends_the_others(settings):
    user = make_user()
    mine, other = login(settings, user.email), login(settings, user.email)
    me = actor_for(settings, mine)
    with unit_of_work(write=True) as db:
        revoked = authentication.change_own_password(
            db,
            actor=me,
            current_password=PASSWORD,
            new_password="a brand new passphrase",
            settings=settings,
        )
    assert revoked == 1
    assert actor_for(settings, mine) is not None
    assert actor_for(settings, other) is None
    login(settings, user.email, "a brand new passphrase")


def test_admin_password_reset_ends_every_session(settings):
    admin = make_user(Role.ADMIN)
    user = make_user()
    token = login(settings, user.email)
    with unit_of_work(write=True) as db:
        generated = users.reset_password(db, actor=admin, user_id=user.user_id)
    assert actor_for(settings, token) is None
    login(settings, user.email, generated)


def test_unknown_email_and_wrong_password_get_the_same_message(settings):
    user = make_user()
    with pytest.raises(ValidationFailed) as wrong:
        sign_in(settings, user.email, "not the password!!")
    with pytest.raises(ValidationFailed) as unknown:
        sign_in(settings, "nobody@test.example", "not the password!!")
    assert wrong.value.message == unknown.value.message == authentication.BAD_CREDENTIALS


def test_failures_are_slowed_then_locked_and_admin_can_unlock(settings):
    admin = make_user(Role.ADMIN)
    user = make_user()
    for _ in range(settings.login_slow_after):
        with pytest.raises(ValidationFailed):
            sign_in(settings, user.email, "wrong password 123")
    # Slowed: the next attempt, even with the right password, must wait.
    with pytest.raises(TooManyAttempts, match="Wait") as slowed:
        sign_in(settings, user.email)
    assert 1 <= slowed.value.retry_after_seconds <= 30
    # Keep failing (waiting out each delay by moving the clock of the record back) until locked.
    from brm_app.models.auth_records import LoginThrottle

    def expire_delay():
        with unit_of_work(write=True) as db:
            row = db.get(LoginThrottle, throttle.account_key(user.email))
            row.retry_after = None
            db.add(row)

    for _ in range(settings.login_lock_after - settings.login_slow_after):
        expire_delay()
        with pytest.raises(ValidationFailed):
            sign_in(settings, user.email, "wrong password 123")
    with pytest.raises(TooManyAttempts, match="locked"):
        sign_in(settings, user.email)  # right password, still locked
    with unit_of_work() as db:
        listed = users.get_user(db, actor=admin, user_id=user.user_id)
    assert listed.locked_until is not None and listed.locked_until > utcnow()
    with unit_of_work(write=True) as db:
        assert users.unlock(db, actor=admin, user_id=user.user_id).locked_until is None
    assert login(settings, user.email)


def test_lockout_is_audited(settings):
    user = make_user()
    from brm_app.models.audit import AuditEvent
    from brm_app.models.auth_records import LoginThrottle

    for _ in range(settings.login_lock_after):
        with unit_of_work(write=True) as db:
            row = db.get(LoginThrottle, throttle.account_key(user.email))
            if row:
                row.retry_after = None
                db.add(row)
        with pytest.raises(ValidationFailed):
            sign_in(settings, user.email, "wrong password 123")
    with unit_of_work() as db:
        actions = db.exec(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions.count("auth.sign_in_failed") == settings.login_lock_after
    assert "auth.account_locked" in actions


def test_one_address_failing_across_many_accounts_is_locked(settings):
    settings = dataclasses.replace(settings, ip_lock_after=5)
    make_user()
    for n in range(5):
        with pytest.raises(ValidationFailed):
            sign_in(settings, f"spray{n}@test.example", "wrong password 123", ip="203.0.113.9")
    with pytest.raises(TooManyAttempts, match="locked"):
        sign_in(settings, "spray-next@test.example", "wrong password 123", ip="203.0.113.9")
    # Another address is not affected.
    with pytest.raises(ValidationFailed):
        sign_in(settings, "spray-next@test.example", "wrong password 123", ip="203.0.113.10")


def _age_session(token, **delta) -> None:
    with unit_of_work(write=True) as db:
        row = db.exec(
            select(UserSession).where(UserSession.token_hash == sessions.digest(token))
        ).one()
        row.last_seen_at = utcnow() - timedelta(**delta)
        db.add(row)


def _commit_elsewhere(user) -> None:
    """Another connection commits a write (as any other request may at any moment)."""
    with unit_of_work(write=True) as other:
        row = other.get(User, user.user_id)
        row.name += "."
        other.add(row)


@pytest.mark.parametrize("age", [{"minutes": 1}, {"hours": 1}], ids=["touch", "idle"])
def test_resolving_in_a_read_transaction_survives_a_concurrent_writer(settings, age):
    """A read unit of work never writes: on SQLite a read transaction that writes after another
    connection committed fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT). The
    last-seen touch and the idle revocation take their own write transaction instead."""
    user = make_user()
    token = login(settings, user.email)
    _age_session(token, **age)
    with unit_of_work() as db:
        db.exec(select(User)).all()  # the read transaction has its snapshot now
        _commit_elsewhere(user)
        actor = authentication.actor_for_session(db, token=token, ip=None, settings=settings)
    row = session_row(token)
    if "minutes" in age:
        assert actor is not None and actor.user_id == user.user_id
        assert utcnow() - row.last_seen_at < timedelta(seconds=5)  # the touch was saved
    else:
        assert actor is None
        assert row.revoke_reason == "idle"  # and the revocation too


def test_a_read_unit_of_work_is_left_with_nothing_to_write(settings):
    """On both backends: the caller's read transaction holds no pending change after resolving
    (the touch went through a write transaction of its own, already committed)."""
    user = make_user()
    token = login(settings, user.email)
    _age_session(token, minutes=1)
    with unit_of_work() as db:
        assert authentication.actor_for_session(db, token=token, ip=None, settings=settings)
        assert not db.dirty and not db.new
        assert utcnow() - session_row(token).last_seen_at < timedelta(seconds=5)


def test_a_browser_cookie_header_becomes_its_signed_in_actor(settings):
    """One function turns a browser's Cookie header into the signed-in actor, whatever else the
    header carries (other apps' cookies, a malformed one); no live session is NotAuthenticated."""
    user = make_user()
    token = login(settings, user.email)
    headers = [
        f"brm_session={token}",
        f"theme=dark; brm_session={token}; other=1",
        f'broken="unclosed; brm_session={token}',
    ]
    for header in headers:
        with unit_of_work() as db:
            actor = authentication.browser_actor(
                db, cookie_header=header, ip="10.0.0.9", settings=settings
            )
        assert (actor.user_id, actor.ip, actor.session_id) == (
            user.user_id,
            "10.0.0.9",
            session_row(token).id,
        )
    with unit_of_work(write=True) as db:
        authentication.sign_out(db, token=token, ip=None, settings=settings)
    for header in [None, "", "theme=dark", "brm_session=", f"brm_session={token}"]:
        with unit_of_work() as db, pytest.raises(NotAuthenticated):
            authentication.browser_actor(db, cookie_header=header, ip=None, settings=settings)


def test_a_session_cookie_becomes_an_actor_in_one_place_only():
    """The Reflex event guard, the state's service calls, the import runner and the cookie
    routes (exports, uploads) all go through `authentication.browser_actor`."""
    import ast
    from pathlib import Path

    import brm_app

    callers = set()
    for path in Path(brm_app.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                name = getattr(node, "attr", None) or getattr(node, "id", None)
                if isinstance(node, ast.Name | ast.Attribute) and name == "actor_for_session":
                    callers.add((path.name, fn.name, "actor_for_session"))
                elif (
                    isinstance(node, ast.Attribute)
                    and node.attr == "resolve"
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "sessions"
                ):
                    callers.add((path.name, fn.name, "sessions.resolve"))
    assert callers == {
        ("authentication.py", "browser_actor", "actor_for_session"),
        ("authentication.py", "actor_for_session", "sessions.resolve"),
    }
