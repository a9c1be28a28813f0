"""The legal holds page's state: compliance finds a firm, places a hold with a reason, releases it
with a reason; the read traces list and filter; a broker gets nothing; the retention card saves
within bounds (admins); a trader's contact details show only after "Reveal"; the log dialog
warns for a firm whose client was not told communications are recorded."""

from __future__ import annotations

from sqlmodel import select

from brm_app.db import unit_of_work
from brm_app.jobs.kinds import handlers
from brm_app.jobs.runner import Runner
from brm_app.models.retention import LegalHold
from brm_app.models.user import Role
from brm_app.services import retention
from brm_app.state.activity import ActivityState
from brm_app.state.legal_holds import HoldsState, ReadTracesState
from brm_app.state.retention import RetentionState
from brm_app.state.trader_detail import TraderState
from tests.factories import make_firm, make_trader, make_user
from tests.state.conftest import Browser, session_token_for


def test_compliance_places_and_releases_a_hold(database_url):
    broker = make_user(Role.BROKER)
    firm = make_firm(broker, name="Holdfast Capital")
    compliance = make_user(Role.COMPLIANCE)
    tab = Browser(session_token_for(compliance.email), "/compliance/holds")
    tab.fire(HoldsState, "load")
    tab.fire(HoldsState, "place", {"reason": "Litigation"})
    assert "subject" in tab.state(HoldsState).errors
    tab.fire(HoldsState, "find", "holdfast")
    assert tab.state(HoldsState).matches == [{"id": firm.firm_id, "label": "Holdfast Capital"}]
    tab.fire(HoldsState, "choose", firm.firm_id, "Holdfast Capital")
    tab.fire(HoldsState, "place", {"reason": "x"})
    assert "reason" in tab.state(HoldsState).errors
    tab.fire(HoldsState, "place", {"reason": "Litigation 2026-4"})
    s = tab.state(HoldsState)
    assert s.errors == {} and s.holds[0]["subject"] == "Firm Holdfast Capital"
    hold_id = s.holds[0]["id"]
    tab.fire(HoldsState, "release", {"hold_id": str(hold_id), "reason": ""})
    assert str(hold_id) in tab.state(HoldsState).release_errors
    tab.fire(HoldsState, "release", {"hold_id": str(hold_id), "reason": "Case closed"})
    assert tab.state(HoldsState).holds == []  # only active ones by default
    tab.fire(HoldsState, "set_show_released", True)
    assert "Case closed" in tab.state(HoldsState).holds[0]["released"]
    # A date range hold.
    tab.fire(HoldsState, "set_scope", "dates")
    tab.fire(
        HoldsState,
        "place",
        {"date_from": "2026-01-01", "date_to": "2026-03-31", "reason": "Inquiry"},
    )
    assert tab.state(HoldsState).holds[0]["subject"] == "2026-01-01 to 2026-03-31"


def test_a_broker_gets_nothing(database_url):
    broker = make_user(Role.BROKER)
    make_firm(broker, name="Nothing Held")
    tab = Browser(session_token_for(broker.email), "/compliance/holds")
    tab.fire(HoldsState, "load")
    assert "permission" in tab.state(HoldsState).errors.get("form", "").lower()
    tab.fire(HoldsState, "find", "nothing")
    assert tab.state(HoldsState).matches == []
    tab.fire(HoldsState, "place", {"reason": "sneaky"})
    tab.fire(ReadTracesState, "load")
    assert tab.state(ReadTracesState).traces == []
    with unit_of_work() as db:
        assert db.exec(select(LegalHold)).all() == []


def test_reveal_leaves_a_trace_compliance_sees(database_url):
    broker = make_user(Role.BROKER)
    firm = make_firm(broker, name="Reveal Co")
    tess = make_trader(broker, firm.firm_id, name="Tess Reveal", email="tess@reveal.example")
    tab = Browser(session_token_for(broker.email), f"/traders/{tess.trader_id}")
    tab.fire(TraderState, "load")
    s = tab.state(TraderState)
    assert s.found and s.contact == {} and s.trader["email"] == ""
    tab.fire(TraderState, "reveal_contact")
    assert tab.state(TraderState).contact["email"] == "tess@reveal.example"
    Runner(handlers(), periodic_seconds=0).run_round()
    compliance = make_user(Role.COMPLIANCE)
    ctab = Browser(session_token_for(compliance.email), "/compliance/holds")
    ctab.fire(ReadTracesState, "load")
    rows = ctab.state(ReadTracesState).traces
    assert [(r["what"], r["target"]) for r in rows] == [("contact details", f"#{tess.trader_id}")]
    ctab.fire(ReadTracesState, "filter", {"what": "export", "date_from": "", "date_to": ""})
    assert ctab.state(ReadTracesState).traces == []
    ctab.fire(ReadTracesState, "filter", {"what": "nonsense"})
    assert ctab.state(ReadTracesState).what == "export"


