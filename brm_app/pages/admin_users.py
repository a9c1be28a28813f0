"""/admin/users: user administration for admins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import reflex as rx
from reflex.event import EventSpec

from brm_app.components.layout import app_page
from brm_app.components.ui import (
    card,
    datetime_text,
    empty_state,
    field,
    list_pager,
    page_header,
    role_badge,
    shown_once_dialog,
    status_badge,
    table_scroll,
)
from brm_app.models.user import ROLE_LABELS, Role
from brm_app.state.admin_users import NO_MANAGER
from brm_app.state.admin_users import AdminUsersState as S


def _filters() -> rx.Component:
    return rx.flex(
        rx.input(
            rx.input.slot(rx.icon("search", size=16)),
            placeholder="Search name, or an exact email",
            on_change=S.search.debounce(300),
            max_length=100,
            width=rx.breakpoints(initial="100%", sm="280px"),
            id="user-search",
        ),
        rx.select.root(
            rx.select.trigger(placeholder="Role", aria_label="Filter by role"),
            rx.select.content(
                rx.select.item("All roles", value="all"),
                *[rx.select.item(ROLE_LABELS[r], value=r.value) for r in Role],
            ),
            value=S.role_filter,
            on_change=S.filter_role,
        ),
        rx.select.root(
            rx.select.trigger(placeholder="Status", aria_label="Filter by status"),
            rx.select.content(
                rx.select.item("Any status", value="all"),
                rx.select.item("Active", value="active"),
                rx.select.item("Inactive", value="inactive"),
                rx.select.item("Locked", value="locked"),
            ),
            value=S.status_filter,
            on_change=S.filter_status,
        ),
        gap="8px",
        wrap="wrap",
        width="100%",
    )


def _ask(kind: str, user_id: Any) -> EventSpec:
    """S.ask bound to its arguments (mypy reads the @rx.event handler as rx.event itself)."""
    return cast("Callable[[str, Any], EventSpec]", S.ask)(kind, user_id)


def _actions(row) -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.icon_button(
                rx.icon("ellipsis", size=16), variant="ghost", aria_label="User actions"
            ),
        ),
        rx.menu.content(
            rx.menu.item(rx.icon("pencil", size=14), "Edit", on_click=S.open_edit(row["user_id"])),
            rx.menu.item(
                rx.icon("key-round", size=14),
                "Reset password",
                on_click=S.ask("reset", row["user_id"]),
            ),
            rx.cond(
                row["mfa"],
                rx.menu.item(
                    rx.icon("shield-off", size=14),
                    "Reset two-factor sign-in",
                    on_click=_ask("reset_mfa", row["user_id"]),
                ),
            ),
            rx.cond(
                row["locked"],
                rx.menu.item(
                    rx.icon("lock-open", size=14), "Unlock", on_click=S.unlock(row["user_id"])
                ),
            ),
            rx.menu.separator(),
            rx.cond(
                row["is_active"],
                rx.menu.item(
                    rx.icon("user-x", size=14),
                    "Deactivate",
                    color="red",
                    on_click=S.ask("deactivate", row["user_id"]),
                ),
                rx.menu.item(
                    rx.icon("user-check", size=14),
                    "Reactivate",
                    on_click=S.ask("reactivate", row["user_id"]),
                ),
            ),
        ),
    )


def _table() -> rx.Component:
    return table_scroll(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Name"),
                    rx.table.column_header_cell("Role"),
                    rx.table.column_header_cell("Status"),
                    rx.table.column_header_cell("Manager"),
                    rx.table.column_header_cell("Last sign-in"),
                    rx.table.column_header_cell(
                        rx.text("Actions", class_name="rt-sr-only"), width="48px"
                    ),
                )
            ),
            rx.table.body(
                rx.foreach(
                    S.rows,
                    lambda r: rx.table.row(
                        rx.table.cell(
                            rx.vstack(
                                rx.text(r["name"], weight="medium"),
                                rx.text(r["email"], size="1", color_scheme="gray"),
                                spacing="0",
                            )
                        ),
                        rx.table.cell(role_badge(r["role"])),
                        rx.table.cell(
                            rx.vstack(
                                status_badge(r["is_active"], r["locked"]),
                                rx.cond(
                                    r["locked"],
                                    rx.text(
                                        "until ",
                                        datetime_text(r["locked_until"]),
                                        size="1",
                                        color_scheme="gray",
                                    ),
                                ),
                                spacing="1",
                            )
                        ),
                        rx.table.cell(rx.text(r["manager"], size="2")),
                        rx.table.cell(
                            datetime_text(r["last_login"], "never"), white_space="nowrap"
                        ),
                        rx.table.cell(_actions(r)),
                        align="center",
                    ),
                )
            ),
            variant="surface",
            width="100%",
        )
    )


def _form_dialog() -> rx.Component:
    is_new = S.editing_id == 0
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.cond(is_new, "New user", "Edit user")),
            rx.dialog.description(
                rx.cond(
                    is_new,
                    "Leave the password empty to generate one; it is shown once.",
                    "Changes are recorded in the audit trail.",
                ),
                size="2",
                color_scheme="gray",
                margin_bottom="12px",
            ),
            rx.form(
                rx.vstack(
                    rx.cond(
                        S.errors.contains("form"),
                        rx.callout(
                            S.errors["form"],
                            icon="triangle-alert",
                            color_scheme="red",
                            width="100%",
                        ),
                    ),
                    field(
                        "Full name",
                        rx.input(
                            name="name",
                            default_value=S.f_name,
                            max_length=120,
                            required=True,
                            id="user-name",
                        ),
                        S.errors.get("name", ""),
                    ),
                    field(
                        "Email",
                        rx.input(
                            name="email",
                            type="email",
                            default_value=S.f_email,
                            max_length=254,
                            required=True,
                            id="user-email",
                        ),
                        S.errors.get("email", ""),
                    ),
                    field(
                        "Role",
                        rx.select.root(
                            rx.select.trigger(id="user-role", width="100%"),
                            rx.select.content(
                                *[rx.select.item(ROLE_LABELS[r], value=r.value) for r in Role]
                            ),
                            name="role",
                            default_value=S.f_role,
                        ),
                        S.errors.get("role", ""),
                    ),
                    field(
                        "Manager",
                        rx.select.root(
                            rx.select.trigger(width="100%"),
                            rx.select.content(
                                rx.select.item("No manager", value=NO_MANAGER),
                                rx.foreach(
                                    S.managers, lambda m: rx.select.item(m["name"], value=m["id"])
                                ),
                            ),
                            name="manager_id",
                            default_value=S.f_manager,
                        ),
                        S.errors.get("manager_id", ""),
                        hint="Brokers report to a manager (team views and escalations).",
                    ),
                    rx.cond(
                        is_new,
                        field(
                            "Initial password (optional)",
                            rx.input(
                                name="password",
                                type="password",
                                max_length=128,
                                auto_complete="new-password",
                                id="user-password",
                            ),
                            S.errors.get("password", ""),
                            hint="12 to 128 characters.",
                        ),
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button(
                            rx.cond(S.saving, rx.spinner(size="1"), rx.fragment()),
                            rx.cond(is_new, "Create user", "Save"),
                            type="submit",
                            disabled=S.saving,
                            id="user-save",
                        ),
                        justify="end",
                        width="100%",
                        spacing="2",
                    ),
                    spacing="3",
                ),
                on_submit=S.save,
                reset_on_submit=False,
                key=S.form_key,
            ),
            max_width="480px",
        ),
        open=S.dialog_open,
        on_open_change=S.set_dialog_open,
    )


def _confirm_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(S.confirm_title),
            rx.alert_dialog.description(S.confirm_text, size="2"),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(
                        "Confirm",
                        color_scheme=rx.cond(S.confirm_action == "deactivate", "red", "indigo"),
                        on_click=S.confirm,
                        id="confirm-action",
                    )
                ),
                justify="end",
                spacing="2",
                margin_top="16px",
            ),
        ),
        open=S.confirm_open,
        on_open_change=S.set_confirm_open,
    )


def _reveal_dialog() -> rx.Component:
    return shown_once_dialog(
        title=S.reveal_title,
        description="Copy it now and give it to the user securely; it will not be shown again.",
        secret=S.reveal_password,
        open_=S.reveal_open,
        on_done=S.close_reveal,
        secret_id="revealed-password",
    )


@app_page("/admin/users", "Users", on_load=[S.load])
def admin_users() -> rx.Component:
    return rx.vstack(
        page_header(
            "Users",
            "Accounts, roles and access. Every change is recorded in the audit trail.",
            rx.button(
                rx.icon("user-plus", size=16), "New user", on_click=S.open_new, id="new-user"
            ),
        ),
        card(
            rx.vstack(
                _filters(),
                rx.cond(
                    S.shown > 0,
                    _table(),
                    empty_state("users", "No users match", "Try another search or filter."),
                ),
                list_pager(S, 25, S.total.to_string()),
                spacing="3",
                width="100%",
            )
        ),
        _form_dialog(),
        _confirm_dialog(),
        _reveal_dialog(),
        width="100%",
    )
