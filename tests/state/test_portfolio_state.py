"""The portfolio page's handlers for each role, and live revaluation of open pages: a price
tick reaches only tabs of this worker still signed in as their user, whose page shows a firm
holding that instrument; the value changes and the position flashes."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlmodel import func, select

from brm_app import events, live
from brm_app.auth.actor import SystemActor
from brm_app.db import unit_of_work
from brm_app.models.portfolio import PortfolioTransaction
from brm_app.providers.market_data import Quote
from brm_app.services import instruments, market_data, portfolios
from brm_app.state.dashboard import DashboardState
from brm_app.state.portfolio import PortfolioState
from tests.state.conftest import Browser, session_token_for, tab_server
from tests.state.test_live_push import _Worker
from tests.state.world import EDITORS, ROLES, STAFF_READERS, World

SYSTEM = SystemActor(label="system:test")


def _txs() -> int:
    with unit_of_work() as db:
        return db.exec(select(func.count()).select_from(PortfolioTransaction)).one()


def _seed(w: World) -> int:
    with unit_of_work(write=True) as db:
        instruments.create_instrument(
            db,
            actor=SYSTEM,
            data={"symbol": "ACME", "name": "Acme", "asset_class": "equity", "currency": "USD"},
        )
        market_data.record_quotes(db, [Quote("ACME", D("10.00"), D("9.50"))])
        tx = portfolios.book_transaction(
            db,
            actor=SYSTEM,
            firm_id=w.f,
            data={
                "kind": "buy",
                "symbol": "ACME",
                "quantity": "100",
                "price": "8",
                "trade_date": "2026-03-02",
            },
        )
    return tx.transaction_id


def _page(w: World, role: str) -> Browser:
    browser = Browser(session_token_for(w.users[role].email), f"/firms/{w.f}/portfolio")
    live.remember_tab(browser.token, w.users[role].id)
    browser.fire(PortfolioState, "load")
    return browser


@pytest.mark.parametrize("role", ROLES)
def test_load_book_and_reverse_by_role(world, role):
    first = _seed(world)
    browser = _page(world, role)
    shown = browser.state(PortfolioState)
    assert shown.found == (role in STAFF_READERS), role
    if role in STAFF_READERS:
        assert shown.assets[0]["symbol"] == "ACME" and shown.summary["market"] == "1,000.00"
        assert shown.can_trade == (role in EDITORS)
    before = _txs()
    browser.fire(PortfolioState, "open_book")
    browser.fire(
        PortfolioState,
        "book",
        {"symbol": "ACME", "quantity": "5", "price": "11", "trade_date": "2026-03-03"},
    )
    assert _txs() == before + (1 if role in EDITORS else 0), role
    browser.fire(PortfolioState, "ask_reverse", first)
    browser.fire(PortfolioState, "reverse", {"reason": "test"})
    if role in EDITORS:
        # Reversing the first buy would leave nothing for... nothing was sold: it is reversed.
        assert _txs() == before + 2
        assert browser.state(PortfolioState).assets[0]["quantity"] == "5"
    else:
        assert _txs() == before


def test_bad_input_shows_field_messages_and_books_nothing(world):
    _seed(world)
    browser = _page(world, "broker")
    browser.fire(PortfolioState, "open_book")
    browser.fire(PortfolioState, "set_book_kind", "sell")
    browser.fire(
        PortfolioState,
        "book",
        {"symbol": "ACME", "quantity": "500", "price": "11", "trade_date": "2026-03-03"},
    )
    state = browser.state(PortfolioState)
    assert "sells more ACME" in state.book_errors["quantity"]
    assert state.book_open
    assert _txs() == 1


def test_a_tick_revalues_open_pages_of_that_instrument_only(world):
    _seed(world)
    server = tab_server()
    broker, stranger = _page(world, "broker"), _page(world, "broker2")
    # A tab that showed the portfolio and went on to the dashboard is no longer pushed to.
    moved_on = _page(world, "broker")
    moved_on.open("/")
    moved_on.fire(DashboardState, "load")
    assert broker.state(PortfolioState).summary["market"] == "1,000.00"
    with unit_of_work(write=True) as db:
        changed = market_data.record_quotes(db, [Quote("ACME", D("10.50"), D("9.50"))])
    event = events.Event(market_data.TOPIC, frozenset(), tuple(changed))
    updated = server.loop.run(live.push_portfolios(_Worker(server), event))
    assert updated == 1  # the stranger's tab shows no portfolio: nothing to revalue
    shown = broker.state(PortfolioState)
    assert shown.summary["market"] == "1,050.00"
    assert shown.assets[0]["price"] == "10.5000" and shown.assets[0]["flash"] == "up"
    assert shown.tick == 1
    assert stranger.state(PortfolioState).summary == {}
    assert moved_on.state(PortfolioState).summary["market"] == "1,000.00"
    assert server.errors == []


@pytest.mark.parametrize("role", ROLES)
def test_instruments_page_is_for_admins(world, role):
    from brm_app.models.portfolio import ApiKey, Instrument
    from brm_app.state.admin_instruments import InstrumentsState

    browser = Browser(session_token_for(world.users[role].email), "/admin/instruments")
    browser.fire(InstrumentsState, "load")
    browser.fire(InstrumentsState, "open_new")
    browser.fire(
        InstrumentsState,
        "save",
        {
            "symbol": "NEWCO",
            "name": "New Co",
            "asset_class": "equity",
            "currency": "EUR",
            "isin": "US0378331005",
        },
    )
    browser.fire(InstrumentsState, "create_key", {"key_name": "OMS"})
    with unit_of_work() as db:
        made = db.exec(select(Instrument).where(Instrument.symbol == "NEWCO")).first()
        keys = db.exec(select(func.count()).select_from(ApiKey)).one()
    shown = browser.state(InstrumentsState)
    if role == "admin":
        assert made is not None and made.isin == "US0378331005" and keys == 1
        assert shown.reveal_key.startswith("brmk_") and shown.keys[0]["name"] == "OMS"
        # A bad ISIN: a message by the field, nothing saved.
        browser.fire(InstrumentsState, "open_new")
        browser.fire(
            InstrumentsState,
            "save",
            {
                "symbol": "BAD",
                "name": "Bad",
                "asset_class": "equity",
                "currency": "USD",
                "isin": "US0378331006",
            },
        )
        assert "check digit" in browser.state(InstrumentsState).errors["isin"]
    else:
        assert made is None and keys == 0 and shown.reveal_key == "" and shown.rows == []


def _upload(world, role: str, data: bytes) -> dict:
    """What POST /api/session/imports answers the page's upload script."""
    from brm_app.auth.actor import Actor
    from brm_app.models.user import User
    from brm_app.services.bulk import staging

    with unit_of_work() as db:
        user = db.get(User, world.users[role].id)
        actor = Actor(user_id=user.id, role=user.role, email=user.email, name=user.name)
    upload_id = staging.save_upload(None, actor=actor, data=data, filename="blotter.csv")
    return {"upload_id": upload_id, "filename": "blotter.csv", "size": len(data)}


