"""Access matrix for every public handler of the firm and trader pages, for each role.

Roles: admin, compliance, manager, broker (covers firm F), broker2 (a broker who does not cover
F), trader (portal user whose own trader record is at F). Each row says which roles get the
effect; for everyone else the handler must change nothing. Handlers that only open or close a
dialog are listed in UI_ONLY and must not touch the database for anyone. A new public handler
that is in neither list fails `test_every_handler_is_in_the_matrix`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import func, select

from brm_app.db import unit_of_work
from brm_app.encryption.columns import blind_index
from brm_app.models.audit import AuditEvent
from brm_app.models.firm import Firm, FirmCoverage
from brm_app.models.trader import Trader, TraderRole
from brm_app.state.firm_detail import FirmState
from brm_app.state.firms import FirmsState
from brm_app.state.trader_detail import TraderState
from brm_app.state.traders import TradersState
from tests.state.conftest import Browser, session_token_for
from tests.state.world import ADMIN, EDITORS, MANAGERS, READERS, ROLES, STAFF_READERS, World


def _audit_count() -> int:
    with unit_of_work() as db:
        return db.exec(select(func.count()).select_from(AuditEvent)).one()


def _db(fn: Callable[[Any], Any]) -> Any:
    with unit_of_work() as db:
        return fn(db)


def _loaded(w: World, role: str, cls, path: str) -> Browser:
    browser = Browser(session_token_for(w.users[role].email), path)
    browser.fire(cls, "load")
    return browser


FIRM_FORM = {
    "name": "Fulcrum Partners Renamed",
    "account_status": "Active",
    "tier": "A",
    "country": "none",
}
TRADER_FORM = {
    "name": "New Person",
    "email": "new.person@fulcrum.example",
    "role": "Trader",
    "status": "active",
}


def firm_page(w, role):
    return _loaded(w, role, FirmState, f"/firms/{w.f}")


def _fire(browser, cls, handler, *args):
    browser.fire(cls, handler, *args)
    return browser.state(cls)


def _timeline_check(cls: type, handler: str, args: tuple) -> Callable[[World, str], bool]:
    """The page's activity timeline was (re)loaded for this role."""

    def run(w: World, r: str) -> bool:
        path = f"/firms/{w.f}" if cls is FirmState else f"/traders/{w.t1}"
        browser = _loaded(w, r, cls, path)
        # Forget the load's timeline on the server (the reset is sent with the next event), so
        # what the tab then holds is what this handler left.
        server = browser.server_state(cls)
        server.tl_allowed, server.timeline = False, []
        browser.fire(cls, handler, *args)
        return browser.state(cls).tl_allowed

    return run


def _sees_t1_in_trader_list(handler: str, args: tuple) -> Callable[[World, str], bool]:
    def run(w: World, r: str) -> bool:
        browser = _loaded(w, r, TradersState, "/traders")
        return any(
            x["trader_id"] == w.t1 for x in _fire(browser, TradersState, handler, *args).rows
        )

    return run


