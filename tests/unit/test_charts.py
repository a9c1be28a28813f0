"""Chart figures: what plotly is told beyond the series (tests of the series are with the
services that compute them)."""

from __future__ import annotations

from brm_app.components import charts
from brm_app.services.reports import MonthCount


def _counts(*rows: tuple[str, str, int]) -> list[MonthCount]:
    return [MonthCount(month=m, interaction_type=t, count=n) for m, t, n in rows]


def test_interactions_per_month_ticks_whole_counts_when_they_are_few():
    # A month of one call: plotly alone ticks 0, 0.2, 0.4 ... 1 (fractions of an interaction).
    fig = charts.interactions_by_month(_counts(("2026-11", "call", 1)))
    assert fig.layout.yaxis.dtick == 1
    assert fig.layout.yaxis.tickformat == ",d"
    # Stacked: the tallest month is what counts (3 + 4 = 7 still ticks by one).
    fig = charts.interactions_by_month(
        _counts(("2026-10", "call", 3), ("2026-10", "meeting", 4), ("2026-11", "call", 2))
    )
    assert fig.layout.yaxis.dtick == 1


def test_interactions_per_month_leaves_larger_counts_to_plotly():
    fig = charts.interactions_by_month(_counts(("2026-10", "call", 40), ("2026-11", "call", 12)))
    assert fig.layout.yaxis.dtick is None
    assert fig.layout.yaxis.tickformat == ",d"
