"""The app's sections, in sidebar order: each shows only to roles that have its permission."""

from __future__ import annotations

from dataclasses import dataclass

from brm_app.auth.actor import Actor
from brm_app.auth.rbac import Permission, has
from brm_app.models.user import Role


@dataclass(frozen=True)
class Section:
    label: str
    href: str
    icon: str  # a lucide icon name
    permission: Permission | None = None
    # Only for these roles (None: every role with the permission).
    roles: tuple[Role, ...] | None = None


# Staff: every role but a portal trader. A trader may open their own firm and its traders (the
# services scope it), but the portal home links what they need; lists of one firm say nothing.
STAFF = tuple(r for r in Role if r != Role.TRADER)

SECTIONS: list[Section] = [
    Section("Portal home", "/portal", "house", roles=(Role.TRADER,)),
    Section("Dashboard", "/", "layout-dashboard", roles=STAFF),
    Section("Messages", "/communications", "messages-square", Permission.COMMS_VIEW),
    Section("Firms", "/firms", "building-2", Permission.FIRMS_VIEW, roles=STAFF),
    Section("Traders", "/traders", "contact", Permission.TRADERS_VIEW, roles=STAFF),
    Section("Calendar", "/calendar", "calendar-days", Permission.FOLLOW_UPS_VIEW),
    Section("Import", "/import", "file-up", Permission.DATA_IMPORT),
    Section("Team report", "/reports/team", "chart-column", Permission.TEAM_VIEW),
    Section("Users", "/admin/users", "users", Permission.USERS_VIEW),
    Section("Review", "/compliance/review", "shield-check", Permission.REVIEWS_WORK),
    Section("Exports", "/compliance/exports", "archive", Permission.REGULATOR_EXPORT),
    Section("Legal holds", "/compliance/holds", "lock", Permission.LEGAL_HOLDS),
    Section("Audit trail", "/audit", "scroll-text", Permission.AUDIT_VIEW),
    Section("Settings", "/admin/settings", "settings", Permission.APP_SETTINGS),
    Section("Jobs", "/admin/jobs", "list-checks", Permission.JOBS_MANAGE),
    Section("Instruments", "/admin/instruments", "chart-line", Permission.INSTRUMENTS_MANAGE),
    Section("My account", "/account", "circle-user"),
]


def sections_for(actor: Actor) -> list[dict[str, str]]:
    return [
        {"label": s.label, "href": s.href, "icon": s.icon}
        for s in SECTIONS
        if (s.permission is None or has(actor, s.permission))
        and (s.roles is None or actor.role in s.roles)
    ]
