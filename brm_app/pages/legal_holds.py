"""/compliance/holds: legal holds (place on a firm, trader, broker or date range; release) and the
read traces (who revealed contact details or downloaded an attachment, a report or an export)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.subject_picker import subject_picker
from brm_app.components.ui import card, data_table, empty_state, field, page_header, pager
from brm_app.state.legal_holds import PAGE, HoldsState, ReadTracesState

S: Any = HoldsState
T: Any = ReadTracesState
PAGE_SIZE: Any = PAGE


def _form() -> Any:
    return card(
        rx.heading("Place a legal hold", size="4", margin_bottom="4px"),
        rx.text(
            "What a hold covers is never purged by retention and cannot be voided, archived, "
            "merged or moved to another firm until the hold is released. Placing and releasing "
            "are in the audit trail.",
            size="2",
            color_scheme="gray",
            margin_bottom="12px",
        ),
        rx.cond(
            S.errors.contains("form"),
            rx.callout(S.errors["form"], color_scheme="red", role="alert"),
        ),
        subject_picker(S, prefix="hold", label="Hold on", with_dates=True),
        rx.form(
            rx.vstack(
                rx.cond(
                    S.scope == "dates",
                    rx.flex(
                        field(
                            "Held from",
                            rx.input(type="date", name="date_from", id="hold-from"),
                            S.errors.get("date_from", ""),
                        ),
                        field(
                            "Held to (included)",
                            rx.input(type="date", name="date_to", id="hold-to"),
                            S.errors.get("date_to", ""),
                        ),
                        gap="12px",
                        wrap="wrap",
                        width="100%",
                    ),
                ),
                field(
                    "Reason",
                    rx.input(name="reason", id="hold-reason", max_length=500, required=True),
                    S.errors.get("reason", ""),
                ),
                rx.button(rx.icon("lock", size=16), "Place hold", type="submit", id="hold-place"),
                spacing="3",
                width="100%",
                margin_top="12px",
            ),
            on_submit=S.place,
            reset_on_submit=True,
        ),
    )


def _hold(h: Any) -> Any:
    key = h["id"].to_string()
    return card(
        rx.vstack(
            rx.flex(
                rx.text(rx.text.strong(h["subject"]), " · ", h["reason"], size="2"),
                rx.spacer(),
                rx.cond(
                    h["active"],
                    rx.badge("Active", color_scheme="red"),
                    rx.badge("Released", color_scheme="gray"),
                ),
                width="100%",
                gap="8px",
                wrap="wrap",
            ),
            rx.text(h["placed"], size="1", color_scheme="gray"),
            rx.cond(h["released"] != "", rx.text(h["released"], size="1", color_scheme="gray")),
            rx.cond(
                h["active"],
                rx.form(
                    rx.flex(
                        rx.el.input(type="hidden", name="hold_id", value=key),
                        field(
                            "Reason for releasing",
                            rx.input(
                                name="reason",
                                max_length=500,
                                id="hold-release-reason-" + key,
                            ),
                            S.release_errors.get(key, ""),
                        ),
                        rx.button(
                            rx.icon("lock-open", size=16),
                            "Release",
                            type="submit",
                            variant="soft",
                            color_scheme="gray",
                            id="hold-release-" + key,
                            aria_label="Release the hold on " + h["subject"].to(str),
                        ),
                        gap="8px",
                        align="end",
                        wrap="wrap",
                        width="100%",
                    ),
                    on_submit=S.release,
                    reset_on_submit=True,
                ),
            ),
            spacing="2",
            width="100%",
        ),
        id="hold-" + key,
    )


def _traces() -> Any:
    return card(
        rx.heading("Read traces", size="4", margin_bottom="4px"),
        rx.text(
            "Who revealed a trader's contact details or downloaded an attachment, a report or "
            "an export, and when (recorded by a background job within seconds).",
            size="2",
            color_scheme="gray",
            margin_bottom="12px",
        ),
        rx.form(
            rx.flex(
                field(
                    "What was read",
                    rx.el.select(
                        rx.el.option("Everything", value=""),
                        rx.el.option("Contact details", value="contact_details"),
                        rx.el.option("Attachments", value="attachment"),
                        rx.el.option("Reports", value="report"),
                        rx.el.option("Exports", value="export"),
                        rx.el.option("Audit values", value="audit_values"),
                        name="what",
                        id="trace-what",
                    ),
                ),
                field("Read from", rx.input(type="date", name="date_from", id="trace-from")),
                field("Read to", rx.input(type="date", name="date_to", id="trace-to")),
                rx.button(rx.icon("filter", size=16), "Filter", type="submit", id="trace-filter"),
                gap="12px",
                align="end",
                wrap="wrap",
            ),
            on_submit=T.filter,
            reset_on_submit=False,
        ),
        rx.cond(T.error != "", rx.callout(T.error, color_scheme="red", role="alert")),
        rx.cond(
            T.traces.length() > 0,
            rx.box(
                data_table(
                    ["When", "Who", "What", "Record"],
                    T.traces,
                    lambda t: rx.table.row(
                        rx.table.cell(t["when"], white_space="nowrap"),
                        rx.table.cell(t["user"]),
                        rx.table.cell(t["what"]),
                        rx.table.cell(t["target"]),
                    ),
                ),
                pager(
                    T.offset,
                    PAGE_SIZE,
                    T.traces.length(),
                    T.total.to_string(),
                    T.offset > 0,
                    T.has_next,
                    T.prev_page,
                    T.next_page,
                ),
                width="100%",
                margin_top="12px",
                id="trace-list",
            ),
            empty_state("eye", "No read traced", "Nothing matches these filters yet."),
        ),
    )


@app_page("/compliance/holds", "Legal holds", on_load=[S.load, T.load])
def legal_holds_page() -> Any:
    return rx.vstack(
        page_header(
            "Legal holds",
            "Keep records as they are while a matter is open; see who read sensitive data.",
        ),
        _form(),
        rx.flex(
            rx.heading("Holds", size="4"),
            rx.spacer(),
            rx.el.label(
                rx.switch(
                    checked=S.show_released,
                    on_change=S.set_show_released,
                    id="hold-show-released",
                ),
                rx.text(" Show released", as_="span", size="2"),
                display="flex",
                align_items="center",
                gap="6px",
            ),
            width="100%",
            align="center",
        ),
        rx.cond(
            S.holds.length() > 0,
            rx.vstack(rx.foreach(S.holds, _hold), spacing="2", width="100%", id="hold-list"),
            card(empty_state("lock-open", "No hold", "Nothing is on hold.")),
        ),
        _traces(),
        width="100%",
    )
