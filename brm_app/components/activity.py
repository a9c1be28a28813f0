"""Interaction and follow-up dialogs (mounted once in the shell), and the relationship timeline."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.firm_form import form_dialog
from brm_app.components.ui import card, datetime_text, empty_state, field, local_day
from brm_app.state.activity import NONE, REMINDER_PRESETS
from brm_app.state.activity import ActivityState as A

TYPE_ICONS = {
    "Call": "phone",
    "Meeting": "users",
    "Email": "mail",
    "Video call": "video",
    "Chat": "message-square",
    "Conference": "presentation",
    "Roadshow": "route",
    "Research request": "file-search",
    "Follow-up": "calendar-check",
    "Trade": "chart-candlestick",
    "OMS fill": "arrow-left-right",
}


def type_icon(type_name: rx.Var, size: int = 16) -> rx.Component:
    return rx.match(
        type_name,
        *[(t, rx.icon(i, size=size)) for t, i in TYPE_ICONS.items()],
        rx.icon("message-circle", size=size),
    )


def _trader_checks(selected: rx.Var) -> rx.Component:
    return rx.cond(
        A.firm_traders.length() > 0,
        rx.flex(
            rx.foreach(
                A.firm_traders,
                lambda t: rx.checkbox(
                    t["name"],
                    name="trader_" + t["id"],
                    default_checked=selected.contains(t["id"]),
                    size="2",
                ),
            ),
            wrap="wrap",
            gap="12px",
        ),
        rx.text("This firm has no traders yet.", size="2", color_scheme="gray"),
    )


def log_interaction_dialog() -> rx.Component:
    f, e = A.log_form, A.log_errors
    return form_dialog(
        title=rx.cond(
            A.edit_interaction_id == 0, "Log interaction", "Edit interaction (saves a new version)"
        ),
        description=rx.text(
            "With ", rx.text.strong(A.firm_name), ". Times are in your time zone (", A.tz, ")."
        ),
        open_=A.log_open,
        on_open_change=A.set_log_open,
        on_submit=A.save_interaction,
        form_key=A.log_key,
        errors=e,
        saving=A.saving,
        submit_label=rx.cond(A.edit_interaction_id == 0, "Log it", "Save new version"),
        submit_id="interaction-save",
        max_width="600px",
        body=rx.vstack(
            rx.cond(
                A.firm_undisclosed,
                rx.callout(
                    "This firm's client has not been told that communications are recorded "
                    "(MiFID II): tell them, and note the day in the firm's profile.",
                    icon="triangle-alert",
                    color_scheme="amber",
                    # Amber text on amber is below 4.5:1 (axe); high contrast meets it.
                    high_contrast=True,
                    size="1",
                    id="interaction-disclosure-warning",
                ),
            ),
            field("Traders", _trader_checks(f["traders"].to(list[str])), e.get("trader_ids", "")),
            rx.grid(
                field(
                    "Type",
                    rx.select.root(
                        rx.select.trigger(width="100%", id="interaction-type"),
                        rx.select.content(
                            rx.foreach(A.types, lambda t: rx.select.item(t, value=t))
                        ),
                        value=A.log_type,
                        on_change=A.set_log_type,
                    ),
                    e.get("interaction_type", ""),
                ),
                field(
                    "Outcome",
                    rx.select.root(
                        rx.select.trigger(width="100%", id="interaction-outcome"),
                        rx.select.content(
                            rx.select.item("No outcome yet", value=NONE),
                            rx.foreach(A.log_outcomes, lambda o: rx.select.item(o, value=o)),
                        ),
                        name="outcome",
                        default_value=f["outcome"].to(str),
                        key=A.log_type,
                    ),
                    e.get("outcome", ""),
                ),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="3",
                width="100%",
            ),
            rx.grid(
                field(
                    "Date",
                    rx.input(
                        type="date",
                        name="day",
                        default_value=f["day"].to(str),
                        id="interaction-day",
                        required=True,
                    ),
                    e.get("day", ""),
                ),
                field(
                    "Start",
                    rx.input(
                        type="time",
                        name="time",
                        default_value=f["time"].to(str),
                        id="interaction-time",
                        required=True,
                    ),
                    e.get("time", ""),
                ),
                field(
                    "End (optional)",
                    rx.input(
                        type="time",
                        name="end",
                        default_value=f["end"].to(str),
                        id="interaction-end",
                    ),
                    e.get("end", ""),
                ),
                columns=rx.breakpoints(initial="1", sm="3"),
                spacing="3",
                width="100%",
            ),
            field(
                "Subject (optional)",
                rx.input(
                    name="subject",
                    default_value=f["subject"].to(str),
                    max_length=200,
                    # Left empty, "<type> with <traders>" is used (never the notes: they are
                    # encrypted at rest, subjects are not).
                    placeholder="Call with the traders when left empty; not encrypted",
                    id="interaction-subject",
                ),
                e.get("subject", ""),
            ),
            field(
                "Notes",
                rx.text_area(
                    name="notes",
                    default_value=f["notes"].to(str),
                    max_length=20000,
                    rows="5",
                    id="interaction-notes",
                ),
                e.get("notes", ""),
            ),
            spacing="3",
            width="100%",
        ),
    )


def follow_up_dialog() -> rx.Component:
    f, e = A.fu_form, A.fu_errors
    firm_picker = rx.vstack(
        field(
            "Firm",
            rx.input(
                rx.input.slot(rx.icon("search", size=14)),
                placeholder="Type a firm name",
                on_change=A.search_fu_firm.debounce(250),
                max_length=100,
                width="100%",
                id="follow-up-firm-search",
                name="firm_search",  # not read on submit; named so the form does not warn
            ),
        ),
        rx.foreach(
            A.fu_firm_results,
            lambda r: rx.button(
                r["name"],
                variant="soft",
                width="100%",
                justify="start",
                on_click=A.pick_fu_firm(r["firm_id"]),
                type="button",
                class_name="follow-up-firm-option",
            ),
        ),
        spacing="2",
        width="100%",
    )
    return form_dialog(
        title=rx.cond(A.edit_follow_up_id == 0, "Schedule a follow-up", "Edit follow-up"),
        description=rx.cond(
            A.fu_pick_firm,
            rx.text("Choose the firm first."),
            rx.text(
                "For ", rx.text.strong(A.firm_name), ". Times are in your time zone (", A.tz, ")."
            ),
        ),
        open_=A.fu_open,
        on_open_change=A.set_fu_open,
        on_submit=A.save_follow_up,
        form_key=A.fu_key,
        errors=e,
        saving=A.saving,
        submit_label=rx.cond(A.edit_follow_up_id == 0, "Schedule", "Save"),
        submit_id="follow-up-save",
        max_width="560px",
        body=rx.cond(
            A.fu_pick_firm,
            firm_picker,
            rx.vstack(
                field(
                    "What needs to happen",
                    rx.input(
                        name="title",
                        default_value=f["title"].to(str),
                        max_length=200,
                        required=True,
                        id="follow-up-title",
                    ),
                    e.get("title", ""),
                ),
                rx.grid(
                    field(
                        "Due date",
                        rx.input(
                            type="date",
                            name="day",
                            default_value=f["day"].to(str),
                            required=True,
                            id="follow-up-day",
                        ),
                        e.get("day", ""),
                    ),
                    field(
                        "Time",
                        rx.input(
                            type="time",
                            name="time",
                            default_value=f["time"].to(str),
                            required=True,
                            id="follow-up-time",
                        ),
                        e.get("time", ""),
                    ),
                    columns="2",
                    spacing="3",
                    width="100%",
                ),
                field(
                    "Assigned to",
                    rx.select.root(
                        rx.select.trigger(
                            width="100%", id="follow-up-assignee", placeholder="Choose a broker"
                        ),
                        rx.select.content(
                            rx.foreach(
                                A.assignees, lambda a: rx.select.item(a["name"], value=a["id"])
                            )
                        ),
                        name="assignee",
                        default_value=f["assignee"].to(str),
                    ),
                    e.get("assignee", ""),
                ),
                field(
                    "Traders (optional)",
                    _trader_checks(f["traders"].to(list[str])),
                    e.get("trader_ids", ""),
                ),
                field(
                    "Remind me",
                    rx.flex(
                        *[
                            rx.checkbox(
                                label,
                                name=f"remind_{value}",
                                default_checked=f["reminders"].to(list[str]).contains(value),
                                size="2",
                            )
                            for value, label in REMINDER_PRESETS
                        ],
                        wrap="wrap",
                        gap="12px",
                    ),
                    e.get("reminders", ""),
                ),
                rx.hstack(
                    rx.text("and also at", size="2", color_scheme="gray"),
                    rx.input(
                        type="date",
                        name="remind_day",
                        aria_label="Extra reminder date",
                        id="follow-up-remind-day",
                    ),
                    rx.input(
                        type="time",
                        name="remind_time",
                        step="1",
                        aria_label="Extra reminder time",
                        id="follow-up-remind-time",
                    ),
                    align="center",
                    spacing="2",
                    wrap="wrap",
                ),
                field(
                    "Notes",
                    rx.text_area(
                        name="notes", default_value=f["notes"].to(str), max_length=5000, rows="3"
                    ),
                    e.get("notes", ""),
                ),
                spacing="3",
                width="100%",
            ),
        ),
    )


def activity_dialogs() -> rx.Component:
    return rx.fragment(log_interaction_dialog(), follow_up_dialog())


def _entry(r: Any) -> rx.Component:
    is_fu = r["kind"] == "follow_up"
    return rx.hstack(
        rx.center(
            type_icon(r["type"].to(str)),
            width="32px",
            height="32px",
            border_radius="16px",
            flex_shrink="0",
            background=rx.cond(
                r["overdue"].to(bool),
                rx.color("red", 3),
                rx.cond(is_fu, rx.color("amber", 3), rx.color("indigo", 3)),
            ),
            color=rx.cond(
                r["overdue"].to(bool),
                rx.color("red", 11),
                rx.cond(is_fu, rx.color("amber", 11), rx.color("indigo", 11)),
            ),
        ),
        rx.vstack(
            rx.hstack(
                rx.link(r["title"], href=r["href"], weight="medium", size="2"),
                rx.cond(r["outcome"] != "", rx.badge(r["outcome"], variant="soft", size="1")),
                rx.cond(
                    is_fu,
                    rx.badge(
                        rx.cond(r["overdue"].to(bool), "overdue", r["status"]),
                        size="1",
                        color_scheme=rx.cond(
                            r["overdue"].to(bool),
                            "red",
                            rx.cond(r["status"] == "open", "amber", "gray"),
                        ),
                    ),
                ),
                rx.cond(
                    r["version"].to(int) > 1, rx.badge("edited", size="1", color_scheme="gray")
                ),
                spacing="2",
                wrap="wrap",
                align="center",
            ),
            rx.hstack(
                rx.cond(
                    r["day"],  # a trade's date; empty (or absent) for the rest
                    rx.el.time(local_day(r["day"]), date_time=r["day"].to(str)),
                    datetime_text(r["at"].to(str)),
                ),
                rx.text("· ", r["type"], " · ", r["who"], size="1", color_scheme="gray"),
                rx.cond(
                    r["traders"] != "", rx.text("· ", r["traders"], size="1", color_scheme="gray")
                ),
                spacing="1",
                wrap="wrap",
                font_size="12px",
            ),
            rx.cond(
                r["notes"] != "",
                rx.text(r["notes"], size="1", color_scheme="gray", white_space="pre-line"),
            ),
            spacing="1",
            min_width="0",
        ),
        align="start",
        spacing="3",
        width="100%",
        padding_y="8px",
        border_bottom=f"1px solid {rx.color('gray', 3)}",
        class_name="timeline-entry",
    )


def _messages_href(firm_id: Any, trader_id: Any) -> Any:
    """The Communication Center for this trader (every channel), else for this firm."""
    trader = rx.Var.create(trader_id)
    return rx.cond(
        trader.to(int) > 0,
        "/communications?trader=" + trader.to_string(),
        "/communications?firm=" + rx.Var.create(firm_id).to_string(),
    )


def timeline_card(
    state: Any,
    *,
    firm_id: rx.Var[int] | int,
    trader_id: rx.Var[int] | int = 0,
    context: str,
    can_log: rx.Var[bool] | bool,
) -> rx.Component:
    return card(
        rx.flex(
            rx.heading("Activity", size="4"),
            rx.link(
                rx.button(
                    rx.icon("messages-square", size=14), "Messages", size="1", variant="soft"
                ),
                href=_messages_href(firm_id, trader_id),
                class_name="timeline-messages-link",
            ),
            rx.spacer(),
            rx.select.root(
                rx.select.trigger(aria_label="Filter by type", size="1"),
                rx.select.content(
                    rx.select.item("All activity", value="all"),
                    rx.select.item("Follow-ups", value="Follow-up"),
                    rx.foreach(state.tl_types, lambda t: rx.select.item(t, value=t)),
                ),
                value=state.tl_type,
                on_change=state.set_tl_type,
                size="1",
            ),
            rx.select.root(
                rx.select.trigger(aria_label="Filter by outcome", size="1"),
                rx.select.content(
                    rx.select.item("Any outcome", value="all"),
                    rx.foreach(state.tl_outcomes, lambda o: rx.select.item(o, value=o)),
                ),
                value=state.tl_outcome,
                on_change=state.set_tl_outcome,
                size="1",
            ),
            rx.cond(
                can_log,
                rx.hstack(
                    rx.button(
                        rx.icon("phone-call", size=14),
                        "Log interaction",
                        size="1",
                        on_click=A.open_log(firm_id, trader_id, context),
                        id="log-interaction",
                    ),
                    rx.button(
                        rx.icon("calendar-plus", size=14),
                        "Follow-up",
                        size="1",
                        variant="soft",
                        on_click=A.open_follow_up(firm_id, "", context, trader_id),
                        id="new-follow-up",
                    ),
                    spacing="2",
                ),
            ),
            gap="8px",
            wrap="wrap",
            align="center",
            margin_bottom="8px",
        ),
        rx.cond(
            state.timeline.length() > 0,
            rx.vstack(rx.foreach(state.timeline, _entry), spacing="0", width="100%", id="timeline"),
            empty_state(
                "history", "No activity yet", "Log a call or meeting, or plan a follow-up."
            ),
        ),
        rx.cond(
            state.tl_more,
            rx.button(
                "Show older",
                variant="ghost",
                size="2",
                on_click=state.tl_load_more,
                margin_top="8px",
            ),
        ),
    )
