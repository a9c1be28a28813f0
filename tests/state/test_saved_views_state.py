"""Saved views of the trader list (and the firm list's, through the same code) from the page,
through Reflex's event path (tests/state/harness.py): save the search, filters, sort and
columns, apply them in another tab, delete."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from brm_app.models.user import Role
from brm_app.state.firm_list_tools import FirmListToolsState
from brm_app.state.firms import FirmsState
from brm_app.state.trader_list_tools import TraderListToolsState
from brm_app.state.traders import TradersState
from tests.factories import make_firm, make_trader, make_user
from tests.state.conftest import session_token_for
from tests.state.harness import Server


@pytest.fixture
def server(database_url) -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def test_a_trader_list_view_is_saved_applied_and_deleted(server):
    broker = make_user(Role.BROKER)
    firm = make_firm(broker, name="Views Capital")
    make_trader(broker, firm.firm_id, name="Ada Smith", email="ada@views.example", role="Analyst")
    make_trader(broker, firm.firm_id, name="Bo Smith", email="bo@views.example", role="Trader")
    tab = server.tab(session_token_for(broker.email), "/traders")
    assert len(tab.state(TradersState).rows) == 2

    tab.send(TradersState, "search", "smith")
    tab.send(TradersState, "set_role", "Analyst")
    tab.send(TradersState, "sort_by", "updated")
    tab.send(TradersState, "sort_by", "updated")  # descending
    tab.send(TraderListToolsState, "toggle_column", "phone", False)
    tab.send(TraderListToolsState, "toggle_column", "name", False)  # the name always shows
    tab.send(TraderListToolsState, "save_view", {"name": "  Smith   analysts "})
    tools = tab.state(TraderListToolsState)
    assert [v["name"] for v in tools.views] == ["Smith analysts"]
    assert "phone" not in tools.columns and "name" in tools.columns

    # Another tab of the same user starts from the defaults and applies the view.
    other = server.tab(session_token_for(broker.email), "/traders")
    assert other.state(TradersState).role == "all"
    assert "updated" not in other.state(TraderListToolsState).columns
    view_id = other.state(TraderListToolsState).views[0]["id"]
    start = len(other.received)
    other.send(TraderListToolsState, "apply_view", view_id)
    listed = other.state(TradersState)
    assert (listed.q, listed.role, listed.sort, listed.direction) == (
        "smith", "Analyst", "updated", "desc"
    )  # fmt: skip
    assert [r["name"] for r in listed.rows] == ["Ada Smith"]
    # Updated is not shown until a view asks for it; the phone column was hidden.
    assert other.state(TraderListToolsState).columns == ["name", "email", "firm", "role", "status"]
    assert "Smith analysts" in "".join(other.toasts(start))

    # A bad name is shown on the form; the view is deleted; another user never sees it.
    other.send(TraderListToolsState, "save_view", {"name": "   "})
    assert other.state(TraderListToolsState).save_error
    someone = make_user(Role.BROKER)
    third = server.tab(session_token_for(someone.email), "/traders")
    assert third.state(TraderListToolsState).views == []
    third.send(TraderListToolsState, "delete_view", view_id)
    other.send(TraderListToolsState, "load")
    assert len(other.state(TraderListToolsState).views) == 1
    other.send(TraderListToolsState, "delete_view", view_id)
    assert other.state(TraderListToolsState).views == []


def test_a_firm_list_view_still_applies(server):
    broker = make_user(Role.BROKER)
    make_firm(broker, name="Alpha Views")
    tab = server.tab(session_token_for(broker.email), "/firms")
    tab.send(FirmsState, "search", "alpha")
    tab.send(FirmListToolsState, "toggle_column", "tier", False)
    tab.send(FirmListToolsState, "save_view", {"name": "Alpha"})
    other = server.tab(session_token_for(broker.email), "/firms")
    other.send(FirmListToolsState, "apply_view", other.state(FirmListToolsState).views[0]["id"])
    assert other.state(FirmsState).q == "alpha"
    assert "tier" not in other.state(FirmListToolsState).columns
    assert other.state(FirmListToolsState).view_key == 1
