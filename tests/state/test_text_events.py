"""Every browser event's text passes the checks every API input passes (models.fields).

The handlers are walked, not listed: every public handler of every page state, called with a NUL,
another control character or a lone surrogate in each argument (inside a form, too) or in the
page's address, is refused before it runs by the app's own middleware chain, with a message and
no change. Names also refuse invisible and text-direction characters, in the services the
handlers call.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil

import pytest
import reflex as rx
from sqlmodel import func, select

import brm_app.state
from brm_app.brm_app import app
from brm_app.db import unit_of_work
from brm_app.models.audit import AuditEvent
from brm_app.models.firm import Firm
from brm_app.models.interaction import InteractionOutcome, InteractionType
from brm_app.models.trader import TraderRole
from brm_app.models.user import Role, User
from brm_app.state.account import AccountState
from brm_app.state.admin_users import AdminUsersState
from brm_app.state.app_settings import SettingsState
from brm_app.state.audit import AuditState
from brm_app.state.firms import FirmsState
from brm_app.state.traders import TradersState
from tests.factories import make_user
from tests.state.conftest import Browser, Sent


def _page_states() -> list[type[rx.State]]:
    for module in pkgutil.iter_modules(brm_app.state.__path__):
        importlib.import_module(f"brm_app.state.{module.name}")
    found, stack = [], [rx.State]
    while stack:
        cls = stack.pop()
        stack.extend(cls.get_substates())
        if cls.__module__.startswith("brm_app."):
            found.append(cls)
    return found


def _handlers() -> list[tuple[type[rx.State], str, list[str]]]:
    """(state, handler, its argument names) for every handler that takes arguments."""
    out = []
    for cls in _page_states():
        for name, handler in cls.event_handlers.items():
            if not handler.fn.__module__.startswith("brm_app."):
                continue  # reflex's own (setvar ...)
            params = [p for p in inspect.signature(handler.fn).parameters if p != "self"]
            if params:
                out.append((cls, name, params))
    return out


HANDLERS = _handlers()
BAD = [("\x00", "control characters"), ("\x1b", "control characters"),
       ("\ud800", "invalid characters")]  # fmt: skip


def _audit_count() -> int:
    with unit_of_work() as db:
        return db.exec(select(func.count()).select_from(AuditEvent)).one()


def _send(browser: Browser, cls, handler: str, payload: dict) -> Sent:
    """The event as the browser sends it, its arguments by name."""
    return Sent(browser.tab.send_raw(f"{cls.get_full_name()}.{handler}", payload))


def _refusal(sent: Sent) -> str | None:
    """The input guard's message, if the event was refused before it ran: one message, and no
    state sent (a handler that ran would have sent what it changed, or failed)."""
    text = sent.text
    if "Nothing was changed." not in text or any(r.delta for r in sent):
        return None
    return json.dumps(sent.events, ensure_ascii=False)


def test_the_app_runs_the_input_guard_after_the_session_guard():
    names = [type(m).__name__ for m in app._middlewares]
    assert names[:2] == ["SessionGuard", "InputGuard"]


def test_the_walk_finds_the_handlers():
    found = {f"{cls.__name__}.{name}" for cls, name, _ in HANDLERS}
    for expected in ("AccountState.save_profile", "FirmsState.search", "FirmsState.create",
                     "AdminUsersState.save", "ActivityState.save_interaction",
                     "TradersState.remove_role", "AuditState.set_actor_q"):  # fmt: skip
        assert expected in found
    assert len(HANDLERS) >= 60


def test_every_handler_refuses_bad_text_before_it_runs(browser_for):
    admin = make_user(Role.ADMIN)
    browser = browser_for(admin.email, "/firms")
    before = _audit_count()
    failures = []
    for cls, handler, params in HANDLERS:
        for char, expected in BAD:
            text = f"Acme{char}Capital"
            for target in params:
                # Each argument in turn: as plain text and as a field of a form.
                for value in (text, {"name": text, "notes": "fine\nlines"}):
                    payload = {p: (value if p == target else "ok") for p in params}
                    errors = len(browser.server.errors)
                    refusal = _refusal(_send(browser, cls, handler, payload))
                    if refusal is None or expected not in refusal:
                        failures.append(f"{cls.__name__}.{handler}({target}={value!r})")
                    assert len(browser.server.errors) == errors, browser.server.errors[-1]
    assert not failures, f"{len(failures)} events were let through:\n" + "\n".join(failures[:30])
    assert _audit_count() == before


def test_good_text_passes_the_guard(browser_for):
    admin = make_user(Role.ADMIN)
    browser = browser_for(admin.email, "/firms?q=acme")
    form = {"name": "Mehr\u200cAfarin — “Bank”", "notes": "two\nlines\ttabbed"}
    sent = browser.fire(FirmsState, "create", form)
    assert _refusal(sent) is None and sent.delta_of(FirmsState)  # it ran
    sent = browser.fire(FirmsState, "search", "Acme Capital")
    assert _refusal(sent) is None and browser.state(FirmsState).q == "Acme Capital"


def test_the_message_names_the_field():
    guard_input = {"form": {"first_name": "A\x00"}}
    from brm_app.state.input_guard import bad_text

    assert bad_text(guard_input) == (["form", "first_name"], "must not contain control characters")
    assert bad_text({"form": {"x\x00": "a"}}) == (["form"], "must not contain control characters")
    assert bad_text({"value": ["a", {"b": "\ud800"}]}) is not None
    assert bad_text({"form": {"password": "pass\x01word\x00"}}) is None  # hashed, never stored
    assert bad_text({"form": {"new_password": "a\ud800"}}) is not None  # no hash can take it


@pytest.mark.parametrize(
    ("path", "cls"),
    [("/audit?entity=fi%00rm", AuditState), ("/firms?q=ac%1Bme", FirmsState)],
)
def test_a_page_address_with_bad_text_is_refused(browser_for, path, cls):
    """Page loads read the address: ?entity=%00 once reached PostgreSQL (a failed handler)."""
    admin = make_user(Role.ADMIN)
    browser = browser_for(admin.email, path)
    message = _refusal(browser.fire(cls, "load"))
    assert message is not None
    assert "The page address" in message and "control characters" in message


def test_a_refused_profile_save_changes_nothing(browser_for):
    """PATCH /users/me's twin in the browser: a NUL in the name reaches neither the service
    nor the database."""
    user = make_user(Role.BROKER, name="Ben Broker")
    browser = browser_for(user.email, "/account")
    message = _refusal(browser.fire(AccountState, "save_profile", {"name": "Ben\x00"}))
    assert message is not None
    assert "Name must not contain control characters. Nothing was changed." in message
    with unit_of_work() as db:
        assert db.get(User, user.user_id).name == "Ben Broker"


# ---- names: invisible and text-direction characters, refused by the services ----------------

INVISIBLE = ["\u200b", "\u2060", "\ufeff", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
             "\u2066", "\u2067", "\u2068", "\u2069"]  # fmt: skip


def _names(model, column) -> list[str]:
    with unit_of_work() as db:
        return list(db.exec(select(column)).all())


@pytest.mark.parametrize("char", INVISIBLE)
def test_name_handlers_refuse_invisible_characters(browser_for, char):
    admin = make_user(Role.ADMIN, name="Ada Admin")
    broker = make_user(Role.BROKER)
    browser = browser_for(admin.email, "/")
    name = f"Ali{char}ce"
    before = (_names(User, User.name), _names(Firm, Firm.name), _names(TraderRole, TraderRole.name),
              _names(InteractionType, InteractionType.name),
              _names(InteractionOutcome, InteractionOutcome.name), _audit_count())  # fmt: skip
    # Every event passes the guard (these characters are no control characters) ...
    sent = browser.fire(AccountState, "save_profile", {"name": name})
    assert _refusal(sent) is None

    # ... and is refused by the service or schema behind the handler, naming the field.
    assert "invisible" in browser.state(AccountState).profile_errors["name"]

    browser.server_state(AdminUsersState).editing_id = 0  # as if the new-user dialog were open
    form = {"email": "new@test.example", "name": name, "role": "broker"}
    browser.fire(AdminUsersState, "save", form)
    assert "invisible" in browser.state(AdminUsersState).errors["name"]

    browser.fire(FirmsState, "load")  # an admin's capabilities: choose the coverage
    assert browser.state(FirmsState).choose_coverage
    browser.fire(FirmsState, "create", {"name": name, "primary_broker_id": str(broker.user_id)})
    assert "invisible" in browser.state(FirmsState).errors["name"]

    browser.fire(TradersState, "set_new_role", name)
    browser.fire(TradersState, "add_role")
    assert "invisible" in browser.state(TradersState).role_error

    settings = browser.state(SettingsState)
    browser.fire(SettingsState, "set_new_type", name)
    browser.fire(SettingsState, "set_new_outcome", name)
    browser.fire(SettingsState, "add_type")
    assert "invisible" in settings.config_error
    browser.server_state(SettingsState).config_error = ""  # sent with the next event
    sent = browser.fire(SettingsState, "add_outcome")
    assert "invisible" in sent.delta_of(SettingsState)["config_error"]

    after = (_names(User, User.name), _names(Firm, Firm.name), _names(TraderRole, TraderRole.name),
             _names(InteractionType, InteractionType.name),
             _names(InteractionOutcome, InteractionOutcome.name), _audit_count())  # fmt: skip
    assert after == before


def test_names_keep_zero_width_joiners(browser_for):
    """Persian and Indic names need ZWNJ (U+200C) and ZWJ (U+200D)."""
    user = make_user(Role.BROKER)
    browser = browser_for(user.email, "/account")
    browser.fire(AccountState, "save_profile", {"name": "Mehr\u200cAfarin Sh\u200dah"})
    assert browser.state(AccountState).profile_errors == {}
    with unit_of_work() as db:
        assert db.get(User, user.user_id).name == "Mehr\u200cAfarin Sh\u200dah"
