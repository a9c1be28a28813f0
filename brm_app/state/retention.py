"""The retention card of /admin/settings: how many years each kind of record is kept after its
end (admins; services.retention enforces the 1-10 year bounds)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.services import retention
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.state.base import ServiceMixin

KINDS = tuple(retention.DEFAULTS)


class RetentionState(ServiceMixin, rx.State):
    years: dict[str, str] = {k: str(v) for k, v in retention.DEFAULTS.items()}
    errors: dict[str, str] = {}

    @rx.event
    async def load(self) -> Any:
        try:
            current = await self._call(retention.read_retention)
        except DomainError:
            return None
        self.years = {k: str(v) for k, v in current.model_dump().items()}
        self.errors = {}
        return None

    @rx.event
    async def save(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        years: dict[str, Any] = {}
        for kind in KINDS:
            raw = form.get(kind)
            years[kind] = int(raw) if isinstance(raw, str) and raw.strip().isdigit() else raw
        try:
            saved = await self._call(retention.update_retention, write=True, years=years)
        except ValidationFailed as exc:
            self.errors = self._field_errors(exc) or {"form": exc.message}
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.years = {k: str(v) for k, v in saved.model_dump().items()}
        self.errors = {}
        return rx.toast.success("Retention saved.")
