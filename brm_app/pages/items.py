"""/interactions/[interaction_id] and /follow-ups/[follow_up_id]."""

from __future__ import annotations

import reflex as rx

from brm_app.components.activity import type_icon
from brm_app.components.layout import app_page
from brm_app.components.ui import card, datetime_text, empty_state
from brm_app.state.activity import ActivityState
from brm_app.state.auth import SessionState
from brm_app.state.items import FollowUpPageState as F
from brm_app.state.items import InteractionPageState as I

can = SessionState.perms.contains


def _back(href, label) -> rx.Component:
    return rx.link(
        rx.hstack(rx.icon("arrow-left", size=14), label, spacing="1", align="center"),
        href=href,
        size="2",
        color_scheme="gray",
    )


def _people(items) -> rx.Component:
    return rx.flex(
        rx.foreach(items, lambda t: rx.link(t["name"], href=t["href"], size="2")),
        gap="10px",
        wrap="wrap",
    )


def _row(label: str, value) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="2", color_scheme="gray", width="120px", flex_shrink="0"),
        value,
        align="start",
        width="100%",
    )


def _version(v) -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.badge("v", v["version"], variant="soft"),
            rx.text(v["who"], size="2", weight="medium"),
            rx.text(datetime_text(v["when"]), size="1", color_scheme="gray"),
            rx.spacer(),
            rx.button(
                rx.cond(I.show_raw == v["version"].to(int), "Hide saved record", "Saved record"),
                size="1",
                variant="ghost",
                on_click=I.toggle_raw(v["version"]),
            ),
            align="center",
            spacing="2",
            width="100%",
        ),
        rx.vstack(
            rx.foreach(
                v["changes"].to(list[dict[str, str]]),
                lambda c: rx.hstack(
                    rx.text(c["field"], size="1", weight="bold", width="110px", flex_shrink="0"),
                    rx.cond(
                        c["before"] != "",
                        rx.text(
                            c["before"],
                            size="1",
                            color_scheme="red",
                            text_decoration="line-through",
                        ),
                    ),
                    rx.text(c["after"], size="1", white_space="pre-line"),
                    spacing="2",
                    align="start",
                ),
            ),
            spacing="1",
            padding_top="6px",
        ),
        rx.cond(
            I.show_raw == v["version"].to(int),
            rx.code_block(v["raw"].to(str), language="json", wrap_long_lines=True),
        ),
        padding="10px",
        border=f"1px solid {rx.color('gray', 4)}",
        border_radius="8px",
        width="100%",
    )


