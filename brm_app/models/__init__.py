"""All tables, imported here so SQLModel.metadata (and Alembic) sees every one."""

from brm_app.models.audit import AuditEvent
from brm_app.models.auth_records import LoginThrottle, RecoveryCode, UserSession, UserTotp
from brm_app.models.firm import Firm, FirmCoverage
from brm_app.models.follow_up import (
    AppSetting,
    CalendarFeed,
    ClientPresence,
    FollowUp,
    FollowUpTrader,
    Notification,
    NotificationDelivery,
    Reminder,
)
from brm_app.models.interaction import (
    Interaction,
    InteractionOutcome,
    InteractionTrader,
    InteractionType,
    InteractionTypeOutcome,
    InteractionVersion,
)
from brm_app.models.job import Job
from brm_app.models.portfolio import (
    ApiKey,
    DailyClose,
    FxRate,
    Instrument,
    InstrumentPrice,
    OmsExecution,
    Portfolio,
    PortfolioCash,
    PortfolioHolding,
    PortfolioTransaction,
)
from brm_app.models.trader import Trader, TraderMove, TraderRole
from brm_app.models.user import Role, User

__all__ = [
    "ApiKey",
    "AppSetting",
    "AuditEvent",
    "CalendarFeed",
    "ClientPresence",
    "DailyClose",
    "Firm",
    "FirmCoverage",
    "FollowUp",
    "FollowUpTrader",
    "FxRate",
    "Instrument",
    "InstrumentPrice",
    "Interaction",
    "InteractionOutcome",
    "InteractionTrader",
    "InteractionType",
    "InteractionTypeOutcome",
    "InteractionVersion",
    "Job",
    "LoginThrottle",
    "Notification",
    "NotificationDelivery",
    "OmsExecution",
    "Portfolio",
    "PortfolioCash",
    "PortfolioHolding",
    "PortfolioTransaction",
    "RecoveryCode",
    "Reminder",
    "Role",
    "Trader",
    "TraderMove",
    "TraderRole",
    "User",
    "UserSession",
    "UserTotp",
]
