"""Reports through the services: the activity report's CSV (numbers as numbers, text neutralised)
and PDF (parsed back: the figures, the holdings, the transactions and the charts), emailed to a
trader through the outbox; the manager's team report; and who may have them."""

from __future__ import annotations

import csv
import io
from decimal import Decimal as D

import pytest
from pypdf import PdfReader
from sqlmodel import select

from brm_app.db import unit_of_work
from brm_app.models.communication import MessageAttachment, MessageDelivery
from brm_app.models.user import Role
from brm_app.services import reports
from brm_app.services.errors import NotFound, PermissionDenied
from tests.factories import make_trader, make_user
from tests.unit import test_performance_service as perf

# The worked example's book (a fixture), shared with test_performance_service.
book = perf.book
call, run_jobs = perf.call, perf.run_jobs


def report(book, **kw):
    kw.setdefault("period", "inception")
    return call(reports.activity_report, actor=book.broker, firm_id=book.firm.firm_id, **kw)


def test_csv_numbers_are_numbers_and_text_is_neutralised(book):
    run_jobs()
    r = report(book, benchmark="IDX")
    rows = list(csv.reader(io.StringIO(reports.activity_csv(r))))
    figures = {row[0]: row[1] for row in rows if len(row) == 2}
    assert figures["gain"] == "-100"  # negative numbers unescaped
    assert figures["net flows"] == "1100"
    assert float(figures["time-weighted return"]) == pytest.approx(-0.0375, abs=1e-9)
    assert figures["firm"] == "Perf Co"
    sells = [row for row in rows if len(row) > 3 and row[3] == "sell"]
    assert sells == [
        ["", "2026-03-06", "2026-03-10", "sell", "AAA", "20", "45", "", "USD", "0", ""]
    ]
    start = rows.index(["holdings at end", "symbol", "name", "quantity", "price", "value"])
    assert rows[start + 1] == ["", "Cash USD", "Cash", "1000", "", "1000"]
    # Only text is escaped.
    assert reports._cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert reports._cell("-2+3") == "'-2+3"
    assert reports._cell(D("-2.5")) == "-2.5" and reports._cell(-0.125) == -0.125


def test_pdf_parses_with_figures_holdings_transactions_and_charts(book):
    run_jobs()
    r = report(book, period="custom", date_from="2026-03-04", date_to="2026-03-06", benchmark="IDX")
    data = reports.activity_pdf(r)
    assert data.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for expected in (
        "Portfolio activity: Perf Co",
        "Time-weighted return",
        "-12.50%",  # TWR Wed-Fri
        "10.00%",  # IDX over the same days
        "-200.00 USD",  # the gain
        "Value over time (USD)",
        "Cumulative return vs benchmark (%)",
        "Drawdown (%)",
        "Allocation by asset class",
        "P&L by holding",
        "Holdings at the start (2026-03-03)",
        "Transactions (3)",
        "2026-03-05",  # an axis label and the split's date
    ):
        assert expected in text, expected
    # The charts are vector drawings: path operators on the first page.
    content = reader.pages[0].get_contents().get_data()
    assert content.count(b" l\n") + content.count(b" l ") > 10


def test_a_trader_report_lists_their_transactions_only(book):
    tess = make_trader(book.broker, book.firm.firm_id, name="Tess Report")
    book.tx(
        kind="deposit",
        amount="10",
        trade_date="2026-03-06",
        currency="USD",
        trader_id=tess.trader_id,
    )
    r = report(book, trader_id=tess.trader_id)
    assert r.trader_name == "Tess Report" and r.transactions_total == 1
    assert "Tess Report" in r.title and r.filename("pdf").startswith("activity-tess-report-")
    other = make_user(Role.BROKER)
    from tests.factories import make_firm

    elsewhere = make_firm(other)
    stranger_trader = make_trader(other, elsewhere.firm_id)
    with pytest.raises(NotFound):
        report(book, trader_id=stranger_trader.trader_id)


def test_email_the_pdf_to_a_trader_through_the_outbox(book):
    tess = make_trader(book.broker, book.firm.firm_id, name="Tess Mail", email="tess@perf.example")
    sent = call(
        reports.email_activity_pdf,
        actor=book.broker,
        firm_id=book.firm.firm_id,
        trader_id=tess.trader_id,
        period="inception",
    )
    assert "time-weighted return -3.75%" in sent.content
    with unit_of_work() as db:
        delivery = db.exec(select(MessageDelivery)).one()
        assert (delivery.channel, delivery.address) == ("email", "tess@perf.example")
        att = db.exec(select(MessageAttachment)).one()
        assert att.content_type == "application/pdf" and att.message_id == delivery.message_id
    # A broker who does not cover the firm cannot send it.
    with pytest.raises(NotFound):
        call(
            reports.email_activity_pdf,
            actor=book.stranger,
            firm_id=book.firm.firm_id,
            trader_id=tess.trader_id,
        )


def test_team_report_per_broker_movers_drawdowns_and_export(book):
    run_jobs()
    manager = make_user(Role.MANAGER)
    from brm_app.models.user import User

    with unit_of_work(write=True) as db:
        db.get(User, book.broker.user_id).manager_id = manager.user_id
    t = call(reports.team_report, actor=manager)
    assert [(b.broker_name, b.firms, b.portfolios, b.assets) for b in t.brokers] == [
        (book.broker.name, 1, 1, D("1000.00"))
    ]
    assert [(m.firm_name, round(m.drawdown, 6)) for m in t.largest_drawdowns] == [
        ("Perf Co", -0.125)
    ]
    rows = list(csv.reader(io.StringIO(reports.team_csv(t))))
    assert [book.broker.name, "1", "1", "1000", "0"] in rows
    # The whole book for admins; nothing for a broker.
    admin = make_user(Role.ADMIN)
    assert book.broker.user_id in {
        b.broker_id for b in call(reports.team_report, actor=admin).brokers
    }
    with pytest.raises(PermissionDenied):
        call(reports.team_report, actor=book.broker)
