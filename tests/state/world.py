"""The firm world the state access matrices share: six roles, firms F (covered by broker and the
trader's own), G (move target), D (duplicate of F) and A (archived), traders T1 and T2 at F."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from brm_app.auth.passwords import hash_password
from brm_app.db import unit_of_work, utcnow
from brm_app.models.firm import Firm, FirmCoverage
from brm_app.models.trader import Trader, TraderRole
from brm_app.models.user import Role, User
from brm_app.services import audit
from tests.factories import PASSWORD

ROLES = ["admin", "compliance", "manager", "broker", "broker2", "trader"]
READERS = {"admin", "compliance", "manager", "broker", "trader"}
STAFF_READERS = {"admin", "compliance", "manager", "broker"}
EDITORS = {"admin", "manager", "broker"}
MANAGERS = {"admin", "manager"}
ADMIN = {"admin"}
_HASH = hash_password(PASSWORD)  # one argon2 hash for every user of these tests


@dataclass
class World:
    users: dict[str, User]
    f: int  # covered by broker; trader's own firm
    g: int  # also covered by broker (move target)
    d: int  # a duplicate of F covered by broker (merge source)
    a: int  # archived, covered by broker
    t1: int  # trader at F
    t2: int  # the portal trader's own record at F


def _user(db, role: Role, email: str) -> User:
    now = utcnow()
    user = User(
        email=email,
        name=email.split("@")[0].title(),
        role=role.value,
        password_hash=_HASH,
        is_active=True,
        credentials_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    db.add(user)
    db.flush()
    return user


def _firm(db, name: str, broker: User, *, archived: bool = False, tier: str = "A") -> int:
    now = utcnow()
    firm = Firm(
        name=name,
        name_key=name.casefold(),
        tier=tier,
        account_status="Active",
        created_at=now,
        updated_at=now,
        archived_at=now if archived else None,
    )
    db.add(firm)
    db.flush()
    db.add(FirmCoverage(firm_id=firm.id, broker_id=broker.id, role="primary"))
    return firm.id


def _trader(db, firm_id: int, name: str, email: str, user_id: int | None = None) -> int:
    t = Trader(
        firm_id=firm_id,
        name=name,
        name_key=name.casefold(),
        email=email,
        role="Trader",
        user_id=user_id,
        portal_access=user_id is not None,
    )
    db.add(t)
    db.flush()
    return t.id


@pytest.fixture
def world(sqlite_url) -> World:
    with unit_of_work(write=True) as db:
        users = {
            "admin": _user(db, Role.ADMIN, "admin@w.example"),
            "compliance": _user(db, Role.COMPLIANCE, "compliance@w.example"),
            "manager": _user(db, Role.MANAGER, "manager@w.example"),
            "broker": _user(db, Role.BROKER, "broker@w.example"),
            "broker2": _user(db, Role.BROKER, "broker2@w.example"),
            "trader": _user(db, Role.TRADER, "trader@w.example"),
        }
        b = users["broker"]
        f = _firm(db, "Fulcrum Partners", b)
        g = _firm(db, "Gable Holdings", b)
        d = _firm(db, "Fulcrum Partners Dup", b)
        a = _firm(db, "Archived Associates", b, archived=True)
        t1 = _trader(db, f, "Tom Trader", "tom@fulcrum.example")
        t2 = _trader(db, f, "Tess Portal", "trader@w.example", users["trader"].id)
        # An event holding an encrypted value (its digest in the chain), for the audit page.
        audit.record(
            db,
            actor=None,
            action="trader.create",
            entity="trader",
            entity_id=t1,
            changes={"email": "tom@fulcrum.example"},
        )
        db.add(TraderRole(name="Risk", name_key="risk", built_in=False))
    return World(users, f, g, d, a, t1, t2)
