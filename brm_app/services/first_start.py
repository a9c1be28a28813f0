"""What happens on the first start of an empty database: the first admin, then demo data."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, func, select

from brm_app.auth.actor import SystemActor
from brm_app.models.user import Role, User, UserCreate
from brm_app.services import demo, users
from brm_app.services.demo import DemoResult
from brm_app.settings import Settings

# pg_advisory_xact_lock key of the first start ("brmfirst"): servers started together on one
# empty PostgreSQL database take turns, and the second finds the first admin already there.
FIRST_START_LOCK_KEY = 0x62726D6669727374


@dataclass(frozen=True)
class FirstAdmin:
    email: str
    # Only when generated: printed once, never stored in clear.
    generated_password: str | None


def database_is_empty(db: Session) -> bool:
    return db.exec(select(func.count()).select_from(User)).one() == 0


def create_first_admin(db: Session, *, settings: Settings) -> FirstAdmin:
    created = users.create_user(
        db,
        actor=SystemActor(),
        data=UserCreate(
            email=settings.admin_email,
            name="Administrator",
            role=Role.ADMIN,
            password=settings.admin_password,
        ),
        # The operator chose BRM_ADMIN_PASSWORD; a generated one is to be replaced at first use.
        must_change_password=not settings.admin_password,
    )
    return FirstAdmin(created.user.email, created.initial_password)


@dataclass(frozen=True)
class FirstStartReport:
    admin: FirstAdmin
    demo: DemoResult | None


def initialize(db: Session, *, settings: Settings) -> FirstStartReport | None:
    """On an empty database: the first admin, then the demo data unless BRM_DEMO=0. Else nothing.

    On PostgreSQL one server at a time (a lock held until the caller's transaction ends)."""
    if db.get_bind().dialect.name == "postgresql":
        db.connection().execute(
            sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": FIRST_START_LOCK_KEY}
        )
    if not database_is_empty(db):
        return None
    admin = create_first_admin(db, settings=settings)
    result = None
    if settings.demo:
        result = demo.load(db, credentials_file=settings.data_dir / "demo-credentials.txt")
    return FirstStartReport(admin, result)
