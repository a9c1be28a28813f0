"""/reports/team: the manager's team report, with its CSV export."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.ui import card, empty_state, field, table_scroll
from brm_app.state.team_report import TeamReportState

S: Any = TeamReportState


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


def _moves(title: str, rows: Any, ident: str) -> Any:
    return card(
        rx.vstack(
            rx.heading(title, size="4"),
            table_scroll(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Firm"),
                            rx.table.column_header_cell("Value", text_align="right"),
                            rx.table.column_header_cell("1 month", text_align="right"),
                            rx.table.column_header_cell("Drawdown", text_align="right"),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            rows,
                            lambda r: rx.table.row(
                                rx.table.cell(rx.link(r["firm"], href=r["href"])),
                                rx.table.cell(r["value"], text_align="right"),
                                rx.table.cell(r["return"], text_align="right"),
                                rx.table.cell(r["drawdown"], text_align="right"),
                            ),
                        )
                    ),
                    size="1",
                    width="100%",
                    id=ident,
                )
            ),
            width="100%",
        )
    )


def _content() -> Any:
    return rx.vstack(
        rx.flex(
            rx.vstack(
                rx.heading("Team report", size="7"),
                rx.text("Valuations as of ", S.as_of, size="2", color_scheme="gray"),
                spacing="0",
            ),
            rx.spacer(),
            rx.button(
                rx.icon("sheet", size=14),
                "Export CSV",
                on_click=S.export_csv,
                id="team-export",
                variant="soft",
            ),
            width="100%",
            align="center",
            wrap="wrap",
            gap="8px",
        ),
        card(
            table_scroll(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Broker"),
                            rx.table.column_header_cell("Firms", text_align="right"),
                            rx.table.column_header_cell("Portfolios", text_align="right"),
                            rx.table.column_header_cell("Assets", text_align="right"),
                            rx.table.column_header_cell("Interactions (30 d)", text_align="right"),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            S.brokers,
                            lambda b: rx.table.row(
                                rx.table.cell(b["name"]),
                                rx.table.cell(b["firms"], text_align="right"),
                                rx.table.cell(b["portfolios"], text_align="right"),
                                rx.table.cell(b["assets"], text_align="right"),
                                rx.table.cell(b["interactions"], text_align="right"),
                            ),
                        )
                    ),
                    size="1",
                    width="100%",
                    id="team-brokers",
                )
            )
        ),
        rx.grid(
            _moves("Top movers (1 month)", S.movers, "team-movers"),
            _moves("Largest drawdowns", S.drawdowns, "team-drawdowns"),
            columns=rx.breakpoints(initial="1", lg="2"),
            spacing="3",
            width="100%",
        ),
        field(
            "Interactions of",
            rx.select.root(
                rx.select.trigger(id="team-broker-filter"),
                rx.select.content(
                    rx.select.item("The whole team", value="team"),
                    rx.foreach(S.brokers, lambda b: rx.select.item(b["name"], value=b["id"])),
                ),
                value=S.broker_filter,
                on_change=S.set_broker_filter,
            ),
        ),
        rx.grid(
            _chart(S.interactions_fig, "chart-team-interactions"),
            _chart(S.assets_fig, "chart-team-assets"),
            columns=rx.breakpoints(initial="1", lg="2"),
            spacing="3",
            width="100%",
        ),
        spacing="4",
        width="100%",
    )


@app_page("/reports/team", "Team report", on_load=[S.load])
def team_report_page() -> Any:
    return rx.cond(
        S.allowed,
        _content(),
        rx.cond(
            S.refused,
            empty_state("lock", "Not available", "The team report is for managers."),
            rx.center(rx.spinner(), padding="48px"),
        ),
    )
