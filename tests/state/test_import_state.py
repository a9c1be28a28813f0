"""/import's state driven like a browser: the whole flow, forged arguments, no session."""

from __future__ import annotations

import pytest
from sqlmodel import select

from brm_app.db import unit_of_work
from brm_app.models.firm import Firm
from brm_app.models.user import Role
from brm_app.services import authentication
from brm_app.services.bulk import staging
from brm_app.settings import get_settings
from brm_app.state.import_data import NO_BROKER, SKIP, ImportState
from tests.factories import make_user
from tests.state.conftest import Browser, Sent, redirects_to_login, run_async
from tests.state.test_state_security import refused

FILE = (
    b"Company,Country code,Broker,Favourite colour\n"
    b"Acme Capital,GB,ben@test.example,blue\n"
    b"Bad Country,XX,ben@test.example,red\n"
    b"Default Broker Ltd,FR,,green\n"
)


def firm_names() -> list[str]:
    with unit_of_work() as db:
        return sorted(db.exec(select(Firm.name)).all())


def upload(actor, data: bytes = FILE, name: str = "firms.csv") -> str:
    """What POST /api/session/imports does for the page."""
    return staging.save_upload(None, actor=actor, data=data, filename=name)


def run_import(browser: Browser) -> Sent:
    """Start the import as the page's button does: a background event, run to its end."""
    return browser.fire(ImportState, "start_import")


def run_import_past_the_guard(browser: Browser) -> list:
    """Run the import's handler on the tab's server-side state, as if its event had got past the
    session guard: the handler's own re-check of the session is what is tested (no browser can
    reach it without the guard; on a plain state, `async with self` is a no-op)."""
    fn = ImportState.event_handlers["start_import"].fn
    return [run_async(fn(browser.server_state(ImportState)))]


def guard_refuses(browser: Browser, handler: str) -> bool:
    return refused(browser.fire(ImportState, handler))


@pytest.fixture
def manager_browser(browser_for):
    manager = make_user(Role.MANAGER, email="maria@test.example")
    ben = make_user(Role.BROKER, email="ben@test.example", name="Ben Broker")
    browser = browser_for(manager.email, "/import")
    browser.fire(ImportState, "load")
    return browser, manager, ben


def test_manager_uploads_maps_imports_and_gets_the_report(manager_browser):
    browser, manager, ben = manager_browser
    state = browser.state(ImportState)
    assert state.can_assign and state.brokers == [{"id": str(ben.user_id), "name": "Ben Broker"}]
    browser.fire(ImportState, "uploaded", {"upload_id": upload(manager), "filename": "x"})
    assert state.error == "" and state.file_name == "firms.csv" and state.row_count == 3
    assert state.header == ["Company", "Country code", "Broker", "Favourite colour"]
    assert state.mapping == ["name", "country", "primary_broker_email", SKIP]
    assert state.preview[0] == ["Acme Capital", "GB", "ben@test.example", "blue"]
    assert state.columns[1] == {
        "index": 1,
        "header": "Country code",
        "field": "country",
        "samples": "GB, XX, FR",
    }
    # Mapping a field to a column takes it from the column that had it.
    browser.fire(ImportState, "set_mapping", 3, "name")
    assert state.mapping == [SKIP, "country", "primary_broker_email", "name"]
    browser.fire(ImportState, "set_mapping", 0, "name")
    assert state.mapping == ["name", "country", "primary_broker_email", SKIP]
    browser.fire(ImportState, "set_default_broker", str(ben.user_id))
    out = run_import(browser)
    assert not state.running and state.has_report
    assert (state.r_total, state.r_imported, state.r_rejected) == (3, 2, 1)
    assert state.done_rows == 3 and state.percent == 100
    assert state.issues == [
        {
            "row": "3",
            "field": "country",
            "column": "Country code",
            "message": "must be an ISO 3166 two-letter country code, like GB or US",
        }
    ]
    assert "2 of 3 rows imported" in out.text
    assert firm_names() == ["Acme Capital", "Default Broker Ltd"]
    download = browser.fire(ImportState, "download_rejected")
    assert download.names() == ["_download"]
    assert "firms-not-imported.csv" in download.text
    # Starting over forgets the file (and deletes it).
    upload_id = browser.server_state(ImportState)._upload_id  # a backend var
    browser.fire(ImportState, "start_over")
    assert state.header == [] and not state.has_report
    assert browser.server_state(ImportState)._upload_id == ""
    with unit_of_work() as db, pytest.raises(Exception, match="Upload not found"):
        staging.load_upload(db, actor=manager, upload_id=upload_id)


