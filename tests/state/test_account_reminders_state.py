"""My account's "Also email me my reminders": each user sets their own, and only to a boolean."""

from __future__ import annotations

from brm_app.db import unit_of_work
from brm_app.models.user import Role, User
from brm_app.state.account import AccountState
from tests.factories import make_user


def _opted_in(user_id: int) -> bool:
    with unit_of_work() as db:
        return db.get(User, user_id).email_reminders


def test_a_user_turns_reminder_emails_on_and_off_and_forged_values_change_nothing(browser_for):
    broker = make_user(Role.BROKER)
    browser = browser_for(broker.email, "/account")
    for forged in ("true", 1, {"$ne": 1}, [True], None):
        browser.fire(AccountState, "set_email_reminders", forged)
        assert _opted_in(broker.user_id) is False
    browser.fire(AccountState, "set_email_reminders", True)
    assert _opted_in(broker.user_id) is True
    assert browser.state(AccountState).email_reminders is True
    browser.fire(AccountState, "load")
    assert browser.state(AccountState).email_reminders is True
    browser.fire(AccountState, "set_email_reminders", False)
    assert _opted_in(broker.user_id) is False