# handler -> (roles that get the effect, run(world, role) -> bool "the effect happened")
MATRIX: dict[tuple[type, str], tuple[set[str], Callable[[World, str], bool]]] = {
    # ---- /firms/[firm_id] ----
    (FirmState, "load"): (READERS, lambda w, r: firm_page(w, r).state(FirmState).found),
    # The coverage dialog's brokers are loaded when it opens, for those who may assign coverage.
    (FirmState, "open_coverage"): (
        MANAGERS,
        lambda w, r: bool(_fire(firm_page(w, r), FirmState, "open_coverage").brokers),
    ),
    (FirmState, "search_traders"): (
        STAFF_READERS,
        lambda w, r: any(
            t["name"] == "Tom Trader"
            for t in _fire(firm_page(w, r), FirmState, "search_traders", "tom").traders
        ),
    ),
    (FirmState, "traders_next"): (
        STAFF_READERS,
        lambda w, r: len(_fire(firm_page(w, r), FirmState, "traders_next").traders) == 2,
    ),
    (FirmState, "traders_prev"): (
        STAFF_READERS,
        lambda w, r: len(_fire(firm_page(w, r), FirmState, "traders_prev").traders) == 2,
    ),
    (FirmState, "open_edit"): (
        EDITORS | {"compliance", "trader"},
        lambda w, r: _fire(firm_page(w, r), FirmState, "open_edit").edit_open,
    ),
    (FirmState, "save"): (
        EDITORS,
        lambda w, r: (
            _fire(firm_page(w, r), FirmState, "save", FIRM_FORM),
            _db(lambda db: db.get(Firm, w.f).name == "Fulcrum Partners Renamed"),
        )[1],
    ),
    (FirmState, "save_coverage"): (
        MANAGERS,
        lambda w, r: (
            _fire(
                firm_page(w, r),
                FirmState,
                "save_coverage",
                {"primary_broker_id": str(w.users["broker2"].id)},
            ),
            _db(
                lambda db: (
                    db.exec(
                        select(FirmCoverage.broker_id).where(
                            FirmCoverage.firm_id == w.f, FirmCoverage.role == "primary"
                        )
                    ).one()
                    == w.users["broker2"].id
                )
            ),
        )[1],
    ),
    (FirmState, "archive"): (
        EDITORS,
        lambda w, r: (
            _fire(firm_page(w, r), FirmState, "archive"),
            _db(lambda db: db.get(Firm, w.f).archived_at is not None),
        )[1],
    ),
    (FirmState, "restore"): (
        ADMIN,
        lambda w, r: (
            _fire(_loaded(w, r, FirmState, f"/firms/{w.a}"), FirmState, "restore"),
            _db(lambda db: db.get(Firm, w.a).archived_at is None),
        )[1],
    ),
    (FirmState, "search_merge"): (
        STAFF_READERS,
        lambda w, r: any(
            x["firm_id"] == w.d
            for x in _fire(firm_page(w, r), FirmState, "search_merge", "fulcrum").merge_results
        ),
    ),
    (FirmState, "merge"): (
        MANAGERS,
        lambda w, r: (_merge(w, r), _db(lambda db: db.get(Firm, w.d).merged_into_id == w.f))[1],
    ),
    (FirmState, "open_edit_trader"): (
        STAFF_READERS,
        lambda w, r: _fire(firm_page(w, r), FirmState, "open_edit_trader", w.t1).trader_open,
    ),
    (FirmState, "save_trader"): (
        EDITORS,
        lambda w, r: (
            _fire(firm_page(w, r), FirmState, "save_trader", TRADER_FORM),
            _db(
                lambda db: (
                    db.exec(
                        select(Trader).where(
                            Trader.email_bidx
                            == blind_index("traders", "email", "new.person@fulcrum.example")
                        )
                    ).first()
                    is not None
                )
            ),
        )[1],
    ),
    (FirmState, "remove_trader"): (
        EDITORS,
        lambda w, r: (_remove(w, r), _db(lambda db: db.get(Trader, w.t1).archived_at is not None))[
            1
        ],
    ),
    (FirmState, "search_move"): (
        STAFF_READERS,
        lambda w, r: any(
            x["firm_id"] == w.g
            for x in _fire(firm_page(w, r), FirmState, "search_move", "gable").move_results
        ),
    ),
    (FirmState, "move"): (
        EDITORS,
        lambda w, r: (_move(w, r), _db(lambda db: db.get(Trader, w.t1).firm_id == w.g))[1],
    ),
    **{
        (cls, h): (STAFF_READERS, _timeline_check(cls, h, args))
        for cls in (FirmState, TraderState)
        for h, args in [
            ("refresh_activity", ()),
            ("tl_load_more", ()),
            ("set_tl_type", ("Follow-up",)),
            ("set_tl_outcome", ("Positive",)),
        ]
    },
    # ---- /firms ----
    (FirmsState, "load"): (
        READERS,
        lambda w, r: any(
            x["firm_id"] == w.f for x in _loaded(w, r, FirmsState, "/firms").state(FirmsState).rows
        ),
    ),
    (FirmsState, "search"): (
        READERS,
        lambda w, r: any(
            x["firm_id"] == w.f
            for x in _fire(_loaded(w, r, FirmsState, "/firms"), FirmsState, "search", "fulc").rows
        ),
    ),
    (FirmsState, "set_filter"): (
        READERS,
        lambda w, r: any(
            x["firm_id"] == w.f
            for x in _fire(
                _loaded(w, r, FirmsState, "/firms"), FirmsState, "set_filter", "tier", "A"
            ).rows
        ),
    ),
    (FirmsState, "sort_by"): (
        READERS,
        lambda w, r: any(
            x["firm_id"] == w.f
            for x in _fire(
                _loaded(w, r, FirmsState, "/firms"), FirmsState, "sort_by", "updated"
            ).rows
        ),
    ),
    (FirmsState, "next_page"): (
        READERS,
        lambda w, r: any(
            x["firm_id"] == w.f
            for x in _fire(_loaded(w, r, FirmsState, "/firms"), FirmsState, "next_page").rows
        ),
    ),
    (FirmsState, "prev_page"): (
        READERS,
        lambda w, r: any(
            x["firm_id"] == w.f
            for x in _fire(_loaded(w, r, FirmsState, "/firms"), FirmsState, "prev_page").rows
        ),
    ),
    (FirmsState, "set_archived"): (
        ADMIN,
        lambda w, r: any(
            x["firm_id"] == w.a
            for x in _fire(
                _loaded(w, r, FirmsState, "/firms"), FirmsState, "set_archived", True
            ).rows
        ),
    ),
    (FirmsState, "create"): (
        EDITORS | {"broker2"},
        lambda w, r: (
            _fire(
                _loaded(w, r, FirmsState, "/firms"),
                FirmsState,
                "create",
                {
                    "name": "Brand New Firm",
                    "account_status": "Prospect",
                    "tier": "C",
                    "country": "none",
                    "primary_broker_id": str(w.users["broker"].id),
                },
            ),
            _db(
                lambda db: (
                    db.exec(select(Firm).where(Firm.name == "Brand New Firm")).first() is not None
                )
            ),
        )[1],
    ),
    # ---- /traders ----
    **{
        (TradersState, h): (STAFF_READERS, _sees_t1_in_trader_list(h, args))
        for h, args in [
            ("load", ()),
            ("search", ("tom",)),
            ("set_status", ("active",)),
            ("set_role", ("Trader",)),
            ("sort_by", ("email",)),
            ("next_page", ()),
            ("prev_page", ()),
        ]
    },
    (TradersState, "add_role"): (
        ADMIN,
        lambda w, r: (
            _add_role(w, r),
            _db(
                lambda db: (
                    db.exec(select(TraderRole).where(TraderRole.name_key == "desk head")).first()
                    is not None
                )
            ),
        )[1],
    ),
    (TradersState, "remove_role"): (
        ADMIN,
        lambda w, r: (
            _fire(_loaded(w, r, TradersState, "/traders"), TradersState, "remove_role", "Risk"),
            _db(
                lambda db: (
                    db.exec(select(TraderRole).where(TraderRole.name_key == "risk")).first() is None
                )
            ),
        )[1],
    ),
    # ---- /traders/[trader_id] ----
    (TraderState, "load"): (
        STAFF_READERS,
        lambda w, r: _loaded(w, r, TraderState, f"/traders/{w.t1}").state(TraderState).found,
    ),
    (TraderState, "open_edit"): (
        STAFF_READERS,
        lambda w, r: (
            _fire(
                _loaded(w, r, TraderState, f"/traders/{w.t1}"), TraderState, "open_edit"
            ).edit_open
        ),
    ),
    (TraderState, "reveal_contact"): (
        STAFF_READERS,
        lambda w, r: (
            "email"
            in _fire(
                _loaded(w, r, TraderState, f"/traders/{w.t1}"), TraderState, "reveal_contact"
            ).contact
        ),
    ),
    (TraderState, "save"): (
        EDITORS,
        lambda w, r: (
            _fire(
                _loaded(w, r, TraderState, f"/traders/{w.t1}"),
                TraderState,
                "save",
                {**TRADER_FORM, "email": "tom@fulcrum.example", "name": "Tom Renamed"},
            ),
            _db(lambda db: db.get(Trader, w.t1).name == "Tom Renamed"),
        )[1],
    ),
}


