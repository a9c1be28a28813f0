"""The Reflex app: pages, the session guard, and the REST API on the same port."""

from __future__ import annotations

import logging

import reflex as rx

import brm_app.pages  # noqa: F401  (registers every page)
from brm_app import log_safety
from brm_app.api.app import create_api
from brm_app.live import scheduler_loop
from brm_app.state.session_guard import SessionGuard

# Before the app serves anything: no session cookie or bearer token is ever written to the log.
log_safety.install()
# Our own INFO lines (the job runner, the log providers' "email delivery:N accepted") belong in
# the server log; Python's default would drop everything below WARNING.
_brm_log = logging.getLogger("brm")
if not _brm_log.handlers and not logging.getLogger().handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    _brm_log.addHandler(_handler)
if _brm_log.level == logging.NOTSET:
    _brm_log.setLevel(logging.INFO)

app = rx.App(
    api_transformer=create_api(),
    stylesheets=["/brm.css"],
    head_components=[rx.el.meta(name="referrer", content="same-origin")],
    # Any browser may report a "frontend exception": one bounded line each, no forged lines.
    frontend_exception_handler=log_safety.frontend_exception_handler,
)
# First, so no handler (and no hydration of another user's data) runs without a valid session.
app.add_middleware(SessionGuard(), index=0)
# Reminders and overdue escalations, pushed live to open pages.
app.register_lifespan_task(scheduler_loop)
