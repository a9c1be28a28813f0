"""Every table a client can name by id has a record rule, or a written reason why it needs none.

`require` refuses records of a type without a rule, so a missing rule shows as "not found"; this
test makes it show earlier, as a failing test naming the table, when a new table is added.
"""

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest
from sqlmodel import SQLModel

import brm_app
import brm_app.api
import brm_app.services
import brm_app.state
from brm_app.auth.rbac import has_record_rule

# Tables that are never loaded by `require`/`load_authorized`, each with the reason.
NO_RECORD_RULE = {
    "User": "only user administration loads accounts by id, and USERS_MANAGE (admins) sees all",
    "UserSession": "found by the hash of its secret token, never by an id from a client",
    "LoginThrottle": "found by email and client address during sign-in, never by id",
    "AuditEvent": "listed whole under AUDIT_VIEW; never loaded by id",
    "AuditSealedValues": "an audit event's encrypted values, read only with the event (audit.py)",
    "EncryptionCanary": "the start-up key check and `brm keys rotate`: no route or handler",
    "KeyRotation": "progress of `brm keys rotate` (the CLI): no route or handler",
    "FirmCoverage": "rows of a firm, reached only through the firm (which has a rule)",
    "TraderMove": "rows of a trader, reached only through the trader (which has a rule)",
    "InteractionVersion": "rows of an interaction, reached only through it (which has a rule)",
    "InteractionTrader": "link rows, reached only through the interaction",
    "FollowUpTrader": "link rows, reached only through the follow-up",
    "Reminder": "rows of a follow-up, reached only through it (or by the scheduler)",
    "Notification": "the service loads only the actor's own (user_id compared: else not found)",
    "NotificationDelivery": "written and sent by the server, never named by a client",
    "CalendarFeed": "the service loads only the actor's own (user_id compared: else not found)",
    "ClientPresence": "keyed by the tab's own client token, written by the server",
    "AppSetting": "one app-wide row by a fixed key, under APP_SETTINGS",
    "InteractionType": "app-wide list (by name), the same for everyone who may log",
    "InteractionOutcome": "app-wide list (by name), the same for everyone who may log",
    "InteractionTypeOutcome": "app-wide list, the same for everyone who may log",
    "TraderRole": "app-wide list (by name), under TRADER_ROLES_MANAGE",
    "Job": "admin-only: JOBS_MANAGE sees every job, loaded by id only to retry it",
    "UserTotp": "the actor's own row (keyed by their user id), or an admin's reset under USERS_MANAGE",
    "RecoveryCode": "found by the hash of the code among the user's own, never by an id from a client",
    "PortfolioTransaction": "rows of a portfolio, reached only through it (the firm's, which has a rule)",
    "Instrument": "app-wide master list, the same for everyone who sees portfolios; admins edit",
    "InstrumentPrice": "market data, the same for everyone; written by the feed",
    "DailyClose": "market data, the same for everyone; written by the feed",
    "FxRate": "market data, the same for everyone; written by the feed",
    "FxDailyRate": "market data (FX history), the same for everyone; written by the feed and admins' imports",
    "PortfolioHolding": "kept by the portfolio service from the ledger; never named by a client",
    "PortfolioCash": "kept by the portfolio service from the ledger; never named by a client",
    "OmsExecution": "found by exec_id inside the OMS service, after the firm's check",
    "ApiKey": "admin-only: API_KEYS_MANAGE sees every key; the OMS finds one by its hash",
    "Message": "loaded by id, then its conversation through conversations.load (which has a rule)",
    "MessageAttachment": "loaded by id, then its conversation through conversations.load",
    "ConversationParticipant": "rows of a conversation, reached only through it",
    "ConversationRead": "the actor's own read state in a conversation they may see",
    "MessageRead": "receipts of messages, reached only through their conversation",
    "MessageSearchTerm": "keyed word digests of messages, read only inside the conversation search",
    "CommunicationLogTerm": "keyed word digests of log entries, read only inside the log search",
    "MessageDelivery": "written by the server, shown with its message, never named by a client",
    "CommunicationLogEntry": "searched whole under COMMS_LOG (compliance, admins); never by id",
    "WebhookEvent": "written by verified provider webhooks, never named by a client",
    "SmsOptOut": "a number (encrypted, by its blind index), written by inbound STOP/START",
    "InboundTriage": "listed whole under COMMS_LOG (compliance, admins)",
    "NotificationPreference": "the actor's own rows (keyed by their user id)",
    "QuietHours": "the actor's own row (keyed by their user id)",
    "ReviewEvidence": "shown with its review item (which has a rule), never named alone",
    "ReviewScan": "the selection job's own bookmark, never named by a client",
    "RegulatorExport": "whole-book compliance records: REGULATOR_EXPORT sees every one",
    "LegalHold": "whole-book compliance records: LEGAL_HOLDS sees and releases every one",
    "ReadTrace": "whole-book compliance records: READ_TRACES_VIEW lists every one, none by id",
    "PurgeGrant": "the retention purge's own row inside its transaction, never named by a client",
    "SavedView": "the actor's own rows (keyed by their user id)",
    "PortfolioValuation": "kept by the valuation job; read through the portfolio (which has a rule)",
    "ValuationState": "the valuation job's own bookmark per portfolio, never named by a client",
}


def _import_all(package) -> None:
    """Load every module that defines a table (rules themselves come from bootstrap.wire())."""
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)


def _tables() -> dict[str, type]:
    _import_all(brm_app.services)
    _import_all(brm_app.api)
    _import_all(brm_app.state)
    found = {
        mapper.class_.__name__: mapper.class_
        for mapper in SQLModel._sa_registry.mappers
        if mapper.class_.__module__.startswith("brm_app.")
    }
    assert found, "no tables found"
    return found


TABLES = _tables()


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_has_a_record_rule_or_a_reason(name):
    ruled = has_record_rule(TABLES[name])
    if name in NO_RECORD_RULE:
        assert not ruled, f"{name} has a rule now: take it off the list of exceptions"
    else:
        assert ruled, (
            f"{name} has no record rule: install one in bootstrap.wire() (require refuses "
            "its records until then), or add it to NO_RECORD_RULE with the reason"
        )


def test_the_exceptions_name_existing_tables():
    assert set(NO_RECORD_RULE) <= set(TABLES)


def _models_loaded_by_id() -> set[str]:
    """The model named in every `load_authorized(db, actor, Model, record_id, ...)` call in the app:
    the one path by which routes and handlers load a record by an id they were given."""
    names: set[str] = set()
    root = Path(brm_app.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                fn = node.func
                called = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", None)
                if called == "load_authorized":
                    model = node.args[2]
                    assert isinstance(model, ast.Name), f"{path}: pass the model by name"
                    names.add(model.id)
    return names


LOADED_BY_ID = _models_loaded_by_id()


def test_the_source_scan_finds_the_known_loaders():
    assert {"Firm", "Trader", "Interaction", "FollowUp"} <= LOADED_BY_ID


@pytest.mark.parametrize("name", sorted(LOADED_BY_ID))
def test_every_record_loaded_by_id_has_a_rule(name):
    assert name in TABLES
    assert has_record_rule(TABLES[name])
    assert name not in NO_RECORD_RULE
