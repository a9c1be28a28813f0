"""Did it take effect? Every handler of the user administration, audit trail, CSV import, app
shell and sign-in states, sent as each role's browser sends it (tests/state/conftest.py's
`Browser`, a harness tab): the roles tests/state/matrix.py names get the effect, every other
role gets none, and without a session nothing runs.

Each probe sets up the same for every role, sends the event, and reads the effect from what the
tab was sent or from the database. Where a probe resets a var on the server first, the reset is
sent with the event, so what the tab then holds is what this handler left.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlmodel import func, select

from brm_app.auth import throttle
from brm_app.auth.rbac import PERMISSIONS, Permission
from brm_app.db import unit_of_work, utcnow
from brm_app.models.audit import AuditEvent, AuditSealedValues
from brm_app.models.auth_records import LoginThrottle
from brm_app.models.firm import Firm
from brm_app.models.user import Role, User, email_index
from brm_app.services import authentication
from brm_app.services.authentication import actor_of
from brm_app.services.bulk import staging
from brm_app.services.errors import NotAuthenticated
from brm_app.state.admin_users import AdminUsersState
from brm_app.state.audit import AuditState
from brm_app.state.auth import LoginState, SessionState
from brm_app.state.import_data import ImportState
from tests.factories import PASSWORD
from tests.state import matrix
from tests.state.conftest import Browser, session_token_for
from tests.state.world import World, _user

STATES = (AdminUsersState, AuditState, ImportState, SessionState, LoginState)
Probe = Callable[[World, str], bool]


def _tab(w: World, role: str, path: str) -> Browser:
    token = None if role == matrix.ANONYMOUS else session_token_for(w.users[role].email)
    return Browser(token, path)


def _db(fn):
    with unit_of_work() as db:
        return fn(db)


def _reloaded(cls, path: str, handler: str, *args, check: Callable[[list], bool]) -> Probe:
    """The list was (re)loaded by this handler: the server's rows are emptied first."""

    def run(w: World, r: str) -> bool:
        browser = _tab(w, r, path)
        browser.server_state(cls).rows = []
        browser.fire(cls, handler, *args)
        return check(browser.state(cls).rows)

    return run


# ---- /admin/users ----------------------------------------------------------------------------


def _emails(rows: list) -> list[str]:
    return [row["email"] for row in rows]


def _users(handler: str, *args, check: Callable[[list], bool] | None = None) -> Probe:
    return _reloaded(
        AdminUsersState,
        "/admin/users",
        handler,
        *args,
        check=check or (lambda rows: "broker2@w.example" in _emails(rows)),
    )


def _open_edit(w: World, r: str) -> bool:
    browser = _tab(w, r, "/admin/users")
    broker2 = w.users["broker2"].id
    browser.fire(AdminUsersState, "open_edit", broker2)
    state = browser.state(AdminUsersState)
    return (
        state.dialog_open and state.editing_id == broker2 and state.f_email == "broker2@w.example"
    )


def _open_new(w: World, r: str) -> bool:
    browser = _tab(w, r, "/admin/users")
    browser.fire(AdminUsersState, "open_new")
    state = browser.state(AdminUsersState)
    # The form opens with the managers a new user can report to: only an admin's page has them.
    return state.dialog_open and state.editing_id == 0 and bool(state.managers)


def _save(w: World, r: str) -> bool:
    browser = _tab(w, r, "/admin/users")
    browser.server_state(AdminUsersState).editing_id = 0  # the new-user dialog, for every role
    form = {"email": "probe@w.example", "name": "Probe", "role": "broker", "manager_id": "none"}
    browser.fire(AdminUsersState, "save", form)
    return _db(
        lambda db: db.exec(
            select(User).where(User.email_bidx == email_index("probe@w.example"))
        ).first()
    )


def _ask(w: World, r: str) -> bool:
    browser = _tab(w, r, "/admin/users")
    browser.fire(AdminUsersState, "ask", "deactivate", w.users["broker2"].id)
    state = browser.state(AdminUsersState)
    return state.confirm_open and state.confirm_user_id == w.users["broker2"].id


def _confirm(w: World, r: str) -> bool:
    browser = _tab(w, r, "/admin/users")
    state = browser.server_state(AdminUsersState)  # what `ask` leaves, for every role
    state.confirm_action, state.confirm_user_id = "deactivate", w.users["broker2"].id
    browser.fire(AdminUsersState, "confirm")
    return _db(lambda db: not db.get(User, w.users["broker2"].id).is_active)


def _unlock(w: World, r: str) -> bool:
    """A locked-out user (none of the roles: they sign in for the probe) is unlocked."""
    browser = _tab(w, r, "/admin/users")
    key = throttle.account_key("locked@w.example")
    with unit_of_work(write=True) as db:
        locked = _user(db, Role.BROKER, "locked@w.example").id
        db.add(LoginThrottle(key=key, failures=10, locked_until=utcnow() + timedelta(hours=1)))
    browser.fire(AdminUsersState, "unlock", locked)
    return _db(lambda db: db.get(LoginThrottle, key) is None)


