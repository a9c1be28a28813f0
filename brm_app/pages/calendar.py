"""/calendar: follow-ups and interactions by month, week, day, or as an agenda."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.ui import card, empty_state, field, page_header
from brm_app.state.activity import ActivityState
from brm_app.state.auth import SessionState
from brm_app.state.calendar import CalendarState as S

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
can = SessionState.perms.contains


def _chip(item, compact: bool = True) -> rx.Component:
    is_fu = item["kind"] == "follow_up"
    color = rx.cond(
        item["overdue"].to(bool),
        "red",
        rx.cond(is_fu, rx.cond(item["done"].to(bool), "gray", "amber"), "indigo"),
    )
    chip = rx.hstack(
        rx.icon(rx.cond(is_fu, "calendar-check", "message-circle"), size=12, flex_shrink="0"),
        rx.text(item["time"], size="1", weight="bold", flex_shrink="0"),
        # Time, title and firm, as much as there is room for (the rest in the tooltip).
        rx.text(
            rx.el.span(
                item["title"],
                text_decoration=rx.cond(item["done"].to(bool), "line-through", "none"),
            ),
            rx.cond(
                item["firm"].to(str) != "",
                rx.el.span(" · ", item["firm"], opacity="0.8", class_name="cal-chip-firm"),
            ),
            size="1",
            overflow="hidden",
            text_overflow="ellipsis",
            white_space="nowrap",
            min_width="0",
        ),
        spacing="1",
        align="center",
        padding="2px 6px",
        border_radius="4px",
        background=rx.color(color, 3),
        color=rx.color(color, 11),
        width="100%",
        min_width="0",
        overflow="hidden",
    )
    link = rx.link(
        chip,
        href=item["href"],
        underline="none",
        # In a month cell the chip fills it; in a list it is as wide as its text.
        width="100%" if compact else "auto",
        max_width="100%",
        min_width="0",
        class_name=rx.cond(item["overdue"].to(bool), "cal-item overdue", "cal-item"),
    )
    if compact:
        return rx.tooltip(
            link,
            content=item["title"].to(str)
            + " — "
            + item["firm"].to(str)
            + " ("
            + item["person"].to(str)
            + ")",
        )
    return link


def _move_button(item) -> rx.Component:
    return rx.cond(
        (item["kind"] == "follow_up") & ~item["done"].to(bool) & can("follow_ups.edit"),
        rx.icon_button(
            rx.icon("move", size=12),
            size="1",
            variant="ghost",
            on_click=S.ask_move(item["id"]),
            aria_label="Move follow-up",
            class_name="cal-move",
        ),
    )


def _month() -> rx.Component:
    return rx.box(
        rx.grid(
            *[
                rx.text(d, size="1", weight="bold", color_scheme="gray", padding="4px")
                for d in WEEKDAYS
            ],
            rx.foreach(
                S.weeks,
                lambda week: rx.foreach(
                    week,
                    lambda day: rx.vstack(
                        rx.hstack(
                            rx.button(
                                day["num"],
                                size="1",
                                variant=rx.cond(day["today"].to(bool), "solid", "ghost"),
                                color_scheme=rx.cond(day["in_month"].to(bool), "indigo", "gray"),
                                on_click=S.open_day(day["date"]),
                                aria_label="Open " + day["long"].to(str),
                                class_name="cal-day-num",
                            ),
                            # On a phone: a dot with the day's count; a tap lists them below.
                            rx.cond(
                                day["count"].to(int) > 0,
                                rx.button(
                                    rx.box(
                                        width="6px",
                                        height="6px",
                                        border_radius="3px",
                                        background=rx.color("amber", 9),
                                    ),
                                    day["count"],
                                    size="1",
                                    variant="ghost",
                                    color_scheme="gray",
                                    on_click=S.pick(day["date"]),
                                    aria_label=day["count"].to(str) + " on " + day["long"].to(str),
                                    class_name="cal-dots",
                                ),
                            ),
                            rx.spacer(),
                            rx.cond(
                                can("follow_ups.edit") & ~day["past"].to(bool),
                                rx.icon_button(
                                    rx.icon("plus", size=12),
                                    size="1",
                                    variant="ghost",
                                    color_scheme="gray",
                                    on_click=ActivityState.open_follow_up(
                                        0, day["date"], "calendar", 0
                                    ),
                                    aria_label="Schedule a follow-up on " + day["long"].to(str),
                                    class_name="cal-add",
                                ),
                            ),
                            width="100%",
                            align="center",
                        ),
                        rx.box(
                            rx.foreach(
                                day["items"].to(list[dict[str, Any]]),
                                lambda item: rx.hstack(
                                    _chip(item),
                                    _move_button(item),
                                    spacing="0",
                                    width="100%",
                                    min_width="0",
                                ),
                            ),
                            class_name="cal-chips",
                            width="100%",
                        ),
                        spacing="1",
                        padding="4px",
                        min_height="110px",
                        min_width="0",
                        background=rx.cond(
                            day["in_month"].to(bool), rx.color("gray", 1), rx.color("gray", 2)
                        ),
                        border=f"1px solid {rx.color('gray', 4)}",
                        class_name="cal-day",
                        data_date=day["date"],
                    ),
                ),
            ),
            columns="7",
            spacing="0",
            width="100%",
            class_name="cal-month",
        ),
        _picked_day(),
        width="100%",
    )


def _picked_day() -> rx.Component:
    """Under the month grid on a phone: the items of the day picked (today at first)."""
    day = S.picked_day
    return rx.box(
        rx.text(day["long"], weight="bold", size="2", margin_bottom="6px"),
        rx.cond(
            day["items"].to(list[dict[str, Any]]).length() > 0,
            rx.vstack(
                rx.foreach(
                    day["items"].to(list[dict[str, Any]]),
                    lambda item: rx.hstack(
                        _chip(item, compact=False),
                        _move_button(item),
                        width="100%",
                        align="center",
                        spacing="2",
                    ),
                ),
                spacing="1",
                width="100%",
            ),
            rx.text("Nothing planned.", size="1", color_scheme="gray"),
        ),
        class_name="cal-picked",
        padding_top="12px",
        id="cal-picked",
    )


def _day_list(show_empty: bool) -> rx.Component:
    return rx.vstack(
        rx.foreach(
            S.days,
            lambda day: rx.box(
                rx.hstack(
                    rx.text(
                        day["long"],
                        weight="bold",
                        size="2",
                        color=rx.cond(
                            day["today"].to(bool), rx.color("indigo", 11), rx.color("gray", 12)
                        ),
                    ),
                    rx.spacer(),
                    rx.cond(
                        can("follow_ups.edit") & ~day["past"].to(bool),
                        rx.button(
                            rx.icon("plus", size=12),
                            "Follow-up",
                            size="1",
                            variant="ghost",
                            on_click=ActivityState.open_follow_up(0, day["date"], "calendar", 0),
                        ),
                    ),
                    width="100%",
                    align="center",
                ),
                rx.cond(
                    day["items"].to(list[dict[str, Any]]).length() > 0,
                    rx.vstack(
                        rx.foreach(
                            day["items"].to(list[dict[str, Any]]),
                            lambda item: rx.hstack(
                                _chip(item, compact=False),
                                rx.text(
                                    item["firm"],
                                    " · ",
                                    item["person"],
                                    rx.cond(
                                        item["detail"] != "", " · " + item["detail"].to(str), ""
                                    ),
                                    size="1",
                                    color_scheme="gray",
                                    min_width="0",
                                ),
                                _move_button(item),
                                width="100%",
                                align="center",
                                spacing="2",
                                # On a phone the firm and person go under the chip.
                                wrap="wrap",
                            ),
                        ),
                        spacing="1",
                        width="100%",
                        padding_top="6px",
                    ),
                    rx.text("Nothing planned.", size="1", color_scheme="gray")
                    if show_empty
                    else rx.fragment(),
                ),
                padding="10px",
                border_bottom=f"1px solid {rx.color('gray', 4)}",
                width="100%",
                data_date=day["date"],
                class_name="cal-day",
            ),
        ),
        spacing="0",
        width="100%",
    )


def _move_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Move ", S.move_title),
            rx.dialog.description(
                "Times in your time zone (",
                S.tz,
                "). Its pending reminders move with it.",
                size="2",
                color_scheme="gray",
            ),
            rx.hstack(
                field(
                    "Date",
                    rx.input(
                        type="date", value=S.move_day, on_change=S.set_move_day, id="cal-move-day"
                    ),
                ),
                field(
                    "Time",
                    rx.input(
                        type="time",
                        value=S.move_time,
                        on_change=S.set_move_time,
                        id="cal-move-time",
                    ),
                ),
                spacing="2",
                margin_y="12px",
            ),
            rx.cond(
                S.move_error != "",
                rx.text(S.move_error, size="1", color_scheme="red", role="alert"),
            ),
            rx.hstack(
                rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.button("Move", on_click=S.move, id="cal-move-save"),
                justify="end",
                spacing="2",
            ),
        ),
        open=S.move_open,
        on_open_change=S.set_move_open,
    )


@app_page("/calendar", "Calendar", on_load=[S.load])
def calendar_page() -> rx.Component:
    return rx.vstack(
        page_header(
            "Calendar",
            rx.text(
                "Follow-ups (amber, red when overdue) and logged interactions (blue). Times in ",
                S.tz,
                ".",
            ),
            rx.cond(
                can("follow_ups.edit"),
                rx.button(
                    rx.icon("calendar-plus", size=16),
                    "Schedule follow-up",
                    on_click=ActivityState.open_follow_up(0, "", "calendar", 0),
                    id="cal-new-follow-up",
                ),
            ),
        ),
        card(
            rx.flex(
                rx.hstack(
                    rx.icon_button(
                        rx.icon("chevron-left", size=16),
                        variant="soft",
                        on_click=S.shift(-1),
                        aria_label="Previous",
                    ),
                    rx.button("Today", variant="soft", on_click=S.today),
                    rx.icon_button(
                        rx.icon("chevron-right", size=16),
                        variant="soft",
                        on_click=S.shift(1),
                        aria_label="Next",
                    ),
                    rx.heading(S.title, size="4", id="cal-title"),
                    rx.cond(S.loading, rx.spinner(size="1")),
                    spacing="2",
                    align="center",
                ),
                rx.spacer(),
                rx.hstack(
                    rx.cond(
                        S.can_choose,
                        rx.select.root(
                            rx.select.trigger(aria_label="Whose calendar", id="cal-scope"),
                            rx.select.content(
                                rx.select.item("My calendar", value="mine"),
                                rx.select.item("Whole team", value="team"),
                                rx.select.group(
                                    rx.select.label("Broker"),
                                    rx.foreach(
                                        S.brokers,
                                        lambda b: rx.select.item(b["name"], value=b["id"]),
                                    ),
                                ),
                            ),
                            value=S.scope,
                            on_change=S.set_scope,
                        ),
                    ),
                    rx.segmented_control.root(
                        rx.segmented_control.item("Month", value="month"),
                        rx.segmented_control.item("Week", value="week"),
                        rx.segmented_control.item("Day", value="day"),
                        rx.segmented_control.item("Agenda", value="agenda"),
                        value=S.view,
                        on_change=S.set_view,
                        id="cal-view",
                    ),
                    spacing="2",
                    wrap="wrap",
                ),
                gap="12px",
                wrap="wrap",
                align="center",
                margin_bottom="12px",
            ),
            rx.match(
                S.view,
                ("month", _month()),
                (
                    "agenda",
                    rx.cond(
                        S.days.length() > 0,
                        _day_list(False),
                        empty_state(
                            "calendar", "Nothing coming up", "Schedule a follow-up to see it here."
                        ),
                    ),
                ),
                _day_list(True),
            ),
        ),
        _move_dialog(),
        width="100%",
    )