BLOTTER = (
    b"kind,symbol,trade_date,quantity,price,amount,currency\n"
    b"deposit,,2026-03-01,,,5000,USD\n"
    b"buy,ACME,2026-03-04,10,9,,\n"
    b"sell,ACME,2026-03-05,4,10,,\n"
)


def test_blotter_import_previews_then_books_and_a_bad_file_changes_nothing(world):
    _seed(world)
    browser = _page(world, "broker")
    browser.fire(PortfolioState, "open_import")
    bad = BLOTTER.replace(b"4,10", b"4,0").replace(b"ACME,2026-03-04", b"NOPE,2026-03-04")
    browser.fire(PortfolioState, "imp_uploaded", _upload(world, "broker", bad))
    state = browser.state(PortfolioState)
    assert {(p["row"], p["field"]) for p in state.imp_problems} == {
        ("3", "symbol"),
        ("4", "price"),
    }
    assert state.imp_ready == 0 and _txs() == 1
    browser.fire(PortfolioState, "imp_commit")  # nothing passed: nothing to import
    assert _txs() == 1
    browser.fire(PortfolioState, "imp_uploaded", _upload(world, "broker", BLOTTER))
    state = browser.state(PortfolioState)
    assert state.imp_problems == [] and state.imp_ready == 3, state.imp_error
    assert _txs() == 1  # a preview books nothing
    browser.fire(PortfolioState, "imp_commit")
    state = browser.state(PortfolioState)
    assert _txs() == 4 and not state.imp_open
    assert state.assets[0]["quantity"] == "106"
    assert {t["source"] for t in state.txs} == {"import", "manual"}


@pytest.mark.parametrize("role", ["compliance", "broker2", "trader"])
def test_blotter_import_and_settings_refused_to_who_may_not_trade_here(world, role):
    _seed(world)
    browser = _page(world, role)
    browser.fire(PortfolioState, "open_import")
    browser.fire(PortfolioState, "open_settings")
    state = browser.state(PortfolioState)
    assert not state.imp_open and not state.settings_open
    if role == "broker2":  # compliance and traders cannot upload at all
        browser.fire(PortfolioState, "imp_uploaded", _upload(world, role, BLOTTER))
        browser.fire(PortfolioState, "imp_commit")
    browser.fire(PortfolioState, "save_settings", {"reporting_currency": "EUR"})
    assert _txs() == 1
    with unit_of_work() as db:
        from brm_app.models.firm import Firm

        assert db.get(Firm, world.f).reporting_currency is None


