"""Access matrix for every public handler of the interaction, follow-up, calendar, notification,
settings, feed and dashboard states, for each role (the same roles and world as the firm matrix,
plus an interaction, a follow-up, a notification and a calendar feed that belong to the broker)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlmodel import func, select

from brm_app.db import unit_of_work, utcnow
from brm_app.models.audit import AuditEvent
from brm_app.models.follow_up import CalendarFeed, FollowUp, Notification
from brm_app.models.interaction import Interaction, InteractionOutcome, InteractionType
from brm_app.models.user import User
from brm_app.services import calendar_feed, follow_ups, interactions, notifications
from brm_app.services.authentication import actor_of
from brm_app.state.account import AccountState
from brm_app.state.activity import ActivityState
from brm_app.state.app_settings import SettingsState
from brm_app.state.calendar import CalendarState
from brm_app.state.dashboard import DashboardState
from brm_app.state.items import FollowUpPageState, InteractionPageState
from brm_app.state.notifications import BellState, NotificationsState
from tests.state.conftest import Browser, session_token_for
from tests.state.world import ROLES, World

EVERYONE = set(ROLES)
STAFF = {"admin", "compliance", "manager", "broker", "broker2"}
READERS = {"admin", "compliance", "manager", "broker", "trader"}
VIEWERS = {"admin", "compliance", "manager", "broker"}  # see firm F's interactions and follow-ups
EDITORS = {"admin", "manager", "broker"}
TEAM = {"admin", "compliance", "manager"}
ADMIN = {"admin"}
OWNER = {"broker"}


Run = Callable[["Activity", str], bool]


@dataclass
class Activity:
    w: World
    interaction: int
    follow_up: int
    notification: int
    feed: int


@pytest.fixture
def act(world) -> Activity:
    from brm_app.models.follow_up import FollowUpWrite
    from brm_app.models.interaction import InteractionWrite
    from brm_app.models.user import User

    with unit_of_work(write=True) as db:
        broker = actor_of(db.get(User, world.users["broker"].id), ip=None)
        row = interactions.log_interaction(
            db,
            actor=broker,
            data=InteractionWrite(
                trader_ids=[world.t1],
                interaction_type="Call",
                interaction_date=utcnow() - timedelta(hours=2),
                subject="Matrix call",
            ),
        )
        fu = follow_ups.create_follow_up(
            db,
            actor=broker,
            data=FollowUpWrite(
                title="Matrix follow-up", due_at=utcnow() + timedelta(hours=5), firm_id=world.f
            ),
        )
        note = notifications.notify(
            db,
            user_id=broker.user_id,
            kind="reminder",
            title="Matrix note",
            link=f"/follow-ups/{fu.follow_up_id}",
        )
        feed, _ = calendar_feed.create_feed(db, actor=broker)
        return Activity(world, row.interaction_id, fu.follow_up_id, note.id, feed.feed_id)


def _browser(a: Activity, role: str, path: str = "/") -> Browser:
    return Browser(session_token_for(a.w.users[role].email), path)


def _db(fn):
    with unit_of_work() as db:
        return fn(db)


def _fire(a, role, cls, handler, *args, path="/", before=()):
    browser = _browser(a, role, path)
    for h, *xs in before:
        browser.fire(cls, h, *xs)
    browser.fire(cls, handler, *args)
    return browser.state(cls)


INTERACTION_FORM = {
    "day": "2026-01-15",
    "time": "10:00",
    "subject": "Matrix logged",
    "outcome": "none",
}


def _open_and_save_interaction(a, r):
    browser = _browser(a, r)
    browser.fire(ActivityState, "open_log", a.w.f, a.w.t1, "none")
    browser.fire(ActivityState, "save_interaction", {**INTERACTION_FORM, f"trader_{a.w.t1}": "on"})
    return _db(
        lambda db: (
            db.exec(select(Interaction).where(Interaction.subject == "Matrix logged")).first()
            is not None
        )
    )


def _open_and_save_follow_up(a, r):
    browser = _browser(a, r)
    browser.fire(ActivityState, "open_follow_up", a.w.f, "", "none", 0)
    day = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%d")
    browser.fire(
        ActivityState,
        "save_follow_up",
        {
            "title": "Matrix planned",
            "day": day,
            "time": "10:00",
            "assignee": str(a.w.users["broker"].id),
        },
    )
    return _db(
        lambda db: (
            db.exec(select(FollowUp).where(FollowUp.title == "Matrix planned")).first() is not None
        )
    )


def _pick_firm(a, r):
    browser = _browser(a, r)
    browser.fire(ActivityState, "open_follow_up", 0, "", "calendar", 0)
    browser.fire(ActivityState, "search_fu_firm", "fulcrum")
    browser.fire(ActivityState, "pick_fu_firm", a.w.f)
    state = browser.state(ActivityState)
    return state.firm_id == a.w.f and not state.fu_pick_firm


def _calendar_move(a, r):
    browser = _browser(a, r, "/calendar")
    # What picking the follow-up in the calendar and the move dialog leave on the server, the
    # same for every role (a role that sees no calendar could pick nothing): the refusal tested
    # is the handler's own.
    state = browser.server_state(CalendarState)
    state.move_id, state.move_day, state.move_time, state.tz = (
        a.follow_up,
        "2031-05-05",
        "09:30",
        "UTC",
    )
    browser.fire(CalendarState, "move")
    return _db(lambda db: db.get(FollowUp, a.follow_up).due_at.year == 2031)


def _fu_page(a, r, handler, *args):
    return _fire(
        a,
        r,
        FollowUpPageState,
        handler,
        *args,
        path=f"/follow-ups/{a.follow_up}",
        before=[("load",)],
    )


def _reschedule(a, r):
    browser = _browser(a, r, f"/follow-ups/{a.follow_up}")
    browser.fire(FollowUpPageState, "load")
    browser.fire(FollowUpPageState, "set_move_day", "2031-06-06")
    browser.fire(FollowUpPageState, "set_move_time", "08:00")
    browser.fire(FollowUpPageState, "reschedule")
    return _db(lambda db: db.get(FollowUp, a.follow_up).due_at.year == 2031)


def _void(a, r):
    browser = _browser(a, r, f"/interactions/{a.interaction}")
    browser.fire(InteractionPageState, "load")
    browser.fire(InteractionPageState, "set_void_reason", "Logged against the wrong firm")
    browser.fire(InteractionPageState, "void")
    return _db(lambda db: db.get(Interaction, a.interaction).voided_at is not None)


def _settings(a, r, handler, *args, check):
    browser = _browser(a, r, "/admin/settings")
    browser.fire(SettingsState, "load")
    for h, *xs in args:
        browser.fire(SettingsState, h, *xs)
    browser.fire(SettingsState, handler)
    return check()


def _calendar_loaded(handler: str, args: tuple) -> Run:
    def run(a: Activity, r: str) -> bool:
        return _fire(a, r, CalendarState, handler, *args, path="/calendar").title != ""

    return run


def _read(a) -> bool:
    return _db(lambda db: db.get(Notification, a.notification).read_at is not None)


MATRIX: dict[tuple[type, str], tuple[set[str], Run]] = {
    # ---- the two dialogs ----
    (ActivityState, "open_log"): (
        EDITORS,
        lambda a, r: _fire(a, r, ActivityState, "open_log", a.w.f, 0, "none").log_open,
    ),
    (ActivityState, "save_interaction"): (EDITORS, _open_and_save_interaction),
    (ActivityState, "open_edit_interaction"): (
        EDITORS,
        lambda a, r: (
            _fire(a, r, ActivityState, "open_edit_interaction", a.interaction, "none").log_open
        ),
    ),
    (ActivityState, "open_follow_up"): (
        EDITORS,
        lambda a, r: _fire(a, r, ActivityState, "open_follow_up", a.w.f, "", "none", 0).fu_open,
    ),
    (ActivityState, "save_follow_up"): (EDITORS, _open_and_save_follow_up),
    (ActivityState, "open_edit_follow_up"): (
        EDITORS,
        lambda a, r: _fire(a, r, ActivityState, "open_edit_follow_up", a.follow_up, "none").fu_open,
    ),
    (ActivityState, "search_fu_firm"): (
        READERS,
        lambda a, r: any(
            x["firm_id"] == a.w.f
            for x in _fire(a, r, ActivityState, "search_fu_firm", "fulcrum").fu_firm_results
        ),
    ),
    (ActivityState, "pick_fu_firm"): (EDITORS, _pick_firm),
    # ---- calendar ----
    **{
        (CalendarState, h): (STAFF, _calendar_loaded(h, args))
        for h, args in [
            ("load", ()),
            ("refresh", ()),
            ("set_view", ("week",)),
            ("shift", (1,)),
            ("today", ()),
            ("open_day", ("2026-12-01",)),
            ("opened_at_width", (390,)),
        ]
    },
    (CalendarState, "set_scope"): (
        TEAM,
        lambda a, r: (
            _fire(a, r, CalendarState, "set_scope", "team", path="/calendar").scope == "team"
        ),
    ),
    (CalendarState, "move"): (EDITORS, _calendar_move),
    # ---- the bell and /notifications: only ever your own ----
    (BellState, "load"): (OWNER, lambda a, r: _fire(a, r, BellState, "load").unread == 1),
    (BellState, "refresh"): (OWNER, lambda a, r: _fire(a, r, BellState, "refresh").unread == 1),
    (BellState, "open"): (
        OWNER,
        lambda a, r: (_fire(a, r, BellState, "open", a.notification), _read(a))[1],
    ),
    (BellState, "mark_all_read"): (
        OWNER,
        lambda a, r: (_fire(a, r, BellState, "mark_all_read"), _read(a))[1],
    ),
    (NotificationsState, "load"): (
        OWNER,
        lambda a, r: len(_fire(a, r, NotificationsState, "load").rows) == 1,
    ),
    (NotificationsState, "set_unread_only"): (
        OWNER,
        lambda a, r: len(_fire(a, r, NotificationsState, "set_unread_only", True).rows) == 1,
    ),
    (NotificationsState, "next_page"): (
        OWNER,
        lambda a, r: len(_fire(a, r, NotificationsState, "next_page").rows) == 1,
    ),
    (NotificationsState, "prev_page"): (
        OWNER,
        lambda a, r: len(_fire(a, r, NotificationsState, "prev_page").rows) == 1,
    ),
    (NotificationsState, "mark_read"): (
        OWNER,
        lambda a, r: (_fire(a, r, NotificationsState, "mark_read", a.notification), _read(a))[1],
    ),
    (NotificationsState, "mark_all_read"): (
        OWNER,
        lambda a, r: (_fire(a, r, NotificationsState, "mark_all_read"), _read(a))[1],
    ),
    # ---- one interaction, one follow-up ----
    (InteractionPageState, "load"): (
        VIEWERS,
        lambda a, r: (
            _fire(a, r, InteractionPageState, "load", path=f"/interactions/{a.interaction}").found
        ),
    ),
    (InteractionPageState, "void"): (ADMIN, _void),
    (FollowUpPageState, "load"): (
        VIEWERS,
        lambda a, r: (
            _fire(a, r, FollowUpPageState, "load", path=f"/follow-ups/{a.follow_up}").found
        ),
    ),
    (FollowUpPageState, "set_status"): (
        EDITORS,
        lambda a, r: (
            _fu_page(a, r, "set_status", "done"),
            _db(lambda db: db.get(FollowUp, a.follow_up).status == "done"),
        )[1],
    ),
    (FollowUpPageState, "snooze"): (
        EDITORS,
        lambda a, r: (
            _fu_page(a, r, "snooze", 15),
            _db(lambda db: db.get(FollowUp, a.follow_up).snoozed_until is not None),
        )[1],
    ),
    (FollowUpPageState, "reschedule"): (EDITORS, _reschedule),
    # ---- settings (admins) ----
    (SettingsState, "load"): (ADMIN, lambda a, r: _fire(a, r, SettingsState, "load").types != []),
    (SettingsState, "save_rules"): (
        ADMIN,
        lambda a, r: (
            _fire(
                a,
                r,
                SettingsState,
                "save_rules",
                {"contact_a": "21", "contact_b": "30", "contact_c": "90", "escalation": "2"},
            ),
            _db(
                lambda db: (
                    __import__("brm_app.services.app_settings", fromlist=["x"])
                    .get_rules(db)
                    .contact_days["A"]
                    == 21
                )
            ),
        )[1],
    ),
    (SettingsState, "toggle_active"): (
        ADMIN,
        lambda a, r: (
            _fire(a, r, SettingsState, "toggle_active", "Roadshow", False),
            _db(
                lambda db: (
                    not db.exec(select(InteractionType).where(InteractionType.name == "Roadshow"))
                    .one()
                    .is_active
                )
            ),
        )[1],
    ),
    (SettingsState, "toggle_outcome"): (
        ADMIN,
        lambda a, r: _settings(
            a,
            r,
            "load",
            ("toggle_outcome", "Email", "No answer", True),
            check=lambda: (
                "No answer"
                in next(
                    t
                    for t in _fire(a, "admin", SettingsState, "load").types
                    if t["name"] == "Email"
                )["outcomes"]
            ),
        ),
    ),
    (SettingsState, "add_type"): (
        ADMIN,
        lambda a, r: _settings(
            a,
            r,
            "add_type",
            ("set_new_type", "Site visit"),
            check=lambda: _db(
                lambda db: (
                    db.exec(
                        select(InteractionType).where(InteractionType.name == "Site visit")
                    ).first()
                    is not None
                )
            ),
        ),
    ),
    (SettingsState, "add_outcome"): (
        ADMIN,
        lambda a, r: _settings(
            a,
            r,
            "add_outcome",
            ("set_new_outcome", "Escalated"),
            check=lambda: _db(
                lambda db: (
                    db.exec(
                        select(InteractionOutcome).where(InteractionOutcome.name == "Escalated")
                    ).first()
                    is not None
                )
            ),
        ),
    ),
    (SettingsState, "save_security"): (
        ADMIN,
        lambda a, r: (
            _fire(a, r, SettingsState, "save_security", {"mfa_trader": "on"}),
            _db(
                lambda db: (
                    __import__("brm_app.services.app_settings", fromlist=["x"])
                    .get_security(db)
                    .mfa_required_roles
                    == ["trader"]
                )
            ),
        )[1],
    ),
    # ---- my account: calendar feeds ----
    (AccountState, "create_feed"): (
        STAFF,
        lambda a, r: "/api/calendar/" in _fire(a, r, AccountState, "create_feed").new_feed_url,
    ),
    (AccountState, "revoke_feed"): (
        OWNER,
        lambda a, r: (
            _fire(a, r, AccountState, "revoke_feed", a.feed),
            _db(lambda db: db.get(CalendarFeed, a.feed).revoked_at is not None),
        )[1],
    ),
    (AccountState, "load"): (STAFF, lambda a, r: _fire(a, r, AccountState, "load").can_have_feed),
    # ---- my account: reminders by email (each user their own) ----
    (AccountState, "set_email_reminders"): (
        EVERYONE,
        lambda a, r: (
            _fire(a, r, AccountState, "set_email_reminders", True),
            _db(lambda db: db.get(User, a.w.users[r].id).email_reminders),
        )[1],
    ),
    # ---- dashboard ----
    (DashboardState, "set_due_scope"): (
        STAFF,
        lambda a, r: _fire(a, r, DashboardState, "set_due_scope", "all").works_book,
    ),
}

UI_ONLY: dict[type, list[str]] = {
    ActivityState: ["set_fu_open", "set_log_open", "set_log_type"],
    CalendarState: ["ask_move", "pick", "set_move_day", "set_move_open", "set_move_time"],
    InteractionPageState: ["set_void_open", "set_void_reason", "toggle_raw"],
    FollowUpPageState: ["set_move_day", "set_move_time"],
    SettingsState: ["set_new_outcome", "set_new_type"],
    AccountState: ["hide_feed_url"],
    BellState: [],
    NotificationsState: [],
}
# Handlers whose matrices live elsewhere (the foundation's tests).
ELSEWHERE = {AccountState: {"save_profile", "change_password"}, DashboardState: {"load"}}


def test_every_handler_is_in_the_matrix():
    for cls in {*UI_ONLY, DashboardState}:
        public = {name for name in cls.event_handlers if name != "setvar"}
        covered = (
            {h for (c, h) in MATRIX if c is cls}
            | set(UI_ONLY.get(cls, []))
            | ELSEWHERE.get(cls, set())
        )
        assert public == covered, f"{cls.__name__}: add {sorted(public - covered)} to the matrix"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("cls", "handler"), list(MATRIX), ids=[f"{c.__name__}.{h}" for c, h in MATRIX]
)
def test_handler_access(act, cls, handler, role):
    allowed, run = MATRIX[(cls, handler)]
    with unit_of_work() as db:
        before = db.exec(select(func.max(AuditEvent.seq))).one() or 0
    happened = bool(run(act, role))
    assert happened == (role in allowed), f"{cls.__name__}.{handler} as {role}: effect={happened}"
    if role not in allowed:
        with unit_of_work() as db:
            writes = db.exec(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.seq > before,
                    ~AuditEvent.action.startswith("auth."),
                    AuditEvent.action != "calendar_feed.created",
                )
            ).one()
        assert writes == 0


@pytest.mark.parametrize("role", ["broker", "broker2", "trader"])
def test_ui_only_handlers_write_nothing(act, role):
    args = {
        "set_log_type": ("Meeting",),
        "set_fu_open": (True,),
        "set_log_open": (True,),
        "ask_move": (act.follow_up,),
        "set_move_day": ("2030-01-01",),
        "set_move_time": ("10:00",),
        "set_move_open": (True,),
        "set_void_open": (True,),
        "set_void_reason": ("x",),
        "toggle_raw": (1,),
        "set_new_outcome": ("x",),
        "set_new_type": ("x",),
    }
    browser = _browser(act, role)  # signing in writes an audit event: count after it
    with unit_of_work() as db:
        before = db.exec(select(func.count()).select_from(AuditEvent)).one()
    for cls, handlers in UI_ONLY.items():
        for handler in handlers:
            browser.fire(cls, handler, *args.get(handler, ()))
    with unit_of_work() as db:
        assert db.exec(select(func.count()).select_from(AuditEvent)).one() == before