def test_retention_card_saves_within_bounds(database_url):
    admin = make_user(Role.ADMIN)
    tab = Browser(session_token_for(admin.email), "/admin/settings")
    tab.fire(RetentionState, "load")
    assert tab.state(RetentionState).years["communications"] == "3"
    form = {k: str(v) for k, v in retention.DEFAULTS.items()}
    tab.fire(RetentionState, "save", {**form, "interactions": "12"})
    assert "interactions" in tab.state(RetentionState).errors
    tab.fire(RetentionState, "save", {**form, "interactions": "7"})
    assert tab.state(RetentionState).years["interactions"] == "7"
    broker = make_user(Role.BROKER)
    btab = Browser(session_token_for(broker.email), "/admin/settings")
    btab.fire(RetentionState, "save", {**form, "interactions": "2"})
    with unit_of_work() as db:
        assert retention.get_retention(db).interactions == 7


def test_the_log_dialog_warns_when_recording_was_not_disclosed(database_url):
    broker = make_user(Role.BROKER)
    told = make_firm(broker, name="Told Ltd", recording_disclosed_on="2026-01-05")
    untold = make_firm(broker, name="Untold Ltd")
    tab = Browser(session_token_for(broker.email), f"/firms/{untold.firm_id}")
    tab.fire(ActivityState, "open_log", untold.firm_id)
    assert tab.state(ActivityState).firm_undisclosed
    tab.fire(ActivityState, "open_log", told.firm_id)
    assert not tab.state(ActivityState).firm_undisclosed


def test_held_records_refuse_archive_move_and_void_through_the_handlers(database_url):
    """The page handlers go through the same services: each refusal is a message in the page
    (an error toast naming the hold) and nothing changes."""
    from datetime import timedelta

    from brm_app.db import utcnow
    from brm_app.models.firm import Firm
    from brm_app.models.interaction import Interaction, InteractionWrite
    from brm_app.models.trader import Trader
    from brm_app.services import interactions, legal_holds
    from brm_app.state.firm_detail import FirmState
    from brm_app.state.items import InteractionPageState

    broker = make_user(Role.BROKER)
    admin = make_user(Role.ADMIN)
    compliance = make_user(Role.COMPLIANCE)
    firm = make_firm(broker, name="Handler Held Co")
    other = make_firm(broker, name="Handler Other Co")
    trader = make_trader(broker, firm.firm_id, name="Hilda Held")
    with unit_of_work(write=True) as db:
        logged = interactions.log_interaction(
            db,
            actor=broker,
            data=InteractionWrite(
                trader_ids=[trader.trader_id],
                interaction_type="Call",
                interaction_date=utcnow() - timedelta(hours=1),
                subject="Held call",
            ),
        )
        legal_holds.place_hold(
            db, actor=compliance, scope="firm", subject_id=firm.firm_id, reason="Case 9"
        )
    tab = Browser(session_token_for(broker.email), f"/firms/{firm.firm_id}")
    tab.fire(FirmState, "load")
    sent = tab.fire(FirmState, "archive")
    assert "legal hold" in sent.text
    state = tab.server_state(FirmState)
    state.move_trader_id, state.move_target_id = trader.trader_id, other.firm_id
    sent = tab.fire(FirmState, "move")
    assert "legal hold" in sent.text
    atab = Browser(session_token_for(admin.email), f"/interactions/{logged.interaction_id}")
    atab.fire(InteractionPageState, "load")
    atab.fire(InteractionPageState, "set_void_reason", "Logged twice")
    sent = atab.fire(InteractionPageState, "void")
    assert "legal hold" in sent.text
    with unit_of_work() as db:
        assert db.get(Firm, firm.firm_id).archived_at is None
        assert db.get(Trader, trader.trader_id).firm_id == firm.firm_id
        assert db.get(Interaction, logged.interaction_id).voided_at is None
