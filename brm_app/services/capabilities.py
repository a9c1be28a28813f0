"""What the signed-in user may do with one record: the answers the UI shows and hides actions by.

One function per kind of record. Each asks the same rules the services enforce (the role's
permissions, the record rules of `rbac.require`, and the state of the record: archived, voided),
so a page never re-derives a permission from a role name, and a button shown is an action the
service accepts. The services still check every action: these answers only decide what is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, has, require
from brm_app.models.firm import Firm
from brm_app.services import access, firms, follow_ups, interactions, traders
from brm_app.services.errors import NotFound, PermissionDenied

AnyActor = Actor | SystemActor
P = Permission


def allows(db: Session, actor: AnyActor, permission: Permission, record: Any) -> bool:
    """`require` as a question: may the actor do this to this record?"""
    try:
        require(actor, permission, record, db=db)
    except (PermissionDenied, NotFound):
        return False
    return True


@dataclass(frozen=True)
class BookCapabilities:
    """The book as a whole (firm list, dashboard) for the signed-in user."""

    own_book: bool  # works only the firms they cover: "My firms" by default, no other's book
    choose_coverage: bool  # picks a new firm's brokers (else becomes its primary broker)
    filter_by_broker: bool  # lists firms by the broker covering them
    team_follow_ups: bool  # watches their team's follow-ups rather than their own


def for_book(db: Session, *, actor: AnyActor) -> BookCapabilities:
    own = access.works_own_book(actor)
    return BookCapabilities(
        own_book=own,
        choose_coverage=has(actor, P.FIRMS_CREATE) and not own,
        filter_by_broker=firms.may_list_brokers(actor) and not own,
        team_follow_ups=follow_ups.oversees_team(actor),
    )


@dataclass(frozen=True)
class FirmCapabilities:
    edit: bool  # the profile (name, LEI, address, status, tier, notes)
    assign_coverage: bool
    merge: bool  # merge a duplicate into this firm
    archive: bool
    restore: bool
    edit_traders: bool  # add, edit, move and remove its traders
    grant_portal: bool  # give its traders portal access
    log_activity: bool  # log interactions and plan follow-ups


def firm_capabilities(db: Session, actor: AnyActor, firm: Firm) -> FirmCapabilities:
    """For a firm the actor may see (load it with `firms.load`)."""
    live = firm.archived_at is None

    def may(permission: Permission) -> bool:
        return live and allows(db, actor, permission, firm)

    return FirmCapabilities(
        edit=may(P.FIRMS_EDIT),
        assign_coverage=may(P.COVERAGE_ASSIGN),
        merge=may(P.FIRMS_MERGE),
        archive=may(P.FIRMS_ARCHIVE),
        restore=not live and allows(db, actor, P.FIRMS_RESTORE, firm),
        edit_traders=may(P.TRADERS_EDIT),
        grant_portal=may(P.TRADERS_EDIT) and has(actor, P.TRADER_PORTAL_MANAGE),
        log_activity=may(P.INTERACTIONS_LOG),
    )


def for_firm(db: Session, *, actor: AnyActor, firm_id: object) -> FirmCapabilities:
    return firm_capabilities(db, actor, firms.load(db, actor, firm_id))


@dataclass(frozen=True)
class TraderCapabilities:
    edit: bool  # edit, move to another firm, remove
    grant_portal: bool
    log_activity: bool


def for_trader(db: Session, *, actor: AnyActor, trader_id: object) -> TraderCapabilities:
    trader = traders.load(db, actor, trader_id)
    firm = db.get(Firm, trader.firm_id)
    if firm is None:  # a trader's firm always exists (foreign key); this narrows the type
        raise NotFound("Trader")
    in_firm = firm_capabilities(db, actor, firm)
    edit = trader.archived_at is None and allows(db, actor, P.TRADERS_EDIT, trader)
    return TraderCapabilities(
        edit=edit,
        grant_portal=edit and has(actor, P.TRADER_PORTAL_MANAGE),
        log_activity=trader.archived_at is None and in_firm.log_activity,
    )


@dataclass(frozen=True)
class InteractionCapabilities:
    edit: bool  # save a new version
    void: bool


def for_interaction(
    db: Session, *, actor: AnyActor, interaction_id: object
) -> InteractionCapabilities:
    row = interactions.load(db, actor, interaction_id)
    live = row.voided_at is None
    return InteractionCapabilities(
        edit=live
        and allows(db, actor, P.INTERACTIONS_LOG, row)
        and interactions.may_edit(actor, row),
        void=live and allows(db, actor, P.INTERACTIONS_VOID, row),
    )


@dataclass(frozen=True)
class FollowUpCapabilities:
    edit: bool  # change, reschedule, reassign, complete, cancel, reopen
    snooze: bool


def for_follow_up(db: Session, *, actor: AnyActor, follow_up_id: object) -> FollowUpCapabilities:
    fu = follow_ups.load(db, actor, follow_up_id)
    edit = allows(db, actor, P.FOLLOW_UPS_EDIT, fu)
    return FollowUpCapabilities(edit=edit, snooze=edit and follow_ups.may_snooze(actor, fu))


def home_path(db: Session, *, actor: AnyActor) -> str:
    """Where the user's home is: a portal trader's is their portal, everyone else's the
    dashboard."""
    from brm_app.models.user import Role

    return "/portal" if isinstance(actor, Actor) and actor.role == Role.TRADER else "/"
