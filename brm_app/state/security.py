"""/account/security: choosing one's own password (when an admin chose it) and two-factor sign-in.

The one page a user whose account setup is pending can use (@setup_state). The TOTP secret and
its QR code are in public vars only while an enrolment is shown (the phone has to read them),
and the recovery codes only until the user says they have saved them; neither is ever loaded
again: the server keeps the secret encrypted and the codes hashed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from brm_app.auth import totp
from brm_app.services import two_factor
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.settings import get_settings
from brm_app.state.password_change import PasswordChangeMixin
from brm_app.state.session_guard import setup_state


@setup_state
class SecurityState(PasswordChangeMixin, rx.State):
    must_change_password: bool = False
    mfa_enabled: bool = False
    mfa_required: bool = False
    recovery_codes_left: int = 0
    # Enrolment in progress: what the authenticator app needs (see the module's docstring).
    enrol_qr: str = ""
    enrol_secret: str = ""
    recovery_codes: list[str] = []
    mfa_errors: dict[str, str] = {}
    form_key: int = 0

    @rx.var
    def has_recovery_codes(self) -> bool:
        return len(self.recovery_codes) > 0

    @rx.event
    async def load(self) -> Any:
        self._forget_enrolment()
        self.recovery_codes = []
        self.password_errors, self.mfa_errors = {}, {}
        return await self._refresh()

    def _forget_enrolment(self) -> None:
        self.enrol_qr = self.enrol_secret = ""

    async def _refresh(self) -> Any:
        def fetch(db: Any, *, actor: Any) -> Any:
            from brm_app.services import users

            return users.get_me(db, actor=actor), two_factor.status(db, actor=actor)

        try:
            me, status = await self._call(fetch)
        except DomainError as exc:
            return self._error_event(exc)
        self.must_change_password = me.must_change_password
        self.mfa_enabled, self.mfa_required = status.enabled, status.required
        self.recovery_codes_left = status.recovery_codes_left
        return None

    @rx.event
    async def change_password(self, form: dict[str, Any]) -> AsyncIterator[Any]:
        if not self._new_passwords_match(form):
            return
        self.saving = True
        yield
        revoked, failed = await self._change_own_password(form)
        if revoked is None:
            if failed is not None:
                yield failed
            return
        self.form_key += 1
        was_required = self.must_change_password
        failed = await self._refresh()
        if failed is not None:
            yield failed
            return
        yield rx.toast.success("Password changed.")
        if was_required and not self.mfa_required:
            yield rx.redirect("/", replace=True)

    @rx.event
    async def start_enrolment(self) -> Any:
        try:
            started = await self._call(
                two_factor.begin_enrolment, write=True, settings=get_settings()
            )
        except DomainError as exc:
            return self._error_event(exc)
        self.enrol_qr = started.qr_data_uri
        self.enrol_secret = totp.grouped(started.secret)
        self.mfa_errors = {}
        return None

    @rx.event
    def cancel_enrolment(self) -> None:
        self._forget_enrolment()
        self.mfa_errors = {}

    @rx.event
    async def confirm_enrolment(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict) or not self.enrol_secret:
            return None
        try:
            codes = await self._call(
                two_factor.confirm_enrolment,
                write=True,
                code=form.get("code"),
                settings=get_settings(),
            )
        except ValidationFailed as exc:
            self.mfa_errors = self._field_errors(exc) or {"code": exc.message}
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self._forget_enrolment()
        self.mfa_errors = {}
        self.recovery_codes = codes
        await self._refresh()
        return rx.toast.success("Two-factor sign-in is on.")

    @rx.event
    def hide_recovery_codes(self) -> None:
        self.recovery_codes = []

    @rx.event
    async def disable(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        try:
            await self._call(
                two_factor.disable,
                write=True,
                password=form.get("password"),
                code=form.get("code"),
                settings=get_settings(),
            )
        except ValidationFailed as exc:
            self.mfa_errors = self._field_errors(exc) or {"code": exc.message}
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.mfa_errors = {}
        self.form_key += 1
        await self._refresh()
        return rx.toast.success("Two-factor sign-in is off.")

    @rx.event
    async def renew_recovery_codes(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        try:
            codes = await self._call(
                two_factor.new_recovery_codes,
                write=True,
                code=form.get("code"),
                settings=get_settings(),
            )
        except ValidationFailed as exc:
            self.mfa_errors = {"renew": exc.errors.get("code", exc.message)}
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.mfa_errors = {}
        self.form_key += 1
        self.recovery_codes = codes
        await self._refresh()
        return None
