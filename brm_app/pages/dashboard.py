"""/: the dashboard."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.activity import type_icon
from brm_app.components.layout import app_page
from brm_app.components.ui import (
    card,
    datetime_text,
    local_number,
    page_header,
    role_badge,
    stat,
    table_scroll,
)
from brm_app.state.activity import ActivityState
from brm_app.state.auth import SessionState
from brm_app.state.dashboard import DashboardState


def _event_table(rows: Any, show_who: bool) -> rx.Component:
    return table_scroll(_event_table_root(rows, show_who))


def _event_table_root(rows: Any, show_who: bool) -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell("When"),
                *([rx.table.column_header_cell("Who")] if show_who else []),
                rx.table.column_header_cell("What"),
                rx.table.column_header_cell("Address"),
            )
        ),
        rx.table.body(
            rx.foreach(
                rows,
                lambda r: rx.table.row(
                    rx.table.cell(datetime_text(r["when"]), white_space="nowrap"),
                    *([rx.table.cell(r["who"])] if show_who else []),
                    rx.table.cell(r["what"]),
                    rx.table.cell(rx.code(r["ip"], variant="ghost")),
                ),
            )
        ),
        variant="ghost",
        size="1",
        width="100%",
    )


def _admin_panel() -> rx.Component:
    return rx.cond(
        DashboardState.is_admin_view,
        rx.grid(
            rx.link(
                stat("Active users", DashboardState.users_active, "users", "green"),
                href="/admin/users",
                underline="none",
            ),
            rx.link(
                stat("Inactive users", DashboardState.users_inactive, "user-x", "gray"),
                href="/admin/users?status=inactive",
                underline="none",
            ),
            rx.link(
                stat("Locked accounts", DashboardState.accounts_locked, "lock", "red"),
                href="/admin/users?status=locked",
                underline="none",
            ),
            card(
                rx.text("Active users by role", size="2", color_scheme="gray"),
                rx.flex(
                    rx.foreach(
                        DashboardState.users_by_role,
                        lambda r: rx.hstack(
                            role_badge(r["role"]),
                            rx.text(local_number(r["count"], 0), weight="bold", size="2"),
                            spacing="1",
                        ),
                    ),
                    wrap="wrap",
                    gap="8px",
                    padding_top="8px",
                ),
            ),
            columns=rx.breakpoints(initial="1", sm="2", lg="4"),
            spacing="4",
            width="100%",
        ),
    )


def _due_card() -> rx.Component:
    D = DashboardState
    return card(
        rx.flex(
            rx.icon("phone-outgoing", size=18, color=rx.color("amber", 10)),
            rx.heading("Due for contact", size="4"),
            rx.badge(D.due_total, variant="soft", color_scheme="amber"),
            rx.spacer(),
            rx.cond(
                ~D.own_book,
                rx.segmented_control.root(
                    rx.segmented_control.item("My firms", value="mine"),
                    rx.segmented_control.item("All", value="all"),
                    value=D.due_scope,
                    on_change=D.set_due_scope,
                    size="1",
                ),
            ),
            align="center",
            gap="8px",
            wrap="wrap",
        ),
        rx.text(
            "Firms whose last interaction is older than their tier allows, longest first.",
            size="2",
            color_scheme="gray",
            padding_y="6px",
        ),
        rx.cond(
            D.due.length() > 0,
            table_scroll(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Firm"),
                            rx.table.column_header_cell("Last contact"),
                            rx.table.column_header_cell("30 / 90 days"),
                            rx.table.column_header_cell("Follow-ups"),
                            rx.table.column_header_cell(""),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            D.due,
                            lambda d: rx.table.row(
                                rx.table.cell(
                                    rx.vstack(
                                        rx.link(
                                            d["name"], href=d["href"], weight="medium", size="2"
                                        ),
                                        rx.text(
                                            "Tier ",
                                            d["tier"],
                                            " · every ",
                                            d["interval"],
                                            " days",
                                            rx.cond(
                                                d["broker"] != "", " · " + d["broker"].to(str), ""
                                            ),
                                            size="1",
                                            color_scheme="gray",
                                        ),
                                        spacing="0",
                                    )
                                ),
                                rx.table.cell(
                                    rx.vstack(
                                        rx.text(d["last"], size="2"),
                                        rx.text(d["days"], size="1", color_scheme="gray"),
                                        spacing="0",
                                    )
                                ),
                                rx.table.cell(
                                    rx.text(
                                        local_number(d["n30"], 0),
                                        " / ",
                                        local_number(d["n90"], 0),
                                        size="2",
                                    )
                                ),
                                rx.table.cell(
                                    rx.hstack(
                                        rx.text(local_number(d["open"], 0), " open", size="2"),
                                        rx.cond(
                                            d["overdue"].to(int) > 0,
                                            rx.badge(
                                                local_number(d["overdue"], 0),
                                                " overdue",
                                                color_scheme="red",
                                                size="1",
                                            ),
                                        ),
                                        spacing="2",
                                    )
                                ),
                                rx.table.cell(
                                    rx.cond(
                                        SessionState.perms.contains("interactions.log"),
                                        rx.button(
                                            rx.icon("phone-call", size=12),
                                            "Log",
                                            size="1",
                                            variant="soft",
                                            on_click=ActivityState.open_log(
                                                d["firm_id"].to(int), 0, "dashboard"
                                            ),
                                        ),
                                    )
                                ),
                                align="center",
                            ),
                        )
                    ),
                    variant="ghost",
                    size="1",
                    width="100%",
                    id="due-for-contact",
                )
            ),
            rx.text("Every firm is within its contact interval.", size="2", color_scheme="gray"),
        ),
    )


def _follow_ups_card() -> rx.Component:
    D = DashboardState
    return card(
        rx.hstack(
            rx.icon("calendar-check", size=18, color=rx.color("indigo", 10)),
            rx.heading(
                rx.cond(D.team_view, "Team's open follow-ups", "My open follow-ups"),
                size="4",
            ),
            rx.cond(D.overdue_count > 0, rx.badge(D.overdue_count, " overdue", color_scheme="red")),
            rx.spacer(),
            rx.link("Calendar", href="/calendar", size="2"),
            align="center",
            spacing="2",
        ),
        rx.cond(
            D.my_follow_ups.length() > 0,
            rx.vstack(
                rx.foreach(
                    D.my_follow_ups,
                    lambda f: rx.hstack(
                        rx.icon(
                            rx.cond(f["overdue"].to(bool), "circle-alert", "circle"),
                            size=14,
                            color=rx.cond(
                                f["overdue"].to(bool), rx.color("red", 10), rx.color("gray", 9)
                            ),
                            flex_shrink="0",
                        ),
                        rx.vstack(
                            rx.link(f["title"], href=f["href"], size="2", weight="medium"),
                            rx.text(
                                f["firm"],
                                rx.cond(D.team_view, " · " + f["who"].to(str), ""),
                                " · due ",
                                f["due"],
                                size="1",
                                color=rx.cond(
                                    f["overdue"].to(bool), rx.color("red", 11), rx.color("gray", 11)
                                ),
                            ),
                            spacing="0",
                        ),
                        align="start",
                        spacing="2",
                        width="100%",
                    ),
                ),
                spacing="2",
                padding_top="8px",
            ),
            rx.text(
                "Nothing open. Plan follow-ups from a firm or the calendar.",
                size="2",
                color_scheme="gray",
                padding_top="8px",
            ),
        ),
    )


def _recent_card() -> rx.Component:
    D = DashboardState
    return card(
        rx.hstack(
            rx.icon("history", size=18, color=rx.color("indigo", 10)),
            rx.heading("Recent interactions", size="4"),
            align="center",
            spacing="2",
        ),
        rx.cond(
            D.recent.length() > 0,
            rx.vstack(
                rx.foreach(
                    D.recent,
                    lambda i: rx.hstack(
                        type_icon(i["type"].to(str), 14),
                        rx.vstack(
                            rx.link(i["subject"], href=i["href"], size="2", weight="medium"),
                            rx.text(
                                i["firm"],
                                " · ",
                                i["when"],
                                rx.cond(i["outcome"] != "", " · " + i["outcome"].to(str), ""),
                                size="1",
                                color_scheme="gray",
                            ),
                            spacing="0",
                        ),
                        align="start",
                        spacing="2",
                    ),
                ),
                spacing="2",
                padding_top="8px",
            ),
            rx.text(
                "No interactions logged yet.", size="2", color_scheme="gray", padding_top="8px"
            ),
        ),
    )


def _my_interactions_card() -> rx.Component:
    """A broker's interactions per month by type (Plotly follows the light/dark mode)."""
    chart: rx.Component = rx.cond(
        DashboardState.own_book,
        card(
            rx.plotly.basic(
                data=DashboardState.my_interactions_fig,
                use_resize_handler=True,
                config={"displaylogo": False, "responsive": True},
                style={"width": "100%", "height": "340px"},
                id="chart-my-interactions",
            ),
            min_width="0",
        ),
    )
    return chart


