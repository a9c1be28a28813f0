"""CSV imports previewed over HTTP (`dry_run=true` checks every row and keeps nothing), and the
access matrix of every portfolio route for the callers the main matrix leaves out: a portal
trader of another firm (404 on a firm that is not theirs) and an OMS service account (its key
opens only POST /oms/executions: 401 everywhere else)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import func, select

from brm_app.db import unit_of_work
from brm_app.models.firm import FirmWrite
from brm_app.models.portfolio import FxDailyRate, Instrument, PortfolioTransaction
from brm_app.models.trader import TraderPermission, TraderWrite
from brm_app.services import firms, market_data, portfolios, traders
from tests.api.matrix_support import audit_count, call, token_headers
from tests.api.test_portfolios_api import API, Desk
from tests.factories import password_chosen

CSV = {"Content-Type": "text/csv"}
BLOTTER = (
    b"kind,symbol,trade_date,quantity,price,amount,currency,trader\n"
    b"deposit,,2026-03-01,,,5000,USD,\n"
    b"buy,AAPL,2026-03-02,10,190,,,tess@desk.example\n"
    b"sell,AAPL,2026-03-05,4,200,,,\n"
)


@pytest.fixture
def desk(client) -> Desk:
    return Desk(client)


def _count(model) -> int:
    with unit_of_work() as db:
        return db.exec(select(func.count()).select_from(model)).one()


def test_blotter_preview_checks_every_row_and_keeps_nothing(client, desk):
    url = f"{API}/firms/{desk.firm.firm_id}/portfolio/import"
    events = audit_count()
    r = client.post(
        url, params={"dry_run": "true"}, content=BLOTTER, headers={**desk.h["broker"], **CSV}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"rows": 3, "booked": 0, "created": 0, "updated": 0, "dry_run": True}
    assert _count(PortfolioTransaction) == 0 and audit_count() == events
    r = client.get(f"{API}/firms/{desk.firm.firm_id}/portfolio", headers=desk.h["broker"])
    assert r.json()["portfolio_id"] is None  # not even the portfolio was kept
    # Every bad row is named, and the holdings are checked over the whole file in a preview too.
    bad = BLOTTER.replace(b"2026-03-02,10,190", b"2026-03-02,10,-1").replace(
        b"deposit,,2026-03-01", b"deposit,,2026-13-01"
    )
    r = client.post(
        url, params={"dry_run": "true"}, content=bad, headers={**desk.h["broker"], **CSV}
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"row 2: trade_date", "row 3: price"}
    oversold = BLOTTER.replace(b"sell,AAPL,2026-03-05,4", b"sell,AAPL,2026-03-05,40")
    r = client.post(
        url, params={"dry_run": "true"}, content=oversold, headers={**desk.h["broker"], **CSV}
    )
    assert r.status_code == 422 and "sells more AAPL" in r.text
    r = client.post(url, content=b"kind,symbol\n", headers={**desk.h["broker"], **CSV})
    assert r.status_code == 422
    assert _count(PortfolioTransaction) == 0
    # The real import after a clean preview.
    r = client.post(url, content=BLOTTER, headers={**desk.h["broker"], **CSV})
    assert r.status_code == 200 and r.json()["booked"] == 3 and not r.json()["dry_run"]
    assert _count(PortfolioTransaction) == 3


def test_instrument_preview_keeps_nothing(client, desk):
    url = f"{API}/instrument-imports"
    before = _count(Instrument)
    body = (
        b"symbol,name,asset_class,currency\nNESN,Nestle,equity,CHF\nAAPL,Apple renamed,equity,USD\n"
    )
    r = client.post(
        url, params={"dry_run": "true"}, content=body, headers={**desk.h["admin"], **CSV}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["updated"], r.json()["dry_run"]) == (1, 1, True)
    assert _count(Instrument) == before
    r = client.get(f"{API}/instruments", params={"q": "AAPL"}, headers=desk.h["admin"])
    assert r.json()["items"][0]["name"] == "AAPL Inc"
    bad = body + b"XX,No class,toys,USD\n"
    r = client.post(
        url, params={"dry_run": "true"}, content=bad, headers={**desk.h["admin"], **CSV}
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"row 4: asset_class"}


def test_fx_history_import_checks_every_row_keeps_it_and_is_for_admins(client, desk):
    url = f"{API}/fx-rate-imports"
    body = b"date,base,quote,rate\n2026-03-02,EUR,USD,1.0842\n2026-03-03,eur,usd,1.09\n"
    events = audit_count()
    r = client.post(
        url, params={"dry_run": "true"}, content=body, headers={**desk.h["admin"], **CSV}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["rows"], r.json()["created"], r.json()["dry_run"]) == (2, 2, True)
    assert _count(FxDailyRate) == 0 and audit_count() == events
    bad = body + b"2026-02-30,EUR,USD,1.1\n2026-03-04,EUR,EUR,1\n2026-03-05,EUR,USD,-1\n"
    r = client.post(url, content=bad, headers={**desk.h["admin"], **CSV})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"row 4: date", "row 6: rate"} <= fields and any("row 5" in f for f in fields)
    assert _count(FxDailyRate) == 0
    for who in ("broker", "other"):
        r = client.post(url, content=body, headers={**desk.h[who], **CSV})
        assert r.status_code == 403, (who, r.text)
    r = client.post(url, content=body, headers={**desk.h["admin"], **CSV})
    assert r.status_code == 200 and (r.json()["created"], r.json()["updated"]) == (2, 0)
    assert audit_count() == events + 1
    again = body.replace(b"1.09", b"1.1")
    r = client.post(url, content=again, headers={**desk.h["admin"], **CSV})
    assert (r.json()["created"], r.json()["updated"]) == (0, 2)
    with unit_of_work() as db:
        h = market_data.fx_history(db, {"EUR"})
    assert h.rate("EUR", "USD", date(2026, 3, 2)) == Decimal("1.0842")
    assert h.rate("EUR", "USD", date(2026, 3, 6)) == Decimal("1.1")


@pytest.mark.parametrize("dry_run", ["true", "false"])
def test_instrument_import_names_every_bad_row_at_once(client, desk, dry_run):
    """A row with a bad ISIN check digit is named beside rows with a bad class or currency (it
    used to be named only after they were fixed and the file chosen again), in row order, and
    nothing is kept."""
    before = _count(Instrument)
    body = (
        b"symbol,name,asset_class,currency,isin\n"
        b"WLKA,Walk A,equity,USD,US0378331006\n"
        b"WLKB,Walk B,toys,USD,\n"
        b"WLKC,Walk C,equity,USD,\n"
    )
    r = client.post(
        f"{API}/instrument-imports",
        params={"dry_run": dry_run},
        content=body,
        headers={**desk.h["admin"], **CSV},
    )
    assert r.status_code == 422, r.text
    fields = [e["field"] for e in r.json()["errors"]]
    assert fields == ["row 2: isin", "row 3: asset_class"]
    assert "check digit" in r.json()["errors"][0]["message"]
    assert _count(Instrument) == before


def test_other_firms_trader_and_service_account_are_refused_everywhere(client, desk):
    """Every portfolio route, as a portal trader of another firm (with view_portfolio on their
    own) and as the OMS's service account: the trader gets 404 reading a firm not theirs
    (exactly as a missing one), 403 for what traders never do; the key gets 401 outside its endpoint. Nothing
    is written and no audit event is recorded."""
    fid = desk.firm.firm_id
    other_home = call(
        firms.create_firm,
        data=FirmWrite(name="Other Home", primary_broker_id=desk.other.user_id),
    )
    saved = call(
        traders.create_trader,
        firm_id=other_home.firm_id,
        data=TraderWrite(
            name="Olga Other",
            email="olga@other.example",
            permissions=[TraderPermission.PORTAL_ACCESS, TraderPermission.VIEW_PORTFOLIO],
        ),
    )
    password_chosen(saved.trader.portal_user_id)
    outsider = token_headers(saved.trader.portal_user_id)
    deposit = {"kind": "deposit", "amount": "10", "currency": "USD", "trade_date": "2026-03-02"}
    tx_id = call(portfolios.book_transaction, firm_id=fid, data=deposit).transaction_id
    own = client.get(f"{API}/firms/{other_home.firm_id}/portfolio", headers=outsider)
    assert own.status_code == 200  # their own firm's portfolio, read-only
    iid = client.get(f"{API}/instruments", headers=desk.h["admin"]).json()["items"][0]
    routes = [
        ("GET", f"/firms/{fid}/portfolio", None, None),
        ("POST", f"/firms/{fid}/portfolio/update", None, None),
        ("PATCH", f"/firms/{fid}/portfolio/settings", {"reporting_currency": "EUR"}, None),
        ("GET", f"/firms/{fid}/portfolio/transactions", None, None),
        ("POST", f"/firms/{fid}/portfolio/transactions", deposit, None),
        ("POST", f"/firms/{fid}/portfolio/transactions/{tx_id}/reverse", {}, None),
        ("POST", f"/firms/{fid}/portfolio/import", None, BLOTTER),
        ("POST", f"/firms/{fid}/portfolio/import?dry_run=true", None, BLOTTER),
        ("POST", "/instrument-imports", None, b"symbol,name,asset_class,currency\nQ,Q,fx,USD\n"),
        ("POST", "/fx-rate-imports", None, b"date,base,quote,rate\n2026-03-02,EUR,USD,1.1\n"),
        (
            "POST",
            "/instruments",
            {"symbol": "NEW1", "name": "N", "asset_class": "equity", "currency": "USD"},
            None,
        ),
        (
            "PUT",
            f"/instruments/{iid['instrument_id']}",
            {"symbol": iid["symbol"], "name": "N", "asset_class": "equity", "currency": "USD"},
            None,
        ),
        ("GET", "/api-keys", None, None),
    ]
    # The outsider: 404 on what a trader may do on their own firm (read), 403 on what no trader
    # may do anywhere (write, admin-only): the refusal does not depend on the firm.
    expect_outsider = [404, 404, 403, 404, 403, 403, 403, 403, 403, 403, 403, 403, 403]
    txs, events = _count(PortfolioTransaction), audit_count()
    problems = []
    for (method, path, body, content), want in zip(routes, expect_outsider, strict=True):
        for who, headers, expected in (("outsider", outsider, want), ("oms key", desk.oms, 401)):
            extra = CSV if content is not None else {}
            r = client.request(
                method, API + path, json=body, content=content, headers={**headers, **extra}
            )
            if r.status_code != expected:
                problems.append(f"{method} {path} as {who}: {r.status_code} {r.text[:120]}")
            elif expected == 404 and r.json().get("detail") != "Firm not found.":
                problems.append(f"{method} {path} as {who}: 404 reads {r.text[:120]}")
    assert problems == []
    assert _count(PortfolioTransaction) == txs and audit_count() == events
    # The same trader is also refused the other firm's executions (no key: 401).
    r = client.post(
        f"{API}/oms/executions", json={"executions": [desk.fill("T1")]}, headers=outsider
    )
    assert r.status_code in (401, 403)


def test_fx_history_import_for_every_role(client, people):
    """The FX import's row of the access matrix (a CSV body, so outside play_matrix): admins
    only; a refusal writes nothing."""
    from tests.api.matrix_support import ROLES

    body = b"date,base,quote,rate\n2026-03-02,EUR,USD,1.1\n"
    want = dict(zip(ROLES, (200, 403, 403, 403, 403, 403), strict=True))
    got = {}
    for role in ROLES:
        before = audit_count()
        r = client.post(
            f"{API}/fx-rate-imports", content=body, headers={**people.headers[role], **CSV}
        )
        got[role] = r.status_code
        if r.status_code >= 400:
            assert audit_count() == before
    assert got == want
