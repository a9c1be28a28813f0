"""/admin/users: list, search, create, edit, deactivate/reactivate, reset passwords, unlock."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.models.user import Role, UserCreate, UserPublic, UserUpdate
from brm_app.services import two_factor, users
from brm_app.services.errors import Conflict, DomainError, ValidationFailed
from brm_app.services.pagination import PageRequest
from brm_app.services.validation import parse, require_id
from brm_app.state.base import PagedListMixin

PAGE_SIZE = 25
ROLE_FILTERS = {"all", *(r.value for r in Role)}
STATUS_FILTERS = {"all", "active", "inactive", "locked"}
NO_MANAGER = "none"


def _row(u: UserPublic, manager_names: dict[int, str]) -> dict[str, Any]:
    return {
        "user_id": u.user_id,
        "email": u.email,
        "name": u.name,
        "role": u.role.value,
        "is_active": u.is_active,
        "locked": u.locked_until is not None,
        "locked_until": u.locked_until.isoformat() if u.locked_until else "",
        "last_login": u.last_login_at.isoformat() if u.last_login_at else "",
        "manager_id": str(u.manager_id) if u.manager_id else NO_MANAGER,
        "manager": manager_names.get(u.manager_id, "") if u.manager_id else "",
        "mfa": u.mfa_enabled,
    }


class AdminUsersState(PagedListMixin, rx.State):
    def _page_size(self) -> int:
        return PAGE_SIZE

    q: str = ""
    role_filter: str = "all"
    status_filter: str = "all"
    total: int = 0
    managers: list[dict[str, str]] = []

    # Create / edit dialog
    dialog_open: bool = False
    editing_id: int = 0
    form_key: int = 0
    f_email: str = ""
    f_name: str = ""
    f_role: str = Role.BROKER.value
    f_manager: str = NO_MANAGER
    errors: dict[str, str] = {}
    saving: bool = False

    # Confirmation of deactivate / reactivate / reset password
    confirm_open: bool = False
    confirm_action: str = ""
    confirm_user_id: int = 0
    confirm_title: str = ""
    confirm_text: str = ""

    # A generated password, shown once
    reveal_open: bool = False
    reveal_title: str = ""
    reveal_password: str = ""

    @rx.event
    async def load(self):
        status = self.router.url.query_parameters.get("status", "")
        if isinstance(status, str) and status in STATUS_FILTERS:
            self.status_filter = status
        self.offset = 0
        # A reload closes whatever was open (and a shown password is not shown again).
        self.dialog_open = self.confirm_open = self.reveal_open = False
        self.reveal_password = ""
        return await self._refresh()

    async def _refresh(self):
        def fetch(db, *, actor):
            page = users.list_users(
                db,
                actor=actor,
                page=PageRequest(offset=self.offset, limit=PAGE_SIZE),
                q=self.q or None,
                role=None if self.role_filter == "all" else self.role_filter,
                status=None if self.status_filter == "all" else self.status_filter,
            )
            return page, users.managers(db, actor=actor)

        try:
            page, managers = await self._call(fetch)
        except DomainError as exc:
            return self._error_event(exc)
        names = {m.user_id: m.name for m in managers}
        self.rows = [_row(u, names) for u in page.items]
        self.total = page.total or 0
        self.has_next = page.has_next
        self.managers = [{"id": str(m.user_id), "name": m.name} for m in managers]
        return None

    @rx.event
    async def search(self, value: str):
        if not isinstance(value, str):
            return None
        self.q = value[:100]
        self.offset = 0
        return await self._refresh()

    @rx.event
    async def filter_role(self, value: str):
        if not isinstance(value, str) or value not in ROLE_FILTERS:
            return None
        self.role_filter = value
        self.offset = 0
        return await self._refresh()

    @rx.event
    async def filter_status(self, value: str):
        if not isinstance(value, str) or value not in STATUS_FILTERS:
            return None
        self.status_filter = value
        self.offset = 0
        return await self._refresh()

    def _open_form(self, user_id: int, email: str, name: str, role: str, manager: str) -> None:
        self.editing_id = user_id
        self.f_email, self.f_name, self.f_role, self.f_manager = email, name, role, manager
        self.errors = {}
        self.form_key += 1
        self.dialog_open = True

    @rx.event
    def open_new(self):
        self._open_form(0, "", "", Role.BROKER.value, NO_MANAGER)

    @rx.event
    def open_edit(self, user_id: int):
        try:
            user_id = require_id(user_id, "user_id")
        except ValidationFailed:
            return
        row = next((r for r in self.rows if r["user_id"] == user_id), None)
        if row is None:
            return
        self._open_form(user_id, row["email"], row["name"], row["role"], row["manager_id"])

    @rx.event
    def set_dialog_open(self, value: bool):
        self.dialog_open = bool(value)

    @rx.event
    async def save(self, form: dict):
        if not isinstance(form, dict):
            return None
        manager = form.get("manager_id")
        data: dict[str, Any] = {
            "email": form.get("email", ""),
            "name": form.get("name", ""),
            "role": form.get("role", ""),
            "manager_id": None if manager in (None, "", NO_MANAGER) else _int_or_raw(manager),
        }
        self.saving = True
        try:
            if self.editing_id:
                update = parse(UserUpdate, data)
                await self._call(
                    users.update_user, write=True, user_id=self.editing_id, data=update
                )
                message, created = "User saved.", None
            else:
                data["password"] = form.get("password") or None
                create = parse(UserCreate, data)
                created = await self._call(users.create_user, write=True, data=create)
                message = f"User {created.user.email} created."
        except ValidationFailed as exc:
            self.saving = False
            self.errors = self._field_errors(exc) or {"form": exc.message}
            return None
        except Conflict as exc:
            self.saving = False
            self.errors = {exc.field or "form": exc.message}
            return None
        except DomainError as exc:
            self.saving = False
            return self._error_event(exc)
        self.saving = False
        self.dialog_open = False
        if created is not None and created.initial_password:
            self.reveal_title = f"Initial password for {created.user.email}"
            self.reveal_password = created.initial_password
            self.reveal_open = True
        await self._refresh()
        return rx.toast.success(message)

    @rx.event
    def ask(self, action: str, user_id: int):
        if not isinstance(action, str) or action not in {
            "deactivate",
            "reactivate",
            "reset",
            "reset_mfa",
        }:
            return
        try:
            user_id = require_id(user_id, "user_id")
        except ValidationFailed:
            return
        row = next((r for r in self.rows if r["user_id"] == user_id), None)
        if row is None:
            return
        self.confirm_action, self.confirm_user_id = action, user_id
        who = f"{row['name']} ({row['email']})"
        self.confirm_title, self.confirm_text = {
            "deactivate": (
                "Deactivate user?",
                f"{who} will be signed out everywhere and cannot sign in until reactivated.",
            ),
            "reactivate": ("Reactivate user?", f"{who} will be able to sign in again."),
            "reset": (
                "Reset password?",
                f"A new password is generated for {who} and shown once; they must change it at "
                "their next sign-in, and their sessions end.",
            ),
            "reset_mfa": (
                "Reset two-factor sign-in?",
                f"{who} will sign in with their password only (and set it up again if their "
                "role requires it); their sessions end.",
            ),
        }[action]
        self.confirm_open = True

    @rx.event
    def set_confirm_open(self, value: bool):
        self.confirm_open = bool(value)

    @rx.event
    async def confirm(self):
        action, user_id = self.confirm_action, self.confirm_user_id
        self.confirm_open = False
        try:
            if action == "reset":
                password = await self._call(users.reset_password, write=True, user_id=user_id)
                self.reveal_title = "New password (shown once)"
                self.reveal_password = password or ""
                self.reveal_open = True
                message = "Password reset; the user's sessions were ended."
            elif action == "reset_mfa":
                await self._call(two_factor.admin_reset, write=True, user_id=user_id)
                message = "Two-factor sign-in reset; the user's sessions were ended."
            elif action in {"deactivate", "reactivate"}:
                await self._call(
                    users.set_active, write=True, user_id=user_id, active=action == "reactivate"
                )
                message = "User deactivated." if action == "deactivate" else "User reactivated."
            else:
                return None
        except DomainError as exc:
            return self._error_event(exc)
        await self._refresh()
        return rx.toast.success(message)

    @rx.event
    async def unlock(self, user_id: int):
        try:
            await self._call(users.unlock, write=True, user_id=user_id)
        except DomainError as exc:
            return self._error_event(exc)
        await self._refresh()
        return rx.toast.success("Account unlocked.")

    @rx.event
    def close_reveal(self):
        self.reveal_open = False
        self.reveal_password = ""
        self.reveal_title = ""


def _int_or_raw(value: Any) -> Any:
    """Form values arrive as strings; a non-numeric one is passed on for validation to reject."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value
