"""/communications/log: the compliance view of every communication on every channel."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.ui import card, empty_state, field, page_header, table_scroll
from brm_app.state.communication_log import CommLogState

S: Any = CommLogState


def _input(name: str, label: str, placeholder: str = "", type_: str = "text") -> Any:
    return field(
        label,
        rx.input(name=name, placeholder=placeholder, type=type_, id=f"log-{name}", width="100%"),
    )


def _labelled(label: str, control: Any) -> Any:
    """A label wrapping its control (one per triage item: no shared ids in the list)."""
    return rx.el.label(
        rx.text(label, as_="span", size="1", weight="medium"),
        control,
        style={"display": "flex", "flexDirection": "column", "gap": "2px"},
    )


def _triage_item(t: Any) -> Any:
    """One unmatched email or SMS: what came in, then assign it (trader id, optionally the
    conversation id) or dismiss it with a reason."""
    hidden = rx.el.input(type="hidden", name="triage_id", value=t["id"].to_string())
    return rx.box(
        rx.text(
            rx.text.strong(t["channel"], " from ", t["from"]),
            " ",
            t["at"],
            size="2",
        ),
        rx.cond(t["subject"] != "", rx.text(t["subject"], size="2", weight="medium")),
        rx.text(t["text"], size="2", white_space="pre-wrap"),
        rx.cond(t["files"] != "", rx.text("Files: ", t["files"], size="1", color_scheme="gray")),
        rx.flex(
            rx.form(
                hidden,
                rx.flex(
                    _labelled(
                        "Trader id",
                        rx.input(name="trader_id", required=True, input_mode="numeric", size="1"),
                    ),
                    _labelled(
                        "Conversation id (optional)",
                        rx.input(name="conversation_id", input_mode="numeric", size="1"),
                    ),
                    rx.button("Assign", type="submit", size="1", class_name="triage-assign"),
                    gap="2",
                    align="end",
                    wrap="wrap",
                ),
                on_submit=S.assign_triage,
                reset_on_submit=True,
            ),
            rx.form(
                hidden,
                rx.flex(
                    _labelled("Reason", rx.input(name="reason", required=True, size="1")),
                    rx.button(
                        "Dismiss",
                        type="submit",
                        size="1",
                        variant="soft",
                        color_scheme="gray",
                        class_name="triage-dismiss",
                    ),
                    gap="2",
                    align="end",
                    wrap="wrap",
                ),
                on_submit=S.dismiss_triage,
                reset_on_submit=True,
            ),
            gap="4",
            wrap="wrap",
            margin_top="2",
        ),
        class_name="triage-item",
        padding_bottom="2",
        border_bottom="1px solid var(--gray-a5)",
        width="100%",
    )


def _filters() -> Any:
    return rx.form(
        rx.grid(
            _input("text", "Text", "words in the message"),
            _input("trader_id", "Trader id"),
            _input("broker_id", "Broker id"),
            _input("firm_id", "Firm id"),
            field(
                "Channel",
                rx.el.select(
                    rx.el.option("Any", value=""),
                    rx.el.option("In-app", value="in_app"),
                    rx.el.option("Email", value="email"),
                    rx.el.option("SMS", value="sms"),
                    name="channel",
                    id="log-channel",
                ),
            ),
            _input("date_from", "From", type_="date"),
            _input("date_to", "To", type_="date"),
            columns=rx.breakpoints(initial="1", sm="2", md="4"),
            spacing="3",
            width="100%",
        ),
        rx.hstack(
            rx.button(rx.icon("search", size=16), "Search", type="submit", id="log-search"),
            # Document requests: the browser downloads them (rx.el.a is a React Router link,
            # which would route the address in the app without reload_document).
            rx.el.a(
                rx.button("Export CSV", variant="soft", type="button", tab_index=-1),
                href=S.csv_url,
                download="communication-log.csv",
                reload_document=True,
                id="log-export-csv",
            ),
            rx.el.a(
                rx.button("Export package", variant="soft", type="button", tab_index=-1),
                href=S.zip_url,
                download="communication-log.zip",
                reload_document=True,
                id="log-export-zip",
            ),
            margin_top="12px",
            wrap="wrap",
        ),
        on_submit=S.search,
        width="100%",
    )


def _row(r: Any) -> Any:
    return rx.table.row(
        rx.table.cell(rx.moment(r["at"], format="YYYY-MM-DD HH:mm", local=True)),
        rx.table.cell(rx.text(r["channel"], " · ", r["direction"], " · ", r["kind"], size="1")),
        rx.table.cell(rx.text(r["sender"], size="1")),
        rx.table.cell(rx.text(r["to"], size="1")),
        rx.table.cell(rx.text(r["content"], size="1", white_space="pre-wrap")),
        rx.table.cell(rx.text(r["status"], size="1")),
        rx.table.cell(rx.code(r["hash"], size="1")),
    )


@app_page("/communications/log", "Communication log", on_load=[S.load])
def communication_log_page() -> Any:
    return rx.vstack(
        page_header(
            "Communication log",
            rx.text(
                S.total,
                " entries: every message on every channel, append-only, each "
                "vouched for by the audit trail.",
            ),
        ),
        card(
            _filters(),
            rx.cond(S.error != "", rx.callout(S.error, color_scheme="red", role="alert")),
        ),
        card(
            rx.cond(
                S.rows.length() > 0,
                table_scroll(
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                *[
                                    rx.table.column_header_cell(h)
                                    for h in (
                                        "When",
                                        "Channel",
                                        "From",
                                        "To",
                                        "Content",
                                        "Status",
                                        "Hash",
                                    )
                                ]
                            )
                        ),
                        rx.table.body(rx.foreach(S.rows, _row)),
                        size="1",
                        id="log-table",
                    )
                ),
                empty_state("scroll-text", "Nothing found", "No communication matches."),
            ),
        ),
        card(
            rx.heading("Unmatched inbound (triage)", size="4"),
            rx.cond(
                S.triage.length() > 0,
                rx.vstack(rx.foreach(S.triage, _triage_item), spacing="3", width="100%"),
                rx.text("Nothing waits for triage.", size="2", color_scheme="gray"),
            ),
        ),
        width="100%",
    )
