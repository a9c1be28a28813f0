"""Every handler of every page state, sent the way a browser sends it (tests/state/harness.py).

- The access table (tests/state/matrix.py) has a row for every public handler: the walk finds
  them, so a new handler without a row fails here.
- Without a session (none, expired, revoked or forged) no handler runs: the tab is sent to the
  sign-in page, receives no state, and nothing changes.
- Fuzzed arguments (wrong types, 1 MB strings, ids out of range, ids of records of another
  user, arguments the handler does not take) sent as a user who may not see the records: no
  exception reaches Reflex's exception handler, no table row changes, and nothing of the other
  user's records reaches the browser.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from datetime import timedelta

import pytest
import reflex as rx
import sqlalchemy as sa
from sqlmodel import SQLModel, update

import brm_app.state
from brm_app.db import get_engine, unit_of_work, utcnow
from brm_app.models.auth_records import UserSession
from brm_app.state.session_guard import _PUBLIC_STATES
from tests.state import matrix
from tests.state.conftest import session_token_for
from tests.state.harness import Server, Tab
from tests.state.test_activity_state_access import Activity, act  # noqa: F401  (fixture)

# ---- the walk ----------------------------------------------------------------------------------


def page_states() -> list[type[rx.State]]:
    """Every state class the app defines (imported, so a new module is found too)."""
    for module in pkgutil.iter_modules(brm_app.state.__path__):
        importlib.import_module(f"brm_app.state.{module.name}")
    found, stack = [], [rx.State]
    while stack:
        cls = stack.pop()
        stack.extend(cls.get_substates())
        if cls.__module__.startswith("brm_app."):
            found.append(cls)
    return sorted(found, key=lambda c: c.__name__)


def public_handlers() -> list[tuple[type[rx.State], str]]:
    """(state, handler name) for every handler a browser can call, Reflex's setvar included."""
    return [(cls, name) for cls in page_states() for name in sorted(cls.event_handlers)]


def params_of(cls: type[rx.State], handler: str) -> list[str]:
    fn = cls.event_handlers[handler].fn
    return [p for p in inspect.signature(fn).parameters if p != "self"]


def flags_only(cls: type[rx.State], handler: str) -> bool:
    """Every parameter is declared a bool (a switch such as "Also email me my reminders")."""
    fn = cls.event_handlers[handler].fn
    hints = [p.annotation for n, p in inspect.signature(fn).parameters.items() if n != "self"]
    return bool(hints) and all(h in (bool, "bool") for h in hints)


HANDLERS = public_handlers()
ROWS = [(c, h) for c, h in HANDLERS if h != matrix.SETVAR]


def test_every_handler_has_a_row_and_every_row_a_handler():
    names = {f"{c.__name__}.{h}" for c, h in ROWS}
    assert len({c.__name__ for c, _ in HANDLERS}) == len(page_states()), "two states, one name"
    missing = sorted(names - set(matrix.MATRIX))
    assert not missing, f"add rows to tests/state/matrix.py for {missing}"
    stale = sorted(set(matrix.MATRIX) - names)
    assert not stale, f"rows without a handler in tests/state/matrix.py: {stale}"
    # The admin, audit, import and session states are walked like the others.
    for name in ("AdminUsersState.save", "AuditState.verify", "ImportState.start_import",
                 "SessionState.sign_out", "LoginState.submit"):  # fmt: skip
        assert name in names


def test_public_rows_are_exactly_the_public_states():
    public = {c.__name__ for c, _ in ROWS if c.get_full_name() in _PUBLIC_STATES}
    assert public == {"LoginState"}
    rows = {k.split(".")[0] for k, v in matrix.MATRIX.items() if v == matrix.PUBLIC}
    assert rows == public


def test_the_page_matrices_expect_what_the_table_says():
    """The firm and activity matrix tests probe the effect; their expectations are the table's."""
    from tests.state import test_activity_state_access as activity
    from tests.state import test_firm_state_access as firm

    for module in (firm, activity):
        for (cls, handler), (allowed, _) in module.MATRIX.items():
            row = matrix.MATRIX[f"{cls.__name__}.{handler}"]
            assert set(allowed) == set(row), f"{cls.__name__}.{handler}: {allowed} != {row}"
        for cls, handlers in module.UI_ONLY.items():
            for handler in handlers:
                assert matrix.MATRIX[f"{cls.__name__}.{handler}"] == matrix.UI, handler