@app_page("/interactions/[interaction_id]", "Interaction", on_load=[I.load])
def interaction_page() -> rx.Component:
    it = I.item
    return rx.cond(
        I.found,
        rx.vstack(
            _back(it["firm_href"].to(str), it["firm_name"].to(str)),
            rx.flex(
                rx.hstack(
                    type_icon(it["type"].to(str), 22),
                    rx.heading(it["subject"].to(str), size="6", id="interaction-subject-title"),
                    align="center",
                    spacing="3",
                ),
                rx.spacer(),
                rx.hstack(
                    rx.cond(
                        I.can_edit,
                        rx.button(
                            rx.icon("pencil", size=16),
                            "Edit",
                            variant="soft",
                            on_click=ActivityState.open_edit_interaction(
                                it["id"].to(int), "interaction"
                            ),
                            id="edit-interaction",
                        ),
                    ),
                    rx.cond(
                        I.can_void,
                        rx.button(
                            rx.icon("ban", size=16),
                            "Void…",
                            color_scheme="red",
                            variant="soft",
                            on_click=I.set_void_open(True),
                            id="void-interaction",
                        ),
                    ),
                    spacing="2",
                ),
                width="100%",
                gap="12px",
                wrap="wrap",
            ),
            rx.cond(
                it["voided"].to(bool),
                rx.callout(
                    rx.text("Voided: ", it["void_reason"].to(str)),
                    icon="ban",
                    color_scheme="red",
                    width="100%",
                ),
            ),
            rx.grid(
                card(
                    rx.vstack(
                        _row("Type", rx.text(it["type"].to(str), size="2")),
                        _row("When", rx.text(it["when"].to(str), size="2")),
                        _row("Logged in", rx.text(it["logged_in"].to(str), size="2")),
                        rx.cond(
                            it["duration"].to(str) != "",
                            _row("Duration", rx.text(it["duration"].to(str), size="2")),
                        ),
                        _row(
                            "Outcome",
                            rx.text(
                                rx.cond(it["outcome"].to(str) != "", it["outcome"].to(str), "—"),
                                size="2",
                            ),
                        ),
                        _row("Broker", rx.text(it["broker"].to(str), size="2")),
                        _row("Traders", _people(it["traders"].to(list[dict[str, str]]))),
                        _row(
                            "Notes", rx.text(it["notes"].to(str), size="2", white_space="pre-line")
                        ),
                        spacing="3",
                    )
                ),
                card(
                    rx.heading("History", size="4", margin_bottom="8px"),
                    rx.text(
                        "Every version is kept exactly as it was saved.",
                        size="1",
                        color_scheme="gray",
                        margin_bottom="8px",
                    ),
                    rx.vstack(
                        rx.foreach(I.versions, _version), spacing="2", width="100%", id="versions"
                    ),
                ),
                columns=rx.breakpoints(initial="1", lg="2"),
                spacing="4",
                width="100%",
            ),
            rx.alert_dialog.root(
                rx.alert_dialog.content(
                    rx.alert_dialog.title("Void this interaction?"),
                    rx.alert_dialog.description(
                        "It stays on record, marked void, visible to compliance and admins. Give the reason.",
                        size="2",
                    ),
                    rx.text_area(
                        value=I.void_reason,
                        on_change=I.set_void_reason,
                        max_length=500,
                        margin_top="12px",
                        id="void-reason",
                    ),
                    rx.cond(
                        I.void_error != "",
                        rx.text(I.void_error, size="1", color_scheme="red", role="alert"),
                    ),
                    rx.hstack(
                        rx.alert_dialog.cancel(
                            rx.button("Cancel", variant="soft", color_scheme="gray")
                        ),
                        rx.button("Void", color_scheme="red", on_click=I.void, id="confirm-void"),
                        justify="end",
                        spacing="2",
                        margin_top="12px",
                    ),
                ),
                open=I.void_open,
                on_open_change=I.set_void_open,
            ),
            width="100%",
            spacing="4",
        ),
        rx.cond(
            I.not_found,
            empty_state(
                "search-x", "Interaction not found", "It does not exist or is outside your book."
            ),
            rx.center(rx.spinner(size="3"), padding="48px", width="100%"),
        ),
    )


