"""The access table: one row per public handler of every page state ("State.handler").

A row names the roles for which the handler has its effect (loads what it shows, saves what it
saves). Every other signed-in role must get no effect and no change; an anonymous tab or one
whose session expired is sent to the sign-in page and the handler does not run (LoginState, the
sign-in page, is the one public state). Two kinds of rows are not role sets:

- UI: opens or closes a dialog, or keeps what was typed; it runs for any signed-in user and
  never reads or writes a record.
- PUBLIC: runs for everyone, signed in or not (the sign-in page).

Roles: admin, compliance, manager, broker (covers firm F), broker2 (another broker, covers
nothing of F's), trader (portal user whose own trader record is at F), and anonymous.

`tests/state/test_handler_harness.py` fails when a handler has no row or a row names no
handler; the matrix tests beside it take their expected roles from here. A later issue's new
handler gets its row here, and its probe in the matrix test of its page.
"""

from __future__ import annotations

ROLES = ("admin", "compliance", "manager", "broker", "broker2", "trader")
SIGNED_IN = frozenset(ROLES)
ANONYMOUS = "anonymous"

UI = "ui"
PUBLIC = "public"

EVERYONE = SIGNED_IN
STAFF = frozenset({"admin", "compliance", "manager", "broker", "broker2"})
READERS = frozenset({"admin", "compliance", "manager", "broker", "trader"})
VIEWERS = frozenset({"admin", "compliance", "manager", "broker"})  # see F's records
EDITORS = frozenset({"admin", "manager", "broker"})
IMPORTERS = frozenset({"admin", "manager", "broker", "broker2"})
CREATORS = IMPORTERS
TEAM = frozenset({"admin", "compliance", "manager"})
MANAGERS = frozenset({"admin", "manager"})
AUDITORS = frozenset({"admin", "compliance"})
ADMIN = frozenset({"admin"})
OWNER = frozenset({"broker"})  # the broker's own notification, feed

Row = frozenset[str] | str

