"""/communications/log: the compliance view of every communication on every channel."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.subject_picker import name_matches
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


def _finder(kind: str, label: str, placeholder: str) -> Any:
    """Choose a trader, broker or firm by part of its name: matches as buttons, the choice as a
    chip with a way to remove it (no ids to know)."""
    chosen = S.picked[kind]
    return rx.vstack(
        rx.el.label(rx.text(label, as_="span", size="2", weight="medium"), html_for=f"log-{kind}"),
        rx.cond(
            S.picked.contains(kind),
            rx.hstack(
                # A long name wraps inside its column instead of running under the next one.
                rx.text(
                    chosen["label"].to(str),
                    size="2",
                    padding="2px 8px",
                    border_radius="var(--radius-2)",
                    background="var(--accent-a3)",
                    color="var(--accent-11)",
                    min_width="0",
                    overflow_wrap="anywhere",
                ),
                rx.icon_button(
                    rx.icon("x", size=14),
                    type="button",
                    variant="ghost",
                    size="1",
                    aria_label="Remove " + label.lower(),
                    on_click=S.unpick(kind),
                ),
                align="center",
                width="100%",
                min_width="0",
                id=f"log-{kind}-chosen",
            ),
            rx.vstack(
                rx.input(
                    placeholder=placeholder,
                    on_change=S.find(kind).debounce(200),
                    id=f"log-{kind}",
                    max_length=100,
                    auto_complete="off",
                    width="100%",
                ),
                rx.cond(
                    (S.finding == kind) & (S.found.length() > 0),
                    name_matches(
                        S.found,
                        lambda i, name: S.pick(kind, i, name),
                        f"Matching {label.lower()}s",
                        size="1",
                    ),
                ),
                spacing="1",
                width="100%",
            ),
        ),
        spacing="1",
        width="100%",
        min_width="0",
        align="stretch",
    )


def _assign_form(t: Any) -> Any:
    """Assigning one item: the trader who sent it, found by name, then which conversation
    (their latest one at their firm unless another is chosen)."""
    hidden = rx.el.input(type="hidden", name="triage_id", value=t["id"].to_string())
    return rx.form(
        hidden,
        rx.flex(
            rx.box(_finder("assignee", "Trader", "Type part of the name"), min_width="220px"),
            rx.cond(
                S.picked.contains("assignee"),
                field(
                    "Conversation",
                    rx.el.select(
                        rx.el.option("Their latest conversation", value=""),
                        rx.foreach(
                            S.assignee_conversations,
                            lambda c: rx.el.option(c["label"], value=c["id"].to_string()),
                        ),
                        name="conversation_id",
                        id="triage-conversation",
                    ),
                ),
            ),
            rx.button(
                "Assign",
                type="submit",
                size="1",
                class_name="triage-assign",
                disabled=~S.picked.contains("assignee"),
            ),
            rx.button(
                "Cancel",
                type="button",
                size="1",
                variant="ghost",
                on_click=S.cancel_assigning,
            ),
            gap="2",
            align="end",
            wrap="wrap",
        ),
        on_submit=S.assign_triage,
    )


def _triage_item(t: Any) -> Any:
    """One unmatched email or SMS: what came in, then assign it (to a trader found by name, in
    one of their conversations) or dismiss it with a reason."""
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
            rx.cond(
                S.assigning == t["id"],
                _assign_form(t),
                rx.button(
                    rx.icon("user-check", size=14),
                    "Assign to a trader…",
                    type="button",
                    size="1",
                    on_click=S.start_assigning(t["id"]),
                    class_name="triage-start-assign",
                ),
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
            _finder("trader", "Trader", "Type part of a name"),
            _finder("broker", "Broker", "Type part of a name"),
            _finder("firm", "Firm", "Type part of a name"),
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
