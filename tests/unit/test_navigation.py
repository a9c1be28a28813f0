"""The sidebar's sections per role: each role sees what it can use, a portal trader their portal."""

from __future__ import annotations

from brm_app.auth.actor import Actor
from brm_app.models.user import Role
from brm_app.navigation import sections_for


def _labels(role: Role) -> list[str]:
    actor = Actor(user_id=1, role=role, email="x@nav.example", name="X")
    return [s["label"] for s in sections_for(actor)]


def test_a_portal_trader_sees_their_portal_not_the_staff_lists():
    assert _labels(Role.TRADER) == ["Portal home", "Messages", "My account"]


def test_staff_see_the_lists():
    for role in (Role.ADMIN, Role.MANAGER, Role.BROKER, Role.COMPLIANCE):
        labels = _labels(role)
        assert labels[0] == "Dashboard" and "Portal home" not in labels
        assert {"Firms", "Traders", "My account"} <= set(labels), role
    assert "Users" in _labels(Role.ADMIN) and "Users" not in _labels(Role.BROKER)