def test_expected_outcomes():
    assert matrix.expected("FirmState.save", "broker") == "effect"
    assert matrix.expected("FirmState.save", "broker2") == "nothing"
    assert matrix.expected("FirmState.save", "anonymous") == "login"
    assert matrix.expected("FirmState.set_edit_open", "trader") == "ui"
    assert matrix.expected("LoginState.submit", "anonymous") == "effect"


def test_only_switches_are_spared_true_and_false():
    """The fuzz walk sends True and False to every handler but a switch (all parameters bool)."""
    from brm_app.state.account import AccountState
    from brm_app.state.app_settings import SettingsState

    assert flags_only(AccountState, "set_email_reminders")
    assert not flags_only(SettingsState, "toggle_active")  # (type_name: str, active: bool)
    assert not flags_only(AccountState, "load")


# ---- what the database holds --------------------------------------------------------------------

# Touched by any signed-in request (sliding session expiry, presence for live pushes).
VOLATILE = {"user_sessions": {"last_seen_at"}, "client_presence": None}


def checksum() -> str:
    """A hash of every row of every table, volatile columns aside."""
    digest = hashlib.sha256()
    with get_engine().connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            skip = VOLATILE.get(table.name, set())
            if skip is None:
                continue
            cols = [c for c in table.columns if c.name not in skip]
            rows = conn.execute(sa.select(*cols)).all()
            digest.update(table.name.encode())
            for row in sorted(repr(tuple(r)) for r in rows):
                digest.update(row.encode())
    return digest.hexdigest()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


# ---- no session, no handler -----------------------------------------------------------------------


def _expired_token(email: str) -> str:
    token = session_token_for(email)
    with unit_of_work(write=True) as db:
        db.exec(update(UserSession).values(last_seen_at=utcnow() - timedelta(days=3)))
    return token


def _revoked_token(email: str) -> str:
    token = session_token_for(email)
    with unit_of_work(write=True) as db:
        db.exec(update(UserSession).values(revoked_at=utcnow()))
    return token


SESSIONS = {
    "none": lambda w: None,
    "forged": lambda w: "forged-" + "x" * 40,
    "expired": lambda w: _expired_token(w.users["admin"].email),
    "revoked": lambda w: _revoked_token(w.users["admin"].email),
}


@pytest.mark.parametrize("session", list(SESSIONS))
def test_without_a_session_no_handler_runs(world, server, session):
    """Only the sign-in page and Reflex's hydration run; everything else is refused before it
    starts: a redirect to the sign-in page, no state sent, no change, no error."""
    tab = server.tab(SESSIONS[session](world), f"/firms/{world.f}")
    assert tab.redirected_to() == f"/login?next=/firms/{world.f}"
    assert "Fulcrum" not in tab.text  # the page's load did not run
    before = checksum()
    ran = []
    for cls, handler in ROWS:
        if matrix.MATRIX[f"{cls.__name__}.{handler}"] == matrix.PUBLIC:
            continue
        payload = {p: world.f for p in params_of(cls, handler)}
        received = tab.send_raw(f"{cls.get_full_name()}.{handler}", payload)
        redirects = [e for r in received for e in r.events if e.get("name") == "_redirect"]
        if len(received) != 1 or not received[0].events or received[0].delta or not redirects:
            ran.append(f"{cls.__name__}.{handler}: {[r.text[:200] for r in received]}")
        elif not redirects[0]["payload"]["path"].startswith("/login"):
            ran.append(f"{cls.__name__}.{handler}: {redirects[0]}")
    assert not ran, "\n".join(ran)
    assert server.errors == []
    assert checksum() == before


def test_the_sign_in_page_runs_without_a_session(world, server):
    from brm_app.state.auth import LoginState

    tab = server.tab(None, "/login")
    tab.send(LoginState, "submit", {"email": "admin@w.example", "password": "wrong password!"})
    assert tab.state(LoginState).error
    assert server.errors == []


# ---- fuzzed arguments ---------------------------------------------------------------------------

HUGE = "x" * 1_000_000
WRONG = [
    "not-an-id", "", HUGE, ["a", 1], [], {"$ne": 1}, {"name": HUGE}, None, True, -1, 0, 1.5,
    2**63, 10**30, float("inf"),
]  # fmt: skip


