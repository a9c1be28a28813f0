"""Test data made through the real services, so every rule (and the audit trail) applies."""

from __future__ import annotations

import itertools

from brm_app.auth.actor import Actor, SystemActor
from brm_app.db import unit_of_work
from brm_app.models.user import Role, User, UserCreate
from brm_app.services import users
from brm_app.services.authentication import actor_of

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


def make_user(
    role: Role | str = Role.BROKER,
    *,
    email: str | None = None,
    name: str | None = None,
    password: str = PASSWORD,
    manager_id: int | None = None,
    must_change_password: bool = False,
) -> Actor:
    n = next(_seq)
    role = Role(role)
    with unit_of_work(write=True) as db:
        created = users.create_user(
            db,
            actor=SystemActor(label="system:test"),
            data=UserCreate(
                email=email or f"{role.value}{n}@test.example",
                name=name or f"{role.value.capitalize()} {n}",
                role=role,
                password=password,
                manager_id=manager_id,
            ),
            must_change_password=must_change_password,
        )

        return actor_of(db.get(User, created.user.user_id), ip="127.0.0.1")


def make_firm(actor, name: str | None = None, **fields):
    """A firm created by `actor` (a broker becomes its primary broker)."""
    from brm_app.models.firm import FirmWrite
    from brm_app.services import firms

    n = next(_seq)
    with unit_of_work(write=True) as db:
        return firms.create_firm(
            db, actor=actor, data=FirmWrite(name=name or f"Firm {n} Capital", **fields)
        )


def make_trader(actor, firm_id: int, name: str | None = None, email: str | None = None, **fields):
    from brm_app.models.trader import TraderWrite
    from brm_app.services import traders

    n = next(_seq)
    with unit_of_work(write=True) as db:
        trader = traders.create_trader(
            db,
            actor=actor,
            firm_id=firm_id,
            data=TraderWrite(
                name=name or f"Trader {n}", email=email or f"trader{n}@client.example", **fields
            ),
        ).trader
    if trader.portal_user_id:
        password_chosen(trader.portal_user_id)
    return trader


def password_chosen(user_id: int) -> None:
    """As if the user had chosen their own password at first sign-in (a new portal account must:
    test_portal_access_is_granted_by_managers_and_shown_once)."""
    with unit_of_work(write=True) as db:
        db.get(User, user_id).must_change_password = False
