"""The command palette (Ctrl/Cmd+K, or the search box in the top bar): a thin caller of
services/palette.py, which decides what the user may see."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.services import palette
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.state.base import ServiceMixin


def _row(item: palette.PaletteItem) -> dict[str, Any]:
    return {"kind": item.kind, "label": item.label, "detail": item.detail, "href": item.href}


class PaletteState(ServiceMixin, rx.State):
    is_open: bool = False
    q: str = ""
    items: list[dict[str, Any]] = []
    selected: int = 0
    searched: bool = False

    async def _search(self, q: str) -> Any:
        try:
            result = await self._call(palette.search_palette, q=q)
        except ValidationFailed:
            self.items, self.selected = [], 0
            return None
        except DomainError as exc:
            return self._error_event(exc)
        if q == self.q:  # an older answer arriving late is dropped
            self.items = [_row(i) for i in result.items]
            self.selected = 0
            self.searched = bool(q.strip())
        return None

    @rx.event
    async def show(self) -> Any:
        self.is_open, self.q, self.selected, self.searched = True, "", 0, False
        return await self._search("")

    @rx.event
    def set_open(self, value: bool) -> Any:
        self.is_open = bool(value)

    @rx.event
    async def search(self, q: str) -> Any:
        if not isinstance(q, str):
            return None
        self.q = q[: palette.MAX_QUERY]
        return await self._search(self.q)

    @rx.event
    def key(self, key: str) -> Any:
        """Arrows move the selection, Enter opens it (Escape is the dialog's)."""
        if not isinstance(key, str) or not self.items:
            return None
        if key == "ArrowDown":
            self.selected = (self.selected + 1) % len(self.items)
        elif key == "ArrowUp":
            self.selected = (self.selected - 1) % len(self.items)
        elif key == "Enter":
            return self._go(self.selected)
        return None

    @rx.event
    def choose(self, index: int) -> Any:
        if isinstance(index, int) and not isinstance(index, bool):
            return self._go(index)
        return None

    def _go(self, index: int) -> Any:
        if not 0 <= index < len(self.items):
            return None
        href = self.items[index]["href"]
        self.is_open = False
        return rx.redirect(href)