def _pages(a: Activity) -> dict[str, str]:
    """Where each state's handlers are sent from: the broker's records, seen by another user."""
    w = a.w
    return {
        "FirmState": f"/firms/{w.f}",
        "TraderState": f"/traders/{w.t1}",
        "InteractionPageState": f"/interactions/{a.interaction}",
        "FollowUpPageState": f"/follow-ups/{a.follow_up}",
        "AdminUsersState": "/admin/users",
        "JobsState": "/admin/jobs",
        "AuditState": f"/audit?entity=firm&entity_id={w.f}",
        "ImportState": "/import",
        "SettingsState": "/admin/settings",
        "CalendarState": "/calendar",
        "NotificationsState": "/notifications",
        "AccountState": "/account",
        "FirmsState": "/firms",
        "TradersState": "/traders",
        "LoginState": "/login",
    }


def _secrets(a: Activity, role: str) -> list[str]:
    """What of the broker's book the role must never receive."""
    shared = ["Matrix call", "Matrix follow-up", "Matrix note", "Tom Trader", "tom@fulcrum"]
    shared += ["Gable Holdings", "Archived Associates", "Fulcrum Partners Dup"]
    if role == "trader":
        return shared  # the portal trader's own firm (F) and record are theirs to see
    return [*shared, "Fulcrum Partners", "Tess Portal"]


def _fuzz_payloads(a: Activity, params: list[str], *, flags: bool = False) -> Iterator[dict]:
    if not params:
        yield {"unexpected": 1}
        return
    others = [a.w.f, a.w.g, a.w.a, a.w.t1, a.w.t2, a.interaction, a.follow_up, a.notification,
              a.feed, a.w.users["broker"].id]  # fmt: skip
    for value in [*WRONG, *others]:
        if flags and isinstance(value, bool):
            continue  # a switch's true or false is its right value (one's own setting), not fuzz
        yield dict.fromkeys(params, value)
    yield {**dict.fromkeys(params, "1"), "unexpected": 1}


def _fuzz(a: Activity, server: Server, role: str) -> list[str]:
    token = session_token_for(a.w.users[role].email)
    pages = _pages(a)
    secrets = _secrets(a, role)
    failures: list[str] = []
    tabs: dict[str, Tab] = {}
    for cls, handler in HANDLERS:
        name = cls.__name__
        if name == "SessionState" and handler == "sign_out":
            continue  # it ends the session the rest of the walk runs in (tested on its own)
        tab = tabs.get(name)
        if tab is None:
            tab = tabs[name] = server.tab(token, pages.get(name, "/"))
        params = params_of(cls, handler)
        before = checksum()
        for payload in _fuzz_payloads(a, params, flags=flags_only(cls, handler)):
            errors = len(server.errors)
            tab.send_raw(f"{cls.get_full_name()}.{handler}", payload)
            if len(server.errors) > errors:
                shown = repr(payload)[:80]
                failures.append(f"{name}.{handler}({shown}): {server.errors[-1]!r}"[:300])
        if checksum() != before:
            failures.append(f"{name}.{handler}: the database changed")
    for name, tab in tabs.items():
        leaked = [s for s in secrets if s in tab.text]
        if leaked:
            failures.append(f"{name}: {leaked} reached the {role}'s browser")
    return failures


@pytest.mark.parametrize("role", ["broker2", "trader"])
def test_fuzzed_events_change_nothing_and_show_nothing_of_others(act, server, role):  # noqa: F811
    failures = _fuzz(act, server, role)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:60])


def test_the_checks_see_what_they_look_for(act, server):  # noqa: F811
    """The owner does get the records and can change them: the searches above would notice."""
    from brm_app.state.firm_detail import FirmState

    tab = server.tab(session_token_for(act.w.users["broker"].email), f"/firms/{act.w.f}")
    assert "Fulcrum Partners" in tab.text and "Tess Portal" in tab.text
    assert "Matrix call" in server.tab(tab_token(tab), f"/interactions/{act.interaction}").text
    before = checksum()
    tab.send(FirmState, "archive")
    assert checksum() != before
    tab.send_raw(f"{FirmState.get_full_name()}.load", {"unexpected": 1})
    assert any("could not be done" in t for t in tab.toasts())
    assert server.errors == []


def tab_token(tab: Tab) -> str | None:
    """The session cookie the tab's socket carries."""
    headers = tab.server.namespace._static_router_data[tab.sid]["headers"]
    return headers.get("cookie", "").removeprefix("brm_session=") or None
