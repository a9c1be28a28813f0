"""Saved views (a name for a list's search, filters, sort and columns; per user) beside a list
page: a thin caller of services.saved_views, shared by the firm and trader lists.

A state using it implements `_list_name()`, `_all_columns()`, `_list_state()` (the
list's own state), `_filters_of(list_state)` and `_apply_filters(list_state, settings)`
(which refreshes the list and returns its event, if any)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.services import saved_views
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.state.base import ServiceMixin, as_id


class SavedViewsMixin(ServiceMixin, rx.State, mixin=True):
    views: list[dict[str, Any]] = []
    columns: list[str] = []
    save_open: bool = False
    save_error: str = ""
    # Bumped when a view is applied: the search box (uncontrolled) is drawn again with its text.
    view_key: int = 0

    def _list_name(self) -> str:
        raise NotImplementedError

    def _all_columns(self) -> tuple[str, ...]:
        raise NotImplementedError

    async def _list_state(self) -> Any:
        raise NotImplementedError

    def _filters_of(self, list_state: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def _apply_filters(self, list_state: Any, settings: dict[str, Any]) -> Any:
        raise NotImplementedError

    async def _load_views(self) -> Any:
        self.save_open = False
        try:
            found = await self._call(saved_views.list_views, list_name=self._list_name())
        except DomainError as exc:
            return self._error_event(exc)
        self.views = [{"id": str(v.view_id), "name": v.name} for v in found]
        return None

    @rx.event
    async def apply_view(self, view_id: str) -> Any:
        if not isinstance(view_id, str) or not view_id.isdigit():
            return None
        try:
            found = await self._call(saved_views.list_views, list_name=self._list_name())
        except DomainError as exc:
            return self._error_event(exc)
        view = next((v for v in found if str(v.view_id) == view_id), None)
        if view is None:
            return rx.toast.error("That view no longer exists.")
        chosen = view.settings.get("columns")
        if isinstance(chosen, list):
            self.columns = [c for c in self._all_columns() if c in chosen or c == "name"]
        self.view_key += 1
        refreshed = await self._apply_filters(await self._list_state(), view.settings)
        return [rx.toast.info(f"View “{view.name}” applied."), *([refreshed] if refreshed else [])]

    @rx.event
    def set_save_open(self, value: bool) -> Any:
        self.save_open, self.save_error = bool(value), ""

    @rx.event
    def toggle_column(self, column: str, shown: bool) -> Any:
        if column not in self._all_columns() or column == "name" or not isinstance(shown, bool):
            return
        chosen = set(self.columns) | {column} if shown else set(self.columns) - {column}
        self.columns = [c for c in self._all_columns() if c in chosen]

    @rx.event
    async def save_view(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        settings = {**self._filters_of(await self._list_state()), "columns": self.columns}
        try:
            view = await self._call(
                saved_views.save_view,
                write=True,
                list_name=self._list_name(),
                name=form.get("name", ""),
                settings=settings,
            )
        except ValidationFailed as exc:
            self.save_error = exc.message
            return None
        except DomainError as exc:
            return self._error_event(exc)
        loaded = await self._load_views()
        return [rx.toast.success(f"View “{view.name}” saved."), *([loaded] if loaded else [])]

    @rx.event
    async def delete_view(self, view_id: str) -> Any:
        view = int(view_id) if isinstance(view_id, str) and view_id.isdigit() else as_id(view_id)
        if view is None:
            return None
        try:
            await self._call(saved_views.delete_view, write=True, view_id=view)
        except DomainError as exc:
            return self._error_event(exc)
        name = next((v["name"] for v in self.views if v["id"] == str(view)), "")
        self.views = [v for v in self.views if v["id"] != str(view)]
        return rx.toast.success(f"View “{name}” deleted." if name else "View deleted.")