# ---- /audit ------------------------------------------------------------------------------------


def _audit(handler: str, *args) -> Probe:
    return _reloaded(AuditState, "/audit", handler, *args, check=lambda rows: len(rows) > 0)


def _audit_filtered_by_actor(w: World, r: str) -> bool:
    """Filtered to the user's own sign-in (the one thing every role's probe has done), by their
    exact email (encrypted: its blind index): the rows name them."""
    user = w.users["broker"] if r == matrix.ANONYMOUS else w.users[r]
    browser = _tab(w, r, "/audit")
    browser.server_state(AuditState).rows = []
    browser.fire(AuditState, "set_actor_q", user.email.upper())
    rows = browser.state(AuditState).rows
    return bool(rows) and all(row["who"] == f"{user.name} #{user.id}" for row in rows)


def _reveal_values(w: World, r: str) -> bool:
    """The world's event holding an encrypted value (Tom's email) is opened."""
    with unit_of_work() as db:
        seq = db.exec(select(func.max(AuditSealedValues.seq))).one()
    assert seq is not None
    browser = _tab(w, r, "/audit")
    browser.fire(AuditState, "reveal_values", seq)
    state = browser.state(AuditState)
    return state.revealed_seq == seq and "tom@fulcrum.example" in state.revealed_values


def _verify(w: World, r: str) -> bool:
    browser = _tab(w, r, "/audit")
    browser.fire(AuditState, "verify")
    return browser.state(AuditState).chain_status.startswith("Intact")


# ---- /import -----------------------------------------------------------------------------------


def _csv(w: World, r: str) -> bytes:
    """One firm to import (a broker's own, anyone else's for the broker) and one rejected."""
    broker = w.users[r].email if r in ("broker", "broker2") else "broker@w.example"
    return f"name,primary_broker_email\nProbe Firm,{broker}\nNo Such Broker,nobody@x\n".encode()


def _own_upload(w: World, r: str) -> str:
    """A file kept for this user. A role that may not import cannot upload one: it is kept for
    them as if they could, so what refuses them below is their permission, not the file."""
    with unit_of_work() as db:
        actor = actor_of(db.get(User, w.users[r].id), ip=None)
    if Permission.DATA_IMPORT not in PERMISSIONS[actor.role]:
        actor = dataclasses.replace(actor, role=Role.BROKER)
    return staging.save_upload(None, actor=actor, data=_csv(w, r), filename="probe.csv")


def _import_load(w: World, r: str) -> bool:
    """The brokers to choose from were loaded (a broker's list is empty: they import for
    themselves): a stale list is left on the server first, and sent along with the event."""
    browser = _tab(w, r, "/import")
    stale = [{"id": "0", "name": "stale"}]
    browser.server_state(ImportState).brokers = stale
    sent = browser.fire(ImportState, "load").delta_of(ImportState)
    return "brokers" in sent and sent["brokers"] != stale


def _uploaded(w: World, r: str) -> bool:
    upload_id = _own_upload(w, r) if r != matrix.ANONYMOUS else _own_upload(w, "broker")
    browser = _tab(w, r, "/import")
    browser.fire(ImportState, "uploaded", {"upload_id": upload_id, "filename": "probe.csv"})
    return browser.state(ImportState).header == ["name", "primary_broker_email"]


def _with_file(w: World, r: str) -> Browser:
    """A tab whose server state holds a loaded file of the user's own (what `uploaded` leaves)."""
    upload_id = _own_upload(w, r) if r != matrix.ANONYMOUS else _own_upload(w, "broker")
    browser = _tab(w, r, "/import")
    state = browser.server_state(ImportState)
    state._upload_id = upload_id
    state.header, state.mapping = ["name", "primary_broker_email"], ["name", "primary_broker_email"]
    return browser


def _start_import(w: World, r: str) -> bool:
    _with_file(w, r).fire(ImportState, "start_import")
    return _db(lambda db: db.exec(select(Firm).where(Firm.name == "Probe Firm")).first())


def _download_rejected(w: World, r: str) -> bool:
    # The report of the same file imported by an admin: one row rejected.
    admin = _with_file(w, "admin")
    admin.fire(ImportState, "set_dry_run", True)
    admin.fire(ImportState, "start_import")
    report = admin.server_state(ImportState)._report
    assert report is not None and report.rejected == 1
    browser = _with_file(w, r)
    state = browser.server_state(ImportState)
    state._report, state.has_report = report, True
    sent = browser.fire(ImportState, "download_rejected")
    if sent.names() != ["_download"]:
        return False
    url = sent.events[0]["payload"]["url"]
    return b"No Such Broker" in base64.b64decode(url.split("base64,", 1)[1])


# ---- the app shell and the sign-in page ------------------------------------------------------------


def _session_load(w: World, r: str) -> bool:
    browser = _tab(w, r, "/")
    browser.server_state(SessionState).email = ""
    browser.fire(SessionState, "load")
    return r in w.users and browser.state(SessionState).email == w.users[r].email


