"""The day and time a follow-up is moved to: the calendar's move dialog and the follow-up page."""

from __future__ import annotations

from datetime import datetime

import reflex as rx


class MoveFieldsMixin(rx.State, mixin=True):
    move_day: str = ""  # YYYY-MM-DD, in the user's time zone
    move_time: str = ""  # HH:MM

    @rx.event
    def set_move_day(self, value: str):
        if isinstance(value, str):
            self.move_day = value[:10]

    @rx.event
    def set_move_time(self, value: str):
        if isinstance(value, str):
            self.move_time = value[:5]

    def _move_to(self) -> datetime | None:
        """The chosen wall-clock time (naive: the service reads it in the user's zone), or None
        when the day or the time is missing or malformed."""
        try:
            return datetime.fromisoformat(f"{self.move_day}T{self.move_time}")
        except ValueError:
            return None
