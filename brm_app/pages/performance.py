"""/firms/[firm_id]/performance: a portfolio's performance in charts over a period against a
benchmark; the activity report as PDF or CSV, or emailed to a trader."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.ui import card, empty_state, field
from brm_app.state.performance import PerformanceState

S: Any = PerformanceState


def _figure(label: str, value: Any, ident: str, sign: Any = None) -> Any:
    text = rx.text(
        value,
        size="4",
        weight="bold",
        id=ident,
        color_scheme=(
            rx.match(sign, ("up", "green"), ("down", "red"), "gray") if sign is not None else None
        ),
    )
    return card(rx.vstack(rx.text(label, size="1", color_scheme="gray"), text, spacing="0"))


def _chart(fig: Any, ident: str) -> Any:
    return card(
        rx.plotly.basic(
            data=fig,
            use_resize_handler=True,
            config={"displaylogo": False, "responsive": True},
            style={"width": "100%", "height": "300px"},
            id=ident,
        ),
        min_width="0",
    )


def _controls() -> Any:
    return rx.flex(
        field(
            "Period",
            rx.select.root(
                rx.select.trigger(id="perf-period", width="100%"),
                rx.select.content(
                    rx.foreach(
                        S.period_options,
                        lambda o: rx.select.item(o["label"], value=o["value"]),
                    )
                ),
                value=S.period,
                on_change=S.set_period,
            ),
        ),
        field(
            "Benchmark",
            rx.select.root(
                rx.select.trigger(id="perf-benchmark", width="100%", placeholder="None"),
                rx.select.content(
                    rx.select.item("None", value="none"),
                    rx.foreach(S.benchmarks, lambda s: rx.select.item(s, value=s)),
                ),
                value=rx.cond(S.benchmark != "", S.benchmark, "none"),
                on_change=S.set_benchmark,
            ),
        ),
        rx.cond(
            S.period == "custom",
            rx.form(
                rx.flex(
                    field(
                        "From",
                        rx.input(
                            type="date", name="date_from", id="perf-from", default_value=S.date_from
                        ),
                    ),
                    field(
                        "To",
                        rx.input(
                            type="date", name="date_to", id="perf-to", default_value=S.date_to
                        ),
                    ),
                    rx.button("Apply", type="submit", id="perf-apply", align_self="end"),
                    gap="8px",
                    wrap="wrap",
                ),
                on_submit=S.apply_custom,
            ),
        ),
        gap="12px",
        wrap="wrap",
        align="end",
        width="100%",
        class_name="perf-controls",
    )


def _email_dialog() -> Any:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Email the PDF report"),
            rx.dialog.description(
                "The report for the chosen period goes to the trader by email, from the outbox.",
                size="2",
            ),
            rx.form(
                rx.vstack(
                    field(
                        "Trader",
                        rx.select.root(
                            rx.select.trigger(id="email-trader", width="100%"),
                            rx.select.content(
                                rx.foreach(
                                    S.trader_options,
                                    lambda t: rx.select.item(t["name"], value=t["id"]),
                                )
                            ),
                            name="trader_id",
                        ),
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button("Send", type="submit", id="email-send"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                    margin_top="12px",
                ),
                on_submit=S.email_pdf,
            ),
        ),
        open=S.email_open,
        on_open_change=S.set_email_open,
    )


def _content() -> Any:
    f = S.figures
    return rx.vstack(
        rx.link(
            rx.hstack(rx.icon("arrow-left", size=14), "Portfolio", spacing="1", align="center"),
            href="/firms/" + S.firm_id.to_string() + "/portfolio",
            size="2",
            color_scheme="gray",
        ),
        rx.flex(
            rx.vstack(
                rx.heading("Performance", size="7"),
                rx.text(S.firm_name, " · ", f["span"].to(str), size="2", color_scheme="gray"),
                spacing="0",
            ),
            rx.spacer(),
            rx.hstack(
                rx.button(
                    rx.icon("file-down", size=14),
                    "PDF",
                    variant="soft",
                    on_click=S.download_pdf,
                    id="download-pdf",
                    aria_label="Download the report as PDF",
                ),
                rx.button(
                    rx.icon("sheet", size=14),
                    "CSV",
                    variant="soft",
                    on_click=S.download_csv,
                    id="download-csv",
                    aria_label="Download the report as CSV",
                ),
                rx.cond(
                    S.can_email,
                    rx.button(
                        rx.icon("mail", size=14),
                        "Email",
                        on_click=S.set_email_open(True),
                        id="email-report",
                        aria_label="Email the PDF report to a trader",
                    ),
                ),
                spacing="2",
                wrap="wrap",
            ),
            width="100%",
            align="center",
            wrap="wrap",
            gap="8px",
        ),
        _controls(),
        rx.grid(
            _figure("Time-weighted return", f["twr"], "fig-twr", f["twr_sign"]),
            _figure("Money-weighted (XIRR)", f["xirr"], "fig-xirr"),
            _figure("Benchmark", f["benchmark"], "fig-benchmark"),
            _figure("Volatility", f["volatility"], "fig-vol"),
            _figure("Max drawdown", f["max_drawdown"], "fig-mdd"),
            _figure("Gain (" + f["currency"].to(str) + ")", f["gain"], "fig-gain", f["gain_sign"]),
            _figure("Realized P&L", f["realized"], "fig-realized"),
            _figure("Unrealized P&L", f["unrealized"], "fig-unrealized"),
            columns=rx.breakpoints(initial="2", md="4"),
            spacing="3",
            width="100%",
        ),
        rx.grid(
            _chart(S.value_fig, "chart-value"),
            _chart(S.return_fig, "chart-return"),
            _chart(S.drawdown_fig, "chart-drawdown"),
            _chart(S.pnl_fig, "chart-pnl"),
            _chart(S.class_fig, "chart-class"),
            _chart(S.currency_fig, "chart-currency"),
            _chart(S.interactions_fig, "chart-interactions"),
            columns=rx.breakpoints(initial="1", lg="2"),
            spacing="3",
            width="100%",
        ),
        rx.text(f["points"], size="1", color_scheme="gray"),
        _email_dialog(),
        spacing="4",
        width="100%",
    )


@app_page("/firms/[firm_id]/performance", "Performance", on_load=[S.load])
def performance_page() -> Any:
    return rx.cond(
        S.found,
        _content(),
        rx.cond(
            S.not_found,
            empty_state("search-x", "Firm not found", "It does not exist, or is not yours to see."),
            rx.center(rx.spinner(), padding="48px"),
        ),
    )
