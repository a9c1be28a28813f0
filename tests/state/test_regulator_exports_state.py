"""The regulator exports page's state: compliance finds a firm by name, requests its archive for
a period, and sees it done with its download link once the job has run; a broker gets nothing,
and bad input from the browser changes nothing."""

from __future__ import annotations

from sqlmodel import select

from brm_app.db import unit_of_work
from brm_app.jobs.kinds import handlers
from brm_app.jobs.runner import Runner
from brm_app.models.review import RegulatorExport
from brm_app.models.user import Role
from brm_app.state.regulator_exports import ExportsState
from tests.factories import make_firm, make_user
from tests.state.conftest import Browser, session_token_for


def test_compliance_requests_and_gets_an_archive(database_url):
    broker = make_user(Role.BROKER)
    firm = make_firm(broker, name="Statewide Archive Co")
    compliance = make_user(Role.COMPLIANCE)
    tab = Browser(session_token_for(compliance.email), "/compliance/exports")
    tab.fire(ExportsState, "load")
    tab.fire(ExportsState, "request", {"date_from": "2026-01-01", "date_to": "2026-12-31"})
    assert "subject" in tab.state(ExportsState).errors  # nobody chosen yet
    tab.fire(ExportsState, "set_scope", "planet")  # ignored
    assert tab.state(ExportsState).scope == "firm"
    tab.fire(ExportsState, "find", "statewide")
    matches = tab.state(ExportsState).matches
    assert matches == [{"id": firm.firm_id, "label": "Statewide Archive Co"}]
    tab.fire(ExportsState, "choose", firm.firm_id, "Statewide Archive Co")
    tab.fire(ExportsState, "request", {"date_from": "2026-12-31", "date_to": "2026-01-01"})
    assert "date_to" in tab.state(ExportsState).errors
    with unit_of_work() as db:
        assert db.exec(select(RegulatorExport)).all() == []
    tab.fire(ExportsState, "request", {"date_from": "2026-01-01", "date_to": "2026-12-31"})
    s = tab.state(ExportsState)
    assert s.errors == {} and s.exports[0]["status"] == "queued"
    Runner(handlers(), periodic_seconds=0).run_round()
    tab.fire(ExportsState, "refresh")
    row = tab.state(ExportsState).exports[0]
    assert row["status"] == "done" and row["url"].endswith(
        f"/regulator-exports/{row['id']}/download"
    )


def test_a_broker_gets_nothing(database_url):
    broker = make_user(Role.BROKER)
    make_firm(broker, name="Hidden Archive Co")
    tab = Browser(session_token_for(broker.email), "/compliance/exports")
    tab.fire(ExportsState, "load")
    assert tab.state(ExportsState).exports == []
    assert "permission" in tab.state(ExportsState).errors.get("form", "").lower()
    tab.fire(ExportsState, "find", "hidden")
    assert tab.state(ExportsState).matches == []
