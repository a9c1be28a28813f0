"""/account: each user changes their own name and password."""

from __future__ import annotations

import reflex as rx

from brm_app.services import authentication, users
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.settings import get_settings
from brm_app.state.auth import SessionState
from brm_app.state.base import ServiceMixin


class AccountState(ServiceMixin, rx.State):
    profile_errors: dict[str, str] = {}
    password_errors: dict[str, str] = {}
    password_form_key: int = 0
    saving: bool = False

    @rx.event
    async def save_profile(self, form: dict):
        if not isinstance(form, dict):
            return None
        try:
            updated = await self._call(users.update_profile, write=True, name=form.get("name"))
        except ValidationFailed as exc:
            self.profile_errors = self._field_errors(exc) or {"name": exc.message}
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.profile_errors = {}
        session = await self.get_state(SessionState)
        session.name = updated.name
        return rx.toast.success("Name saved.")

    @rx.event
    async def change_password(self, form: dict):
        if not isinstance(form, dict):
            return
        if form.get("new_password") != form.get("confirm_password"):
            self.password_errors = {"confirm_password": "does not match the new password"}
            return
        self.saving = True
        yield
        try:
            revoked = await self._call(
                authentication.change_own_password,
                write=True,
                current_password=form.get("current_password"),
                new_password=form.get("new_password"),
                settings=get_settings(),
            )
        except ValidationFailed as exc:
            self.saving = False
            self.password_errors = self._field_errors(exc) or {"current_password": exc.message}
            return
        except DomainError as exc:
            self.saving = False
            yield self._error_event(exc)
            return
        self.saving = False
        self.password_errors = {}
        self.password_form_key += 1
        others = f" {revoked} other session(s) were signed out." if revoked else ""
        yield rx.toast.success("Password changed." + others)
