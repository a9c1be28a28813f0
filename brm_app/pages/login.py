"""/login: the sign-in form."""

from __future__ import annotations

import reflex as rx

from brm_app.components.ui import field
from brm_app.state.auth import LoginState


@rx.page(route="/login", title="Sign in · BrokerSync", on_load=LoginState.load)
def login() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.hstack(
                rx.center(
                    rx.icon("handshake", size=22, color="white"),
                    background=rx.color("indigo", 9),
                    border_radius="10px",
                    width="40px",
                    height="40px",
                ),
                rx.heading("BrokerSync", size="6"),
                align="center",
                spacing="3",
            ),
            rx.card(
                rx.form(
                    rx.vstack(
                        rx.heading("Sign in", size="5"),
                        rx.text(
                            "Use the email and password your administrator gave you.",
                            size="2",
                            color_scheme="gray",
                        ),
                        rx.cond(
                            LoginState.error != "",
                            rx.callout(
                                LoginState.error,
                                icon="triangle-alert",
                                color_scheme="red",
                                role="alert",
                                id="login-error",
                                width="100%",
                            ),
                        ),
                        field(
                            "Email",
                            rx.input(
                                id="email",
                                name="email",
                                type="email",
                                auto_complete="username",
                                required=True,
                                max_length=254,
                                size="3",
                                width="100%",
                                auto_focus=True,
                            ),
                        ),
                        field(
                            "Password",
                            rx.input(
                                id="password",
                                name="password",
                                type="password",
                                auto_complete="current-password",
                                required=True,
                                max_length=128,
                                size="3",
                                width="100%",
                            ),
                        ),
                        rx.cond(
                            LoginState.need_otp,
                            field(
                                "One-time code",
                                rx.input(
                                    id="otp",
                                    name="otp",
                                    auto_complete="one-time-code",
                                    input_mode="numeric",
                                    required=True,
                                    max_length=24,
                                    size="3",
                                    width="100%",
                                    auto_focus=True,
                                ),
                                hint="From your authenticator app, or one of your recovery codes.",
                            ),
                        ),
                        rx.button(
                            rx.cond(
                                LoginState.busy, rx.spinner(size="2"), rx.icon("log-in", size=16)
                            ),
                            "Sign in",
                            type="submit",
                            size="3",
                            width="100%",
                            # Not before the page's on_load has run: Reflex queues on_load after
                            # an event sent earlier, and it would wipe that attempt's error.
                            disabled=LoginState.busy | ~rx.State.is_hydrated,
                            id="sign-in",
                        ),
                        spacing="4",
                        width="100%",
                    ),
                    on_submit=LoginState.submit,
                    reset_on_submit=False,
                    width="100%",
                ),
                size="4",
                width="100%",
            ),
            rx.text(
                "Sessions end after inactivity. Never share your password.",
                size="1",
                color_scheme="gray",
            ),
            spacing="5",
            align="center",
            width="100%",
            max_width="400px",
        ),
        min_height="100vh",
        padding="16px",
        background=rx.color("gray", 2),
    )