# The three below set on the server what the dialog's pick leaves behind, the same for every
# role (a role that may not search would pick nothing): the refusal tested is the handler's own.


def _merge(w, r):
    browser = firm_page(w, r)
    state = browser.server_state(FirmState)
    state.merge_source_id, state.merge_source_name = w.d, "dup"  # as if picked from the search
    browser.fire(FirmState, "merge")


def _remove(w, r):
    browser = firm_page(w, r)
    state = browser.server_state(FirmState)
    state.remove_trader_id, state.remove_trader_name = w.t1, "Tom"
    browser.fire(FirmState, "remove_trader")


def _move(w, r):
    browser = firm_page(w, r)
    state = browser.server_state(FirmState)
    state.move_trader_id, state.move_target_id = w.t1, w.g
    browser.fire(FirmState, "move")


def _add_role(w, r):
    browser = _loaded(w, r, TradersState, "/traders")
    browser.fire(TradersState, "set_new_role", "Desk Head")
    browser.fire(TradersState, "add_role")


UI_ONLY: dict[type, list[str]] = {
    FirmState: [
        "ask_move",
        "ask_remove",
        "close_reveal",
        "open_merge",
        "open_new_trader",
        "pick_merge",
        "pick_move",
        "set_archive_open",
        "set_coverage_open",
        "set_edit_open",
        "set_merge_open",
        "set_move_open",
        "set_move_reason",
        "set_remove_open",
        "set_trader_open",
    ],
    FirmsState: ["open_new", "set_dialog_open"],
    TradersState: ["set_new_role", "set_roles_open"],
    TraderState: ["close_reveal", "set_edit_open"],
}
UI_ARGS = {
    "set_move_reason": ("x",),
    "pick_merge": (1,),
    "pick_move": (1,),
    "ask_move": (1,),
    "ask_remove": (1,),
    "set_new_role": ("x",),
}
UI_PATHS = {
    FirmState: "/firms/{f}",
    FirmsState: "/firms",
    TradersState: "/traders",
    TraderState: "/traders/{t1}",
}