def test_settings_change_currency_and_shorting_with_validation(world):
    _seed(world)
    browser = _page(world, "broker")
    browser.fire(PortfolioState, "open_settings")
    browser.fire(PortfolioState, "save_settings", {"reporting_currency": "XYZ"})
    state = browser.state(PortfolioState)
    assert state.settings_open and "ISO 4217" in state.settings_errors["reporting_currency"]
    browser.fire(
        PortfolioState, "save_settings", {"reporting_currency": "eur", "allow_short": "on"}
    )
    state = browser.state(PortfolioState)
    assert not state.settings_open and state.summary["currency"] == "EUR" and state.allow_short
    browser.fire(PortfolioState, "open_settings")
    browser.fire(PortfolioState, "save_settings", {"reporting_currency": ""})
    state = browser.state(PortfolioState)
    assert state.summary["currency"] == "USD" and not state.allow_short


def test_instruments_import_previews_for_admins_only(world):
    from brm_app.models.portfolio import Instrument
    from brm_app.state.admin_instruments import InstrumentsState

    data = b"symbol,name,asset_class,currency\nZED,Zed plc,equity,GBP\nBAD,Bad,toys,USD\n"
    browser = Browser(session_token_for(world.users["admin"].email), "/admin/instruments")
    browser.fire(InstrumentsState, "load")
    browser.fire(InstrumentsState, "open_import")
    browser.fire(InstrumentsState, "imp_uploaded", _upload(world, "admin", data))
    state = browser.state(InstrumentsState)
    assert [(p["row"], p["field"]) for p in state.imp_problems] == [("3", "asset_class")]
    good = data.replace(b"BAD,Bad,toys", b"BAD,Bad,fund")
    browser.fire(InstrumentsState, "imp_uploaded", _upload(world, "admin", good))
    assert browser.state(InstrumentsState).imp_ready == 2
    with unit_of_work() as db:
        assert db.exec(select(Instrument).where(Instrument.symbol == "ZED")).first() is None
    browser.fire(InstrumentsState, "imp_commit")
    with unit_of_work() as db:
        assert db.exec(select(Instrument).where(Instrument.symbol == "ZED")).first() is not None
    assert any(r["symbol"] == "ZED" for r in browser.state(InstrumentsState).rows)
    # A broker: the upload is theirs, the import is not.
    broker = Browser(session_token_for(world.users["broker"].email), "/admin/instruments")
    broker.fire(InstrumentsState, "load")
    broker.fire(InstrumentsState, "open_import")
    broker.fire(
        InstrumentsState, "imp_uploaded", _upload(world, "broker", data.replace(b"ZED", b"YOU"))
    )
    assert broker.state(InstrumentsState).imp_ready == 0
    broker.fire(InstrumentsState, "imp_commit")
    with unit_of_work() as db:
        assert db.exec(select(Instrument).where(Instrument.symbol == "YOU")).first() is None


def test_fx_history_import_previews_for_admins_only(world):
    from brm_app.models.portfolio import FxDailyRate
    from brm_app.state.admin_instruments import FxImportState

    def stored():
        with unit_of_work() as db:
            return len(db.exec(select(FxDailyRate)).all())

    data = b"date,base,quote,rate\n2026-03-02,EUR,USD,1.08\n2026-03-03,EUR,USD,0\n"
    browser = Browser(session_token_for(world.users["admin"].email), "/admin/instruments")
    browser.fire(FxImportState, "open_import")
    browser.fire(FxImportState, "imp_uploaded", _upload(world, "admin", data))
    state = browser.state(FxImportState)
    assert [(p["row"], p["field"]) for p in state.imp_problems] == [("3", "rate")]
    good = data.replace(b"USD,0", b"USD,1.09")
    browser.fire(FxImportState, "imp_uploaded", _upload(world, "admin", good))
    state = browser.state(FxImportState)
    assert state.imp_ready == 2 and state.imp_summary == "All 2 rows pass: 2 new, 0 updated."
    assert stored() == 0
    browser.fire(FxImportState, "imp_commit")
    assert stored() == 2 and not browser.state(FxImportState).imp_open
    # A broker: the upload is theirs, the import is not.
    broker = Browser(session_token_for(world.users["broker"].email), "/admin/instruments")
    broker.fire(FxImportState, "open_import")
    broker.fire(
        FxImportState, "imp_uploaded", _upload(world, "broker", good.replace(b"03-0", b"04-0"))
    )
    assert broker.state(FxImportState).imp_ready == 0
    broker.fire(FxImportState, "imp_commit")
    assert stored() == 2
