"""/admin/settings: the app's own rules and lists (admins)."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars import ArrayVar

from brm_app.components.layout import app_page
from brm_app.components.ui import card, field, page_header, table_scroll
from brm_app.models.user import ROLE_LABELS
from brm_app.state.app_settings import SettingsState as S
from brm_app.state.retention import RetentionState


def _rules() -> rx.Component:
    e = S.rules_errors
    return card(
        rx.heading("Relationship rules", size="4"),
        rx.text(
            "A firm is due for contact when its last interaction is older than its tier's interval.",
            size="2",
            color_scheme="gray",
            margin_bottom="12px",
        ),
        rx.form(
            rx.vstack(
                rx.grid(
                    field(
                        "Tier A (days)",
                        rx.input(
                            name="contact_a",
                            type="number",
                            min=1,
                            max=3650,
                            default_value=S.contact_a,
                            id="contact-a",
                        ),
                        e.get("contact_a", ""),
                    ),
                    field(
                        "Tier B (days)",
                        rx.input(
                            name="contact_b",
                            type="number",
                            min=1,
                            max=3650,
                            default_value=S.contact_b,
                            id="contact-b",
                        ),
                        e.get("contact_b", ""),
                    ),
                    field(
                        "Tier C (days)",
                        rx.input(
                            name="contact_c",
                            type="number",
                            min=1,
                            max=3650,
                            default_value=S.contact_c,
                            id="contact-c",
                        ),
                        e.get("contact_c", ""),
                    ),
                    columns=rx.breakpoints(initial="1", sm="3"),
                    spacing="3",
                    width="100%",
                ),
                field(
                    "Tell the broker's manager when a follow-up is overdue by (days)",
                    rx.input(
                        name="escalation",
                        type="number",
                        min=0,
                        max=365,
                        default_value=S.escalation,
                        id="escalation-days",
                    ),
                    e.get("overdue_escalation_days", ""),
                ),
                field(
                    "Default reminders for new follow-ups",
                    rx.hstack(
                        rx.checkbox(
                            "1 day before",
                            name="remind_1440",
                            default_checked=S.reminders.contains("1440"),
                        ),
                        rx.checkbox(
                            "1 hour before",
                            name="remind_60",
                            default_checked=S.reminders.contains("60"),
                        ),
                        rx.checkbox(
                            "15 minutes before",
                            name="remind_15",
                            default_checked=S.reminders.contains("15"),
                        ),
                        spacing="4",
                        wrap="wrap",
                    ),
                    e.get("default_reminder_minutes", ""),
                ),
                rx.button("Save rules", type="submit", id="save-rules"),
                spacing="3",
                align="start",
            ),
            on_submit=S.save_rules,
            reset_on_submit=False,
            key=S.contact_a + S.contact_b + S.contact_c + S.escalation,
        ),
    )


def _security() -> rx.Component:
    # The state's list as the Var it is on the class (mypy reads the annotation: list[str]).
    roles = cast("ArrayVar[list[str]]", S.mfa_roles)
    return card(
        rx.heading("Sign-in security", size="4"),
        rx.text(
            "Users of the ticked roles must sign in with a one-time code from an authenticator "
            "app too; they set it up at their next sign-in before anything else.",
            size="2",
            color_scheme="gray",
            margin_bottom="12px",
        ),
        rx.form(
            rx.vstack(
                field(
                    "Roles that require two-factor sign-in",
                    rx.hstack(
                        *[
                            rx.checkbox(
                                label,
                                name=f"mfa_{role.value}",
                                default_checked=roles.contains(role.value),
                            )
                            for role, label in ROLE_LABELS.items()
                        ],
                        spacing="4",
                        wrap="wrap",
                    ),
                    S.security_error,
                ),
                rx.button("Save sign-in security", type="submit", id="save-security"),
                spacing="3",
                align="start",
            ),
            on_submit=S.save_security,
            reset_on_submit=False,
            key=roles.join(","),
        ),
    )


_RETENTION_LABELS = {
    "communications": "Communications (from the last message)",
    "attachments": "Attachments (from the upload)",
    "interactions": "Interactions (from the last change)",
    "follow_ups": "Follow-ups, done or cancelled (from the last change)",
    "transactions": "Portfolio transactions (not purged yet)",
    "audit_trail": "Audit trail",
}


def _retention() -> rx.Component:
    r: Any = RetentionState
    return card(
        rx.heading("Retention", size="4"),
        rx.text(
            "Years each kind of record is kept after its end; a daily job removes what is past "
            "it, except what is under a legal hold, and records each removal in the audit trail.",
            size="2",
            color_scheme="gray",
            margin_bottom="12px",
        ),
        rx.cond(
            r.errors.contains("form"),
            rx.callout(r.errors["form"], color_scheme="red", role="alert"),
        ),
        rx.form(
            rx.vstack(
                rx.grid(
                    *[
                        field(
                            label,
                            rx.input(
                                name=kind,
                                type="number",
                                min=1,
                                max=10,
                                default_value=r.years[kind],
                                id=f"retention-{kind.replace('_', '-')}",
                            ),
                            r.errors.get(kind, ""),
                        )
                        for kind, label in _RETENTION_LABELS.items()
                    ],
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="3",
                    width="100%",
                ),
                rx.button("Save retention", type="submit", id="save-retention"),
                spacing="3",
                align="start",
            ),
            on_submit=r.save,
            reset_on_submit=False,
            key=r.years.to_string(),
        ),
    )


def _types() -> rx.Component:
    return card(
        rx.heading("Interaction types and outcomes", size="4"),
        rx.text(
            "Tick the outcomes each type allows. Retired types keep their past interactions.",
            size="2",
            color_scheme="gray",
            margin_bottom="12px",
        ),
        table_scroll(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Type"),
                        rx.table.column_header_cell("In use"),
                        rx.foreach(
                            S.outcomes, lambda o: rx.table.column_header_cell(rx.text(o, size="1"))
                        ),
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        S.types,
                        lambda t: rx.table.row(
                            rx.table.cell(rx.text(t["name"], weight="medium", size="2")),
                            rx.table.cell(
                                rx.switch(
                                    checked=t["active"].to(bool),
                                    on_change=lambda v: S.toggle_active(t["name"].to(str), v),
                                    size="1",
                                    aria_label=t["name"].to(str) + " in use",
                                )
                            ),
                            rx.foreach(
                                S.outcomes,
                                lambda o: rx.table.cell(
                                    rx.checkbox(
                                        checked=t["outcomes"].to(list[str]).contains(o),
                                        on_change=lambda v: S.toggle_outcome(
                                            t["name"].to(str), o, v
                                        ),
                                        aria_label=t["name"].to(str) + " allows " + o,
                                    ),
                                    text_align="center",
                                ),
                            ),
                        ),
                    )
                ),
                variant="surface",
                size="1",
                width="100%",
            )
        ),
        rx.flex(
            rx.input(
                placeholder="New type, e.g. Site visit",
                value=S.new_type,
                on_change=S.set_new_type,
                max_length=60,
                id="new-type",
            ),
            rx.button("Add type", variant="soft", on_click=S.add_type),
            rx.input(
                placeholder="New outcome, e.g. Escalated",
                value=S.new_outcome,
                on_change=S.set_new_outcome,
                max_length=60,
                id="new-outcome",
            ),
            rx.button("Add outcome", variant="soft", on_click=S.add_outcome),
            gap="8px",
            wrap="wrap",
            margin_top="12px",
        ),
        rx.cond(
            S.config_error != "",
            rx.text(S.config_error, size="1", color_scheme="red", role="alert"),
        ),
    )


@app_page("/admin/settings", "Settings", on_load=[S.load, RetentionState.load])
def settings_page() -> rx.Component:
    return rx.vstack(
        page_header(
            "Settings", "Rules and lists the whole brokerage works with. Changes are audited."
        ),
        _rules(),
        _security(),
        _retention(),
        _types(),
        spacing="4",
        width="100%",
    )
