"""A trader's contact details in the app's pages: masked in every list (the trader list, a firm's
traders), never sent to the tab in clear until an explicit action shows them (Reveal, or opening
an edit dialog), and each such action leaves a `contact_details` read trace."""

from __future__ import annotations

from brm_app.models.user import Role
from brm_app.services import read_traces
from brm_app.state.firm_detail import FirmState
from brm_app.state.trader_detail import TraderState
from brm_app.state.traders import TradersState
from tests.factories import make_firm, make_trader, make_user
from tests.read_trace_support import recorded_traces
from tests.state.conftest import Browser, session_token_for

EMAIL = "mona.masked@contact.example"
PHONE = "+442079460177"


def _traces() -> list[tuple[int | None, int | None]]:
    return recorded_traces("contact_details")


def test_masks():
    assert read_traces.masked_email("mona.masked@contact.example") == "m•••@contact.example"
    assert read_traces.masked_email("") == "" and read_traces.masked_email("odd") == "•••"
    assert read_traces.masked_phone("+44 20 7946 0177") == "••• 77"
    assert read_traces.masked_phone(None) == ""


def test_lists_mask_and_edit_dialogs_trace(database_url):
    broker = make_user(Role.BROKER)
    firm = make_firm(broker, name="Masked Markets")
    mona = make_trader(broker, firm.firm_id, name="Mona Masked", email=EMAIL, phone=PHONE)

    # The trader list and the firm page's traders: masked, and no trace (a page view).
    tab = Browser(session_token_for(broker.email), "/traders")
    sent = tab.fire(TradersState, "load")
    row = next(r for r in tab.state(TradersState).rows if r["trader_id"] == mona.trader_id)
    assert row["email"] == "m•••@contact.example" and row["phone"] == "••• 77"
    assert EMAIL not in sent.text and "7946" not in sent.text
    ftab = Browser(session_token_for(broker.email), f"/firms/{firm.firm_id}")
    sent = ftab.fire(FirmState, "load")
    [frow] = ftab.state(FirmState).traders
    assert frow["email"] == "m•••@contact.example" and EMAIL not in sent.text
    # Opening the trader page shows nothing either.
    ttab = Browser(session_token_for(broker.email), f"/traders/{mona.trader_id}")
    sent = ttab.fire(TraderState, "load")
    assert EMAIL not in sent.text
    assert _traces() == []

    # The edit dialogs show the details to change them: each opening is traced.
    sent = ftab.fire(FirmState, "open_edit_trader", mona.trader_id)
    assert ftab.state(FirmState).trader_form["email"] == EMAIL
    sent = ttab.fire(TraderState, "open_edit")
    assert ttab.state(TraderState).form["email"] == EMAIL
    assert _traces() == [(broker.user_id, mona.trader_id)] * 2

    # Someone who may not see the trader opens nothing and leaves no trace.
    stranger = make_user(Role.BROKER)
    stab = Browser(session_token_for(stranger.email), f"/firms/{firm.firm_id}")
    stab.fire(FirmState, "open_edit_trader", mona.trader_id)
    assert len(_traces()) == 2
