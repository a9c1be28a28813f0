"""The warning before the idle sign-out (WCAG 2.2.1): the browser counts the time since the
user last typed, clicked or scrolled; two minutes before the session's idle limit a dialog
offers "Stay signed in", and at the limit the tab signs out."""

from __future__ import annotations

import json
import math
from typing import Any

import reflex as rx

from brm_app.settings import get_settings
from brm_app.state.session_guard import setup_state

WARN_SECONDS = 120
CHECK_EVERY_MS = 10_000

# Seconds since the user's last input in this tab (the listeners are installed by the first
# check; the checks themselves are not the user's activity).
IDLE_SECONDS_JS = (
    "(() => { if (!window.__brmActive) { window.__brmActive = Date.now();"
    " ['keydown', 'pointerdown', 'wheel', 'touchstart'].forEach((e) => window.addEventListener("
    "e, () => { window.__brmActive = Date.now(); }, {capture: true, passive: true})); }"
    " return Math.round((Date.now() - window.__brmActive) / 1000); })()"
)


@setup_state
class IdleState(rx.State):
    warning: bool = False
    minutes_left: int = 0

    @rx.event
    def check(self) -> Any:
        return rx.call_script(IDLE_SECONDS_JS, callback=IdleState.idle_for)

    @rx.event
    async def idle_for(self, seconds: int | float) -> Any:
        try:
            idle = float(seconds)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(idle) or idle < 0:
            return None
        limit = get_settings().session_idle_minutes * 60
        if idle >= limit:
            # The browser ends its own session (DELETE /api/session revokes it, as the sign-out
            # button does): a tab that only claims to be idle cannot end anything but itself.
            from brm_app.state.auth import _api_path

            self.warning = False
            return rx.call_script(
                f"fetch({json.dumps(_api_path('/api/session'))}, "
                "{method: 'DELETE', credentials: 'include'})"
                ".finally(() => window.location.replace('/login?expired=1'))"
            )
        self.warning = idle >= limit - min(WARN_SECONDS, limit // 2)
        self.minutes_left = max(1, math.ceil((limit - idle) / 60))
        return None

    @rx.event
    def stay(self) -> Any:
        """This event is activity: it refreshes the server-side session, and the tab's clock."""
        self.warning = False
        return rx.call_script("window.__brmActive = Date.now()")

    @rx.event
    def set_open(self, value: bool) -> Any:
        if not value:
            return IdleState.stay
        return None
