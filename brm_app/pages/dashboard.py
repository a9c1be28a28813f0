"""/: the dashboard."""

from __future__ import annotations

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.ui import card, datetime_text, page_header, role_badge, stat
from brm_app.state.auth import SessionState
from brm_app.state.dashboard import DashboardState


def _event_table(rows, show_who: bool) -> rx.Component:
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
                            rx.text(r["count"], weight="bold", size="2"),
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