def test_dry_run_and_traders(manager_browser):
    browser, manager, ben = manager_browser
    state = browser.state(ImportState)
    browser.fire(ImportState, "uploaded", {"upload_id": upload(manager)})
    browser.fire(ImportState, "set_default_broker", str(ben.user_id))
    browser.fire(ImportState, "set_dry_run", True)
    run_import(browser)
    assert state.r_dry_run and (state.r_imported, state.r_rejected) == (2, 1)
    assert firm_names() == []
    # Switching to traders re-suggests the mapping for the same file.
    browser.fire(ImportState, "set_kind", "traders")
    assert state.mapping == ["firm_name", SKIP, SKIP, SKIP] and not state.has_report
    run_import(browser)
    assert "no column holds name, email" in state.error and not state.has_report


# Reflex converts a numeric string to the int a handler's hint asks for ("1" is column 1, no
# forgery), so the string that reaches a handler as a string is one that is not a number.
@pytest.mark.parametrize(
    "forged", ["1x", {"$ne": 1}, [0, 1], None, True, 1.5, -1, 99, 2**70, "name"]
)
def test_forged_arguments_are_refused(manager_browser, forged):
    browser, manager, _ben = manager_browser
    state = browser.state(ImportState)
    browser.fire(ImportState, "uploaded", {"upload_id": upload(manager)})
    before = (list(state.mapping), state.kind, state.default_broker, state.dry_run)
    browser.fire(ImportState, "set_mapping", forged, "name")
    browser.fire(ImportState, "set_mapping", 0, forged)
    browser.fire(ImportState, "set_kind", forged)
    browser.fire(ImportState, "set_default_broker", forged)
    if not isinstance(forged, bool):  # a bool is what this one takes
        browser.fire(ImportState, "set_dry_run", forged)
    browser.fire(ImportState, "set_mapping", 0, "password_hash")
    browser.fire(ImportState, "set_default_broker", str(manager.user_id))  # not a broker
    assert (list(state.mapping), state.kind, state.default_broker, state.dry_run) == before
    # A forged upload answer never loads a file, and never another user's.
    upload_id = browser.server_state(ImportState)._upload_id  # a backend var
    other = upload(make_user(Role.BROKER), b"name\nNot Mine\n")
    for answer in (forged, {"upload_id": forged}, {"upload_id": other}, {"error": forged}):
        browser.fire(ImportState, "uploaded", answer)
        assert browser.server_state(ImportState)._upload_id == upload_id
        assert state.header[0] == "Company"
    assert state.error  # it said why
    run_import(browser)
    assert firm_names() == ["Acme Capital"]  # only the manager's own file (no default broker)


def test_a_file_problem_is_shown_and_nothing_is_loaded(manager_browser):
    browser, manager, _ = manager_browser
    state = browser.state(ImportState)
    browser.fire(ImportState, "uploaded", {"upload_id": upload(manager, b"PK\x03\x04zip")})
    assert "Excel workbook" in state.error and state.header == []
    browser.fire(ImportState, "uploaded", {"error": "The file is larger than 20 MB: split it."})
    assert state.error == "The file is larger than 20 MB: split it."
    run_import(browser)
    assert not state.has_report and firm_names() == []


def test_broker_and_trader_views(browser_for):
    make_user(Role.BROKER, email="other@test.example")
    broker = make_user(Role.BROKER)
    browser = browser_for(broker.email, "/import?kind=traders")
    browser.fire(ImportState, "load")
    state = browser.state(ImportState)
    assert not state.can_assign and state.brokers == [] and state.kind == "traders"
    browser.fire(ImportState, "set_kind", "firms")
    browser.fire(ImportState, "uploaded", {"upload_id": upload(broker, b"name\nMine Ltd\n")})
    run_import(browser)
    assert state.r_imported == 1 and firm_names() == ["Mine Ltd"]
    trader = make_user(Role.TRADER)
    tb = browser_for(trader.email, "/import")
    out = tb.fire(ImportState, "load")
    assert "permission" in out.text and tb.state(ImportState).brokers == []


