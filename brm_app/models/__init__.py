"""All tables, imported here so SQLModel.metadata (and Alembic) sees every one."""

from brm_app.models.audit import AuditEvent
from brm_app.models.auth_records import LoginThrottle, UserSession
from brm_app.models.firm import Firm, FirmCoverage
from brm_app.models.trader import Trader, TraderMove, TraderRole
from brm_app.models.user import Role, User

__all__ = [
    "AuditEvent",
    "Firm",
    "FirmCoverage",
    "LoginThrottle",
    "Role",
    "Trader",
    "TraderMove",
    "TraderRole",
    "User",
    "UserSession",
]
