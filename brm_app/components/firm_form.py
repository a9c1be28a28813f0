"""The firm form (new and edit) and the trader form, as dialogs. Stateless: each page passes its vars."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.components.ui import field
from brm_app.models.fields import country_choices
from brm_app.models.firm import AccountStatus, Tier
from brm_app.models.trader import PERMISSION_LABELS, TraderPermission, TraderStatus
from brm_app.state.firm_forms import NONE

_COUNTRIES = country_choices()


def _text(name: str, label: str, form: rx.Var, errors: rx.Var, **props: Any) -> rx.Component:
    return field(
        label,
        rx.input(
            name=name, default_value=form[name].to(str), id=f"firm-{name}", width="100%", **props
        ),
        errors.get(name, ""),
    )


def _select(
    name: str, label: str, options: list[tuple[str, str]], form: rx.Var, errors: rx.Var
) -> rx.Component:
    return field(
        label,
        rx.select.root(
            rx.select.trigger(width="100%", id=f"firm-{name}"),
            rx.select.content(*[rx.select.item(text, value=value) for value, text in options]),
            name=name,
            default_value=form[name].to(str),
        ),
        errors.get(name, ""),
    )


def _section(title: str, *children: rx.Component) -> rx.Component:
    return rx.vstack(
        rx.text(title, size="1", weight="bold", color_scheme="gray", text_transform="uppercase"),
        *children,
        spacing="2",
        width="100%",
    )


def _grid(*children: rx.Component, columns: str = "2") -> rx.Component:
    return rx.grid(
        *children, columns=rx.breakpoints(initial="1", sm=columns), spacing="3", width="100%"
    )


def firm_fields(form: rx.Var, errors: rx.Var) -> rx.Component:
    any_form: Any = form  # the Vars as Any (mypy reads rx.Var's own methods)
    any_errors: Any = errors
    return rx.vstack(
        _section(
            "Firm",
            _text("name", "Name", form, errors, max_length=200, required=True),
            _grid(
                _text(
                    "lei",
                    "LEI (ISO 17442)",
                    form,
                    errors,
                    max_length=20,
                    placeholder="20 characters",
                ),
                _select(
                    "account_status",
                    "Account status",
                    [(s.value, s.value) for s in AccountStatus],
                    form,
                    errors,
                ),
            ),
            _select(
                "tier", "Client tier", [(t.value, f"Tier {t.value}") for t in Tier], form, errors
            ),
        ),
        _section(
            "Address",
            _text("street", "Street", form, errors, max_length=200),
            _grid(
                _text("city", "City", form, errors, max_length=100),
                _text("postal_code", "Postal code", form, errors, max_length=20),
            ),
            _select("country", "Country", [(NONE, "—"), *_COUNTRIES], form, errors),
        ),
        _section(
            "Contact details",
            _grid(
                _text(
                    "phone",
                    "Phone",
                    form,
                    errors,
                    max_length=40,
                    placeholder="+44 20 7946 0958",
                    type="tel",
                ),
                _text("email", "Email", form, errors, max_length=254, type="email"),
            ),
            _text("website", "Website", form, errors, max_length=300, placeholder="https://"),
        ),
        _section(
            "Notes",
            field(
                "Internal notes (never shown to the firm's traders)",
                rx.text_area(
                    name="notes",
                    default_value=form["notes"].to(str),
                    max_length=10000,
                    rows="4",
                    width="100%",
                    id="firm-notes",
                ),
                errors.get("notes", ""),
            ),
        ),
        _section(
            "Recording disclosure (MiFID II)",
            field(
                "Day the client was told communications are recorded",
                rx.input(
                    name="recording_disclosed_on",
                    type="date",
                    default_value=any_form["recording_disclosed_on"].to(str),
                    id="firm-recording-disclosed-on",
                ),
                any_errors.get("recording_disclosed_on", ""),
                hint="Leave empty while they have not been told: messages and logging warn.",
            ),
        ),
        spacing="4",
        width="100%",
    )


def coverage_fields(
    brokers: rx.Var, primary: rx.Var, secondary: rx.Var, errors: rx.Var
) -> rx.Component:
    """Primary broker select and secondary broker checkboxes (managers and admins)."""
    return _section(
        "Coverage",
        field(
            "Primary broker",
            rx.select.root(
                rx.select.trigger(
                    placeholder="Choose the primary broker", width="100%", id="firm-primary"
                ),
                rx.select.content(
                    rx.foreach(brokers, lambda b: rx.select.item(b["name"], value=b["id"]))
                ),
                name="primary_broker_id",
                default_value=primary,
            ),
            errors.get("primary_broker_id", ""),
        ),
        rx.text("Secondary brokers", size="2", weight="medium"),
        rx.flex(
            rx.foreach(
                brokers,
                lambda b: rx.checkbox(
                    b["name"],
                    name="secondary_" + b["id"],
                    default_checked=secondary.contains(b["id"]),
                    size="2",
                ),
            ),
            wrap="wrap",
            gap="12px",
        ),
        rx.cond(
            errors.contains("secondary_broker_ids"),
            rx.text(errors["secondary_broker_ids"], size="1", color_scheme="red"),
        ),
    )


def form_dialog(
    *,
    title: rx.Var | str,
    description: str,
    open_: rx.Var,
    on_open_change: Any,
    on_submit: Any,
    form_key: rx.Var,
    errors: rx.Var,
    saving: rx.Var,
    submit_label: rx.Var | str,
    body: rx.Component,
    submit_id: str,
    max_width: str = "640px",
) -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(title),
            rx.dialog.description(description, size="2", color_scheme="gray", margin_bottom="12px"),
            rx.form(
                rx.vstack(
                    rx.cond(
                        errors.contains("form"),
                        rx.callout(
                            errors["form"],
                            icon="triangle-alert",
                            color_scheme="red",
                            width="100%",
                            role="alert",
                        ),
                    ),
                    body,
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button(
                            rx.cond(saving, rx.spinner(size="1")),
                            submit_label,
                            type="submit",
                            disabled=saving,
                            id=submit_id,
                        ),
                        justify="end",
                        width="100%",
                        spacing="2",
                        padding_top="8px",
                    ),
                    spacing="4",
                ),
                on_submit=on_submit,
                reset_on_submit=False,
                key=form_key,
            ),
            max_width=max_width,
            max_height="90vh",
            overflow_y="auto",
        ),
        open=open_,
        on_open_change=on_open_change,
    )


def trader_fields(
    form: rx.Var, errors: rx.Var, roles: rx.Var, can_grant_portal: rx.Var | bool
) -> rx.Component:
    def text(name: str, label: str, **props: Any) -> rx.Component:
        return field(
            label,
            rx.input(
                name=name,
                default_value=form[name].to(str),
                id=f"trader-{name}",
                width="100%",
                **props,
            ),
            errors.get(name, ""),
        )

    return rx.vstack(
        text("name", "Name", max_length=200, required=True),
        _grid(
            text("email", "Email", max_length=254, type="email", required=True),
            text("phone", "Phone", max_length=40, type="tel", placeholder="+1 212 555 0147"),
        ),
        text(
            "mobile",
            "Mobile (SMS go only here)",
            max_length=40,
            type="tel",
            placeholder="+44 7911 123456",
        ),
        _grid(
            field(
                "Role at the firm",
                rx.select.root(
                    rx.select.trigger(width="100%", id="trader-role"),
                    rx.select.content(rx.foreach(roles, lambda r: rx.select.item(r, value=r))),
                    name="role",
                    default_value=form["role"].to(str),
                ),
                errors.get("role", ""),
            ),
            field(
                "Status",
                rx.select.root(
                    rx.select.trigger(width="100%", id="trader-status"),
                    rx.select.content(
                        rx.select.item("Active", value=TraderStatus.ACTIVE.value),
                        rx.select.item("Left the firm", value=TraderStatus.LEFT.value),
                    ),
                    name="status",
                    default_value=form["status"].to(str),
                ),
                errors.get("status", ""),
            ),
        ),
        rx.vstack(
            rx.text("Platform permissions", size="2", weight="medium"),
            rx.grid(
                *[
                    rx.checkbox(
                        PERMISSION_LABELS[p],
                        name=f"perm_{p.value}",
                        default_checked=form["perms"].to(list[str]).contains(p.value),
                        id=f"trader-perm-{p.value}",
                        # Only managers and admins grant portal access (the service enforces it too).
                        disabled=~can_grant_portal
                        if p == TraderPermission.PORTAL_ACCESS
                        else False,
                    )
                    for p in TraderPermission
                ],
                columns="2",
                spacing="2",
            ),
            rx.cond(
                errors.contains("permissions"),
                rx.text(errors["permissions"], size="1", color_scheme="red"),
            ),
            rx.text(
                "Portal access creates a sign-in for the trader; managers and admins grant it.",
                size="1",
                color_scheme="gray",
            ),
            spacing="2",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )
