"""All tables, imported here so SQLModel.metadata (and Alembic) sees every one."""

from brm_app.models.audit import AuditEvent
from brm_app.models.auth_records import LoginThrottle, RecoveryCode, UserSession, UserTotp
from brm_app.models.communication import (
    CommunicationLogEntry,
    Conversation,
    ConversationParticipant,
    ConversationRead,
    InboundTriage,
    Message,
    MessageAttachment,
    MessageDelivery,
    MessageRead,
    NotificationPreference,
    QuietHours,
    SmsOptOut,
    WebhookEvent,
)
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
from brm_app.models.trader import Trader, TraderMove, TraderRole
from brm_app.models.user import Role, User

__all__ = [
    "AppSetting",
    "AuditEvent",
    "CalendarFeed",
    "ClientPresence",
    "CommunicationLogEntry",
    "Conversation",
    "ConversationParticipant",
    "ConversationRead",
    "Firm",
    "FirmCoverage",
    "FollowUp",
    "FollowUpTrader",
    "InboundTriage",
    "Interaction",
    "InteractionOutcome",
    "InteractionTrader",
    "InteractionType",
    "InteractionTypeOutcome",
    "InteractionVersion",
    "Job",
    "LoginThrottle",
    "Message",
    "MessageAttachment",
    "MessageDelivery",
    "MessageRead",
    "Notification",
    "NotificationDelivery",
    "NotificationPreference",
    "QuietHours",
    "RecoveryCode",
    "Reminder",
    "Role",
    "SmsOptOut",
    "Trader",
    "TraderMove",
    "TraderRole",
    "User",
    "UserSession",
    "UserTotp",
    "WebhookEvent",
]
