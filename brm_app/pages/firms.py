"""/firms: the list of firms."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.firm_form import coverage_fields, firm_fields, form_dialog
from brm_app.components.layout import app_page
from brm_app.components.saved_views import save_view_dialog, views_bar
from brm_app.components.ui import (
    card,
    datetime_text,
    empty_state,
    list_pager,
    local_number,
    page_header,
    table_scroll,
)
from brm_app.models.firm import AccountStatus, Tier
from brm_app.state.auth import SessionState
from brm_app.state.firm_list_tools import COLUMN_LABELS, FirmListToolsState
from brm_app.state.firms import PAGE_SIZE, FirmsState
from brm_app.state.firms import FirmBrokersState as B

# Typed as Any: Reflex's stubs type state vars as their Python values (no `.contains`).
T: Any = FirmListToolsState
S: Any = FirmsState

STATUS_COLORS = {"Prospect": "blue", "Active": "green", "Inactive": "gray", "Suspended": "red"}
TIER_COLORS = {"A": "amber", "B": "indigo", "C": "gray"}


def status_badge(status) -> rx.Component:
    return rx.match(
        status,
        *[(s, rx.badge(s, color_scheme=c, variant="soft")) for s, c in STATUS_COLORS.items()],
        rx.badge(status, variant="soft"),
    )


def tier_badge(tier) -> rx.Component:
    return rx.match(
        tier,
        *[
            (t, rx.badge("Tier ", t, color_scheme=c, variant="surface"))
            for t, c in TIER_COLORS.items()
        ],
        rx.badge(tier, variant="surface"),
    )


def _sort_header(label: str, column: str, hidden: Any = "") -> rx.Component:
    return rx.table.column_header_cell(
        rx.button(
            label,
            rx.cond(
                S.sort == column,
                # Two static icons, not one named by a var (that one is imported at run time).
                rx.cond(
                    S.direction == "asc",
                    rx.icon("arrow-up", size=14),
                    rx.icon("arrow-down", size=14),
                ),
                rx.icon("arrow-up-down", size=14, opacity="0.35"),
            ),
            variant="ghost",
            color_scheme="gray",
            size="1",
            on_click=S.sort_by(column),
            aria_label=f"Sort by {label}",
        ),
        aria_sort=rx.cond(
            S.sort == column, rx.cond(S.direction == "asc", "ascending", "descending"), "none"
        ),
        class_name=hidden,
    )


def _filters() -> rx.Component:
    return rx.flex(
        rx.input(
            rx.input.slot(rx.icon("search", size=16)),
            rx.input.slot(rx.cond(S.loading, rx.spinner(size="1"))),
            placeholder="Search firms by name or LEI",
            default_value=S.q,
            # Drawn again with the view's search when a saved view is applied.
            key=T.view_key,
            on_change=S.search.debounce(150),
            max_length=100,
            width=rx.breakpoints(initial="100%", md="320px"),
            id="firm-search",
            aria_label="Search firms",
        ),
        rx.select.root(
            rx.select.trigger(aria_label="Filter by status"),
            rx.select.content(
                rx.select.item("Any status", value="all"),
                *[rx.select.item(s.value, value=s.value) for s in AccountStatus],
            ),
            value=S.status,
            on_change=lambda v: S.set_filter("status", v),
        ),
        rx.select.root(
            rx.select.trigger(aria_label="Filter by tier"),
            rx.select.content(
                rx.select.item("Any tier", value="all"),
                *[rx.select.item(f"Tier {t.value}", value=t.value) for t in Tier],
            ),
            value=S.tier,
            on_change=lambda v: S.set_filter("tier", v),
        ),
        rx.select.root(
            rx.select.trigger(aria_label="Filter by coverage", id="firm-coverage-filter"),
            rx.select.content(
                rx.select.item("All firms I can see", value="all"),
                rx.select.item("My firms", value="mine"),
                rx.cond(
                    S.filter_by_broker,
                    rx.select.group(
                        rx.select.label("Covered by"),
                        rx.foreach(B.brokers, lambda b: rx.select.item(b["name"], value=b["id"])),
                    ),
                ),
            ),
            value=S.coverage,
            on_change=lambda v: S.set_filter("coverage", v),
        ),
        rx.cond(
            SessionState.perms.contains("firms.restore"),
            rx.hstack(
                rx.switch(
                    checked=S.archived,
                    on_change=S.set_archived,
                    id="show-archived",
                    aria_label="Archived",
                ),
                rx.text("Archived", size="2"),
                align="center",
                spacing="2",
            ),
        ),
        gap="8px",
        wrap="wrap",
        align="center",
        width="100%",
    )


def _shown(column: str) -> Any:
    """A column the saved view hides stays in the row (the phone's card labels count cells),
    hidden by a class: a `display` prop lost to the cards' own `display` on a phone."""
    return rx.cond(T.columns.contains(column), "", "brm-col-hidden")


def _row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.checkbox(
                checked=T.selected.contains(r["firm_id"]),
                on_change=lambda v: T.toggle(r["firm_id"], v),
                aria_label="Select " + r["name"].to(str),
                class_name="firm-select",
            ),
            width="32px",
        ),
        rx.table.cell(
            rx.vstack(
                rx.link(r["name"], href=r["href"], weight="medium", class_name="firm-link"),
                rx.cond(
                    r["lei"] != "",
                    rx.text(r["lei"], size="1", color_scheme="gray", font_family="monospace"),
                ),
                spacing="0",
            )
        ),
        rx.table.cell(status_badge(r["status"]), class_name=_shown("status")),
        rx.table.cell(tier_badge(r["tier"]), class_name=_shown("tier")),
        rx.table.cell(rx.text(r["primary"], size="2"), class_name=_shown("primary")),
        rx.table.cell(rx.text(r["place"], size="2"), class_name=_shown("place")),
        rx.table.cell(
            rx.text(local_number(r["traders"], 0), size="2"),
            text_align="right",
            class_name=_shown("traders"),
        ),
        rx.table.cell(
            datetime_text(r["updated"]), white_space="nowrap", class_name=_shown("updated")
        ),
        align="center",
    )