@app_page("/", "Dashboard", on_load=[DashboardState.load])
def dashboard() -> rx.Component:
    return rx.vstack(
        page_header(
            "Dashboard",
            rx.text(
                "Welcome back, ",
                SessionState.name,
                ". You are signed in as ",
                SessionState.role_label.lower(),
                ".",
            ),
        ),
        _admin_panel(),
        rx.cond(
            DashboardState.works_book,
            rx.grid(
                rx.box(_due_card(), grid_column=rx.breakpoints(initial="auto", xl="span 2")),
                rx.vstack(_follow_ups_card(), _recent_card(), spacing="4", width="100%"),
                columns=rx.breakpoints(initial="1", xl="3"),
                spacing="4",
                width="100%",
            ),
        ),
        _my_interactions_card(),
        rx.grid(
            card(
                rx.hstack(
                    rx.icon("shield-check", size=18, color=rx.color("indigo", 10)),
                    rx.heading("Your recent access", size="4"),
                    rx.spacer(),
                    rx.badge(DashboardState.my_live_sessions, " live session(s)", variant="soft"),
                    align="center",
                    spacing="2",
                    wrap="wrap",
                ),
                rx.text(
                    "Sign-ins, sign-outs and password changes on your account. Not you? Change your password in My account.",
                    size="2",
                    color_scheme="gray",
                    padding_y="8px",
                ),
                _event_table(DashboardState.my_access, show_who=False),
            ),
            rx.cond(
                DashboardState.show_audit,
                card(
                    rx.hstack(
                        rx.icon("scroll-text", size=18, color=rx.color("amber", 10)),
                        rx.heading("Latest audit events", size="4"),
                        rx.spacer(),
                        rx.link("Open audit trail", href="/audit", size="2"),
                        align="center",
                        spacing="2",
                    ),
                    _event_table(DashboardState.latest_events, show_who=True),
                ),
            ),
            columns=rx.breakpoints(initial="1", xl="2"),
            spacing="4",
            width="100%",
        ),
        spacing="5",
        width="100%",
    )
