"""The Reflex app: pages, the session guard, and the REST API on the same port."""

from __future__ import annotations

import reflex as rx
from starlette.types import ASGIApp

import brm_app.pages  # noqa: F401  (registers every page)
from brm_app import bootstrap, events, live, log_safety, market_feed
from brm_app.api.app import create_api
from brm_app.api.body_limit import BodyLimit
from brm_app.api.odd_paths import ApiFirst, ControlCharacterPaths
from brm_app.api.security_headers import SecurityHeaders
from brm_app.observability import metrics, reflex_events
from brm_app.observability.middleware import Observability
from brm_app.services import conversations, market_data, notifications, portfolios
from brm_app.state.argument_guard import ArgumentGuard
from brm_app.state.input_guard import InputGuard
from brm_app.state.session_guard import SessionGuard

# Before the app serves anything: no session cookie or bearer token is ever written to the log.
log_safety.install()
# Our own INFO lines (the job runner, the log providers) reach the server log.
log_safety.show_app_info_lines()
# Every record rule and merge hook, before any request can reach a service.
bootstrap.wire()
# A count and a latency per Reflex event handler (Reflex has no after-event hook of its own).
reflex_events.install()


_API = create_api()


class _App(rx.App):
    """Reflex's app, with wrappers outside its top-level router (api_transformer cannot reach
    there): security headers on every response; every request counted, timed and logged (and
    /metrics); paths with control characters get the API's JSON 404 instead of plain text, and
    /api/ requests reach the API directly."""

    def __call__(self) -> ASGIApp:
        inner = ControlCharacterPaths(ApiFirst(BodyLimit(_API), super().__call__()))
        return SecurityHeaders(Observability(inner))


app = _App(
    # The API in front of Reflex's routes, and the size limits in front of both (and /_event).
    api_transformer=[_API, BodyLimit],
    stylesheets=["/brm.css"],
    head_components=[rx.el.meta(name="referrer", content="same-origin")],
    # Any browser may report a "frontend exception": one bounded line each, no forged lines.
    frontend_exception_handler=log_safety.frontend_exception_handler,
)
# First, so no handler (and no hydration of another user's data) runs without a valid session.
app.add_middleware(SessionGuard(), index=0)
# Then every event's text passes the checks every API input passes (no handler sees a NUL).
app.add_middleware(InputGuard(), index=1)
# And its arguments fit the handler (no unknown or missing ones, setvar only for a setter).
app.add_middleware(ArgumentGuard(), index=2)
# Background jobs: reminders at their time, email and SMS, overdue escalations.
app.register_lifespan_task(live.scheduler_loop)
# Live events: what each topic's change does to the open tabs this worker holds.
app.register_lifespan_task(
    events.listen,
    subscribers={
        notifications.TOPIC: live.deliver_notifications,
        market_data.TOPIC: live.deliver_portfolios,
        portfolios.TOPIC: live.deliver_portfolios,
        conversations.TOPIC: live.deliver_messages,
    },
)
# Market data: one process fetches the feed (a lease in the database), every worker's open
# portfolio pages revalue through the "prices" events it publishes.
app.register_lifespan_task(market_feed.feed_loop)
# This worker's memory for /metrics, and its live gauges dropped when it stops.
app.register_lifespan_task(metrics.metrics_loop)