def _bulk_bar() -> rx.Component:
    perms = SessionState.perms
    return rx.cond(
        T.selected_count > 0,
        rx.flex(
            rx.text(
                T.selected_count,
                rx.cond(T.selected_count == 1, " firm selected", " firms selected"),
                size="2",
                weight="medium",
                id="bulk-count",
            ),
            rx.cond(
                perms.contains("coverage.assign"),
                rx.button(
                    rx.icon("users", size=14),
                    "Assign coverage…",
                    size="1",
                    variant="soft",
                    on_click=T.ask("assign_coverage"),
                    id="bulk-coverage",
                ),
            ),
            rx.cond(
                perms.contains("data.export"),
                rx.link(
                    rx.button(rx.icon("download", size=14), "Export", size="1", variant="soft"),
                    href=T.selection_export_url,
                    download=True,
                    reload_document=True,
                    id="bulk-export",
                ),
            ),
            rx.cond(
                perms.contains("firms.archive"),
                rx.button(
                    rx.icon("archive", size=14),
                    "Archive…",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=T.ask("archive"),
                    id="bulk-archive",
                ),
            ),
            rx.button("Clear", size="1", variant="ghost", on_click=T.clear),
            gap="8px",
            wrap="wrap",
            align="center",
            padding="8px",
            border_radius="8px",
            background=rx.color("indigo", 2),
            width="100%",
            role="region",
            aria_label="Bulk actions",
        ),
    )


