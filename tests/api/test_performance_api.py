"""Performance and reports over HTTP: the series and figures, the CSV and PDF downloads, the
email, the team report, bad input answered 422, and the access matrix rows of every new route."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from brm_app.db import unit_of_work
from brm_app.models.trader import TraderPermission
from brm_app.models.user import Role
from brm_app.providers.market_data import Close
from brm_app.services import market_data, valuations
from tests.api.matrix_support import play_matrix
from tests.api.test_interactions_api import bearer
from tests.factories import make_firm, make_user

API = "/api/v1"


@pytest.fixture
def desk(client, monkeypatch):
    from datetime import date

    monkeypatch.setattr(valuations, "today", lambda: date(2026, 3, 9))
    admin, broker = make_user(Role.ADMIN), make_user(Role.BROKER)
    firm = make_firm(broker, name="Api Perf")
    h = bearer(broker)
    r = client.post(
        f"{API}/instruments",
        json={"symbol": "AAA", "name": "AAA", "asset_class": "equity", "currency": "USD"},
        headers=bearer(admin),
    )
    assert r.status_code == 201, r.text
    with unit_of_work(write=True) as db:
        market_data.record_closes(
            db, [Close("AAA", date(2026, 3, d), p) for d, p in ((2, 100), (3, 110), (4, 99))]
        )
    for tx in (
        {"kind": "deposit", "amount": "1000", "currency": "USD", "trade_date": "2026-03-02"},
        {
            "kind": "buy",
            "symbol": "AAA",
            "quantity": "10",
            "price": "100",
            "trade_date": "2026-03-02",
        },
    ):
        r = client.post(f"{API}/firms/{firm.firm_id}/portfolio/transactions", json=tx, headers=h)
        assert r.status_code == 201, r.text
    return firm, h


def test_series_figures_and_downloads(client, desk):
    firm, h = desk
    r = client.get(
        f"{API}/firms/{firm.firm_id}/portfolio/performance",
        params={"period": "inception", "benchmark": "AAA"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    # 1,000 -> 1,100 -> 990 (to Friday's... the last close, carried to Monday 9th).
    assert [p["value"] for p in body["points"]][:3] == ["1000.00", "1100.00", "990.00"]
    assert round(body["figures"]["twr"], 6) == -0.01
    assert round(body["figures"]["max_drawdown"], 6) == round(0.99 / 1.1 - 1, 6)
    # The benchmark is the same instrument: the same returns.
    assert round(body["figures"]["benchmark_return"], 6) == -0.01
    r = client.get(f"{API}/firms/{firm.firm_id}/reports/activity.csv?period=1M", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    r = client.get(f"{API}/firms/{firm.firm_id}/reports/activity.pdf?period=1M", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(r.content)).pages[0].extract_text()
    assert "Api Perf" in text and "-1.00%" in text


@pytest.mark.parametrize(
    "query",
    [
        "period=2Y",
        "period=custom",
        "period=custom&date_from=2026-03-05&date_to=2026-03-01",
        "date_from=0",
        "benchmark=NOPE",
        "benchmark=" + "A" * 21,
    ],
)
def test_bad_input_answers_422(client, desk, query):
    firm, h = desk
    r = client.get(f"{API}/firms/{firm.firm_id}/portfolio/performance?{query}", headers=h)
    assert r.status_code == 422, r.text


# Callers: admin, compliance, manager, broker (covers the firm), trader (portal, own firm, with
# view_portfolio), stranger (another broker).
MATRIX = [
    ("GET", "/firms/$firm_id/portfolio/performance", None, (200, 200, 200, 200, 200, 404)),
    ("GET", "/firms/$firm_id/reports/activity.csv", None, (200, 200, 200, 200, 200, 404)),
    ("GET", "/firms/$firm_id/reports/activity.pdf", None, (200, 200, 200, 200, 200, 404)),
    (
        "GET",
        "/firms/$firm_id/reports/activity.pdf?trader_id=$trader_id",
        None,
        (200, 200, 200, 200, 200, 404),
    ),
    (
        "POST",
        "/firms/$firm_id/reports/activity/email",
        {"trader_id": "$trader_id", "period": "inception"},
        (403, 403, 201, 201, 403, 404),
    ),
    ("GET", "/reports/team", None, (200, 200, 200, 403, 403, 403)),
    ("GET", "/reports/team.csv", None, (200, 200, 200, 403, 403, 403)),
]


def test_access_matrix(client, people):
    from brm_app.models.trader import Trader, TraderPatch
    from brm_app.services import portfolios, traders
    from tests.api.matrix_support import Templates, call

    with unit_of_work() as db:
        home = db.get(Trader, people.own_trader_id).firm_id
    call(
        traders.patch_trader,
        trader_id=people.own_trader_id,
        firm_id=home,
        data=TraderPatch(
            permissions=[
                TraderPermission.PORTAL_ACCESS,
                TraderPermission.VIEW_PORTFOLIO,
                TraderPermission.RECEIVE_EMAIL,
            ]
        ),
    )
    call(
        portfolios.book_transaction,
        firm_id=home,
        data={"kind": "deposit", "amount": "1", "currency": "USD", "trade_date": "2026-03-02"},
    )

    class World(Templates):
        firm_id = home
        trader_id = people.own_trader_id

    assert play_matrix(client, people, MATRIX, World) == []
