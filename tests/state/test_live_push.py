"""Delivering a "notifications" event to open tabs: only the tabs this worker holds (each worker
delivers to its own, so every tab hears once), and only tabs still signed in as the user the
event names."""

from __future__ import annotations

import reflex as rx
from reflex.utils.token_manager import SocketRecord

from brm_app import events, live
from brm_app.db import unit_of_work
from brm_app.models.user import Role
from brm_app.services import authentication, notifications
from brm_app.settings import get_settings
from brm_app.state.dashboard import DashboardState
from brm_app.state.notifications import BellState
from brm_app.state.session_guard import SessionOwnerState
from tests.factories import make_user
from tests.state.conftest import Browser, session_token_for, tab_server
from tests.state.harness import Server, _AppView


class _Worker(_AppView):
    """The app as a worker runs it for the test's tabs: Reflex's own `App.modify_state` (lock,
    delta, emit to the tab's socket) on the test backend's state manager and sockets."""

    modify_state = rx.App.modify_state

    def __init__(self, server: Server) -> None:
        super().__init__(server)
        self.state_manager = server.state_manager
        self.event_namespace = server.namespace


def _tab(user, path: str = "/") -> Browser:
    browser = Browser(session_token_for(user.email), path)  # the page's events set its owner
    live.remember_tab(browser.token, user.user_id)
    return browser


def test_a_notification_reaches_only_this_workers_tabs_still_signed_in_as_its_user(database_url):
    ann, bob = make_user(Role.BROKER), make_user(Role.BROKER)
    tabs = {
        "ann-here": _tab(ann),
        "ann-elsewhere": _tab(ann),  # its own worker delivers to it
        "ann-signed-out": _tab(ann),
        "now-bobs": _tab(ann),
        "bob-here": _tab(bob),
        "owned-by-bob": _tab(ann),
    }
    server = tab_server()
    elsewhere = tabs["ann-elsewhere"]
    server.namespace._token_manager.token_to_socket[elsewhere.token] = SocketRecord(
        instance_id="other-worker", sid=elsewhere.tab.sid
    )
    with unit_of_work(write=True) as db:
        token = tabs["ann-signed-out"].cookie_token
        authentication.sign_out(db, token=token, ip=None, settings=get_settings())
    # Bob signs in on Ann's tab: its next event makes the tab his.
    now_bobs = tabs["now-bobs"]
    now_bobs.set_cookie(session_token_for(bob.email))
    now_bobs.fire(DashboardState, "load")
    # The owner rule on its own: a tab loaded for Bob that still carries Ann's live cookie (no
    # event leaves a tab so; set on the server, where the push reads it).
    tabs["owned-by-bob"].server_state(SessionOwnerState)._owner_user_id = bob.user_id
    with unit_of_work(write=True) as db:
        note = notifications.notify(db, user_id=ann.user_id, kind="test", title="For Ann only")

    event = events.Event(notifications.TOPIC, frozenset({ann.user_id}), (note.id,))
    server.loop.run(live.deliver_notifications(_Worker(server), event))

    def bell(name: str) -> tuple[int, list[str]]:
        state = tabs[name].state(BellState)  # what the tab was sent
        return state.unread, [r["title"] for r in state.recent]

    assert bell("ann-here") == (1, ["For Ann only"])
    for name in ("ann-elsewhere", "ann-signed-out", "now-bobs", "bob-here", "owned-by-bob"):
        assert bell(name) == (0, []), name
    assert server.errors == []
