"""/notifications: every notification of the signed-in user."""

from __future__ import annotations

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.ui import card, empty_state, list_pager, page_header
from brm_app.state.notifications import PAGE_SIZE
from brm_app.state.notifications import NotificationsState as S


def _row(n) -> rx.Component:
    return rx.hstack(
        rx.icon(
            rx.match(n["kind"], ("reminder", "alarm-clock"), ("overdue", "triangle-alert"), "bell"),
            size=18,
            color=rx.cond(n["read"], rx.color("gray", 9), rx.color("indigo", 10)),
            flex_shrink="0",
        ),
        rx.vstack(
            rx.cond(
                n["link"] != "",
                rx.link(n["title"], href=n["link"], weight=rx.cond(n["read"], "regular", "bold")),
                rx.text(n["title"], weight=rx.cond(n["read"], "regular", "bold")),
            ),
            rx.text(n["body"], size="2", color_scheme="gray"),
            rx.moment(
                n["when"],
                format="YYYY-MM-DD HH:mm",
                local=True,
                font_size="12px",
                color=rx.color("gray", 9),
            ),
            spacing="1",
            flex="1",
        ),
        rx.cond(
            ~n["read"].to(bool),
            rx.button("Mark read", size="1", variant="soft", on_click=S.mark_read(n["id"])),
        ),
        align="start",
        spacing="3",
        width="100%",
        padding_y="10px",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
    )


@app_page("/notifications", "Notifications", on_load=[S.load])
def notifications_page() -> rx.Component:
    return rx.vstack(
        page_header(
            "Notifications",
            "Reminders and escalations. The bell at the top shows new ones as they arrive.",
            rx.button(
                rx.icon("check-check", size=16),
                "Mark all read",
                variant="soft",
                on_click=S.mark_all_read,
            ),
        ),
        card(
            rx.hstack(
                rx.switch(
                    checked=S.unread_only,
                    on_change=S.set_unread_only,
                    aria_label="Unread only",
                ),
                rx.text("Unread only", size="2"),
                align="center",
            ),
            rx.cond(
                S.shown > 0,
                rx.vstack(rx.foreach(S.rows, _row), spacing="0", width="100%"),
                empty_state(
                    "bell-off", "No notifications", "Reminders for your follow-ups appear here."
                ),
            ),
            list_pager(S, PAGE_SIZE, S.total.to_string()),
        ),
        width="100%",
    )
