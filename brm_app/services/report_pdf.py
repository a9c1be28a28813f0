"""The activity report as a PDF a client can be sent: reportlab (pure Python), its charts drawn
as vector graphics (reportlab.graphics), so nothing needs a browser."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.charts.piecharts import Pie
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

if TYPE_CHECKING:
    from brm_app.services.reports import ActivityReport

WIDTH = A4[0] - 30 * mm
BLUE, GREY, RED = colors.HexColor("#2563eb"), colors.HexColor("#6b7280"), colors.HexColor("#dc2626")
PALETTE = [colors.HexColor(c) for c in ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed")]


def pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 100:.2f}%"


def money(v: Decimal | None, ccy: str = "") -> str:
    return "n/a" if v is None else f"{v:,.2f} {ccy}".strip()


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _line_chart(
    title: str, days: list[date], series: list[tuple[str, list[float | None]]], fmt: str
) -> Drawing:
    """A line chart of values over days (x: day ordinals labelled as dates)."""
    d = Drawing(WIDTH, 150)
    d.add(String(0, 138, title, fontName="Helvetica-Bold", fontSize=10))
    if not days:
        d.add(String(0, 70, "No data for this period.", fontSize=9, fillColor=GREY))
        return d
    lp = LinePlot()
    lp.x, lp.y, lp.width, lp.height = 45, 20, WIDTH - 60, 105
    data = []
    for _, values in series:
        pts = [(dy.toordinal(), v) for dy, v in zip(days, values, strict=True) if v is not None]
        data.append(pts or [(days[0].toordinal(), 0.0)])
    lp.data = data
    for k in range(len(data)):
        lp.lines[k].strokeColor = PALETTE[k % len(PALETTE)]
        lp.lines[k].strokeWidth = 1.2
    lp.xValueAxis.valueMin = days[0].toordinal()
    lp.xValueAxis.valueMax = max(days[-1].toordinal(), days[0].toordinal() + 1)
    lp.xValueAxis.labelTextFormat = lambda x: date.fromordinal(int(x)).isoformat()
    lp.xValueAxis.labels.fontSize = 7
    lp.xValueAxis.maximumTicks = 6
    lp.yValueAxis.labelTextFormat = fmt
    lp.yValueAxis.labels.fontSize = 7
    d.add(lp)
    if len(series) > 1:
        legend = Legend()
        legend.x, legend.y = WIDTH - 150, 140
        legend.fontSize = 7
        legend.columnMaximum = 1
        legend.alignment = "right"
        legend.colorNamePairs = [
            (PALETTE[k % len(PALETTE)], name) for k, (name, _) in enumerate(series)
        ]
        d.add(legend)
    return d


def _pie(title: str, slices: list[Any]) -> Drawing:
    d = Drawing(WIDTH / 2 - 5, 150)
    d.add(String(0, 138, title, fontName="Helvetica-Bold", fontSize=10))
    shown = [s for s in slices if s.value > 0]
    if not shown:
        d.add(String(0, 70, "Nothing held.", fontSize=9, fillColor=GREY))
        return d
    pie = Pie()
    pie.x, pie.y, pie.width, pie.height = 10, 15, 110, 110
    pie.data = [float(s.value) for s in shown]
    pie.labels = None
    for k in range(len(shown)):
        pie.slices[k].fillColor = PALETTE[k % len(PALETTE)]
        pie.slices[k].strokeColor = colors.white
    d.add(pie)
    legend = Legend()
    legend.x, legend.y = 135, 120
    legend.fontSize = 7
    legend.colorNamePairs = [
        (PALETTE[k % len(PALETTE)], f"{s.label} {pct(s.weight)}") for k, s in enumerate(shown)
    ]
    d.add(legend)
    return d


def _pnl_bars(title: str, holdings: list[Any], ccy: str) -> Drawing:
    rows = holdings[:12]
    height = 40 + 14 * max(len(rows), 1)
    d = Drawing(WIDTH, height)
    d.add(String(0, height - 12, title, fontName="Helvetica-Bold", fontSize=10))
    if not rows:
        d.add(String(0, 10, "No holdings.", fontSize=9, fillColor=GREY))
        return d
    bc = HorizontalBarChart()
    bc.x, bc.y, bc.width, bc.height = 70, 10, WIDTH - 90, height - 30
    bc.data = [
        [float(h.unrealized_pnl or 0) for h in rows],
        [float(h.realized_pnl or 0) for h in rows],
    ]
    bc.categoryAxis.categoryNames = [h.symbol for h in rows]
    bc.categoryAxis.labels.fontSize = 7
    bc.valueAxis.labels.fontSize = 7
    bc.valueAxis.labelTextFormat = "%.0f"
    bc.bars[0].fillColor = BLUE
    bc.bars[1].fillColor = GREY
    d.add(bc)
    legend = Legend()
    legend.x, legend.y = WIDTH - 190, height - 4
    legend.fontSize = 7
    legend.columnMaximum = 1
    legend.colorNamePairs = [(BLUE, f"Unrealized ({ccy})"), (GREY, f"Realized ({ccy})")]
    d.add(legend)
    return d


def _table(header: list[str], rows: list[list[str]], widths: list[float] | None = None) -> Table:
    t = Table([header, *rows], colWidths=widths, repeatRows=1)
    t.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
                ("FONT", (0, 1), (-1, -1), "Helvetica", 8),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, GREY),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f3f4f6")]),
            ]
        )
    )
    return t


def _num(v: Decimal | None) -> str:
    if v is None:
        return ""
    return f"{v:,.2f}" if v != v.to_integral() or abs(v) >= 1000 else f"{v:,.0f}"


def render_activity(report: ActivityReport) -> bytes:
    p, f = report.performance, report.performance.figures
    ccy = p.reporting_currency
    styles = getSampleStyleSheet()
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=report.title,
        author="BrokerSync BRM",
    )
    span = f"{p.base_day or 'inception'} to {report.end_day or '-'}"
    story: list[Any] = [
        Paragraph(_esc(report.title), styles["Title"]),
        Paragraph(
            _esc(
                f"Period {p.period}: {span}. Figures in {ccy}"
                + (f"; benchmark {p.benchmark.symbol} ({p.benchmark.name})" if p.benchmark else "")
                + f". Generated {report.generated_at:%Y-%m-%d %H:%M} UTC."
            ),
            styles["Normal"],
        ),
        Spacer(1, 6),
    ]
    figures = [
        ["Start value", money(f.start_value, ccy), "Time-weighted return", pct(f.twr)],
        ["End value", money(f.end_value, ccy), "Money-weighted (XIRR)", pct(f.xirr)],
        ["Net flows", money(f.net_flows, ccy), "Volatility (annualised)", pct(f.volatility)],
        ["Gain", money(f.gain, ccy), "Maximum drawdown", pct(f.max_drawdown)],
        ["Realized P&L", money(f.realized_pnl, ccy), "Benchmark return", pct(f.benchmark_return)],
        ["Unrealized P&L", money(f.unrealized_pnl, ccy), "", ""],
    ]
    t = Table(figures, colWidths=[WIDTH * 0.2, WIDTH * 0.3, WIDTH * 0.28, WIDTH * 0.22])
    t.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica", 9),
                ("FONT", (0, 0), (0, -1), "Helvetica-Bold", 9),
                ("FONT", (2, 0), (2, -1), "Helvetica-Bold", 9),
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("ALIGN", (3, 0), (3, -1), "RIGHT"),
            ]
        )
    )
    story += [t, Spacer(1, 8)]
    days = [pt.day for pt in p.points]
    story.append(
        _line_chart(
            f"Value over time ({ccy})",
            days,
            [("Value", [float(pt.value) for pt in p.points])],
            "%.0f",
        )
    )
    cumulative: list[tuple[str, list[float | None]]] = [
        ("Portfolio (TWR)", [pt.cumulative_return * 100 for pt in p.points])
    ]
    if p.benchmark:
        cumulative.append(
            (
                p.benchmark.symbol,
                [
                    None if pt.benchmark_return is None else pt.benchmark_return * 100
                    for pt in p.points
                ],
            )
        )
    story.append(_line_chart("Cumulative return vs benchmark (%)", days, cumulative, "%.1f"))
    story.append(
        _line_chart(
            "Drawdown (%)", days, [("Drawdown", [pt.drawdown * 100 for pt in p.points])], "%.1f"
        )
    )
    pies = Table(
        [[_pie("Allocation by asset class", p.by_asset_class), _pie("By currency", p.by_currency)]],
        colWidths=[WIDTH / 2, WIDTH / 2],
    )
    story += [pies, _pnl_bars("P&L by holding", p.holdings, ccy)]
    for label, holdings in (
        (f"Holdings at the start ({p.base_day or 'inception'})", report.holdings_start),
        (f"Holdings at the end ({report.end_day or '-'})", report.holdings_end),
    ):
        rows = [
            [h.symbol, _num(h.quantity), _num(h.price), money(h.value, ccy)] for h in holdings
        ] or [["None", "", "", ""]]
        story.append(
            KeepTogether(
                [
                    Paragraph(_esc(label), styles["Heading3"]),
                    _table(["Holding", "Quantity", "Price", "Value"], rows),
                ]
            )
        )
    story.append(Paragraph(_esc(f"Transactions ({report.transactions_total})"), styles["Heading3"]))
    rows = [
        [
            str(tx.trade_date),
            tx.kind,
            tx.symbol or "",
            _num(tx.quantity),
            _num(tx.price),
            _num(tx.amount),
            tx.currency,
            _esc(tx.trader or ""),
        ]
        for tx in report.transactions
    ] or [["None", "", "", "", "", "", "", ""]]
    story.append(
        _table(
            ["Trade date", "Kind", "Symbol", "Quantity", "Price", "Amount", "Ccy", "Trader"], rows
        )
    )
    if report.transactions_total > len(report.transactions):
        story.append(
            Paragraph(
                f"{report.transactions_total - len(report.transactions)} more not listed.",
                styles["Normal"],
            )
        )
    doc.build(story)
    return buf.getvalue()
