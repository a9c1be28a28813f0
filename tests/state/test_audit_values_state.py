"""The audit page and encrypted values: an event that changed an encrypted field holds a keyed
digest, which is all the page sends; "Show encrypted values" opens them for compliance and
admins and leaves an `audit_values` read trace (its target: the event's sequence number)."""

from __future__ import annotations

from sqlmodel import select

from brm_app.db import unit_of_work
from brm_app.models.audit import AuditEvent
from brm_app.models.user import Role
from brm_app.state.audit import AuditState
from tests.factories import make_firm, make_trader, make_user
from tests.read_trace_support import recorded_traces
from tests.state.conftest import Browser, session_token_for

EMAIL = "olga.opened@audit.example"


def _traces() -> list[tuple[int | None, int | None]]:
    return recorded_traces("audit_values")


def test_encrypted_values_open_on_request_and_are_traced(database_url):
    broker = make_user(Role.BROKER)
    compliance = make_user(Role.COMPLIANCE)
    firm = make_firm(broker, name="Opened Markets")
    olga = make_trader(broker, firm.firm_id, name="Olga Opened", email=EMAIL)
    with unit_of_work() as db:
        seq = db.exec(
            select(AuditEvent.seq).where(
                AuditEvent.entity == "trader", AuditEvent.entity_id == str(olga.trader_id)
            )
        ).first()
    assert seq is not None

    tab = Browser(session_token_for(compliance.email), "/audit")
    sent = tab.fire(AuditState, "load")
    row = next(r for r in tab.state(AuditState).rows if r["seq"] == seq)
    # The trail itself holds a digest: the page sends no clear value, and says it can open it.
    assert row["sealed"] and '"digest"' in row["changes"]
    assert EMAIL not in sent.text
    assert _traces() == []

    sent = tab.fire(AuditState, "reveal_values", seq)
    state = tab.state(AuditState)
    assert state.revealed_seq == seq and EMAIL in state.revealed_values
    assert _traces() == [(compliance.user_id, seq)]

    # Collapsing the row forgets what was shown.
    tab.fire(AuditState, "toggle", row["event_id"])
    tab.fire(AuditState, "toggle", row["event_id"])
    assert tab.state(AuditState).revealed_values == ""


def test_a_broker_cannot_open_them_and_bad_input_changes_nothing(database_url):
    broker = make_user(Role.BROKER)
    compliance = make_user(Role.COMPLIANCE)
    firm = make_firm(broker, name="Closed Markets")
    make_trader(broker, firm.firm_id, name="Cora Closed", email="cora@closed.example")
    with unit_of_work() as db:
        seq = db.exec(select(AuditEvent.seq).where(AuditEvent.entity == "trader")).first()

    tab = Browser(session_token_for(broker.email), "/audit")
    sent = tab.fire(AuditState, "reveal_values", seq)
    assert "cora@closed.example" not in sent.text
    assert tab.state(AuditState).revealed_values == ""

    ctab = Browser(session_token_for(compliance.email), "/audit")
    for bad in (-3, 10**12, None, [seq], {"seq": seq}):
        sent = ctab.fire(AuditState, "reveal_values", bad)
        assert ctab.state(AuditState).revealed_values == ""
    assert _traces() == []