def _bulk_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(
                rx.cond(T.bulk_action == "archive", "Archive firms", "Assign coverage")
            ),
            rx.alert_dialog.description(T.confirm_text, size="2", id="bulk-confirm-text"),
            rx.cond(
                T.bulk_action == "assign_coverage",
                rx.box(
                    rx.el.label(
                        rx.text("Primary broker", size="2", weight="medium"),
                        html_for="bulk-primary",
                    ),
                    rx.select.root(
                        rx.select.trigger(
                            placeholder="Choose the primary broker", id="bulk-primary"
                        ),
                        rx.select.content(
                            rx.foreach(
                                B.brokers, lambda b: rx.select.item(b["name"], value=b["id"])
                            )
                        ),
                        value=T.bulk_primary,
                        on_change=T.set_bulk_primary,
                    ),
                    margin_top="12px",
                ),
            ),
            rx.cond(
                T.bulk_error != "",
                rx.text(T.bulk_error, size="2", color_scheme="red", role="alert"),
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.button(
                    rx.cond(T.bulk_action == "archive", "Archive", "Assign"),
                    color_scheme=rx.cond(T.bulk_action == "archive", "red", "indigo"),
                    on_click=T.confirm,
                    id="bulk-confirm",
                ),
                spacing="3",
                justify="end",
                margin_top="16px",
            ),
        ),
        open=T.bulk_open,
        on_open_change=T.set_bulk_open,
    )


def _table() -> rx.Component:
    return table_scroll(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell(
                        rx.checkbox(
                            on_change=T.toggle_page,
                            aria_label="Select the firms on this page",
                            id="select-page",
                        ),
                        width="32px",
                    ),
                    _sort_header("Name", "name"),
                    _sort_header("Status", "status", _shown("status")),
                    _sort_header("Tier", "tier", _shown("tier")),
                    rx.table.column_header_cell("Primary broker", class_name=_shown("primary")),
                    _sort_header("Location", "city", _shown("place")),
                    rx.table.column_header_cell(
                        "Traders", text_align="right", class_name=_shown("traders")
                    ),
                    _sort_header("Updated", "updated", _shown("updated")),
                )
            ),
            rx.table.body(rx.foreach(S.rows, _row)),
            variant="surface",
            width="100%",
            id="firms-table",
        )
    )


def _new_firm_dialog() -> rx.Component:
    return form_dialog(
        title="New firm",
        description="Fields are checked as you save: LEI check digits, international phone numbers, ISO country codes.",
        open_=S.dialog_open,
        on_open_change=S.set_dialog_open,
        on_submit=S.create,
        form_key=S.form_key,
        errors=S.errors,
        saving=S.saving,
        submit_label="Create firm",
        submit_id="firm-save",
        body=rx.vstack(
            firm_fields(S.form, S.errors),
            rx.cond(
                S.choose_coverage,
                coverage_fields(B.brokers, "", rx.Var.create([]), S.errors),
                rx.text(
                    "You will be the primary broker of this firm.", size="2", color_scheme="gray"
                ),
            ),
            spacing="4",
            width="100%",
        ),
    )


@app_page("/firms", "Firms", on_load=[S.load, T.load])
def firms_page() -> rx.Component:
    return rx.vstack(
        page_header(
            "Firms",
            rx.text(
                S.total,
                rx.cond(S.total == "1", " firm", " firms"),
                rx.cond(S.archived, " in the archive", ""),
            ),
            rx.cond(
                SessionState.perms.contains("data.export"),
                rx.link(
                    rx.button(rx.icon("download", size=16), "Export CSV", variant="soft"),
                    href=S.export_url,
                    is_external=False,
                    download=True,
                    reload_document=True,
                ),
            ),
            rx.cond(
                SessionState.perms.contains("data.import"),
                rx.link(
                    rx.button(rx.icon("file-up", size=16), "Import", variant="soft"),
                    href="/import?kind=firms",
                ),
            ),
            rx.cond(
                SessionState.perms.contains("firms.create"),
                rx.button(rx.icon("plus", size=16), "New firm", on_click=S.open_new, id="new-firm"),
            ),
        ),
        card(
            rx.vstack(
                _filters(),
                views_bar(T, "firm list"),
                _bulk_bar(),
                rx.cond(
                    S.shown > 0,
                    _table(),
                    rx.cond(
                        S.loading,
                        rx.center(rx.spinner(), padding="32px", width="100%"),
                        empty_state(
                            "building-2",
                            "No firms match",
                            "Change the search or filters, or add a firm.",
                        ),
                    ),
                ),
                list_pager(S, PAGE_SIZE, S.total),
                spacing="3",
                width="100%",
            )
        ),
        _new_firm_dialog(),
        _bulk_dialog(),
        save_view_dialog(T, COLUMN_LABELS),
        width="100%",
    )
