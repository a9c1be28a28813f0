"""/account/security: choose your own password; set up or turn off two-factor sign-in."""

from __future__ import annotations

from typing import cast

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.password_fields import code_input, password_change_fields, password_input
from brm_app.components.ui import card, field, page_header
from brm_app.state.security import SecurityState as S


def _password() -> rx.Component:
    e = S.password_errors
    return card(
        rx.heading("Choose your own password", size="4", margin_bottom="4px"),
        rx.text(
            "Your administrator chose your current password. Pick one only you know "
            "(12 to 128 characters) before you continue.",
            size="2",
            color_scheme="gray",
            margin_bottom="12px",
        ),
        rx.form(
            rx.vstack(
                *password_change_fields(e, S.mfa_enabled, id_prefix="sec-"),
                rx.button(
                    rx.cond(S.saving, rx.spinner(size="1"), rx.fragment()),
                    "Save my password",
                    type="submit",
                    disabled=S.saving,
                    id="save-own-password",
                ),
                spacing="3",
                align="start",
            ),
            on_submit=S.change_password,
            reset_on_submit=True,
            key=S.form_key,
        ),
    )


def _recovery_codes() -> rx.Component:
    return cast(
        rx.Component,
        rx.callout(
            rx.vstack(
                rx.text(
                    "Your recovery codes: each works once when your phone is not at hand. "
                    "Keep them somewhere safe now; they are not shown again.",
                    size="2",
                    weight="medium",
                ),
                rx.grid(
                    rx.foreach(S.recovery_codes, lambda c: rx.code(c, size="2")),
                    columns="2",
                    spacing="2",
                    id="recovery-codes",
                ),
                rx.button(
                    "I have saved them", size="1", variant="soft", on_click=S.hide_recovery_codes
                ),
                spacing="2",
            ),
            icon="key-round",
            color_scheme="green",
            width="100%",
            margin_bottom="12px",
        ),
    )


def _enrolment() -> rx.Component:
    return cast(
        rx.Component,
        rx.vstack(
            rx.text(
                "Scan this code with an authenticator app (Google Authenticator, Microsoft "
                "Authenticator, 1Password ...), then enter the 6-digit code it shows.",
                size="2",
            ),
            rx.image(
                src=S.enrol_qr,
                alt="QR code to add BrokerSync to an authenticator app",
                width="200px",
                height="200px",
                id="totp-qr",
            ),
            rx.text("Cannot scan it? Enter this key in the app instead:", size="2"),
            rx.code(S.enrol_secret, size="2", id="totp-secret", word_break="break-all"),
            rx.form(
                rx.vstack(
                    field(
                        "Code from your app", code_input("totp-code"), S.mfa_errors.get("code", "")
                    ),
                    rx.hstack(
                        rx.button("Turn on", type="submit", id="confirm-totp"),
                        rx.button(
                            "Cancel",
                            type="button",
                            variant="soft",
                            color_scheme="gray",
                            on_click=S.cancel_enrolment,
                        ),
                    ),
                    spacing="3",
                    align="start",
                ),
                on_submit=S.confirm_enrolment,
                reset_on_submit=True,
            ),
            spacing="3",
            align="start",
            width="100%",
        ),
    )


def _when_on() -> rx.Component:
    e = S.mfa_errors
    return cast(
        rx.Component,
        rx.vstack(
            rx.text(
                "Signing in asks for a code from your authenticator app. Recovery codes left: ",
                rx.text(S.recovery_codes_left, as_="span", weight="bold", id="recovery-left"),
                size="2",
            ),
            rx.form(
                rx.vstack(
                    rx.heading("New recovery codes", size="3"),
                    field("Code from your app", code_input("renew-code"), e.get("renew", "")),
                    rx.button("Make new recovery codes", type="submit", variant="soft"),
                    spacing="2",
                    align="start",
                ),
                on_submit=S.renew_recovery_codes,
                reset_on_submit=True,
                key=S.form_key,
            ),
            rx.cond(
                S.mfa_required,
                rx.text(
                    "Your role requires two-factor sign-in, so it cannot be turned off.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.form(
                    rx.vstack(
                        rx.heading("Turn off", size="3"),
                        field(
                            "Password",
                            password_input("password", "off-password", "current-password"),
                            e.get("password", ""),
                        ),
                        field("Code from your app", code_input("off-code"), e.get("code", "")),
                        rx.button(
                            "Turn off two-factor sign-in",
                            type="submit",
                            color_scheme="red",
                            variant="soft",
                        ),
                        spacing="2",
                        align="start",
                    ),
                    on_submit=S.disable,
                    reset_on_submit=True,
                    key=S.form_key,
                ),
            ),
            spacing="4",
            align="start",
            width="100%",
        ),
    )


def _two_factor() -> rx.Component:
    return card(
        rx.heading("Two-factor sign-in", size="4", margin_bottom="4px"),
        rx.cond(
            S.mfa_required & ~S.mfa_enabled,
            rx.callout(
                "Your role requires two-factor sign-in: set it up to continue.",
                icon="shield-alert",
                color_scheme="amber",
                role="alert",
                width="100%",
                margin_bottom="12px",
            ),
        ),
        rx.cond(S.has_recovery_codes, _recovery_codes()),
        rx.cond(
            S.mfa_enabled,
            _when_on(),
            rx.cond(
                S.enrol_secret != "",
                _enrolment(),
                rx.vstack(
                    rx.text(
                        "Off. With it on, signing in also asks for a code from an "
                        "authenticator app on your phone.",
                        size="2",
                        color_scheme="gray",
                    ),
                    rx.button(
                        rx.icon("shield-check", size=16),
                        "Set up two-factor sign-in",
                        on_click=S.start_enrolment,
                        id="start-totp",
                    ),
                    spacing="3",
                    align="start",
                ),
            ),
        ),
    )


@app_page("/account/security", "Sign-in security", on_load=[S.load])
def security() -> rx.Component:
    return cast(
        rx.Component,
        rx.vstack(
            page_header("Sign-in security", "Your password and two-factor sign-in."),
            rx.cond(S.must_change_password, _password(), _two_factor()),
            width="100%",
            max_width="640px",
        ),
    )
