"""/account: my name and password."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.password_fields import password_change_fields
from brm_app.components.ui import card, datetime_text, field, page_header, role_badge
from brm_app.services.users import LOCALES
from brm_app.state.account import BROWSER_LOCALE
from brm_app.state.account import AccountState as S
from brm_app.state.auth import SessionState
from brm_app.state.preferences import PreferencesState

TIME_ZONES = [
    *sorted(
        z
        for z in available_timezones()
        if "/" in z and not z.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/"))
    ),
    "UTC",
]


def _profile() -> rx.Component:
    return card(
        rx.heading("Profile", size="4", margin_bottom="12px"),
        rx.form(
            rx.vstack(
                field("Email", rx.input(value=SessionState.email, read_only=True, disabled=True)),
                rx.hstack(
                    rx.text("Role", size="2", weight="medium"),
                    role_badge(SessionState.role),
                    align="center",
                ),
                field(
                    "Full name",
                    rx.input(
                        name="name",
                        default_value=SessionState.name,
                        max_length=120,
                        required=True,
                        id="profile-name",
                    ),
                    S.profile_errors.get("name", ""),
                ),
                field(
                    "Time zone (dates and times are entered and shown in it)",
                    rx.select.root(
                        rx.select.trigger(width="100%", id="profile-tz"),
                        rx.select.content(*[rx.select.item(z, value=z) for z in TIME_ZONES]),
                        name="time_zone",
                        default_value=S.time_zone,
                    ),
                    S.profile_errors.get("time_zone", ""),
                ),
                field(
                    "Dates, times and numbers written as in",
                    rx.select.root(
                        rx.select.trigger(width="100%", id="profile-locale"),
                        rx.select.content(
                            *[
                                rx.select.item(label, value=code or BROWSER_LOCALE)
                                for code, label in LOCALES.items()
                            ]
                        ),
                        name="locale",
                        default_value=rx.cond(
                            SessionState.locale != "", SessionState.locale, BROWSER_LOCALE
                        ),
                    ),
                    S.profile_errors.get("locale", ""),
                ),
                rx.button("Save profile", type="submit", id="save-profile"),
                spacing="3",
                align="start",
            ),
            on_submit=S.save_profile,
            reset_on_submit=False,
            key=SessionState.name + S.time_zone + SessionState.locale,
        ),
    )


def _password() -> rx.Component:
    return card(
        rx.heading("Change password", size="4", margin_bottom="4px"),
        rx.text(
            "12 to 128 characters. Your other sessions are signed out.",
            size="2",
            color_scheme="gray",
            margin_bottom="12px",
        ),
        rx.form(
            rx.vstack(
                *password_change_fields(S.password_errors, S.mfa_enabled),
                rx.button(
                    rx.cond(S.saving, rx.spinner(size="1"), rx.fragment()),
                    "Change password",
                    type="submit",
                    disabled=S.saving,
                    id="change-password",
                ),
                spacing="3",
                align="start",
            ),
            on_submit=S.change_password,
            reset_on_submit=True,
            key=S.password_form_key,
        ),
    )


def _security() -> rx.Component:
    return card(
        rx.heading("Two-factor sign-in", size="4", margin_bottom="4px"),
        rx.text(
            rx.cond(
                S.mfa_enabled,
                "On: signing in asks for a code from your authenticator app.",
                "Off: signing in asks for your password only.",
            ),
            size="2",
            color_scheme="gray",
            margin_bottom="12px",
        ),
        rx.link(
            rx.button(rx.icon("shield-check", size=14), "Sign-in security", variant="soft"),
            href="/account/security",
            id="security-link",
        ),
    )


def _reminders() -> rx.Component:
    return card(
        rx.heading("Reminders", size="4", margin_bottom="4px"),
        rx.text(
            "Your follow-up reminders always reach the bell. They can also come by email.",
            size="2",
            color_scheme="gray",
            margin_bottom="12px",
        ),
        rx.el.label(
            rx.hstack(
                rx.switch(
                    checked=S.email_reminders,
                    on_change=S.set_email_reminders,
                    id="email-reminders",
                ),
                rx.text("Also email me my reminders", size="2"),
                align="center",
                spacing="2",
            ),
        ),
    )


def _feeds() -> rx.Component:
    return card(
        rx.heading("Calendar feed", size="4", margin_bottom="4px"),
        rx.text(
            "A private address with your follow-ups and meetings, for Outlook or Google Calendar to subscribe to. "
            "Anyone with the address can read it: revoke it if it leaks.",
            size="2",
            color_scheme="gray",
            margin_bottom="12px",
        ),
        rx.cond(
            S.new_feed_url != "",
            rx.callout(
                rx.vstack(
                    rx.text(
                        "Copy this address now; it is not shown again.", size="2", weight="medium"
                    ),
                    rx.hstack(
                        rx.code(S.new_feed_url, size="1", id="feed-url", word_break="break-all"),
                        rx.icon_button(
                            rx.icon("copy", size=14),
                            size="1",
                            variant="soft",
                            on_click=rx.set_clipboard(S.new_feed_url),
                            aria_label="Copy",
                        ),
                        align="center",
                    ),
                    rx.button("Done", size="1", variant="soft", on_click=S.hide_feed_url),
                    spacing="2",
                ),
                icon="calendar-days",
                color_scheme="green",
                width="100%",
                margin_bottom="12px",
            ),
        ),
        rx.vstack(
            rx.foreach(
                S.feeds,
                lambda f: rx.hstack(
                    rx.icon(
                        "rss",
                        size=16,
                        color=rx.cond(
                            f["active"].to(bool), rx.color("green", 10), rx.color("gray", 8)
                        ),
                    ),
                    rx.vstack(
                        rx.text("Created ", datetime_text(f["created"].to(str)), size="2"),
                        rx.text(
                            rx.cond(
                                f["active"].to(bool),
                                rx.cond(
                                    f["fetched"] != "",
                                    rx.fragment(
                                        "Last read by a calendar ",
                                        datetime_text(f["fetched"].to(str)),
                                    ),
                                    "Not read yet",
                                ),
                                "Revoked",
                            ),
                            size="1",
                            color_scheme="gray",
                        ),
                        spacing="0",
                    ),
                    rx.spacer(),
                    rx.cond(
                        f["active"].to(bool),
                        rx.button(
                            "Revoke",
                            size="1",
                            color_scheme="red",
                            variant="soft",
                            on_click=S.revoke_feed(f["id"]),
                            class_name="revoke-feed",
                        ),
                    ),
                    width="100%",
                    align="center",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        rx.button(
            rx.icon("plus", size=14),
            "Create a feed address",
            variant="soft",
            on_click=S.create_feed,
            margin_top="12px",
            id="create-feed",
        ),
    )


def _notification_preferences() -> rx.Component:
    P: Any = PreferencesState

    def switch(r: Any, channel: str) -> Any:
        return rx.table.cell(
            rx.switch(
                checked=r[channel].to(bool),
                on_change=lambda v: P.toggle(r["kind"].to(str), channel, v),
                aria_label=r["label"].to(str) + " by " + channel.replace("_", "-"),
            )
        )

    return card(
        rx.heading("Notifications", size="4"),
        rx.text(
            "Which channels reach you for each kind of event. Email and SMS wait until your "
            "quiet hours end; SMS go to your mobile number.",
            size="2",
            color_scheme="gray",
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Event"),
                    rx.table.column_header_cell("In-app"),
                    rx.table.column_header_cell("Email"),
                    rx.table.column_header_cell("SMS"),
                )
            ),
            rx.table.body(
                rx.foreach(
                    P.rows,
                    lambda r: rx.table.row(
                        rx.table.cell(rx.text(r["label"], size="2")),
                        switch(r, "in_app"),
                        switch(r, "email"),
                        switch(r, "sms"),
                    ),
                )
            ),
            size="1",
            id="notification-preferences",
        ),
        rx.form(
            rx.flex(
                field(
                    "Mobile (for SMS)",
                    rx.input(
                        name="mobile",
                        default_value=P.mobile,
                        placeholder="+44 7911 123456",
                        id="my-mobile",
                    ),
                ),
                field(
                    "Quiet from",
                    rx.input(
                        name="quiet_start",
                        type="time",
                        default_value=P.quiet_start,
                        id="quiet-start",
                    ),
                ),
                field(
                    "until",
                    rx.input(
                        name="quiet_end", type="time", default_value=P.quiet_end, id="quiet-end"
                    ),
                ),
                gap="12px",
                wrap="wrap",
            ),
            rx.cond(P.error != "", rx.text(P.error, size="1", color_scheme="red", role="alert")),
            rx.button("Save", type="submit", margin_top="8px", id="save-notification-contact"),
            on_submit=P.save_contact,
            reset_on_submit=False,
        ),
    )


@app_page("/account", "My account", on_load=[S.load, PreferencesState.load])
def account() -> rx.Component:
    return rx.vstack(
        page_header("My account", "Your name, time zone, password, reminders and calendar feed."),
        rx.grid(
            _profile(),
            _password(),
            _security(),
            _reminders(),
            _notification_preferences(),
            rx.cond(S.can_have_feed, _feeds()),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        width="100%",
    )
