"""/account: my name and password."""

from __future__ import annotations

import reflex as rx

from brm_app.components.layout import app_page
from brm_app.components.ui import card, field, page_header, role_badge
from brm_app.state.account import AccountState as S
from brm_app.state.auth import SessionState


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
                rx.button("Save name", type="submit", id="save-profile"),
                spacing="3",
                align="start",
            ),
            on_submit=S.save_profile,
            reset_on_submit=False,
            key=SessionState.name,
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
                field(
                    "Current password",
                    rx.input(
                        name="current_password",
                        type="password",
                        auto_complete="current-password",
                        max_length=128,
                        required=True,
                        id="current-password",
                    ),
                    S.password_errors.get("current_password", ""),
                ),
                field(
                    "New password",
                    rx.input(
                        name="new_password",
                        type="password",
                        auto_complete="new-password",
                        max_length=128,
                        required=True,
                        id="new-password",
                    ),
                    S.password_errors.get("new_password", ""),
                ),
                field(
                    "Repeat new password",
                    rx.input(
                        name="confirm_password",
                        type="password",
                        auto_complete="new-password",
                        max_length=128,
                        required=True,
                        id="confirm-password",
                    ),
                    S.password_errors.get("confirm_password", ""),
                ),
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


@app_page("/account", "My account")
def account() -> rx.Component:
    return rx.vstack(
        page_header("My account", "Your name and password."),
        rx.grid(
            _profile(),
            _password(),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        width="100%",
    )
