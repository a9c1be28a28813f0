"""Bulk actions on a selection of firms (the firm list's checkboxes, or the API): assign
coverage, archive; export goes through services.bulk.exporting with FirmQuery(ids=...).

Each firm goes through the one-firm service (so each is authorized and audited as if changed on
its own page), all in one transaction: one firm the actor may not change and nothing changes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel
from sqlmodel import Session

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.services import firms
from brm_app.services.errors import ValidationFailed
from brm_app.services.validation import require_id

AnyActor = Actor | SystemActor

MAX_SELECTION = 500
BulkAction = Literal["archive", "assign_coverage"]


class BulkResult(BaseModel):
    action: str
    count: int


def selection(firm_ids: object) -> list[int]:
    """Distinct ids, in the order given; 1 to MAX_SELECTION of them."""
    if not isinstance(firm_ids, list) or not firm_ids:
        raise ValidationFailed("choose at least one firm", field="firm_ids")
    if len(firm_ids) > MAX_SELECTION:
        raise ValidationFailed(f"at most {MAX_SELECTION} firms at once", field="firm_ids")
    return list(dict.fromkeys(require_id(i, "firm_ids") for i in firm_ids))


def confirm_text(action: str, count: int) -> str:
    """What the confirmation says (the UI shows it; the count is the selection's)."""
    firms_word = "firm" if count == 1 else "firms"
    if action == "archive":
        return f"Archive {count} {firms_word}? They leave every list; admins can restore them."
    return f"Assign this coverage to {count} {firms_word}?"


def bulk_firms(
    db: Session,
    *,
    actor: AnyActor,
    action: object,
    firm_ids: object,
    primary_broker_id: object = None,
    secondary_broker_ids: object = None,
) -> BulkResult:
    ids = selection(firm_ids)
    if action == "archive":
        require(actor, Permission.FIRMS_ARCHIVE)
        for firm_id in ids:
            firms.archive_firm(db, actor=actor, firm_id=firm_id)
    elif action == "assign_coverage":
        require(actor, Permission.COVERAGE_ASSIGN)
        secondary = [] if secondary_broker_ids is None else secondary_broker_ids
        if not isinstance(secondary, list):
            raise ValidationFailed("must be a list of broker ids", field="secondary_broker_ids")
        for firm_id in ids:
            firms.set_coverage(
                db,
                actor=actor,
                firm_id=firm_id,
                primary_broker_id=primary_broker_id,
                secondary_broker_ids=list(secondary),
            )
    else:
        raise ValidationFailed("must be archive or assign_coverage", field="action")
    return BulkResult(action=str(action), count=len(ids))
