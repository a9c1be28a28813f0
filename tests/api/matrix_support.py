"""What the two API access matrices share: the six callers, and the loop that plays a matrix."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlmodel import func, select

from brm_app.auth import tokens
from brm_app.auth.actor import SystemActor
from brm_app.db import unit_of_work
from brm_app.models.audit import AuditEvent
from brm_app.models.firm import FirmWrite
from brm_app.models.trader import TraderPermission, TraderWrite
from brm_app.models.user import Role, User
from brm_app.services import firms, traders
from brm_app.settings import get_settings
from tests.api.conftest import auth
from tests.factories import make_user, password_chosen

API = "/api/v1"
ROLES = ("admin", "compliance", "manager", "broker", "trader", "stranger")
SYSTEM = SystemActor(label="system:test")
# A refused record reads exactly like one that does not exist.
NOT_FOUND = {
    f"{what} not found."
    for what in ("Firm", "Trader", "Interaction", "Follow-up", "Notification", "Calendar feed")
}


def call(fn, actor=SYSTEM, **kw):
    with unit_of_work(write=True) as db:
        return fn(db, actor=actor, **kw)


def token_headers(user_id: int) -> dict[str, str]:
    with unit_of_work() as db:
        user = db.get(User, user_id)
        token, _ = tokens.issue(
            user.id,
            cv=tokens.credentials_version(user.credentials_changed_at),
            secret=get_settings().secret_key,
            minutes=15,
        )
    return auth(token)


def audit_count() -> int:
    with unit_of_work() as db:
        return db.exec(select(func.count()).select_from(AuditEvent)).one()


class People:
    """The six callers, made once per test (password hashing is the slow part): admin, compliance,
    a manager, the broker who covers the test firms (and reports to that manager), a stranger
    (another broker) and a portal trader whose own firm the broker covers."""

    def __init__(self) -> None:
        admin, compliance, manager = (
            make_user(Role.ADMIN),
            make_user(Role.COMPLIANCE),
            make_user(Role.MANAGER),
        )
        self.admin, self.compliance, self.manager = admin, compliance, manager
        self.broker = make_user(Role.BROKER, manager_id=manager.user_id)
        self.stranger = make_user(Role.BROKER)
        home = call(
            firms.create_firm,
            data=FirmWrite(name="Portal Home", primary_broker_id=self.broker.user_id),
        )
        saved = call(
            traders.create_trader,
            firm_id=home.firm_id,
            data=TraderWrite(
                name="Tess Trader",
                email="tess@client.example",
                permissions=[TraderPermission.PORTAL_ACCESS],
            ),
        )
        self.own_trader_id = saved.trader.trader_id
        password_chosen(saved.trader.portal_user_id)
        user_ids = {
            "admin": admin.user_id,
            "compliance": compliance.user_id,
            "manager": manager.user_id,
            "broker": self.broker.user_id,
            "trader": saved.trader.portal_user_id,
            "stranger": self.stranger.user_id,
        }
        self.headers = {role: token_headers(uid) for role, uid in user_ids.items()}


class Templates:
    """`fill` replaces each `$name` in a matrix entry (string, dict or list) with the world's
    attribute of that name: a whole `$name` keeps the attribute's type."""

    def fill(self, template):
        if isinstance(template, str):
            if re.fullmatch(r"\$\w+", template):
                return getattr(self, template[1:])
            return re.sub(r"\$(\w+)", lambda m: str(getattr(self, m.group(1))), template)
        if isinstance(template, dict):
            return {k: self.fill(v) for k, v in template.items()}
        if isinstance(template, list):
            return [self.fill(v) for v in template]
        return template


def play_matrix(client, people: People, matrix: list, make_world: Callable[[], Any]) -> list[str]:
    """Each (route, caller) must answer the status in the matrix, each on fresh records; a
    refused request must write no audit event. Returns the mismatches."""
    mismatches = []
    for method, path, body, expected in matrix:
        for role, want in zip(ROLES, expected, strict=True):
            world = make_world()
            url, payload = API + world.fill(path), world.fill(body)
            before = audit_count()
            r = client.request(method, url, json=payload, headers=people.headers[role])
            where = f"{method} {path} as {role}"
            if r.status_code != want:
                mismatches.append(f"{where}: expected {want}, got {r.status_code} {r.text[:160]}")
            elif want >= 400 and audit_count() != before:
                mismatches.append(f"{where}: refused with {want} but wrote an audit event")
            if r.status_code == 404 and r.json().get("detail") not in NOT_FOUND:
                mismatches.append(
                    f"{where}: a 404 that does not read like a missing record: {r.text}"
                )
    return mismatches
