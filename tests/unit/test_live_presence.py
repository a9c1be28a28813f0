"""The open-tab record: written when a tab is new, changes user, or has not been confirmed for a
while; an ordinary page load only reads it (so page loads do not queue on the write lock)."""

from __future__ import annotations

from datetime import timedelta

from brm_app import live
from brm_app.db import unit_of_work, utcnow
from brm_app.models.follow_up import ClientPresence
from brm_app.models.user import Role
from tests.factories import make_user

TAB = "tab-token-0123456789"


def presence() -> ClientPresence:
    with unit_of_work() as db:
        return db.get(ClientPresence, TAB)


def test_a_page_load_rewrites_the_tab_record_only_when_it_changed_or_aged(database_url):
    ann, bob = make_user(Role.BROKER), make_user(Role.BROKER)
    live.remember_tab(TAB, ann.user_id)
    first = presence()
    assert first.user_id == ann.user_id
    assert live._tabs_of({ann.user_id}) == {ann.user_id: [TAB]}

    live.remember_tab(TAB, ann.user_id)  # the next page load: nothing new to record
    assert presence().seen_at == first.seen_at

    live.remember_tab(TAB, bob.user_id)  # another user on the tab: recorded at once
    assert presence().user_id == bob.user_id
    assert live._tabs_of({ann.user_id}) == {}

    with unit_of_work(write=True) as db:
        row = db.get(ClientPresence, TAB)
        row.seen_at = utcnow() - live.PRESENCE_REFRESH - timedelta(seconds=1)
        db.add(row)
    live.remember_tab(TAB, bob.user_id)  # confirmed again once it has aged
    assert utcnow() - presence().seen_at < timedelta(seconds=5)
