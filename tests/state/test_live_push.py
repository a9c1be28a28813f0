"""Delivering a "notifications" event to open tabs: only the tabs this worker holds (each worker
delivers to its own, so every tab hears once), and only tabs still signed in as the user the
event names."""

from __future__ import annotations

from contextlib import asynccontextmanager
from types import SimpleNamespace

from brm_app import events, live
from brm_app.db import unit_of_work
from brm_app.models.user import Role
from brm_app.services import authentication, notifications
from brm_app.settings import get_settings
from brm_app.state.notifications import BellState
from brm_app.state.session_guard import SessionOwnerState
from tests.factories import make_user
from tests.state.conftest import Browser, run_async, session_token_for


class _Worker:
    """Stands in for a Reflex app worker: the tabs' states, and which websockets it holds."""

    def __init__(self, tabs: dict[str, Browser], here: set[str]):
        self.tabs = tabs
        sockets = {
            token: SimpleNamespace(instance_id="this-worker" if token in here else "other-worker")
            for token in tabs
        }
        self.event_namespace = SimpleNamespace(
            _token_manager=SimpleNamespace(instance_id="this-worker", token_to_socket=sockets)
        )

    @asynccontextmanager
    async def modify_state(self, token):
        yield self.tabs[token.ident].root


def _tab(user, token: str) -> Browser:
    browser = Browser(session_token_for(user.email))
    browser.state(SessionOwnerState)._owner_user_id = user.user_id
    live.remember_tab(token, user.user_id)
    return browser


def test_a_notification_reaches_only_this_workers_tabs_still_signed_in_as_its_user(database_url):
    ann, bob = make_user(Role.BROKER), make_user(Role.BROKER)
    tabs = {
        "ann-here": _tab(ann, "ann-here"),
        "ann-elsewhere": _tab(ann, "ann-elsewhere"),  # its own worker delivers to it
        "ann-signed-out": _tab(ann, "ann-signed-out"),
        "now-bobs": _tab(ann, "now-bobs"),
        "bob-here": _tab(bob, "bob-here"),
    }
    signed_out = tabs["ann-signed-out"]
    with unit_of_work(write=True) as db:
        token = signed_out.root.router_data["headers"]["cookie"].split("=", 1)[1]
        authentication.sign_out(db, token=token, ip=None, settings=get_settings())
    tabs["now-bobs"].state(SessionOwnerState)._owner_user_id = bob.user_id
    with unit_of_work(write=True) as db:
        note = notifications.notify(db, user_id=ann.user_id, kind="test", title="For Ann only")

    worker = _Worker(tabs, here=set(tabs) - {"ann-elsewhere"})
    event = events.Event(notifications.TOPIC, frozenset({ann.user_id}), (note.id,))
    run_async(live.deliver_notifications(worker, event))

    def bell(name: str) -> tuple[int, list[str]]:
        state = tabs[name].state(BellState)
        return state.unread, [r["title"] for r in state.recent]

    assert bell("ann-here") == (1, ["For Ann only"])
    for name in ("ann-elsewhere", "ann-signed-out", "now-bobs", "bob-here"):
        assert bell(name) == (0, []), name
