"""/traders: every trader at the firms the user may see."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.saved_views import save_view_dialog, views_bar
from brm_app.components.ui import (
    card,
    datetime_text,
    empty_state,
    list_pager,
    page_header,
    table_scroll,
)
from brm_app.models.trader import TraderStatus
from brm_app.state.auth import SessionState
from brm_app.state.trader_list_tools import COLUMN_LABELS, TraderListToolsState
from brm_app.state.traders import PAGE_SIZE, TradersState

# Typed as Any: Reflex's stubs type state vars as their Python values (no `.contains`).
S: Any = TradersState
T: Any = TraderListToolsState


def _shown(column: str) -> Any:
    """A column the saved view hides stays in the row (the phone's card labels count cells),
    hidden by a class: a `display` prop lost to the cards' own `display` on a phone."""
    return rx.cond(T.columns.contains(column), "", "brm-col-hidden")


def _sort_header(label: str, column: str) -> rx.Component:
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
        class_name=_shown(column),
    )


def _roles_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Trader roles"),
            rx.dialog.description(
                "Roles a trader can hold at a firm. Built-in roles stay; custom roles can be removed when no trader holds them.",
                size="2",
                color_scheme="gray",
            ),
            rx.vstack(
                rx.foreach(
                    S.roles,
                    lambda r: rx.hstack(
                        rx.text(r, size="2"),
                        rx.spacer(),
                        rx.icon_button(
                            rx.icon("trash-2", size=14),
                            variant="ghost",
                            color_scheme="gray",
                            size="1",
                            on_click=S.remove_role(r),
                            aria_label="Remove role " + r,
                        ),
                        width="100%",
                        align="center",
                    ),
                ),
                rx.divider(),
                rx.hstack(
                    rx.input(
                        placeholder="New role, e.g. Risk Manager",
                        value=S.new_role,
                        on_change=S.set_new_role,
                        max_length=60,
                        flex="1",
                        id="new-role",
                    ),
                    rx.button("Add", on_click=S.add_role, id="add-role"),
                    width="100%",
                ),
                rx.cond(
                    S.role_error != "",
                    rx.text(S.role_error, size="1", color_scheme="red", role="alert"),
                ),
                rx.hstack(
                    rx.dialog.close(rx.button("Done", variant="soft")), justify="end", width="100%"
                ),
                spacing="2",
                margin_top="12px",
            ),
            max_width="440px",
        ),
        open=S.roles_open,
        on_open_change=S.set_roles_open,
    )


@app_page("/traders", "Traders", on_load=[S.load, T.load])
def traders_page() -> rx.Component:
    return rx.vstack(
        page_header(
            "Traders",
            rx.text(
                S.total,
                rx.cond(S.total == "1", " trader", " traders"),
                " at the firms you can see",
            ),
            rx.cond(
                SessionState.perms.contains("traders.roles"),
                rx.button(
                    rx.icon("tags", size=16),
                    "Roles",
                    variant="soft",
                    on_click=S.set_roles_open(True),
                    id="manage-roles",
                ),
            ),
            rx.cond(
                SessionState.perms.contains("data.export"),
                rx.link(
                    rx.button(rx.icon("download", size=16), "Export CSV", variant="soft"),
                    href=S.export_url,
                    download=True,
                    reload_document=True,
                ),
            ),
        ),
        card(
            rx.vstack(
                rx.flex(
                    rx.input(
                        rx.input.slot(rx.icon("search", size=16)),
                        rx.input.slot(rx.cond(S.loading, rx.spinner(size="1"))),
                        placeholder="Search by name or email",
                        default_value=S.q,
                        # Drawn again with the view's search when a saved view is applied.
                        key=T.view_key,
                        on_change=S.search.debounce(250),
                        max_length=100,
                        width=rx.breakpoints(initial="100%", md="320px"),
                        id="trader-search",
                        aria_label="Search traders",
                    ),
                    rx.select.root(
                        rx.select.trigger(aria_label="Filter by status"),
                        rx.select.content(
                            rx.select.item("Any status", value="all"),
                            rx.select.item("Active", value=TraderStatus.ACTIVE.value),
                            rx.select.item("Left the firm", value=TraderStatus.LEFT.value),
                        ),
                        value=S.status,
                        on_change=S.set_status,
                    ),
                    rx.select.root(
                        rx.select.trigger(aria_label="Filter by role"),
                        rx.select.content(
                            rx.select.item("Any role", value="all"),
                            rx.foreach(S.roles, lambda r: rx.select.item(r, value=r)),
                        ),
                        value=S.role,
                        on_change=S.set_role,
                    ),
                    gap="8px",
                    wrap="wrap",
                    width="100%",
                ),
                views_bar(T, "trader list"),
                rx.cond(
                    S.shown > 0,
                    table_scroll(
                        rx.table.root(
                            rx.table.header(
                                rx.table.row(
                                    _sort_header("Name", "name"),
                                    # Not sortable: emails are stored encrypted (encryption at rest).
                                    rx.table.column_header_cell(
                                        "Email", class_name=_shown("email")
                                    ),
                                    rx.table.column_header_cell("Firm", class_name=_shown("firm")),
                                    _sort_header("Role", "role"),
                                    rx.table.column_header_cell(
                                        "Phone", class_name=_shown("phone")
                                    ),
                                    rx.table.column_header_cell(
                                        "Status", class_name=_shown("status")
                                    ),
                                    _sort_header("Updated", "updated"),
                                )
                            ),
                            rx.table.body(
                                rx.foreach(
                                    S.rows,
                                    lambda r: rx.table.row(
                                        rx.table.cell(
                                            rx.link(r["name"], href=r["href"], weight="medium")
                                        ),
                                        rx.table.cell(
                                            rx.text(r["email"], size="2"),
                                            class_name=_shown("email"),
                                        ),
                                        rx.table.cell(
                                            rx.link(
                                                r["firm_name"],
                                                href="/firms/" + r["firm_id"].to(str),
                                                size="2",
                                            ),
                                            class_name=_shown("firm"),
                                        ),
                                        rx.table.cell(
                                            rx.text(r["role"], size="2"), class_name=_shown("role")
                                        ),
                                        rx.table.cell(
                                            rx.text(r["phone"], size="2", white_space="nowrap"),
                                            class_name=_shown("phone"),
                                        ),
                                        rx.table.cell(
                                            rx.cond(
                                                r["left"],
                                                rx.badge("Left", color_scheme="gray"),
                                                rx.badge(
                                                    "Active", color_scheme="green", variant="soft"
                                                ),
                                            ),
                                            class_name=_shown("status"),
                                        ),
                                        rx.table.cell(
                                            datetime_text(r["updated"]),
                                            white_space="nowrap",
                                            class_name=_shown("updated"),
                                        ),
                                        align="center",
                                    ),
                                )
                            ),
                            variant="surface",
                            width="100%",
                        )
                    ),
                    empty_state("contact", "No traders match", "Change the search or filters."),
                ),
                list_pager(S, PAGE_SIZE, S.total),
                spacing="3",
                width="100%",
            )
        ),
        _roles_dialog(),
        save_view_dialog(T, COLUMN_LABELS),
        width="100%",
    )
