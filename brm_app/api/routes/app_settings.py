"""Settings admins change in the app: /api/v1/settings/relationship-rules (contact intervals,
escalation, default reminders), /api/v1/settings/security (the roles that must use two-factor
sign-in) and the interaction types and outcomes (admins only).

Every rule lives in services.app_settings and services.interaction_config.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.convertors import Convertor, register_url_convertor

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.interactions import InteractionTypeOut
from brm_app.api.routes.params import NoNul
from brm_app.api.schemas import ERRORS
from brm_app.models.fields import name_text
from brm_app.models.user import Role
from brm_app.services import app_settings, interaction_config
from brm_app.services.interaction_config import TypeConfig

router = ApiRouter(prefix="/api/v1", tags=["settings"], responses=ERRORS)

# A new type's or outcome's name (lookups of existing ones take any checked text: TypeName).
Name = name_text(60)
TypeName = Annotated[
    str, Path(min_length=1, max_length=60, description="An interaction type's name"), NoNul
]
# strict: JSON numbers and booleans only (lax mode read `0` as false and `false` as 0).
ContactDays = Annotated[int, Field(strict=True, ge=1, le=3650)]


class _TypeNameConvertor(Convertor[str]):
    """A type's name in a path: it may hold slashes (like `:path`), but `/outcomes` at the end
    is the outcomes resource, so `PATCH /interaction-types/Call/outcomes` is a 405 rather than
    a PATCH of a type named "Call/outcomes"."""

    regex = r"(?:(?!/outcomes$).)+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("type_name", _TypeNameConvertor())


class ContactDaysIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    A: ContactDays
    B: ContactDays
    C: ContactDays


class RulesIn(BaseModel):
    """The whole rule set (send every field; GET answers the current one)."""

    model_config = ConfigDict(extra="forbid")
    contact_days: ContactDaysIn = Field(
        description="Days without an interaction after which a firm of each tier is due"
    )
    overdue_escalation_days: int = Field(
        strict=True,
        ge=0,
        le=365,
        description="Days past due after which the assignee's manager is told",
    )
    default_reminder_minutes: list[Annotated[int, Field(strict=True, ge=0, le=30 * 24 * 60)]] = (
        Field(max_length=5, description="Reminders on a new follow-up: minutes before it is due")
    )


class RulesOut(BaseModel):
    contact_days: dict[str, int]
    overdue_escalation_days: int
    default_reminder_minutes: list[int]

    @classmethod
    def of(cls, rules: app_settings.RelationshipRules) -> RulesOut:
        return cls(
            contact_days=dict(rules.contact_days),
            overdue_escalation_days=rules.overdue_escalation_days,
            default_reminder_minutes=list(rules.default_reminder_minutes),
        )


class SecurityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mfa_required_roles: list[Role] = Field(
        max_length=len(Role),
        description="Roles whose users must sign in with a one-time code too (they set it up "
        "at their next sign-in before anything else)",
    )


class SecurityOut(BaseModel):
    mfa_required_roles: list[Role]


class TypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    outcomes: list[Name] | None = Field(
        default=None,
        max_length=50,
        description="The outcomes it allows; default: every outcome but 'No answer'",
    )


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name


class OutcomesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcomes: list[Name] = Field(max_length=50, description="Every outcome the type allows")


class TypeActiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool = Field(
        strict=True, description="false retires the type: no new interactions of it"
    )


def _types(cfg: list[TypeConfig]) -> list[InteractionTypeOut]:
    return [
        InteractionTypeOut(name=t.name, active=t.active, built_in=t.built_in, outcomes=t.outcomes)
        for t in cfg
    ]


@router.get("/settings/relationship-rules", response_model=RulesOut)
def get_rules(db: DB, actor: CurrentActor) -> RulesOut:
    """Contact intervals per tier, the escalation delay and the default reminders (admins)."""
    return RulesOut.of(app_settings.read_rules(db, actor=actor))


@router.get("/settings/security", response_model=SecurityOut)
def get_security(db: DB, actor: CurrentActor) -> SecurityOut:
    """The roles that must use two-factor sign-in (admins)."""
    rules = app_settings.read_security(db, actor=actor)
    return SecurityOut(mfa_required_roles=[Role(r) for r in rules.mfa_required_roles])


@router.put("/settings/security", response_model=SecurityOut)
def put_security(body: SecurityIn, db: DB, actor: CurrentActor) -> SecurityOut:
    """Replace the roles that must use two-factor sign-in (admins; audited)."""
    rules = app_settings.update_security(
        db, actor=actor, mfa_required_roles=[r.value for r in body.mfa_required_roles]
    )
    return SecurityOut(mfa_required_roles=[Role(r) for r in rules.mfa_required_roles])


@router.put("/settings/relationship-rules", response_model=RulesOut)
def put_rules(body: RulesIn, db: DB, actor: CurrentActor) -> RulesOut:
    """Replace the rules (admins)."""
    return RulesOut.of(
        app_settings.update_rules(
            db,
            actor=actor,
            contact_days=body.contact_days.model_dump(),
            overdue_escalation_days=body.overdue_escalation_days,
            default_reminder_minutes=list(body.default_reminder_minutes),
        )
    )


@router.post("/interaction-types", response_model=list[InteractionTypeOut], status_code=201)
def add_type(body: TypeIn, db: DB, actor: CurrentActor) -> list[InteractionTypeOut]:
    """Add an interaction type (admins). Answers every type, retired ones included."""
    return _types(
        interaction_config.add_type(
            db,
            actor=actor,
            name=body.name,
            outcomes=list(body.outcomes) if body.outcomes is not None else None,
        )
    )


@router.post("/interaction-outcomes", response_model=list[str], status_code=201)
def add_outcome(body: OutcomeIn, db: DB, actor: CurrentActor) -> list[str]:
    """Add an outcome (admins); then allow it for types with
    `PUT /interaction-types/{name}/outcomes`. Answers every outcome."""
    return interaction_config.add_outcome(db, actor=actor, name=body.name)


@router.put("/interaction-types/{name:path}/outcomes", response_model=list[InteractionTypeOut])
def set_outcomes(
    name: TypeName, body: OutcomesIn, db: DB, actor: CurrentActor
) -> list[InteractionTypeOut]:
    """Replace the outcomes a type allows (admins); earlier interactions keep theirs."""
    return _types(
        interaction_config.set_allowed_outcomes(
            db, actor=actor, type_name=name, outcomes=list(body.outcomes)
        )
    )


@router.patch("/interaction-types/{name:type_name}", response_model=list[InteractionTypeOut])
def set_active(
    name: TypeName, body: TypeActiveIn, db: DB, actor: CurrentActor
) -> list[InteractionTypeOut]:
    """Retire a type (`active: false`; old interactions keep it) or bring it back (admins)."""
    return _types(
        interaction_config.set_type_active(db, actor=actor, type_name=name, active=body.active)
    )