def test_no_session_no_import(browser_for):
    manager = make_user(Role.MANAGER)
    make_user(Role.BROKER, email="ben@test.example")
    upload_id = upload(manager)
    browser = Browser(None, "/import")
    for handler in ("load", "uploaded", "set_mapping", "start_import", "download_rejected"):
        assert guard_refuses(browser, handler)
    # Even called directly (past the guard), nothing is read or imported.
    state = browser.state(ImportState)
    assert redirects_to_login(browser.fire(ImportState, "uploaded", {"upload_id": upload_id}))
    assert state.header == []
    server = browser.server_state(ImportState)  # what a loaded file would have left
    server._upload_id = upload_id
    server.header, server.mapping = (
        ["Company", "Country code", "Broker", "c"],
        ["name", SKIP, SKIP, SKIP],
    )
    run_import_past_the_guard(browser)
    assert firm_names() == [] and not server.has_report and not server.running
    # A signed-in tab whose session ends before the import: nothing either, whether the
    # event meets the guard or (ended after the guard let it by) the handler's own check.
    live = browser_for(manager.email, "/import")
    live.fire(ImportState, "uploaded", {"upload_id": upload(manager)})
    with unit_of_work(write=True) as db:  # signed out elsewhere, after the guard let it by
        token = live.cookie_token
        authentication.sign_out(db, token=token, ip=None, settings=get_settings())
    out = run_import_past_the_guard(live)
    assert redirects_to_login_events(out) and firm_names() == []
    assert refused(run_import(live)) and firm_names() == []  # and sent now: the guard
    assert live.state(ImportState).default_broker == NO_BROKER


def redirects_to_login_events(outputs) -> bool:
    """Whether a handler's return value (called as a method, not sent) sends to sign-in."""
    for out in outputs:
        handler = getattr(out, "handler", None)
        if handler is not None and handler.fn.__qualname__ == "_redirect":
            path = dict((k._js_expr, v._var_value) for k, v in out.args)["path"]
            return path.startswith("/login")
    return False


def test_setvar_cannot_bypass_the_checks(manager_browser):
    browser, manager, _ = manager_browser
    state = browser.state(ImportState)
    browser.fire(ImportState, "uploaded", {"upload_id": upload(manager)})
    for name, value in (("running", False), ("_upload_id", "x" * 30)):
        # No setter: the event is refused before it runs, and nothing changes.
        sent = browser.fire(ImportState, "setvar", name, value)
        assert "could not be done" in sent.text and not sent.delta_of(ImportState)
    # set_mapping takes (index, value): setvar's one value fails it, and nothing changes.
    with pytest.raises(TypeError):
        browser.fire(ImportState, "setvar", "mapping", ["name"] * 4)
    assert browser.server_state(ImportState)._upload_id != "x" * 30
    assert state.mapping == ["name", "country", "primary_broker_email", SKIP]
    browser.fire(ImportState, "setvar", "kind", "users")  # goes through set_kind's check
    browser.fire(ImportState, "setvar", "default_broker", "123456")
    assert (state.kind, state.default_broker) == ("firms", NO_BROKER)
    assert browser.server_state(ImportState).running is False


def test_a_report_is_not_shown_to_the_next_user_of_the_tab(manager_browser, monkeypatch):
    browser, manager, ben = manager_browser
    state = browser.state(ImportState)
    browser.fire(ImportState, "uploaded", {"upload_id": upload(manager)})
    owners = iter([manager.user_id, manager.user_id, ben.user_id, ben.user_id, ben.user_id])

    async def owner(self):
        return next(owners)

    monkeypatch.setattr(ImportState, "_owner", owner)
    run_import(browser)
    assert not state.has_report and state.issues == []
