"""/compliance/review: the supervisory review queue, its reports and its rules.

Everything shown is what `services/review.py` lets the signed-in user see (never their own
communications; a manager only what was escalated to them). An action opens a dialog that asks
for the comment (and, to escalate, whom to): the service checks it all again.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.auth.rbac import Permission, has
from brm_app.services import review
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.services.pagination import PageRequest
from brm_app.state.base import ServiceMixin, as_id

PAGE = 50
_ACTIONS = ("approve", "escalate", "flag")
_STATUSES = ("open", "escalated", "approved", "flagged", "all")
_REASONS = ("", "lexicon", "attachment", "sample")
_DID = {"approve": "Approved", "escalate": "Escalated", "flag": "Flagged"}


def _item_row(i: review.ReviewItemPublic) -> dict[str, Any]:
    return {
        "id": i.id,
        "firm": i.firm_name,
        "broker": i.broker_name or "(no broker)",
        "source": "Message" if i.source == "message" else "Interaction",
        "link": i.link,
        "at": i.occurred_at.isoformat(),
        "reason": i.reason,
        "rule": i.rule or "",
        "before": i.before,
        "hit": i.hit,
        "after": i.after,
        "status": i.status,
        "assigned_to": i.assigned_to_name or "",
        "overdue": i.overdue,
        "decidable": i.status in ("open", "escalated"),
        # The evidence: every decision, oldest first.
        "evidence": [
            {
                "what": _DID[a.action]
                + (f" to {a.escalated_to_name}" if a.escalated_to_name else "")
                + f" by {a.reviewer_name}",
                "at": a.acted_at.isoformat(),
                "comment": a.comment or "",
            }
            for a in i.actions
        ],
    }


class ReviewState(ServiceMixin, rx.State):
    status: str = "open"
    filter_form_key: int = 0
    reason: str = ""
    offset: int = 0
    has_next: bool = False
    items: list[dict[str, Any]] = []
    error: str = ""
    can_report: bool = False
    can_edit_rules: bool = False
    # The report
    coverage: list[dict[str, Any]] = []
    late: list[dict[str, Any]] = []
    late_count: int = 0
    flags: list[dict[str, Any]] = []
    overdue_days: int = 5
    # The rules
    terms_text: str = ""
    attachments_rule: bool = True
    sample_percent: str = "5"
    rules_errors: dict[str, str] = {}
    rules_form_key: int = 0
    # The action dialog
    dialog_open: bool = False
    dialog_action: str = ""
    dialog_item: int = 0
    dialog_excerpt: str = ""
    targets: list[dict[str, str]] = []
    dialog_errors: dict[str, str] = {}
    saving: bool = False

    @rx.event
    async def load(self) -> Any:
        self.offset, self.dialog_open = 0, False
        return await self._refresh(with_rules=True, first=True)

    async def _refresh(self, with_rules: bool = False, first: bool = False) -> Any:
        status, reason, offset = self.status, self.reason, self.offset

        def fetch(db: Any, *, actor: Any) -> Any:
            nonlocal status
            if first and status == "open" and not has(actor, Permission.REVIEWS_ALL):
                # A manager's queue is what was escalated to them: show that first.
                status = "escalated"
            page = review.list_items(
                db,
                actor=actor,
                status=status,
                reason=reason or None,
                page=PageRequest(offset=offset, limit=PAGE),
            )
            can_report = has(actor, Permission.REVIEWS_ALL)
            report = review.report(db, actor=actor) if can_report else None
            rules = review.read_rules(db, actor=actor) if with_rules else None
            return page, report, rules, can_report, has(actor, Permission.REVIEW_RULES)

        try:
            page, report, rules, self.can_report, self.can_edit_rules = await self._call(fetch)
        except DomainError as exc:
            self.items, self.error = [], exc.message
            return None if isinstance(exc, ValidationFailed) else self._error_event(exc)
        self.error = ""
        if status != self.status:
            self.status = status
            self.filter_form_key += 1
        self.items = [_item_row(i) for i in page.items]
        self.has_next = page.has_next
        if report is not None:
            self.coverage = report.coverage
            self.late = [_item_row(i) for i in report.open_too_long]
            self.late_count = report.open_too_long_count
            self.flags = report.flags_by_rule
            self.overdue_days = report.overdue_days
        if rules is not None:
            self._show_rules(rules)
        return None

    def _show_rules(self, rules: review.ReviewRules) -> None:
        self.terms_text = "\n".join(rules.terms)
        self.attachments_rule = rules.attachments
        self.sample_percent = f"{rules.sample_percent:g}"
        self.rules_form_key += 1

    @rx.event
    async def filter(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        status, reason = form.get("status"), form.get("reason") or ""
        if status not in _STATUSES or reason not in _REASONS:
            self.error = "Choose a status and a reason from the lists."
            return None
        self.status, self.reason, self.offset = str(status), str(reason), 0
        return await self._refresh()

    @rx.event
    async def next_page(self) -> Any:
        if self.has_next:
            self.offset += PAGE
        return await self._refresh()

    @rx.event
    async def prev_page(self) -> Any:
        self.offset = max(0, self.offset - PAGE)
        return await self._refresh()

    @rx.event
    async def start_action(self, item_id: int, action: str) -> Any:
        """Open the dialog for one action on one item (the item must be visible to the user)."""
        checked = as_id(item_id)
        if not checked or action not in _ACTIONS:
            return None
        try:
            item = await self._call(review.get_item, item_id=checked)
            targets = (
                await self._call(review.escalation_targets, item_id=checked)
                if action == "escalate"
                else []
            )
        except DomainError as exc:
            return self._error_event(exc)
        self.dialog_item, self.dialog_action = checked, action
        self.dialog_excerpt = item.before + item.hit + item.after
        self.targets = [
            {"id": str(t["id"]), "label": f"{t['name']} ({t['role']})"} for t in targets
        ]
        self.dialog_errors = {}
        self.dialog_open = True
        return None

    @rx.event
    def set_dialog_open(self, value: bool) -> None:
        """Radix asks to close the dialog (Escape, a click outside); it is opened by start_action."""
        if not value:
            self.dialog_open = False
            self.dialog_errors = {}

    @rx.event
    async def submit_action(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict) or not self.dialog_item:
            return None
        target = form.get("escalate_to") or None
        if self.dialog_action == "escalate":
            if not isinstance(target, str) or not target.isdigit() or len(target) > 10:
                self.dialog_errors = {"escalate_to": "choose whom to escalate it to"}
                return None
            target = int(target)
        self.saving = True
        try:
            await self._call(
                review.act,
                write=True,
                item_id=self.dialog_item,
                action=self.dialog_action,
                comment=form.get("comment"),
                escalate_to=target,
            )
        except ValidationFailed as exc:
            self.saving = False
            self.dialog_errors = self._field_errors(exc) or {"comment": exc.message}
            if "action" in self.dialog_errors:
                self.dialog_errors["comment"] = self.dialog_errors.pop("action")
            return None
        except DomainError as exc:
            self.saving = False
            return self._error_event(exc)
        self.saving, self.dialog_open = False, False
        done = {"approve": "Approved.", "escalate": "Escalated.", "flag": "Flagged."}
        await self._refresh()
        return rx.toast.success(done.get(self.dialog_action, "Saved."))

    @rx.event
    async def save_rules(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return None
        raw = form.get("sample_percent")
        try:
            percent = float(raw) if isinstance(raw, str) and len(raw) <= 10 else None
        except ValueError:
            percent = None
        if percent is None or percent != percent:  # NaN
            self.rules_errors = {"sample_percent": "must be a percentage from 0 to 100"}
            return None
        try:
            rules = await self._call(
                review.update_rules,
                write=True,
                terms=form.get("terms") if isinstance(form.get("terms"), str) else [],
                attachments=form.get("attachments") in ("on", True, "true"),
                sample_percent=percent,
            )
        except ValidationFailed as exc:
            self.rules_errors = self._field_errors(exc) or {"terms": exc.message}
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.rules_errors = {}
        self._show_rules(rules)
        return rx.toast.success("Review rules saved.")