@app_page("/follow-ups/[follow_up_id]", "Follow-up", on_load=[F.load])
def follow_up_page() -> rx.Component:
    it = F.item
    is_open = it["status"].to(str) == "open"
    return rx.cond(
        F.found,
        rx.vstack(
            _back(it["firm_href"].to(str), it["firm_name"].to(str)),
            rx.flex(
                rx.vstack(
                    rx.heading(it["title"].to(str), size="6", id="follow-up-heading"),
                    rx.hstack(
                        rx.cond(
                            it["overdue"].to(bool),
                            rx.badge("Overdue", color_scheme="red"),
                            rx.badge(
                                it["status"].to(str), color_scheme=rx.cond(is_open, "amber", "gray")
                            ),
                        ),
                        rx.text("Due ", it["due"].to(str), size="2"),
                        spacing="2",
                        align="center",
                        wrap="wrap",
                    ),
                    spacing="2",
                ),
                rx.spacer(),
                rx.cond(
                    F.can_edit,
                    rx.hstack(
                        rx.cond(
                            is_open,
                            rx.button(
                                rx.icon("check", size=16),
                                "Done",
                                on_click=F.set_status("done"),
                                id="follow-up-done",
                            ),
                            rx.button(
                                rx.icon("rotate-ccw", size=16),
                                "Reopen",
                                variant="soft",
                                on_click=F.set_status("open"),
                            ),
                        ),
                        rx.cond(
                            is_open & F.can_snooze,
                            rx.menu.root(
                                rx.menu.trigger(
                                    rx.button(
                                        rx.icon("alarm-clock", size=16),
                                        "Snooze",
                                        variant="soft",
                                        id="follow-up-snooze",
                                    )
                                ),
                                rx.menu.content(
                                    rx.menu.item("15 minutes", on_click=F.snooze(15)),
                                    rx.menu.item("1 hour", on_click=F.snooze(60)),
                                    rx.menu.item("1 day", on_click=F.snooze(1440)),
                                ),
                            ),
                        ),
                        rx.button(
                            rx.icon("pencil", size=16),
                            "Edit",
                            variant="soft",
                            on_click=ActivityState.open_edit_follow_up(
                                it["id"].to(int), "follow_up"
                            ),
                        ),
                        rx.cond(
                            is_open,
                            rx.button(
                                "Cancel it",
                                variant="ghost",
                                color_scheme="gray",
                                on_click=F.set_status("cancelled"),
                            ),
                        ),
                        spacing="2",
                        wrap="wrap",
                    ),
                ),
                width="100%",
                gap="12px",
                wrap="wrap",
            ),
            rx.grid(
                card(
                    rx.vstack(
                        _row("Assigned to", rx.text(it["assignee"].to(str), size="2")),
                        _row(
                            "Firm",
                            rx.link(
                                it["firm_name"].to(str), href=it["firm_href"].to(str), size="2"
                            ),
                        ),
                        _row("Traders", _people(it["traders"].to(list[dict[str, str]]))),
                        rx.cond(
                            it["interaction_href"].to(str) != "",
                            _row(
                                "From",
                                rx.link(
                                    "the interaction", href=it["interaction_href"].to(str), size="2"
                                ),
                            ),
                        ),
                        _row(
                            "Reminders",
                            rx.text(
                                rx.cond(
                                    it["reminders"].to(list[str]).length() > 0,
                                    it["reminders"].to(list[str]).join(" · "),
                                    "none pending",
                                ),
                                size="2",
                            ),
                        ),
                        rx.cond(
                            it["snoozed_until"].to(str) != "",
                            _row("Snoozed until", rx.text(it["snoozed_until"].to(str), size="2")),
                        ),
                        _row(
                            "Notes", rx.text(it["notes"].to(str), size="2", white_space="pre-line")
                        ),
                        spacing="3",
                    )
                ),
                rx.cond(
                    F.can_edit & is_open,
                    card(
                        rx.heading("Move", size="4", margin_bottom="8px"),
                        rx.text("Pending reminders move with it.", size="1", color_scheme="gray"),
                        rx.hstack(
                            rx.input(
                                type="date",
                                value=F.move_day,
                                on_change=F.set_move_day,
                                id="move-day",
                                aria_label="New day",
                            ),
                            rx.input(
                                type="time",
                                value=F.move_time,
                                on_change=F.set_move_time,
                                id="move-time",
                                aria_label="New time",
                            ),
                            rx.button("Move", on_click=F.reschedule, id="move-follow-up"),
                            spacing="2",
                            margin_top="8px",
                            wrap="wrap",
                        ),
                    ),
                ),
                columns=rx.breakpoints(initial="1", lg="2"),
                spacing="4",
                width="100%",
            ),
            width="100%",
            spacing="4",
        ),
        rx.cond(
            F.not_found,
            empty_state(
                "search-x", "Follow-up not found", "It does not exist or is outside your book."
            ),
            rx.center(rx.spinner(size="3"), padding="48px", width="100%"),
        ),
    )
