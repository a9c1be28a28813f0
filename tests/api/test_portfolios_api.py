"""Portfolios, instruments and OMS executions over HTTP: the design document's endpoints, the
service-account keys, idempotency and concurrency of executions, and the access matrix rows."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from brm_app.api.app import create_api
from brm_app.bootstrap import use_providers
from brm_app.db import unit_of_work
from brm_app.models.portfolio import OmsExecution, PortfolioTransaction
from brm_app.models.trader import TraderPermission
from brm_app.models.user import Role
from brm_app.providers.market_data import SimulatedMarketData
from tests.api.matrix_support import play_matrix
from tests.api.test_interactions_api import bearer
from tests.factories import make_firm, make_trader, make_user

API = "/api/v1"
LEI = "5493001KJTIIGC8Y1R12"


def _count(model=PortfolioTransaction) -> int:
    with unit_of_work() as db:
        return db.exec(select(func.count()).select_from(model)).one()


class Desk:
    def __init__(self, client) -> None:
        self.client = client
        self.admin = make_user(Role.ADMIN)
        self.broker = make_user(Role.BROKER)
        self.other = make_user(Role.BROKER)
        self.firm = make_firm(self.broker, name="Desk Capital", lei=LEI)
        self.elsewhere = make_firm(self.other, name="Elsewhere Ltd")
        self.tess = make_trader(
            self.broker, self.firm.firm_id, name="Tess Trader", email="tess@desk.example"
        )
        self.h = {n: bearer(getattr(self, n)) for n in ("admin", "broker", "other")}
        for symbol, ccy in (("AAPL", "USD"), ("SAP", "EUR")):
            r = client.post(
                f"{API}/instruments",
                json={
                    "symbol": symbol,
                    "name": f"{symbol} Inc",
                    "asset_class": "equity",
                    "currency": ccy,
                },
                headers=self.h["admin"],
            )
            assert r.status_code == 201, r.text
        r = client.post(f"{API}/api-keys", json={"name": "Main OMS"}, headers=self.h["admin"])
        assert r.status_code == 201, r.text
        self.key = r.json()["key"]
        self.oms = {"Authorization": f"Bearer {self.key}"}

    def fill(self, exec_id, side="buy", qty="100", px="190.5", **kw):
        return {
            "exec_id": exec_id,
            "order_id": f"O-{exec_id}",
            "cl_ord_id": f"C-{exec_id}",
            "exec_type": "F",
            "ord_status": "2",
            "symbol": "AAPL",
            "side": side,
            "last_qty": qty,
            "last_px": px,
            "cum_qty": qty,
            "leaves_qty": "0",
            "avg_px": px,
            "currency": "USD",
            "transact_time": "2026-03-02T14:30:00Z",
            "settl_date": "2026-03-04",
            "account": LEI,
            "trader": "tess@desk.example",
            **kw,
        }

    def post(self, executions, headers=None):
        return self.client.post(
            f"{API}/oms/executions", json={"executions": executions}, headers=headers or self.oms
        )


@pytest.fixture
def desk(client) -> Desk:
    return Desk(client)


def test_get_and_update_portfolio_as_the_design_document_names_them(client, desk):
    fid = desk.firm.firm_id
    r = client.get(f"{API}/firms/{fid}/portfolio", headers=desk.h["broker"])
    assert r.status_code == 200 and r.json()["portfolio_id"] is None
    for body in (
        {"kind": "deposit", "amount": "50000", "currency": "USD", "trade_date": "2026-03-01"},
        {
            "kind": "buy",
            "symbol": "AAPL",
            "quantity": "100",
            "price": "190",
            "fees": "5",
            "trade_date": "2026-03-02",
            "trader_id": desk.tess.trader_id,
        },
    ):
        r = client.post(
            f"{API}/firms/{fid}/portfolio/transactions", json=body, headers=desk.h["broker"]
        )
        assert r.status_code == 201, r.text
    assert r.json()["settlement_date"] == "2026-03-04"  # T+2
    assert r.json()["trader_name"] == "Tess Trader"
    body = client.get(f"{API}/firms/{fid}/portfolio", headers=desk.h["broker"]).json()
    assert set(body) >= {"portfolio_id", "firm_id", "assets", "performance_metrics", "last_updated"}
    (aapl,) = body["assets"]
    assert aapl["quantity"] == "100" and aapl["average_cost"] == "190.05"
    assert aapl["last_price"] is None and body["total_value"] == "30995.00"  # cash only
    with use_providers(market_data=SimulatedMarketData(seed=7)):
        r = client.post(f"{API}/firms/{fid}/portfolio/update", headers=desk.h["broker"])
    assert r.status_code == 200, r.text
    (aapl,) = r.json()["assets"]
    assert D(aapl["last_price"]) > 0
    assert D(aapl["market_value"]) == D(aapl["last_price"]) * 100
    assert D(r.json()["total_value"]) == D(aapl["market_value"]) + D("30995.00")
    assert {"today_change", "unrealized_pnl", "realized_pnl", "simple_return"} <= set(
        r.json()["performance_metrics"]
    )
    # Prices: the instrument shows its last price.
    r = client.get(f"{API}/instruments", params={"q": "AAP"}, headers=desk.h["broker"])
    assert r.json()["items"][0]["last_price"] == aapl["last_price"]


def test_transactions_list_filters_pages_and_reverses(client, desk):
    fid = desk.firm.firm_id
    url = f"{API}/firms/{fid}/portfolio/transactions"
    ids = []
    for day in range(2, 7):
        r = client.post(
            url,
            json={
                "kind": "buy",
                "symbol": "AAPL",
                "quantity": "1",
                "price": "10",
                "trade_date": f"2026-03-0{day}",
            },
            headers=desk.h["broker"],
        )
        ids.append(r.json()["transaction_id"])
    client.post(
        url,
        json={"kind": "deposit", "amount": "5", "currency": "EUR", "trade_date": "2026-03-09"},
        headers=desk.h["broker"],
    )
    page = client.get(url, params={"kind": "buy", "limit": 2}, headers=desk.h["broker"]).json()
    assert page["total"] == 5 and page["has_next"] and len(page["items"]) == 2
    assert page["items"][0]["trade_date"] == "2026-03-06"
    page = client.get(url, params={"date_from": "2026-03-05"}, headers=desk.h["broker"]).json()
    assert page["total"] == 3
    r = client.post(
        f"{url}/{ids[0]}/reverse", json={"reason": "booked twice"}, headers=desk.h["broker"]
    )
    assert r.status_code == 201 and r.json()["reverses_id"] == ids[0]
    again = client.post(f"{url}/{ids[0]}/reverse", json={}, headers=desk.h["broker"])
    assert again.status_code == 422
    listed = {
        t["transaction_id"]: t for t in client.get(url, headers=desk.h["broker"]).json()["items"]
    }
    assert listed[ids[0]]["reversed_by_id"] == r.json()["transaction_id"]
    # Another broker's transaction id through this firm: not found.
    assert (
        client.post(f"{url}/{ids[1]}/reverse", json={}, headers=desk.h["other"]).status_code == 404
    )


def test_bad_input_answers_422_and_books_nothing(client, desk):
    url = f"{API}/firms/{desk.firm.firm_id}/portfolio/transactions"
    for body, field in (
        ({"kind": "sell", "symbol": "AAPL", "quantity": "1", "price": "10"}, "quantity"),
        ({"kind": "buy", "symbol": "AAPL", "quantity": "1", "price": "0"}, "price"),
        (
            {
                "kind": "buy",
                "symbol": "AAPL",
                "quantity": "1",
                "price": "1",
                "settlement_date": "2026-02-01",
            },
            "settlement_date",
        ),
        ({"kind": "buy", "symbol": "ZZZZ", "quantity": "1", "price": "1"}, "symbol"),
        ({"kind": "buy", "symbol": "AAPL", "quantity": "1", "price": "1", "extra": 1}, "extra"),
    ):
        r = client.post(url, json={"trade_date": "2026-03-02", **body}, headers=desk.h["broker"])
        assert r.status_code == 422, r.text
        assert field in {e["field"] for e in r.json()["errors"]}, r.text
    r = client.post(
        f"{API}/instruments",
        json={
            "symbol": "X",
            "name": "X",
            "asset_class": "equity",
            "currency": "USD",
            "isin": "US0378331006",
        },
        headers=desk.h["admin"],
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "isin"
    assert _count() == 0


def test_a_bad_currency_symbol_or_side_is_named_in_words_not_as_a_pattern(client, desk):
    """The book dialog and the API said "String should match pattern '^[A-Za-z]{3}$'"."""
    from brm_app.services import portfolios
    from brm_app.services.errors import ValidationFailed

    url = f"{API}/firms/{desk.firm.firm_id}/portfolio/transactions"
    body = {"kind": "deposit", "amount": "5", "currency": "XX", "trade_date": "2026-03-02"}
    r = client.post(url, json=body, headers=desk.h["broker"])
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0] == {
        "field": "currency",
        "message": "must be a three-letter currency code (ISO 4217), such as USD",
    }
    r = client.post(
        f"{API}/instruments",
        json={"symbol": "A B", "name": "X", "asset_class": "equity", "currency": "USD"},
        headers=desk.h["admin"],
    )
    assert r.json()["errors"][0]["message"] == ("may hold only letters, digits and . - / : _"), (
        r.text
    )
    r = desk.post([desk.fill("S1", side="short")])
    assert r.status_code == 422, r.text
    assert "pattern" not in r.text and "buy or sell" in r.text, r.text
    # The same words through the services (what the book dialog shows).
    with unit_of_work(write=True) as db, pytest.raises(ValidationFailed) as caught:
        portfolios.book_transaction(db, actor=desk.broker, firm_id=desk.firm.firm_id, data=body)
    assert caught.value.errors == {
        "currency": "must be a three-letter currency code (ISO 4217), such as USD"
    }
    assert _count() == 0


def test_oms_fills_are_booked_once_and_shown_as_transactions(client, desk):
    r = desk.post([desk.fill("E1"), desk.fill("E2", qty="50", px="191")])
    assert r.status_code == 200, r.text
    assert (r.json()["booked"], r.json()["duplicates"]) == (2, 0)
    # A resend changes nothing.
    r = desk.post([desk.fill("E1"), desk.fill("E2", qty="50", px="191")])
    assert (r.json()["booked"], r.json()["duplicates"]) == (0, 2)
    assert _count() == 2
    # The same exec_id with different content: 409, nothing booked from the batch.
    r = desk.post([desk.fill("E3"), desk.fill("E1", qty="99")])
    assert r.status_code == 409, r.text
    assert _count() == 2 and _count(OmsExecution) == 2
    txs = client.get(
        f"{API}/firms/{desk.firm.firm_id}/portfolio/transactions",
        params={"source": "oms"},
        headers=desk.h["broker"],
    ).json()["items"]
    assert {t["exec_id"] for t in txs} == {"E1", "E2"}
    assert {t["trader_name"] for t in txs} == {"Tess Trader"}
    # FIX side codes, a trade cancel (H) and a correction (G).
    r = desk.post(
        [
            desk.fill("E4", side="2", qty="30", px="200"),
            desk.fill("E5", exec_type="H", exec_ref_id="E2"),
            desk.fill("E6", exec_type="G", exec_ref_id="E1", qty="100", px="189"),
        ]
    )
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == ["booked", "reversed", "corrected"]
    body = client.get(f"{API}/firms/{desk.firm.firm_id}/portfolio", headers=desk.h["broker"]).json()
    (aapl,) = body["assets"]
    assert aapl["quantity"] == "70" and aapl["average_cost"] == "189"
    assert aapl["realized_pnl"] == "330.00"  # 30 x (200 - 189)


def test_oms_refusals(client, desk):
    # Over the limit: 413 before anything is read further.
    r = desk.post([desk.fill(f"X{i}") for i in range(1001)])
    assert r.status_code == 413, r.text
    # A firm the key may not touch (another key limited to the other firm), or unknown: 404.
    r = client.post(
        f"{API}/api-keys",
        json={"name": "Narrow", "firm_ids": [desk.elsewhere.firm_id]},
        headers=desk.h["admin"],
    )
    narrow = {"Authorization": f"Bearer {r.json()['key']}"}
    assert desk.post([desk.fill("N1")], headers=narrow).status_code == 404
    assert desk.post([desk.fill("N2", account="999999")]).status_code == 404
    # A broker's own token: only for the firms they cover.
    assert desk.post([desk.fill("B1")], headers=desk.h["other"]).status_code == 404
    assert desk.post([desk.fill("B2")], headers=desk.h["broker"]).status_code == 200
    # Bad fills: 422 naming the execution's field.
    for fill, field in (
        (desk.fill("V1", px="0"), "executions.0.last_px"),
        (desk.fill("V2", side="sell", qty="1000"), "executions"),
        (desk.fill("V3", symbol="NOPE"), "executions.0.symbol"),
        (desk.fill("V4", settl_date="2026-03-01"), "executions.0.settl_date"),
        (desk.fill("V5", trader="nobody@x.example"), "executions.0.trader"),
    ):
        r = desk.post([fill])
        assert r.status_code == 422, r.text
        assert field in {e["field"] for e in r.json()["errors"]}, r.text
    # The key only works here; a revoked key not at all.
    assert (
        client.get(f"{API}/firms/{desk.firm.firm_id}/portfolio", headers=desk.oms).status_code
        == 401
    )
    key_id = client.get(f"{API}/api-keys", headers=desk.h["admin"]).json()[-1]["api_key_id"]
    assert (
        client.post(f"{API}/api-keys/{key_id}/revoke", headers=desk.h["admin"]).status_code == 200
    )
    assert desk.post([desk.fill("R1")]).status_code == 401
    assert client.get(f"{API}/api-keys", headers=desk.h["broker"]).status_code == 403
    assert _count() == 1


def test_the_same_batch_posted_twice_at_once_books_once(client, desk):
    batch = [desk.fill(f"C{i}", qty="1", px="100") for i in range(200)]

    def post(_):
        with TestClient(create_api(), raise_server_exceptions=False) as c:
            return c.post(f"{API}/oms/executions", json={"executions": batch}, headers=desk.oms)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(post, range(2)))
    assert [a.status_code for a in answers] == [200, 200], [a.text[:200] for a in answers]
    assert sorted(a.json()["booked"] for a in answers) == [0, 200]
    assert _count() == 200


def test_settings_reporting_currency_and_shorting(client, desk):
    fid = desk.firm.firm_id
    url = f"{API}/firms/{fid}/portfolio/settings"
    r = client.patch(url, json={"allow_short": True}, headers=desk.h["broker"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "allow_short"
    r = client.patch(url, json={"reporting_currency": "XYZ"}, headers=desk.h["broker"])
    assert r.status_code == 422
    r = client.patch(url, json={"reporting_currency": "eur"}, headers=desk.h["broker"])
    assert r.status_code == 200 and r.json()["reporting_currency"] == "EUR"
    tx = f"{API}/firms/{fid}/portfolio/transactions"
    body = {
        "kind": "sell",
        "symbol": "AAPL",
        "quantity": "10",
        "price": "100",
        "trade_date": "2026-03-02",
    }
    client.post(
        tx,
        json={"kind": "deposit", "amount": "1", "currency": "USD", "trade_date": "2026-03-01"},
        headers=desk.h["broker"],
    )
    assert client.post(tx, json=body, headers=desk.h["broker"]).status_code == 422
    r = client.patch(url, json={"allow_short": True}, headers=desk.h["broker"])
    assert r.status_code == 200 and r.json()["allow_short"] is True
    assert client.post(tx, json=body, headers=desk.h["broker"]).status_code == 201
    (aapl,) = client.get(f"{API}/firms/{fid}/portfolio", headers=desk.h["broker"]).json()["assets"]
    assert aapl["quantity"] == "-10"
    # A short position is open: shorting cannot be turned off.
    r = client.patch(url, json={"allow_short": False}, headers=desk.h["broker"])
    assert r.status_code == 422
    assert client.patch(url, json={}, headers=desk.h["other"]).status_code == 404
    r = client.patch(url, json={"reporting_currency": None}, headers=desk.h["broker"])
    assert r.json()["reporting_currency"] == "USD"  # the setting's default again


# ---- the access matrix rows ------------------------------------------------------------------

# Callers: admin, compliance, manager, broker (covers the firm), trader (portal, own firm, with
# view_portfolio), stranger (another broker).
MATRIX = [
    ("GET", "/firms/$firm_id/portfolio", None, (200, 200, 200, 200, 200, 404)),
    ("POST", "/firms/$firm_id/portfolio/update", None, (200, 200, 200, 200, 200, 404)),
    ("GET", "/firms/$firm_id/portfolio/transactions", None, (200, 200, 200, 200, 200, 404)),
    (
        "POST",
        "/firms/$firm_id/portfolio/transactions",
        {"kind": "deposit", "amount": "10", "currency": "USD", "trade_date": "2026-03-02"},
        (201, 403, 201, 201, 403, 404),
    ),
    (
        "POST",
        "/firms/$firm_id/portfolio/transactions/$tx_id/reverse",
        {},
        (201, 403, 201, 201, 403, 404),
    ),
    (
        "PATCH",
        "/firms/$firm_id/portfolio/settings",
        {"reporting_currency": "EUR"},
        (200, 403, 200, 200, 403, 404),
    ),
    ("GET", "/instruments", None, (200, 200, 200, 200, 200, 200)),
    (
        "POST",
        "/instruments",
        {"symbol": "$symbol", "name": "New Co", "asset_class": "equity", "currency": "USD"},
        (201, 403, 403, 403, 403, 403),
    ),
    ("GET", "/api-keys", None, (200, 403, 403, 403, 403, 403)),
    ("POST", "/api-keys", {"name": "Key"}, (201, 403, 403, 403, 403, 403)),
]


def test_access_matrix(client, people):
    from brm_app.models.trader import TraderPatch
    from brm_app.services import portfolios, traders
    from tests.api.matrix_support import Templates, call

    with unit_of_work() as db:
        from brm_app.models.trader import Trader

        home = db.get(Trader, people.own_trader_id).firm_id
    call(
        traders.patch_trader,
        trader_id=people.own_trader_id,
        firm_id=home,
        data=TraderPatch(
            permissions=[TraderPermission.PORTAL_ACCESS, TraderPermission.VIEW_PORTFOLIO]
        ),
    )
    seq = iter(range(1, 10_000))

    class World(Templates):
        def __init__(self) -> None:
            self.firm_id = home
            self.symbol = f"SYM{next(seq)}"
            self.tx_id = call(
                portfolios.book_transaction,
                firm_id=home,
                data={
                    "kind": "deposit",
                    "amount": "1",
                    "currency": "USD",
                    "trade_date": "2026-03-01",
                },
            ).transaction_id

    assert play_matrix(client, people, MATRIX, World) == []


def test_csv_imports_of_a_blotter_and_instruments(client, desk):
    csv_headers = {"Content-Type": "text/csv"}
    r = client.post(
        f"{API}/instrument-imports",
        content=b"symbol,name,asset_class,currency,isin\nNESN,Nestle,equity,CHF,CH0038863350\n"
        b"AAPL,Apple Inc. (renamed),equity,USD,\n",
        headers={**desk.h["admin"], **csv_headers},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["updated"]) == (1, 1)
    bad = client.post(
        f"{API}/instrument-imports",
        content=b"symbol,name,asset_class,currency,isin\nBAD1,Bad,equity,USD,US0378331006\n",
        headers={**desk.h["admin"], **csv_headers},
    )
    assert bad.status_code == 422 and "row 2: isin" in {e["field"] for e in bad.json()["errors"]}
    assert (
        client.post(
            f"{API}/instrument-imports",
            content=b"symbol\nX\n",
            headers={**desk.h["broker"], **csv_headers},
        ).status_code
        == 403
    )
    url = f"{API}/firms/{desk.firm.firm_id}/portfolio/import"
    blotter = (
        b"kind,symbol,trade_date,quantity,price,amount,currency,trader\n"
        b"deposit,,2026-03-01,,,5000,USD,\n"
        b"buy,AAPL,2026-03-02,10,190,,,tess@desk.example\n"
        b"sell,AAPL,2026-03-05,4,200,,,\n"
    )
    wrong = blotter.replace(b"4,200", b"40,200").replace(b"2026-03-02,10,190", b"2026-03-02,10,0")
    r = client.post(url, content=wrong, headers={**desk.h["broker"], **csv_headers})
    assert r.status_code == 422, r.text
    assert {e["field"] for e in r.json()["errors"]} == {"row 3: price"}
    assert _count() == 0
    r = client.post(url, content=blotter, headers={**desk.h["broker"], **csv_headers})
    assert r.status_code == 200 and r.json()["booked"] == 3, r.text
    txs = client.get(
        f"{API}/firms/{desk.firm.firm_id}/portfolio/transactions", headers=desk.h["broker"]
    ).json()["items"]
    assert {t["source"] for t in txs} == {"import"}
    assert (
        client.post(url, content=blotter, headers={**desk.h["other"], **csv_headers}).status_code
        == 404
    )
