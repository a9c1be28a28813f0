"""One definition of "an active broker" (services/brokers.py), and every picker and check uses it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import brm_app
from brm_app.db import unit_of_work
from brm_app.models.user import Role, UserUpdate
from brm_app.services import brokers, calendar, firms, follow_ups, users
from brm_app.services.errors import ValidationFailed
from tests.factories import make_firm, make_user


@pytest.fixture
def staff(database_url):
    admin = make_user(Role.ADMIN)
    manager = make_user(Role.MANAGER)
    ben = make_user(Role.BROKER, name="Ben", manager_id=manager.user_id)
    carla = make_user(Role.BROKER, name="Carla", manager_id=manager.user_id)
    gone = make_user(Role.BROKER, name="Gone", manager_id=manager.user_id)
    with unit_of_work(write=True) as db:
        users.update_user(db, actor=admin, user_id=gone.user_id, data=UserUpdate(is_active=False))
    make_user(Role.COMPLIANCE)
    return {"admin": admin, "manager": manager, "ben": ben, "carla": carla, "gone": gone}


def test_active_brokers_are_brokers_with_an_active_account(staff):
    with unit_of_work() as db:
        found = brokers.active_brokers(db)
        assert found == [(staff["ben"].user_id, "Ben"), (staff["carla"].user_id, "Carla")]
        for who in ("ben", "carla"):
            assert brokers.check_active_broker(db, staff[who].user_id, "f") == staff[who].user_id
        for who in ("gone", "manager", "admin"):
            with pytest.raises(ValidationFailed, match="active broker"):
                brokers.check_active_broker(db, staff[who].user_id, "f")
        for bad in (None, "1", True, -1, 10**9):
            with pytest.raises(ValidationFailed):
                brokers.check_active_broker(db, bad, "f")


def test_every_picker_offers_exactly_the_active_brokers(staff):
    firm = make_firm(staff["manager"], primary_broker_id=staff["ben"].user_id)
    expected = [(staff["ben"].user_id, "Ben"), (staff["carla"].user_id, "Carla")]
    with unit_of_work() as db:
        picked = [(b.user_id, b.name) for b in firms.brokers(db, actor=staff["manager"])]
        assert picked == expected
        assert calendar.choosable_brokers(db, staff["admin"]) == expected
        assert calendar.choosable_brokers(db, staff["manager"]) == expected  # the team
        for who in ("manager", "admin"):
            assignable = follow_ups.assignable_brokers(db, actor=staff[who], firm_id=firm.firm_id)
            assert assignable == expected
        # A broker assigns to the active brokers covering the firm (here: only Ben).
        mine = follow_ups.assignable_brokers(db, actor=staff["ben"], firm_id=firm.firm_id)
        assert mine == [(staff["ben"].user_id, "Ben")]


def test_coverage_refuses_a_broker_who_is_not_active(staff):
    with unit_of_work(write=True) as db, pytest.raises(ValidationFailed, match="active broker"):
        firms.create_firm(
            db,
            actor=staff["manager"],
            data=firms.FirmWrite(name="Deact Capital", primary_broker_id=staff["gone"].user_id),
        )


def test_the_definition_is_written_once():
    """No module but services/brokers.py tests for the broker role together with `is_active`
    (in a SQL `where` or a Python condition)."""
    offenders = []
    for path in Path(brm_app.__file__).parent.rglob("*.py"):
        if path.name == "brokers.py":
            continue
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            is_where = isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "where"
            if is_where or isinstance(node, ast.BoolOp):  # a SQL condition or a Python test
                segment = ast.get_source_segment(text, node) or ""
                if "Role.BROKER" in segment and "is_active" in segment:
                    offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders
