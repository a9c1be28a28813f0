"""Changing one's own password, shared by My account and the sign-in security page."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.services import authentication
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.settings import get_settings
from brm_app.state.base import ServiceMixin


class PasswordChangeMixin(ServiceMixin, rx.State, mixin=True):
    password_errors: dict[str, str] = {}
    saving: bool = False

    def _new_passwords_match(self, form: Any) -> bool:
        """A plain check before the server round trip; sets the field's message when not."""
        if not isinstance(form, dict):
            return False
        if form.get("new_password") != form.get("confirm_password"):
            self.password_errors = {"confirm_password": "does not match the new password"}
            return False
        return True

    async def _change_own_password(self, form: dict[str, Any]) -> tuple[int | None, Any]:
        """(other sessions signed out, None) when changed; (None, event to show or None) when not,
        with the fields' messages in `password_errors`."""
        try:
            revoked = await self._call(
                authentication.change_own_password,
                write=True,
                current_password=form.get("current_password"),
                new_password=form.get("new_password"),
                otp=form.get("otp") or None,
                settings=get_settings(),
            )
        except ValidationFailed as exc:
            self.password_errors = self._field_errors(exc) or {"current_password": exc.message}
            return None, None
        except DomainError as exc:
            return None, self._error_event(exc)
        finally:
            self.saving = False
        self.password_errors = {}
        return revoked, None