def test_every_handler_is_in_the_matrix():
    for cls in UI_ONLY:
        public = {name for name in cls.event_handlers if name != "setvar"}
        covered = {h for (c, h) in MATRIX if c is cls} | set(UI_ONLY[cls])
        assert public == covered, f"{cls.__name__}: add {sorted(public - covered)} to the matrix"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("cls", "handler"), list(MATRIX), ids=[f"{c.__name__}.{h}" for c, h in MATRIX]
)
def test_handler_access(world, cls, handler, role):
    allowed, run = MATRIX[(cls, handler)]
    before = _audit_count()
    happened = bool(run(world, role))
    assert happened == (role in allowed), f"{cls.__name__}.{handler} as {role}: effect={happened}"
    if role not in allowed and handler not in ("load",):
        # Denied: nothing was written (sign-in events aside).
        with unit_of_work() as db:
            writes = db.exec(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.seq > before, ~AuditEvent.action.startswith("auth."))
            ).one()
        assert writes == 0


@pytest.mark.parametrize("role", ["admin", "broker2", "trader"])
def test_ui_only_handlers_write_nothing(world, role):
    for cls, handlers in UI_ONLY.items():
        browser = _loaded(world, role, cls, UI_PATHS[cls].format(f=world.f, t1=world.t1))
        before = _audit_count()
        for handler in handlers:
            args = UI_ARGS.get(
                handler, (True,) if handler.startswith("set_") and handler.endswith("_open") else ()
            )
            browser.fire(cls, handler, *args)
        assert _audit_count() == before
