"""The fields of changing one's own password: on My account and on the sign-in security page."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx

from brm_app.components.ui import field


def password_input(name: str, id_: str, autocomplete: str = "new-password") -> rx.Component:
    return cast(
        rx.Component,
        rx.input(
            name=name,
            type="password",
            auto_complete=autocomplete,
            max_length=128,
            required=True,
            id=id_,
        ),
    )


def code_input(id_: str, name: str = "code", required: bool = True) -> rx.Component:
    return cast(
        rx.Component,
        rx.input(
            name=name,
            id=id_,
            auto_complete="one-time-code",
            input_mode="numeric",
            max_length=24,
            required=required,
        ),
    )


def password_change_fields(
    errors: Any, mfa_enabled: Any, id_prefix: str = ""
) -> list[rx.Component]:
    """Current, new and repeated password, and a one-time code when two-factor sign-in is on.

    `errors` is the state's `password_errors` var; `id_prefix` keeps ids unique per page."""
    return [
        field(
            "Current password",
            password_input("current_password", f"{id_prefix}current-password", "current-password"),
            errors.get("current_password", ""),
        ),
        field(
            "New password",
            password_input("new_password", f"{id_prefix}new-password"),
            errors.get("new_password", ""),
        ),
        field(
            "Repeat new password",
            password_input("confirm_password", f"{id_prefix}confirm-password"),
            errors.get("confirm_password", ""),
        ),
        rx.cond(
            mfa_enabled,
            field(
                "One-time code",
                code_input(f"{id_prefix}password-otp", name="otp"),
                errors.get("otp", ""),
            ),
        ),
    ]
