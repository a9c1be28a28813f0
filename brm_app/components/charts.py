"""Plotly figures for the performance and report pages, built from the services' results.

The figures carry no template of their own: `rx.plotly` lays the light or dark one over them
with the colour mode. Series arrive already downsampled (services.performance: at most a few
thousand points); `scattergl` draws the long ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from brm_app.models.performance import PerformancePublic
from brm_app.services import number_format as nf

# Long series draw with WebGL.
GL_FROM = 1000
_MARGIN = {"l": 48, "r": 12, "t": 36, "b": 36}


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"size": 14}},
        "margin": _MARGIN,
        "height": 300,
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.2},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        **extra,
    }


def _scatter(n: int) -> Any:
    return go.Scattergl if n >= GL_FROM else go.Scatter


def empty(title: str) -> go.Figure:
    fig = go.Figure(layout=_layout(title))
    fig.add_annotation(
        text="No data yet", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper"
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def localized(fig: go.Figure, loc: str) -> go.Figure:
    """Axis ticks and hover values written with the locale's separators (plotly's
    `separators`: the decimal mark, then the group separator)."""
    style = nf.style(loc)
    fig.update_layout(separators=style.decimal + style.group)
    return fig


def value_over_time(p: PerformancePublic, loc: str = nf.DEFAULT_LOCALE) -> go.Figure:
    """The portfolio's value, with each day's external flows marked (in up, out down)."""
    title = f"Value ({p.reporting_currency})"
    if not p.points:
        return empty(title)
    days = [pt.day.isoformat() for pt in p.points]
    fig = go.Figure(layout=_layout(title, yaxis={"tickformat": ",.0f"}))
    fig.add_trace(
        _scatter(len(days))(
            x=days, y=[float(pt.value) for pt in p.points], mode="lines", name="Value"
        )
    )
    flows = [pt for pt in p.points if pt.flow]
    if flows:
        fig.add_trace(
            go.Scatter(
                x=[pt.day.isoformat() for pt in flows],
                y=[float(pt.value) for pt in flows],
                mode="markers",
                name="Flows",
                marker={
                    "symbol": ["triangle-up" if pt.flow > 0 else "triangle-down" for pt in flows],
                    "size": 10,
                    "color": ["#16a34a" if pt.flow > 0 else "#dc2626" for pt in flows],
                },
                text=[
                    f"{'In' if pt.flow > 0 else 'Out'} {nf.number(abs(pt.flow), loc)}"
                    for pt in flows
                ],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    return localized(fig, loc)


def cumulative_return(p: PerformancePublic) -> go.Figure:
    """The TWR since the period's start, against the benchmark over the same days."""
    title = "Cumulative return" + (f" vs {p.benchmark.symbol}" if p.benchmark else "")
    if not p.points:
        return empty(title)
    days = [pt.day.isoformat() for pt in p.points]
    kind = _scatter(len(days))
    fig = go.Figure(layout=_layout(title, yaxis={"tickformat": ".1%"}))
    fig.add_trace(
        kind(x=days, y=[pt.cumulative_return for pt in p.points], mode="lines", name="Portfolio")
    )
    if p.benchmark:
        fig.add_trace(
            kind(
                x=days,
                y=[pt.benchmark_return for pt in p.points],
                mode="lines",
                name=p.benchmark.symbol,
                line={"dash": "dot"},
            )
        )
    return fig


def drawdown(p: PerformancePublic) -> go.Figure:
    title = "Drawdown"
    if not p.points:
        return empty(title)
    days = [pt.day.isoformat() for pt in p.points]
    fig = go.Figure(layout=_layout(title, yaxis={"tickformat": ".1%"}))
    fig.add_trace(
        _scatter(len(days))(
            x=days,
            y=[pt.drawdown for pt in p.points],
            mode="lines",
            fill="tozeroy",
            name="Drawdown",
            line={"color": "#dc2626"},
        )
    )
    return fig


def allocation(slices: Sequence[Any], title: str) -> go.Figure:
    shown = [s for s in slices if s.value > 0]
    if not shown:
        return empty(title)
    fig = go.Figure(layout=_layout(title, hovermode="closest"))
    fig.add_trace(
        go.Pie(
            labels=[s.label for s in shown],
            values=[float(s.value) for s in shown],
            hole=0.45,
            sort=False,
        )
    )
    return fig


def pnl_by_holding(p: PerformancePublic) -> go.Figure:
    title = f"P&L by holding ({p.reporting_currency})"
    if not p.holdings:
        return empty(title)
    names = [h.symbol for h in p.holdings]
    fig = go.Figure(layout=_layout(title, barmode="relative", hovermode="closest"))
    fig.add_trace(
        go.Bar(x=names, y=[float(h.unrealized_pnl or 0) for h in p.holdings], name="Unrealized")
    )
    fig.add_trace(go.Bar(x=names, y=[float(h.realized_pnl) for h in p.holdings], name="Realized"))
    return fig


def interactions_by_month(
    counts: Sequence[Any], title: str = "Interactions per month"
) -> go.Figure:
    """Stacked bars: one per month, a segment per interaction type."""
    if not counts:
        return empty(title)
    months = sorted({c.month for c in counts})
    by_type: dict[str, dict[str, int]] = defaultdict(dict)
    for c in counts:
        by_type[c.interaction_type][c.month] = c.count
    fig = go.Figure(layout=_layout(title, barmode="stack", hovermode="closest"))
    # One tick per month under its bar ("Nov 2026"), not plotly's own day ticks ("Oct 31").
    fig.update_xaxes(dtick="M1", tickformat="%b %Y")
    # A type per legend entry: small, so on a phone the legend leaves room for the bars.
    fig.update_layout(legend={"font": {"size": 10}, "itemwidth": 30, "tracegroupgap": 0})
    for kind in sorted(by_type):
        fig.add_trace(go.Bar(x=months, y=[by_type[kind].get(m, 0) for m in months], name=kind))
    # Counts are whole: a tick per interaction while the tallest month is small (plotly alone
    # ticks 0, 0.2, 0.4 ... under a month of one call); larger counts keep plotly's steps.
    tallest = max(sum(t.get(m, 0) for t in by_type.values()) for m in months)
    fig.update_yaxes(tickformat=",d", dtick=1 if tallest <= 10 else None)
    return fig


def assets_per_broker(brokers: Sequence[Any]) -> go.Figure:
    title = "Assets under coverage per broker"
    if not brokers:
        return empty(title)
    fig = go.Figure(layout=_layout(title, hovermode="closest"))
    fig.add_trace(
        go.Bar(
            x=[b.broker_name for b in brokers], y=[float(b.assets) for b in brokers], name="Assets"
        )
    )
    return fig
