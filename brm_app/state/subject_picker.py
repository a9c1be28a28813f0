"""Choosing whom a compliance action is about (a legal hold, a regulator export): a scope, then a
firm, trader or broker found by part of its name. Each page says which service finds the names
(its own permission check) and which scopes it offers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx

from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.state.base import ServiceMixin, as_id

NAMED_SCOPES = ("firm", "trader", "broker")


class SubjectPickerMixin(ServiceMixin, rx.State, mixin=True):
    scope: str = "firm"
    matches: list[dict[str, Any]] = []
    subject_id: int = 0
    subject_label: str = ""
    errors: dict[str, str] = {}

    def _scopes(self) -> tuple[str, ...]:
        return NAMED_SCOPES

    def _finder(self) -> Callable[..., list[dict[str, Any]]]:
        raise NotImplementedError

    def _clear_subject(self) -> None:
        self.matches, self.subject_id, self.subject_label = [], 0, ""

    @rx.event
    def set_scope(self, scope: str) -> None:
        if scope in self._scopes():
            self.scope = scope
            self._clear_subject()

    @rx.event
    async def find(self, q: str) -> Any:
        if not isinstance(q, str) or self.scope not in NAMED_SCOPES:
            return None
        try:
            self.matches = await self._call(self._finder(), scope=self.scope, q=q[:100])
        except ValidationFailed as exc:
            self.matches, self.errors = [], {"subject": exc.message}
        except DomainError as exc:
            return self._error_event(exc)
        return None

    @rx.event
    def choose(self, subject_id: int, label: str) -> None:
        checked = as_id(subject_id)
        if checked and isinstance(label, str):
            self.subject_id, self.subject_label = checked, label[:300]
            self.matches = []
            self.errors.pop("subject", None)