MATRIX: dict[str, Row] = {
    # ---- sign-in page and app shell ----
    "LoginState.load": PUBLIC,
    "LoginState.submit": PUBLIC,
    "SessionState.load": EVERYONE,
    "SessionState.sign_out": EVERYONE,
    # The idle sign-out warning and the command palette (issue 16).
    "IdleState.check": UI,
    "IdleState.idle_for": UI,
    "IdleState.stay": UI,
    "IdleState.set_open": UI,
    "PaletteState.show": EVERYONE,
    "PaletteState.search": EVERYONE,
    "PaletteState.set_open": UI,
    "PaletteState.key": UI,
    "PaletteState.choose": UI,
    # The firm list's saved views (one's own) and bulk actions on a selection.
    "FirmListToolsState.load": EVERYONE,
    "FirmListToolsState.apply_view": EVERYONE,
    "FirmListToolsState.save_view": EVERYONE,
    "FirmListToolsState.delete_view": EVERYONE,
    "FirmListToolsState.confirm": EDITORS,
    "FirmListToolsState.set_save_open": UI,
    "FirmListToolsState.toggle_column": UI,
    "FirmListToolsState.toggle": UI,
    "FirmListToolsState.toggle_page": UI,
    "FirmListToolsState.clear": UI,
    "FirmListToolsState.ask": UI,
    "FirmListToolsState.set_bulk_open": UI,
    "FirmListToolsState.set_bulk_primary": UI,
    # ---- dashboard, my account ----
    "DashboardState.load": EVERYONE,
    "DashboardState.set_due_scope": STAFF,
    "AccountState.load": STAFF,
    "AccountState.save_profile": EVERYONE,
    "AccountState.change_password": EVERYONE,
    "AccountState.create_feed": STAFF,
    "AccountState.revoke_feed": OWNER,
    "AccountState.hide_feed_url": UI,
    "AccountState.set_email_reminders": EVERYONE,  # one's own setting (profile.edit)
    # ---- sign-in security (also while a password change or 2FA set-up is pending) ----
    "SecurityState.load": EVERYONE,
    "SecurityState.change_password": EVERYONE,
    "SecurityState.start_enrolment": EVERYONE,
    "SecurityState.confirm_enrolment": EVERYONE,
    "SecurityState.disable": EVERYONE,
    "SecurityState.renew_recovery_codes": EVERYONE,
    "SecurityState.cancel_enrolment": UI,
    "SecurityState.hide_recovery_codes": UI,
    # ---- /firms ----
    "FirmsState.load": READERS,
    "FirmsState.search": READERS,
    "FirmsState.set_filter": READERS,
    "FirmsState.sort_by": READERS,
    "FirmsState.next_page": READERS,
    "FirmsState.prev_page": READERS,
    "FirmsState.set_archived": ADMIN,
    "FirmsState.create": CREATORS,
    "FirmsState.open_new": UI,
    "FirmsState.set_dialog_open": UI,
    # ---- /firms/[firm_id] ----
    # ---- /firms/[firm_id]/portfolio (the world's portal trader lacks view_portfolio) ----
    "PortfolioState.load": VIEWERS,
    "PortfolioState.refresh": VIEWERS,
    "PortfolioState.tx_next": VIEWERS,
    "PortfolioState.tx_prev": VIEWERS,
    "PortfolioState.open_book": EDITORS,
    "PortfolioState.set_book_open": UI,
    "PortfolioState.set_book_kind": UI,
    "PortfolioState.book": EDITORS,
    "PortfolioState.ask_reverse": EDITORS,
    "PortfolioState.set_reverse_open": UI,
    "PortfolioState.reverse": EDITORS,
    "PortfolioState.open_settings": EDITORS,
    "PortfolioState.set_settings_open": UI,
    "PortfolioState.save_settings": EDITORS,
    "PortfolioState.open_import": EDITORS,
    "PortfolioState.set_imp_open": UI,
    "PortfolioState.imp_upload_started": UI,
    "PortfolioState.imp_uploaded": EDITORS,
    "PortfolioState.imp_commit": EDITORS,
    # ---- /firms/[firm_id]/performance, /reports/team ----
    "PerformanceState.load": VIEWERS,
    "PerformanceState.set_period": VIEWERS,
    "PerformanceState.set_benchmark": VIEWERS,
    "PerformanceState.apply_custom": VIEWERS,
    "PerformanceState.download_pdf": VIEWERS,
    "PerformanceState.download_csv": VIEWERS,
    "PerformanceState.set_email_open": UI,
    "PerformanceState.email_pdf": frozenset({"manager", "broker"}),
    "TeamReportState.load": TEAM,
    "TeamReportState.set_broker_filter": TEAM,
    "TeamReportState.export_csv": TEAM,
    # ---- /admin/instruments: the instrument master and the OMS's API keys ----
    "InstrumentsState.load": ADMIN,
    "InstrumentsState.next_page": ADMIN,
    "InstrumentsState.prev_page": ADMIN,
    "InstrumentsState.search": ADMIN,
    "InstrumentsState.open_new": UI,
    "InstrumentsState.open_edit": ADMIN,
    "InstrumentsState.set_edit_open": UI,
    "InstrumentsState.set_edit_active": UI,
    "InstrumentsState.save": ADMIN,
    "InstrumentsState.create_key": ADMIN,
    "InstrumentsState.hide_key": UI,
    "InstrumentsState.revoke_key": ADMIN,
    "InstrumentsState.open_import": UI,
    "InstrumentsState.set_imp_open": UI,
    "InstrumentsState.imp_upload_started": UI,
    "InstrumentsState.imp_uploaded": ADMIN,
    "InstrumentsState.imp_commit": ADMIN,
    # FX history from CSV on the same page.
    "FxImportState.open_import": UI,
    "FxImportState.set_imp_open": UI,
    "FxImportState.imp_upload_started": UI,
    "FxImportState.imp_uploaded": ADMIN,
    "FxImportState.imp_commit": ADMIN,
    "FirmState.load": READERS,
    "FirmState.search_traders": VIEWERS,
    "FirmState.traders_next": VIEWERS,
    "FirmState.traders_prev": VIEWERS,
    "FirmState.open_edit": EDITORS | {"compliance", "trader"},
    "FirmState.save": EDITORS,
    "FirmState.save_coverage": MANAGERS,
    "FirmState.archive": EDITORS,
    "FirmState.restore": ADMIN,
    "FirmState.search_merge": VIEWERS,
    "FirmState.merge": MANAGERS,
    "FirmState.open_edit_trader": VIEWERS,
    "FirmState.save_trader": EDITORS,
    "FirmState.remove_trader": EDITORS,
    "FirmState.search_move": VIEWERS,
    "FirmState.move": EDITORS,
    "FirmState.refresh_activity": VIEWERS,
    "FirmState.tl_load_more": VIEWERS,
    "FirmState.set_tl_type": VIEWERS,
    "FirmState.set_tl_outcome": VIEWERS,
    "FirmState.open_coverage": MANAGERS,
    **{
        f"FirmState.{h}": UI
        for h in (
            "ask_move",
            "ask_remove",
            "close_reveal",
            "open_merge",
            "open_new_trader",
            "pick_merge",
            "pick_move",
            "set_archive_open",
            "set_coverage_open",
            "set_edit_open",
            "set_merge_open",
            "set_move_open",
            "set_move_reason",
            "set_remove_open",
            "set_trader_open",
        )
    },
    # ---- /traders, /traders/[trader_id] ----
    "TradersState.load": VIEWERS,
    "TradersState.search": VIEWERS,
    "TradersState.set_status": VIEWERS,
    "TradersState.set_role": VIEWERS,
    "TradersState.sort_by": VIEWERS,
    "TradersState.next_page": VIEWERS,
    "TradersState.prev_page": VIEWERS,
    "TradersState.add_role": ADMIN,
    "TradersState.remove_role": ADMIN,
    "TradersState.set_new_role": UI,
    "TradersState.set_roles_open": UI,
    # The trader list's saved views (one's own; issue 16).
    "TraderListToolsState.load": EVERYONE,
    "TraderListToolsState.apply_view": EVERYONE,
    "TraderListToolsState.save_view": EVERYONE,
    "TraderListToolsState.delete_view": EVERYONE,
    "TraderListToolsState.set_save_open": UI,
    "TraderListToolsState.toggle_column": UI,
    "TraderState.load": VIEWERS,
    "TraderState.open_edit": VIEWERS,
    "TraderState.reveal_contact": VIEWERS,
    "TraderState.save": EDITORS,
    "TraderState.refresh_activity": VIEWERS,
    "TraderState.tl_load_more": VIEWERS,
    "TraderState.set_tl_type": VIEWERS,
    "TraderState.set_tl_outcome": VIEWERS,
    "TraderState.close_reveal": UI,
    "TraderState.set_edit_open": UI,
    # ---- the log-interaction and follow-up dialogs ----
    "ActivityState.open_log": EDITORS,
    "ActivityState.save_interaction": EDITORS,
    "ActivityState.open_edit_interaction": EDITORS,
    "ActivityState.open_follow_up": EDITORS,
    "ActivityState.save_follow_up": EDITORS,
    "ActivityState.open_edit_follow_up": EDITORS,
    "ActivityState.search_fu_firm": READERS,
    "ActivityState.pick_fu_firm": EDITORS,
    "ActivityState.set_fu_open": UI,
    "ActivityState.set_log_open": UI,
    "ActivityState.set_log_type": UI,
    # ---- calendar ----
    "CalendarState.load": STAFF,
    "CalendarState.refresh": STAFF,
    "CalendarState.set_view": STAFF,
    "CalendarState.shift": STAFF,
    "CalendarState.today": STAFF,
    "CalendarState.open_day": STAFF,
    "CalendarState.opened_at_width": STAFF,  # the first load, once the width is known
    "CalendarState.pick": UI,
    "CalendarState.set_scope": TEAM,
    "CalendarState.move": EDITORS,
    "CalendarState.ask_move": UI,
    "CalendarState.set_move_day": UI,
    "CalendarState.set_move_open": UI,
    "CalendarState.set_move_time": UI,
    # ---- the bell and /notifications: only ever your own ----
    # ---- communications (the services decide which conversations: see the API matrix) ----
    "MessageBadgeState.load": EVERYONE,
    "CommsState.load": EVERYONE,
    "CommsState.open": EVERYONE,
    "CommsState.search": EVERYONE,
    "CommsState.send": frozenset({"manager", "broker", "broker2", "trader"}),
    "CommsState.start_with_trader": frozenset({"manager", "broker", "broker2"}),
    "CommsState.resend": frozenset({"manager", "broker", "broker2"}),
    "CommsState.dismiss": frozenset({"manager", "broker", "broker2"}),
    "CommsState.uploaded": UI,
    "CommsState.drop_pending": UI,
    "CommsState.set_channel": UI,
    "CommsState.set_to_trader": UI,
    "CommsState.start_correction": UI,
    "CommsState.cancel_correction": UI,
    "CommsState.show_tab": UI,
    "PreferencesState.load": EVERYONE,  # one's own
    "PreferencesState.toggle": EVERYONE,
    "PreferencesState.save_contact": EVERYONE,
    "CommLogState.load": AUDITORS,
    "CommLogState.search": AUDITORS,
    "CommLogState.assign_triage": AUDITORS,
    "CommLogState.dismiss_triage": AUDITORS,
    # Choosing a trader, broker or firm by name (the filters, the triage's assignee).
    "CommLogState.find": AUDITORS,
    "CommLogState.pick": AUDITORS,
    "CommLogState.unpick": AUDITORS,
    "CommLogState.start_assigning": UI,
    "CommLogState.cancel_assigning": UI,
    # ---- supervisory review (managers: only what was escalated to them) ----
    "ReviewState.load": TEAM,
    "ReviewState.filter": TEAM,
    "ReviewState.next_page": TEAM,
    "ReviewState.prev_page": TEAM,
    "ReviewState.start_action": AUDITORS,
    "ReviewState.set_dialog_open": UI,
    "ReviewState.submit_action": AUDITORS,
    "ReviewState.save_rules": ADMIN,
    # ---- regulator exports (compliance, admins) ----
    "ExportsState.load": AUDITORS,
    "ExportsState.refresh": AUDITORS,
    "ExportsState.set_scope": UI,
    "ExportsState.find": AUDITORS,
    "ExportsState.choose": UI,
    "ExportsState.request": AUDITORS,
    # ---- legal holds and read traces (compliance, admins) ----
    "HoldsState.load": AUDITORS,
    "HoldsState.set_show_released": AUDITORS,
    "HoldsState.set_scope": UI,
    "HoldsState.find": AUDITORS,
    "HoldsState.choose": UI,
    "HoldsState.place": AUDITORS,
    "HoldsState.release": AUDITORS,
    "ReadTracesState.load": AUDITORS,
    "ReadTracesState.filter": AUDITORS,
    "ReadTracesState.next_page": AUDITORS,
    "ReadTracesState.prev_page": AUDITORS,
    "BellState.load": OWNER,
    "BellState.refresh": OWNER,
    "BellState.open": OWNER,
    "BellState.mark_all_read": OWNER,
    "NotificationsState.load": OWNER,
    "NotificationsState.set_unread_only": OWNER,
    "NotificationsState.next_page": OWNER,
    "NotificationsState.prev_page": OWNER,
    "NotificationsState.mark_read": OWNER,
    "NotificationsState.mark_all_read": OWNER,
    # ---- one interaction, one follow-up ----
    "InteractionPageState.load": VIEWERS,
    "InteractionPageState.void": ADMIN,
    "InteractionPageState.set_void_open": UI,
    "InteractionPageState.set_void_reason": UI,
    "InteractionPageState.toggle_raw": UI,
    "FollowUpPageState.load": VIEWERS,
    "FollowUpPageState.set_status": EDITORS,
    "FollowUpPageState.snooze": EDITORS,
    "FollowUpPageState.reschedule": EDITORS,
    "FollowUpPageState.set_move_day": UI,
    "FollowUpPageState.set_move_time": UI,
    # ---- settings (admins) ----
    "SettingsState.load": ADMIN,
    "SettingsState.save_rules": ADMIN,
    "SettingsState.save_security": ADMIN,
    "SettingsState.toggle_active": ADMIN,
    "SettingsState.toggle_outcome": ADMIN,
    "SettingsState.add_type": ADMIN,
    "SettingsState.add_outcome": ADMIN,
    "SettingsState.set_new_outcome": UI,
    "SettingsState.set_new_type": UI,
    "RetentionState.load": ADMIN,
    "RetentionState.save": ADMIN,
    # ---- user administration (admins) ----
    "AdminUsersState.load": ADMIN,
    "AdminUsersState.search": ADMIN,
    "AdminUsersState.filter_role": ADMIN,
    "AdminUsersState.filter_status": ADMIN,
    "AdminUsersState.next_page": ADMIN,
    "AdminUsersState.prev_page": ADMIN,
    "AdminUsersState.open_new": ADMIN,
    "AdminUsersState.open_edit": ADMIN,
    "AdminUsersState.save": ADMIN,
    "AdminUsersState.ask": ADMIN,
    "AdminUsersState.confirm": ADMIN,
    "AdminUsersState.unlock": ADMIN,
    "AdminUsersState.close_reveal": UI,
    "AdminUsersState.set_confirm_open": UI,
    "AdminUsersState.set_dialog_open": UI,
    # ---- background jobs (admins: jobs.manage) ----
    "JobsState.load": ADMIN,
    "JobsState.set_state_filter": ADMIN,
    "JobsState.next_page": ADMIN,
    "JobsState.prev_page": ADMIN,
    "JobsState.retry": ADMIN,
    # ---- audit trail (admins, compliance) ----
    "AuditState.load": AUDITORS,
    "AuditState.verify": AUDITORS,
    "AuditState.next_page": AUDITORS,
    "AuditState.prev_page": AUDITORS,
    "AuditState.set_actor_q": AUDITORS,
    "AuditState.set_date_from": AUDITORS,
    "AuditState.set_date_to": AUDITORS,
    "AuditState.set_entity": AUDITORS,
    "AuditState.clear_filters": AUDITORS,
    "AuditState.toggle": UI,
    "AuditState.reveal_values": AUDITORS,
    # ---- CSV import (whoever may import) ----
    "ImportState.load": IMPORTERS,
    "ImportState.uploaded": IMPORTERS,
    "ImportState.start_import": IMPORTERS,
    "ImportState.download_rejected": IMPORTERS,
    "ImportState.download_template": UI,
    "ImportState.set_kind": UI,
    "ImportState.upload_started": UI,
    "ImportState.set_mapping": UI,
    "ImportState.set_default_broker": UI,
    "ImportState.set_dry_run": UI,
    "ImportState.start_over": UI,
}

# Reflex gives every state `setvar(var_name, value)`: it only calls the state's own `set_<var>`
# handler, each of which has its row above. A row per state says so.
SETVAR = "setvar"


def expected(row_key: str, role: str) -> str:
    """What a role gets from a row: "effect", "nothing" (signed in, refused or not shown),
    "login" (no session: the sign-in page, the handler does not run) or "ui"."""
    row = MATRIX[row_key]
    if row == PUBLIC:
        return "effect"
    if role == ANONYMOUS:
        return "login"
    if row == UI:
        return "ui"
    return "effect" if role in row else "nothing"
