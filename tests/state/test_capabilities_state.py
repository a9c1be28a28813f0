"""Record pages show actions from the services' capability answers, not from role names: each
flag is loaded with the record, and a flag that is on is an action the service accepts."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest

import brm_app
from brm_app.db import unit_of_work, utcnow
from brm_app.models.follow_up import FollowUpWrite
from brm_app.models.interaction import InteractionWrite
from brm_app.models.user import User
from brm_app.services import firms, follow_ups, interactions, traders
from brm_app.services.authentication import actor_of
from brm_app.services.errors import PermissionDenied
from brm_app.state.firm_detail import FirmState
from brm_app.state.items import FollowUpPageState, InteractionPageState
from brm_app.state.trader_detail import TraderState
from tests.state.conftest import Browser, session_token_for

FIRM_FLAGS = [
    "can_edit",
    "can_assign_coverage",
    "can_merge",
    "can_archive",
    "can_restore",
    "can_edit_traders",
    "can_grant_portal",
    "can_log",
]
_BOOK = {"can_edit", "can_archive", "can_edit_traders", "can_log"}
_MANAGE = _BOOK | {"can_assign_coverage", "can_merge", "can_grant_portal"}
LIVE_FIRM = {
    "admin": _MANAGE,
    "manager": _MANAGE,
    "broker": _BOOK,
    "compliance": set(),
    "trader": set(),  # sees their own firm, read-only
}


def actor(world, who: str):
    with unit_of_work() as db:
        return actor_of(db.get(User, world.users[who].id), ip=None)


def page(world, who: str, path: str) -> Browser:
    return Browser(session_token_for(world.users[who].email), path)


def flags(state, names) -> set[str]:
    return {n for n in names if getattr(state, n)}


@pytest.mark.parametrize("who", sorted(LIVE_FIRM))
def test_firm_page_flags_on_a_live_firm(world, who):
    browser = page(world, who, f"/firms/{world.f}")
    browser.fire(FirmState, "load")
    state = browser.state(FirmState)
    assert state.found
    assert flags(state, FIRM_FLAGS) == LIVE_FIRM[who]


def test_firm_page_offers_only_restore_on_an_archived_firm(world):
    browser = page(world, "admin", f"/firms/{world.a}")
    browser.fire(FirmState, "load")
    assert flags(browser.state(FirmState), FIRM_FLAGS) == {"can_restore"}


def test_trader_page_offers_no_edit_for_a_trader_who_left(world):
    admin = actor(world, "admin")
    with unit_of_work(write=True) as db:
        traders.archive_trader(db, actor=admin, trader_id=world.t1, firm_id=world.f)
    browser = page(world, "admin", f"/traders/{world.t1}")
    browser.fire(TraderState, "load")
    state = browser.state(TraderState)
    assert state.found
    assert (state.can_edit, state.can_grant_portal, state.can_log) == (False, False, False)
    # ... because the service refuses the edit.
    live = page(world, "admin", f"/traders/{world.t2}")
    live.fire(TraderState, "load")
    s = live.state(TraderState)
    assert (s.can_edit, s.can_grant_portal, s.can_log) == (True, True, True)


def _cover_f_with_broker2(world) -> None:
    with unit_of_work(write=True) as db:
        firms.set_coverage(
            db,
            actor=actor(world, "admin"),
            firm_id=world.f,
            primary_broker_id=world.users["broker"].id,
            secondary_broker_ids=[world.users["broker2"].id],
        )


def test_follow_up_page_offers_snooze_only_to_whom_the_service_allows(world):
    _cover_f_with_broker2(world)
    with unit_of_work(write=True) as db:
        fu = follow_ups.create_follow_up(
            db,
            actor=actor(world, "broker"),
            data=FollowUpWrite(
                firm_id=world.f,
                title="Call back",
                due_at=(utcnow() + timedelta(days=2)).replace(tzinfo=None),
                assignee_id=world.users["broker"].id,
            ),
        )
    expected = {"broker": (True, True), "broker2": (True, False), "manager": (True, True)}
    expected["compliance"] = (False, False)
    for who, (edit, snooze) in expected.items():
        browser = page(world, who, f"/follow-ups/{fu.follow_up_id}")
        browser.fire(FollowUpPageState, "load")
        state = browser.state(FollowUpPageState)
        assert state.found, who
        assert (state.can_edit, state.can_snooze) == (edit, snooze), who
    # The other covering broker may edit it, but the service refuses their snooze.
    with unit_of_work(write=True) as db, pytest.raises(PermissionDenied):
        follow_ups.snooze(
            db, actor=actor(world, "broker2"), follow_up_id=fu.follow_up_id, minutes=15
        )


def test_interaction_page_offers_edit_and_void_as_the_service_allows(world):
    _cover_f_with_broker2(world)
    with unit_of_work(write=True) as db:
        row = interactions.log_interaction(
            db,
            actor=actor(world, "broker"),
            data=InteractionWrite(
                trader_ids=[world.t1],
                interaction_type="Call",
                interaction_date=utcnow() - timedelta(hours=1),
                subject="Check-in",
            ),
        )
    path = f"/interactions/{row.interaction_id}"
    expected = {
        "broker": (True, False),
        "broker2": (False, False),  # sees it (covers the firm) but did not log it
        "manager": (True, False),
        "admin": (True, True),
        "compliance": (False, False),
    }
    for who, pair in expected.items():
        browser = page(world, who, path)
        browser.fire(InteractionPageState, "load")
        state = browser.state(InteractionPageState)
        assert state.found, who
        assert (state.can_edit, state.can_void) == pair, who
    with unit_of_work(write=True) as db:
        interactions.void_interaction(
            db, actor=actor(world, "admin"), interaction_id=row.interaction_id, reason="wrong firm"
        )
    browser = page(world, "admin", path)
    browser.fire(InteractionPageState, "load")
    state = browser.state(InteractionPageState)
    assert (state.can_edit, state.can_void) == (False, False)


def test_states_and_pages_do_not_decide_by_role_name():
    """What a user may do comes from the services (capabilities, permissions), never from a
    comparison with a role in a state or a page."""
    root = Path(brm_app.__file__).parent
    offenders = []
    for path in [*(root / "state").rglob("*.py"), *(root / "pages").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Compare):
                segment = ast.get_source_segment(text, node) or ""
                if any(s in segment for s in ("actor.role", "SessionState.role", "Role.")):
                    offenders.append(f"{path.name}:{node.lineno}: {segment}")
    assert not offenders, offenders


@pytest.mark.parametrize(
    ("who", "own", "choose", "by_broker"),
    [
        ("admin", False, True, True),
        ("manager", False, True, True),
        ("broker", True, False, False),
        ("compliance", False, False, True),
        ("trader", False, False, False),
    ],
)
def test_firm_list_flags(world, who, own, choose, by_broker):
    from brm_app.state.firms import FirmsState

    browser = page(world, who, "/firms")
    browser.fire(FirmsState, "load")
    state = browser.state(FirmsState)
    assert (state.own_book, state.choose_coverage, state.filter_by_broker) == (
        own,
        choose,
        by_broker,
    )
    assert state.coverage == ("mine" if own else "all")
