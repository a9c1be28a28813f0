"""The supervisory review page's state: compliance works the queue (escalates to a manager, who
then sees and decides it), the reports and rules load for those who may see them, an admin saves
the rules, and bad input from the browser changes nothing."""

from __future__ import annotations

from sqlmodel import select

from brm_app.db import unit_of_work
from brm_app.models.review import ReviewEvidence, ReviewItem
from brm_app.models.trader import TraderPermission
from brm_app.models.user import Role
from brm_app.services import conversations, review
from brm_app.state.review import ReviewState
from tests.factories import make_firm, make_trader, make_user
from tests.state.conftest import Browser, session_token_for


def _world():
    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id)
    firm = make_firm(broker, name="Review Tabs")
    tess = make_trader(
        manager, firm.firm_id, name="Tess Review", permissions=[TraderPermission.PORTAL_ACCESS]
    )
    with unit_of_work(write=True) as db:
        conv = conversations.start_conversation(db, actor=broker, trader_ids=[tess.trader_id])
        conversations.send_message(
            db, actor=broker, conversation_id=conv.id, content="This one is risk-free, promise."
        )
    with unit_of_work(write=True) as db:
        review.select_new(db, chance=lambda: 1.0)
    with unit_of_work() as db:
        item = db.exec(select(ReviewItem)).one()
    return manager, broker, item.id


def test_compliance_escalates_and_the_manager_decides(database_url):
    manager, broker, item_id = _world()
    compliance = make_user(Role.COMPLIANCE)
    tab = Browser(session_token_for(compliance.email), "/compliance/review")
    tab.fire(ReviewState, "load")
    s = tab.state(ReviewState)
    assert [i["id"] for i in s.items] == [item_id]
    assert s.items[0]["hit"] == "risk-free" and s.can_report and not s.can_edit_rules
    assert "guarantee*" in s.terms_text
    # Escalating needs someone and a comment; the dialog says so and nothing is written.
    tab.fire(ReviewState, "start_action", item_id, "escalate")
    s = tab.state(ReviewState)
    assert s.dialog_open and s.dialog_action == "escalate"
    assert any(t["id"] == str(manager.user_id) for t in s.targets)
    assert all(t["id"] != str(broker.user_id) for t in s.targets)
    tab.fire(ReviewState, "submit_action", {"comment": "Please check"})
    assert "escalate_to" in tab.state(ReviewState).dialog_errors
    tab.fire(ReviewState, "submit_action", {"escalate_to": str(manager.user_id), "comment": ""})
    assert "comment" in tab.state(ReviewState).dialog_errors
    with unit_of_work() as db:
        assert db.exec(select(ReviewEvidence)).all() == []
    tab.fire(
        ReviewState,
        "submit_action",
        {"escalate_to": str(manager.user_id), "comment": "Please talk to him"},
    )
    s = tab.state(ReviewState)
    assert not s.dialog_open and s.items == []  # no longer open
    # The manager sees it among the escalated ones and flags it.
    mtab = Browser(session_token_for(manager.email), "/compliance/review")
    mtab.fire(ReviewState, "load")
    # A manager's queue opens on what was escalated to them (no "Open" item is ever theirs).
    ms = mtab.state(ReviewState)
    assert ms.status == "escalated" and not ms.can_report
    assert [i["id"] for i in ms.items] == [item_id]
    mtab.fire(ReviewState, "filter", {"status": "open", "reason": ""})
    assert mtab.state(ReviewState).items == []
    mtab.fire(ReviewState, "filter", {"status": "escalated", "reason": ""})
    assert [i["id"] for i in mtab.state(ReviewState).items] == [item_id]
    mtab.fire(ReviewState, "start_action", item_id, "flag")
    mtab.fire(ReviewState, "submit_action", {"comment": "Spoke to him, warned."})
    with unit_of_work() as db:
        assert db.get(ReviewItem, item_id).status == "flagged"
        assert len(db.exec(select(ReviewEvidence)).all()) == 2
    # The queue shows the evidence with the decided item: who did what, when and why.
    tab.fire(ReviewState, "filter", {"status": "flagged", "reason": ""})
    (row,) = tab.state(ReviewState).items
    assert [(e["what"], e["comment"]) for e in row["evidence"]] == [
        (f"Escalated to {manager.name} by {compliance.name}", "Please talk to him"),
        (f"Flagged by {manager.name}", "Spoke to him, warned."),
    ]


def test_the_broker_sees_nothing_and_bad_input_changes_nothing(database_url):
    _, broker, item_id = _world()
    tab = Browser(session_token_for(broker.email), "/compliance/review")
    tab.fire(ReviewState, "load")
    s = tab.state(ReviewState)
    assert s.items == [] and "permission" in s.error.lower()
    tab.fire(ReviewState, "start_action", item_id, "approve")
    assert not tab.state(ReviewState).dialog_open
    compliance = make_user(Role.COMPLIANCE)
    ctab = Browser(session_token_for(compliance.email), "/compliance/review")
    ctab.fire(ReviewState, "load")
    ctab.fire(ReviewState, "filter", {"status": "deleted", "reason": ""})
    assert "Choose" in ctab.state(ReviewState).error
    ctab.fire(ReviewState, "start_action", item_id, "delete")
    assert not ctab.state(ReviewState).dialog_open
    ctab.fire(ReviewState, "start_action", "abc", "approve")
    assert not ctab.state(ReviewState).dialog_open
    # Saving rules is for admins.
    ctab.fire(ReviewState, "save_rules", {"terms": "x", "sample_percent": "1"})
    with unit_of_work() as db:
        assert review.get_rules(db).terms == review.DEFAULT_TERMS


def test_an_admin_saves_the_rules(database_url):
    admin = make_user(Role.ADMIN)
    tab = Browser(session_token_for(admin.email), "/compliance/review")
    tab.fire(ReviewState, "load")
    assert tab.state(ReviewState).can_edit_rules
    tab.fire(ReviewState, "save_rules", {"terms": "moon*\nsure thing", "sample_percent": "abc"})
    assert "sample_percent" in tab.state(ReviewState).rules_errors
    tab.fire(
        ReviewState,
        "save_rules",
        {"terms": "moon*\nsure thing", "sample_percent": "2.5", "attachments": "on"},
    )
    s = tab.state(ReviewState)
    assert (
        s.rules_errors == {} and s.terms_text == "moon*\nsure thing" and s.sample_percent == "2.5"
    )
    with unit_of_work() as db:
        rules = review.get_rules(db)
    assert (
        rules.terms == ["moon*", "sure thing"] and rules.attachments and rules.sample_percent == 2.5
    )
