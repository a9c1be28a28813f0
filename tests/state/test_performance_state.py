"""The performance and team report pages' handlers for each role: who sees what, the charts carry
the series the figures give, period and benchmark switches, downloads, the email, and bad
input refused with nothing changed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from sqlmodel import func, select

from brm_app.auth.actor import SystemActor
from brm_app.db import unit_of_work
from brm_app.models.communication import MessageDelivery
from brm_app.providers.market_data import Close
from brm_app.services import instruments, market_data, portfolios, valuations
from brm_app.state.performance import PerformanceState
from brm_app.state.team_report import TeamReportState
from tests.state.conftest import Browser, session_token_for
from tests.state.world import ROLES, STAFF_READERS

SYSTEM = SystemActor(label="system:test")
MANAGERS_AND_REVIEWERS = {"admin", "compliance", "manager"}


@pytest.fixture
def seeded(world, monkeypatch):
    monkeypatch.setattr(valuations, "today", lambda: date(2026, 3, 6))
    with unit_of_work(write=True) as db:
        for symbol in ("ACME", "IDX"):
            instruments.create_instrument(
                db,
                actor=SYSTEM,
                data={"symbol": symbol, "name": symbol, "asset_class": "equity", "currency": "USD"},
            )
        closes = {"ACME": (10, 11, 9, 9.9, 10), "IDX": (100, 101, 102, 103, 104)}
        market_data.record_closes(
            db,
            [
                Close(s, date(2026, 3, 2 + k), D(str(c)))
                for s, cs in closes.items()
                for k, c in enumerate(cs)
            ],
        )
        for data in (
            {"kind": "deposit", "amount": "1000", "currency": "USD", "trade_date": "2026-03-02"},
            {
                "kind": "buy",
                "symbol": "ACME",
                "quantity": "100",
                "price": "10",
                "trade_date": "2026-03-02",
            },
        ):
            portfolios.book_transaction(db, actor=SYSTEM, firm_id=world.f, data=data)
    return world


def _page(w, role):
    b = Browser(session_token_for(w.users[role].email), f"/firms/{w.f}/performance")
    b.fire(PerformanceState, "load")
    return b


@pytest.mark.parametrize("role", ROLES)
def test_who_sees_the_performance_page(seeded, role):
    b = _page(seeded, role)
    shown = b.state(PerformanceState)
    assert shown.found == (role in STAFF_READERS), role
    if role not in STAFF_READERS:
        assert shown.figures == {}
        return
    # 1,000 -> 1,100 -> 900 -> 990 -> 1,000: a TWR of 0, a drawdown of 900/1,100 - 1.
    assert shown.figures["twr"] == "0.00%"
    assert shown.figures["max_drawdown"] == f"{(900 / 1100 - 1) * 100:,.2f}%"
    assert shown.can_email == (role in {"manager", "broker"})


def test_charts_carry_the_series_and_switches_work(seeded):
    b = _page(seeded, "broker")
    held = b.state(PerformanceState)
    value = held.value_fig["data"]
    assert value[0]["y"] == [1000.0, 1100.0, 900.0, 990.0, 1000.0]
    assert value[1]["name"] == "Flows" and value[1]["x"] == ["2026-03-02"]
    drawdown = held.drawdown_fig["data"][0]["y"]
    assert min(drawdown) == pytest.approx(900 / 1100 - 1)
    b.fire(PerformanceState, "set_benchmark", "IDX")
    ret = b.state(PerformanceState).return_fig["data"]
    assert [t["name"] for t in ret] == ["Portfolio", "IDX"]
    assert ret[1]["y"][-1] == pytest.approx(0.04)  # 100 -> 104, from Monday's close
    assert b.state(PerformanceState).figures["benchmark"] == "4.00%"
    b.fire(PerformanceState, "set_period", "custom")
    b.fire(PerformanceState, "apply_custom", {"date_from": "2026-03-04", "date_to": "2026-03-06"})
    shown = b.state(PerformanceState)
    assert shown.period == "custom" and shown.figures["span"] == "2026-03-03 to 2026-03-06"
    assert shown.figures["twr"] == f"{(1000 / 1100 - 1) * 100:,.2f}%"
    # Bad input: a toast, nothing changed.
    for handler, arg in (
        ("set_period", "10Y"),
        ("set_benchmark", "NOPE"),
        ("apply_custom", {"date_from": "x"}),
        ("apply_custom", {"date_from": "2026-03-06", "date_to": "2026-03-01"}),
    ):
        b.fire(PerformanceState, handler, arg)
    assert b.state(PerformanceState).figures == shown.figures
    assert b.state(PerformanceState).benchmark == "IDX"


def test_downloads_and_email(seeded):
    b = _page(seeded, "broker")
    sent = b.fire(PerformanceState, "download_pdf")
    assert "_download" in sent.names()
    sent = b.fire(PerformanceState, "download_csv")
    assert "_download" in sent.names()
    trader = b.state(PerformanceState).trader_options[0]["id"]
    b.fire(PerformanceState, "set_email_open", True)
    b.fire(PerformanceState, "email_pdf", {"trader_id": "999999"})
    with unit_of_work() as db:
        assert db.exec(select(func.count()).select_from(MessageDelivery)).one() == 0
    b.fire(PerformanceState, "email_pdf", {"trader_id": trader})
    with unit_of_work() as db:
        n = db.exec(select(func.count()).select_from(MessageDelivery)).one()
    # The world's traders may not have agreed to email: either sent, or refused with a toast.
    assert n in (0, 1)


@pytest.mark.parametrize("role", ROLES)
def test_team_report_page_by_role(seeded, role):
    b = Browser(session_token_for(seeded.users[role].email), "/reports/team")
    b.fire(TeamReportState, "load")
    shown = b.state(TeamReportState)
    assert shown.allowed == (role in MANAGERS_AND_REVIEWERS), role
    assert shown.refused == (role not in MANAGERS_AND_REVIEWERS)
    if role in MANAGERS_AND_REVIEWERS:
        assert "_download" in b.fire(TeamReportState, "export_csv").names()
        b.fire(TeamReportState, "set_broker_filter", "999999")
        assert b.state(TeamReportState).broker_filter == "team"
    else:
        assert shown.brokers == []


def test_a_brokers_dashboard_charts_their_own_interactions_per_month_by_type(seeded):
    """Two calls and a meeting by the broker, a call by the manager at the same firm: the
    broker's chart counts their three (by type, this month); a manager has no such chart (their
    team's is on the team report)."""
    from datetime import timedelta

    from brm_app.db import utcnow
    from brm_app.models.interaction import InteractionWrite
    from brm_app.services import interactions
    from brm_app.services.authentication import actor_of
    from brm_app.state.dashboard import DashboardState

    when = utcnow() - timedelta(minutes=5)

    def log(role, kind):
        with unit_of_work(write=True) as db:
            interactions.log_interaction(
                db,
                actor=actor_of(seeded.users[role], ip=None),
                data=InteractionWrite(
                    trader_ids=[seeded.t1],
                    interaction_type=kind,
                    interaction_date=when,
                    subject=f"{kind} by {role}",
                ),
            )

    for role, kind in (("broker", "Call"), ("broker", "Call"), ("broker", "Meeting"),
                       ("manager", "Call")):  # fmt: skip
        log(role, kind)
    month = f"{when:%Y-%m}"  # counted by the UTC month it occurred in
    b = Browser(session_token_for(seeded.users["broker"].email), "/")
    b.fire(DashboardState, "load")
    shown = b.state(DashboardState)
    assert shown.own_book
    traces = {t["name"]: (t["x"], t["y"]) for t in shown.my_interactions_fig["data"]}
    assert traces == {"Call": ([month], [2]), "Meeting": ([month], [1])}
    m = Browser(session_token_for(seeded.users["manager"].email), "/")
    m.fire(DashboardState, "load")
    assert not m.state(DashboardState).own_book
    assert m.state(DashboardState).my_interactions_fig.get("data", []) == []
