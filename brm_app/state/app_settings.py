"""/admin/settings: contact intervals, escalation, default reminders, interaction types and outcomes."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.models.user import Role
from brm_app.services import app_settings, interaction_config
from brm_app.services.errors import Conflict, DomainError, ValidationFailed
from brm_app.state.base import ServiceMixin

PRESETS = [1440, 60, 15]


def _rows(cfg: list[interaction_config.TypeConfig]) -> list[dict[str, Any]]:
    return [
        {"name": t.name, "active": t.active, "built_in": t.built_in, "outcomes": t.outcomes}
        for t in cfg
    ]


class SettingsState(ServiceMixin, rx.State):
    contact_a: str = "14"
    contact_b: str = "30"
    contact_c: str = "90"
    escalation: str = "2"
    reminders: list[str] = []
    rules_errors: dict[str, str] = {}
    types: list[dict[str, Any]] = []
    outcomes: list[str] = []
    new_type: str = ""
    new_outcome: str = ""
    config_error: str = ""
    # Roles that must use two-factor sign-in.
    mfa_roles: list[str] = []
    security_error: str = ""

    @rx.event
    async def load(self):
        def fetch(db, *, actor):
            return (
                app_settings.read_rules(db, actor=actor),
                interaction_config.types_for(db, actor=actor, include_inactive=True),
                interaction_config.outcomes(db),
                app_settings.read_security(db, actor=actor),
            )

        try:
            rules, cfg, outcomes, security = await self._call(fetch)
        except DomainError as exc:
            return self._error_event(exc)
        self._show_rules(rules)
        self.mfa_roles, self.security_error = list(security.mfa_required_roles), ""
        self.types, self.outcomes = _rows(cfg), outcomes
        self.rules_errors, self.config_error = {}, ""
        return None

    def _show_rules(self, rules: app_settings.RelationshipRules) -> None:
        self.contact_a, self.contact_b, self.contact_c = (str(rules.contact_days[t]) for t in "ABC")
        self.escalation = str(rules.overdue_escalation_days)
        self.reminders = [str(m) for m in rules.default_reminder_minutes]

    @rx.event
    async def save_rules(self, form: dict):
        if not isinstance(form, dict):
            return None

        def number(key: str) -> Any:
            value = form.get(key)
            return int(value) if isinstance(value, str) and value.strip().isdigit() else value

        reminders = [m for m in PRESETS if form.get(f"remind_{m}") in ("on", True)]
        try:
            rules = await self._call(
                app_settings.update_rules,
                write=True,
                contact_days={
                    "A": number("contact_a"),
                    "B": number("contact_b"),
                    "C": number("contact_c"),
                },
                overdue_escalation_days=number("escalation"),
                default_reminder_minutes=reminders,
            )
        except ValidationFailed as exc:
            self.rules_errors = {
                k.replace("contact_days.", "contact_").lower(): v for k, v in exc.errors.items()
            }
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.rules_errors = {}
        self._show_rules(rules)
        return rx.toast.success("Rules saved.")

    @rx.event
    async def save_security(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        roles = [r.value for r in Role if form.get(f"mfa_{r.value}") in ("on", True)]
        try:
            rules = await self._call(
                app_settings.update_security, write=True, mfa_required_roles=roles
            )
        except ValidationFailed as exc:
            self.security_error = exc.message
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.mfa_roles, self.security_error = list(rules.mfa_required_roles), ""
        return rx.toast.success("Sign-in security saved.")

    @rx.event
    async def toggle_outcome(self, type_name: str, outcome: str, allowed: bool):
        row = (
            next((t for t in self.types if t["name"] == type_name), None)
            if isinstance(type_name, str)
            else None
        )
        if (
            row is None
            or not isinstance(outcome, str)
            or outcome not in self.outcomes
            or not isinstance(allowed, bool)
        ):
            return None
        wanted = [
            o
            for o in self.outcomes
            if (o in row["outcomes"] and o != outcome) or (o == outcome and allowed)
        ]
        try:
            cfg = await self._call(
                interaction_config.set_allowed_outcomes,
                write=True,
                type_name=type_name,
                outcomes=wanted,
            )
        except DomainError as exc:
            return self._error_event(exc)
        self.types = _rows(cfg)
        return None

    @rx.event
    async def toggle_active(self, type_name: str, active: bool):
        try:
            cfg = await self._call(
                interaction_config.set_type_active, write=True, type_name=type_name, active=active
            )
        except DomainError as exc:
            return self._error_event(exc)
        self.types = _rows(cfg)
        return None

    @rx.event
    def set_new_type(self, value: str):
        if isinstance(value, str):
            self.new_type = value[:60]

    @rx.event
    def set_new_outcome(self, value: str):
        if isinstance(value, str):
            self.new_outcome = value[:60]

    @rx.event
    async def add_type(self):
        try:
            cfg = await self._call(interaction_config.add_type, write=True, name=self.new_type)
        except (ValidationFailed, Conflict) as exc:
            self.config_error = exc.message.split(": ", 1)[-1]
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.types, self.new_type, self.config_error = _rows(cfg), "", ""
        return rx.toast.success("Type added.")

    @rx.event
    async def add_outcome(self):
        try:
            self.outcomes = await self._call(
                interaction_config.add_outcome, write=True, name=self.new_outcome
            )
        except (ValidationFailed, Conflict) as exc:
            self.config_error = exc.message.split(": ", 1)[-1]
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.new_outcome, self.config_error = "", ""
        return rx.toast.success("Outcome added; tick the types that allow it.")