def _session_alive(token: str | None) -> bool:
    if token is None:
        return False
    with unit_of_work() as db:
        try:
            authentication.browser_actor(db, cookie_header=f"brm_session={token}", ip=None)
        except NotAuthenticated:
            return False
    return True


def _sign_out(w: World, r: str) -> bool:
    browser = _tab(w, r, "/")
    assert _session_alive(browser.cookie_token) == (r != matrix.ANONYMOUS)
    sent = browser.fire(SessionState, "sign_out")
    left = "/api/session" in sent.text and "DELETE" in sent.text  # the cookie is cleared
    return left and browser.cookie_token is not None and not _session_alive(browser.cookie_token)


def _login_load(w: World, r: str) -> bool:
    browser = _tab(w, r, "/login?expired=1")
    browser.server_state(LoginState).error = ""
    browser.fire(LoginState, "load")
    return browser.state(LoginState).error.startswith("Your sign-in expired")


def _submit(w: World, r: str) -> bool:
    """Signing in (as the broker, from a tab of any role or none): the tab is sent a ticket that
    the API trades for a session of the broker."""
    browser = _tab(w, r, "/login")
    sent = browser.fire(LoginState, "submit", {"email": "broker@w.example", "password": PASSWORD})
    found = re.search(r'ticket: \\"([^"\\]+)\\"', sent.text)
    if found is None:
        return False
    with unit_of_work(write=True) as db:
        token = authentication.establish_session(db, ticket=found[1], previous_token=None)
    with unit_of_work() as db:
        actor = authentication.browser_actor(db, cookie_header=f"brm_session={token}", ip=None)
    return actor.user_id == w.users["broker"].id


PROBES: dict[str, Probe] = {
    # ---- /admin/users ----
    "AdminUsersState.load": _users("load"),
    "AdminUsersState.search": _users(
        "search", "broker2", check=lambda rows: _emails(rows) == ["broker2@w.example"]
    ),
    "AdminUsersState.filter_role": _users(
        "filter_role", "trader", check=lambda rows: _emails(rows) == ["trader@w.example"]
    ),
    "AdminUsersState.filter_status": _users("filter_status", "active"),
    "AdminUsersState.next_page": _users("next_page"),
    "AdminUsersState.prev_page": _users("prev_page"),
    "AdminUsersState.open_new": _open_new,
    "AdminUsersState.open_edit": _open_edit,
    "AdminUsersState.save": _save,
    "AdminUsersState.ask": _ask,
    "AdminUsersState.confirm": _confirm,
    "AdminUsersState.unlock": _unlock,
    # ---- /audit ----
    "AuditState.load": _audit("load"),
    "AuditState.next_page": _audit("next_page"),
    "AuditState.prev_page": _audit("prev_page"),
    "AuditState.set_actor_q": _audit_filtered_by_actor,
    "AuditState.set_date_from": _audit("set_date_from", "2000-01-01"),
    "AuditState.set_date_to": _audit("set_date_to", "2999-12-31"),
    "AuditState.set_entity": _audit("set_entity", "all"),
    "AuditState.clear_filters": _audit("clear_filters"),
    "AuditState.verify": _verify,
    "AuditState.reveal_values": _reveal_values,
    # ---- /import ----
    "ImportState.load": _import_load,
    "ImportState.uploaded": _uploaded,
    "ImportState.start_import": _start_import,
    "ImportState.download_rejected": _download_rejected,
    # ---- app shell, sign-in page ----
    "SessionState.load": _session_load,
    "SessionState.sign_out": _sign_out,
    "LoginState.load": _login_load,
    "LoginState.submit": _submit,
}


def test_every_handler_of_these_states_has_a_probe():
    """A new handler of these states needs its row in the matrix and its probe here (UI rows
    read and write no record; the fuzz walk covers them)."""
    names = {cls.__name__ for cls in STATES}
    rows = {
        key for key, row in matrix.MATRIX.items() if key.split(".")[0] in names and row != matrix.UI
    }
    handlers = {f"{c.__name__}.{h}" for c in STATES for h in c.event_handlers if h != "setvar"}
    assert rows <= handlers
    assert set(PROBES) == rows


def _writes_since(seq: int) -> int:
    """Audit events written since, sign-ins and sign-outs aside (every probe signs in)."""
    with unit_of_work() as db:
        return db.exec(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.seq > seq, ~AuditEvent.action.startswith("auth."))
        ).one()


@pytest.mark.parametrize("role", [*matrix.ROLES, matrix.ANONYMOUS])
@pytest.mark.parametrize("key", list(PROBES))
def test_the_roles_the_matrix_names_get_the_effect_and_no_others(world, key, role):
    expected = matrix.expected(key, role)
    with unit_of_work() as db:
        before = db.exec(select(func.max(AuditEvent.seq))).one() or 0
    happened = bool(PROBES[key](world, role))
    assert happened == (expected == "effect"), f"{key} as {role}: effect={happened}"
    if expected != "effect":
        assert _writes_since(before) == 0
