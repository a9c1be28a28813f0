"""/audit: the audit trail."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.ui import (
    card,
    data_table,
    datetime_text,
    empty_state,
    list_pager,
    page_header,
)
from brm_app.state.audit import PAGE_SIZE
from brm_app.state.audit import AuditState as S


def _filters() -> rx.Component:
    return rx.flex(
        rx.input(
            rx.input.slot(rx.icon("user-search", size=16)),
            placeholder="Actor name starts with…, or an exact email",
            on_change=S.set_actor_q.debounce(300),
            max_length=100,
            width=rx.breakpoints(initial="100%", sm="240px"),
            id="audit-actor",
        ),
        rx.select.root(
            rx.select.trigger(placeholder="Entity", aria_label="Filter by entity"),
            rx.select.content(
                rx.select.item("All entities", value="all"),
                rx.foreach(S.entities, lambda e: rx.select.item(e, value=e)),
            ),
            value=S.entity,
            on_change=S.set_entity,
        ),
        rx.hstack(
            rx.text("From", size="2", color_scheme="gray"),
            rx.input(
                type="date",
                value=S.date_from,
                on_change=S.set_date_from,
                aria_label="From date",
                id="audit-from",
            ),
            rx.text("to", size="2", color_scheme="gray"),
            rx.input(
                type="date",
                value=S.date_to,
                on_change=S.set_date_to,
                aria_label="To date",
                id="audit-to",
            ),
            align="center",
            spacing="2",
        ),
        rx.button("Clear", variant="ghost", on_click=S.clear_filters),
        gap="8px",
        wrap="wrap",
        align="center",
        width="100%",
    )


def _sealed_values(r: Any) -> Any:
    """Encrypted values show as digests; compliance can open them (the reading is traced)."""
    return rx.cond(
        S.revealed_seq == r["seq"],
        rx.vstack(
            rx.text("Encrypted values of this event (your reading is recorded)", size="2"),
            rx.code_block(S.revealed_values, language="json", wrap_long_lines=True),
            spacing="1",
            width="100%",
            id="audit-revealed",
        ),
        rx.button(
            rx.icon("eye", size=14),
            "Show encrypted values",
            variant="soft",
            size="1",
            on_click=S.reveal_values(r["seq"]),  # type: ignore[operator]
            title="Opens the values kept encrypted; the reading is recorded as a read trace",
        ),
    )


def _row(r) -> rx.Component:
    return rx.fragment(
        rx.table.row(
            rx.table.cell(rx.text("#", r["seq"], size="1", color_scheme="gray")),
            rx.table.cell(datetime_text(r["when"]), white_space="nowrap"),
            rx.table.cell(rx.text(r["who"], size="2")),
            rx.table.cell(
                rx.vstack(
                    rx.text(r["what"], size="2", weight="medium"),
                    rx.code(r["action"], size="1", variant="ghost"),
                    spacing="0",
                )
            ),
            rx.table.cell(rx.text(r["entity"], " ", r["entity_id"], size="2")),
            rx.table.cell(rx.code(r["ip"], variant="ghost", size="1")),
            rx.table.cell(
                rx.icon_button(
                    rx.icon(
                        rx.cond(S.expanded == r["event_id"], "chevron-up", "chevron-down"), size=14
                    ),
                    variant="ghost",
                    on_click=S.toggle(r["event_id"]),
                    aria_label="Show changes",
                )
            ),
            align="center",
        ),
        rx.cond(
            S.expanded == r["event_id"],
            rx.table.row(
                rx.table.cell(
                    rx.code_block(r["changes"], language="json", wrap_long_lines=True),
                    rx.cond(r["sealed"], _sealed_values(r)),
                    col_span=7,
                )
            ),
        ),
    )


@app_page("/audit", "Audit trail", on_load=[S.load])
def audit_trail() -> rx.Component:
    return rx.vstack(
        page_header(
            "Audit trail",
            "Every change, sign-in and sign-out, append-only and hash-chained.",
            rx.button(
                rx.cond(S.verifying, rx.spinner(size="1"), rx.icon("shield-check", size=16)),
                "Verify chain",
                variant="soft",
                on_click=S.verify,
                disabled=S.verifying,
                id="verify-chain",
            ),
        ),
        rx.cond(
            S.chain_status != "",
            rx.callout(
                S.chain_status,
                icon=rx.cond(S.chain_ok, "circle-check", "circle-alert"),
                color_scheme=rx.cond(S.chain_ok, "green", "red"),
                width="100%",
                id="chain-status",
            ),
        ),
        card(
            rx.vstack(
                _filters(),
                rx.cond(
                    S.filter_error != "", rx.text(S.filter_error, color_scheme="red", size="2")
                ),
                rx.cond(
                    S.shown > 0,
                    data_table(
                        ["#", "When", "Actor", "Action", "Record", "Address", ""], S.rows, _row
                    ),
                    empty_state(
                        "scroll-text", "No events match", "Change the filters to see more."
                    ),
                ),
                list_pager(S, PAGE_SIZE, S.total.to_string()),
                spacing="3",
                width="100%",
            )
        ),
        width="100%",
    )
