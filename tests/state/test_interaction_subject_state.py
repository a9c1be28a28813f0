"""The log-interaction dialog takes an empty subject: the service derives it, as for the API."""

from __future__ import annotations

from sqlmodel import select

from brm_app.db import unit_of_work
from brm_app.models.interaction import Interaction
from brm_app.state.activity import ActivityState
from tests.state.conftest import Browser, session_token_for


def _saved() -> list[tuple[str, str | None]]:
    with unit_of_work() as db:
        return [(r.subject, r.notes) for r in db.exec(select(Interaction)).all()]


def test_the_dialog_logs_an_interaction_without_a_subject(world):
    browser = Browser(session_token_for(world.users["broker"].email), "/firms")
    browser.fire(ActivityState, "open_log", world.f, world.t1, "none")
    form = {"day": "2026-01-15", "time": "10:00", "subject": "", "outcome": "none",
            "notes": "Asked about repo rates\nCall back Friday", f"trader_{world.t1}": "on"}  # fmt: skip
    browser.fire(ActivityState, "save_interaction", form)
    state = browser.state(ActivityState)
    assert state.log_errors == {} and not state.log_open
    with unit_of_work() as db:
        from brm_app.models.trader import Trader

        trader_name = db.get(Trader, world.t1).name
    # Never the notes' first line: the subject is stored in clear, the notes encrypted.
    assert _saved() == [(f"Call with {trader_name}", "Asked about repo rates\nCall back Friday")]

    # Neither subject nor notes: "<type> with <trader>", and the follow-up it asks for says so.
    browser.fire(ActivityState, "open_log", world.f, world.t1, "none")
    form = {"day": "2026-01-16", "time": "10:00", "subject": "  ", "notes": "",
            "outcome": "Follow-up required", f"trader_{world.t1}": "on"}  # fmt: skip
    browser.fire(ActivityState, "save_interaction", form)
    assert state.log_errors == {}
    assert _saved()[-1] == (f"Call with {trader_name}", None)
    assert state.fu_open and state.fu_form["title"] == f"Follow up: Call with {trader_name}"


def test_the_dialog_does_not_require_a_subject():
    """The browser would refuse to submit an empty required input before any handler runs."""
    from brm_app.components.activity import log_interaction_dialog

    def find(component):
        if getattr(component, "id", None) == "interaction-subject":
            return component
        for child in getattr(component, "children", []):
            if (found := find(child)) is not None:
                return found
        return None

    subject = find(log_interaction_dialog())
    assert subject is not None
    props = subject.render()["props"]
    assert 'name:"subject"' in props
    assert not any(p.startswith("required") for p in props), props
