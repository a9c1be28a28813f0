"""One composition root: every record rule and firm-merge hook is installed by
`bootstrap.wire()`, nothing is registered by importing a module, and wiring twice is harmless."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta

from brm_app import bootstrap
from brm_app.auth import rbac
from brm_app.db import unit_of_work, utcnow
from brm_app.models.communication import Conversation
from brm_app.models.firm import Firm
from brm_app.models.follow_up import FollowUp, FollowUpWrite
from brm_app.models.interaction import Interaction, InteractionWrite
from brm_app.models.portfolio import Portfolio
from brm_app.models.review import ReviewItem
from brm_app.models.trader import Trader
from brm_app.models.user import Role
from brm_app.services import (
    access,
    conversations,
    firms,
    follow_ups,
    interactions,
    portfolios,
    review,
)
from tests.factories import make_firm, make_trader, make_user

EXPECTED_RULES = {
    Firm: access.firm_visible,
    Trader: access.trader_visible,
    Interaction: interactions.interaction_visible,
    FollowUp: follow_ups.follow_up_visible,
    Portfolio: portfolios.portfolio_visible,
    Conversation: conversations.conversation_visible,
    ReviewItem: review.item_visible,
}
EXPECTED_MERGE_HOOKS = (
    interactions.move_to_firm,
    follow_ups.move_to_firm,
    portfolios.move_to_firm,
    conversations.move_to_firm,
)


def test_wire_installs_exactly_the_expected_rules_and_hooks():
    bootstrap.wire()
    assert dict(rbac.record_rules()) == EXPECTED_RULES
    assert firms.merge_hooks() == EXPECTED_MERGE_HOOKS


def test_importing_the_code_registers_nothing_and_unwired_access_is_refused():
    """In a fresh process: import every module (but the app, which wires itself); no rule and no
    hook exists until wire() runs, and until then `require` refuses any record."""
    script = textwrap.dedent(
        """
        import importlib, pkgutil
        import brm_app
        for mod in pkgutil.walk_packages(brm_app.__path__, "brm_app."):
            if mod.name not in {"brm_app.brm_app", "brm_app.cli"}:
                importlib.import_module(mod.name)
        from brm_app import bootstrap
        from brm_app.auth import rbac
        from brm_app.auth.actor import Actor
        from brm_app.models.firm import Firm
        from brm_app.models.user import Role
        from brm_app.services import firms
        print("rules", len(rbac.record_rules()), "hooks", len(firms.merge_hooks()))
        actor = Actor(user_id=1, role=Role.ADMIN, email="a@x.example", name="A")
        try:
            rbac.require(actor, rbac.Permission.FIRMS_VIEW, Firm(id=1, name="X"))
        except RuntimeError as exc:
            print("refused:", exc)
        else:
            print("allowed")
        bootstrap.wire()
        print("rules", len(rbac.record_rules()), "hooks", len(firms.merge_hooks()))
        rbac.require(actor, rbac.Permission.FIRMS_VIEW, Firm(id=1, name="X"))
        print("wired and allowed")
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "rules 0 hooks 0"
    assert lines[1].startswith("refused:") and "bootstrap.wire()" in lines[1]
    assert lines[2] == f"rules {len(EXPECTED_RULES)} hooks {len(EXPECTED_MERGE_HOOKS)}"
    assert lines[3] == "wired and allowed"


def test_wiring_twice_is_harmless(database_url):
    bootstrap.wire()
    bootstrap.wire()
    assert dict(rbac.record_rules()) == EXPECTED_RULES
    assert firms.merge_hooks() == EXPECTED_MERGE_HOOKS
    # Each hook runs once per merge: a second run would find nothing left and report 0 moved.
    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id)
    target = make_firm(broker, name="Keeper Capital")
    source = make_firm(broker, name="Keeper Capital (dup)")
    trader = make_trader(broker, source.firm_id)
    with unit_of_work(write=True) as db:
        interactions.log_interaction(
            db,
            actor=broker,
            data=InteractionWrite(
                trader_ids=[trader.trader_id],
                interaction_type="Call",
                interaction_date=utcnow() - timedelta(hours=1),
                subject="Check-in",
            ),
        )
        follow_ups.create_follow_up(
            db,
            actor=broker,
            data=FollowUpWrite(
                firm_id=source.firm_id,
                title="Call back",
                due_at=utcnow() + timedelta(days=1),
            ),
        )
    with unit_of_work(write=True) as db:
        result = firms.merge_firms(
            db, actor=manager, source_id=source.firm_id, target_id=target.firm_id
        )
    assert result.moved == {
        "interactions_moved": 1,
        "follow_ups_moved": 1,
        "portfolio_transactions_moved": 0,
        "conversations_moved": 0,
    }
