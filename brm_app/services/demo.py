"""Demo data: a small brokerage (a manager, brokers, compliance) to try the app with.

Loaded on the first start of an empty database unless BRM_DEMO=0, or by `brm demo load`. Every
demo account shares one random password, printed once and saved to data/demo-credentials.txt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from brm_app.auth.actor import SystemActor
from brm_app.auth.passwords import generate_password
from brm_app.models.user import Role, User, UserCreate
from brm_app.services import audit, users

DOMAIN = "brokersync.example"

DEMO_STAFF: list[tuple[str, str, Role, str | None]] = [
    # (email local part, name, role, manager's local part)
    ("maria.manager", "Maria Lindqvist", Role.MANAGER, None),
    ("ben.broker", "Ben Okafor", Role.BROKER, "maria.manager"),
    ("carla.broker", "Carla Mendes", Role.BROKER, "maria.manager"),
    ("dev.broker", "Dev Raman", Role.BROKER, "maria.manager"),
    ("chris.compliance", "Chris Halvorsen", Role.COMPLIANCE, None),
]


@dataclass
class DemoResult:
    password: str | None
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def load(db: Session, *, credentials_file: Path | None = None) -> DemoResult:
    """Create the demo users that do not exist yet (safe to run twice)."""
    system = SystemActor(label="system:demo")
    password = generate_password()
    result = DemoResult(password=password)
    by_local: dict[str, int] = {}
    for local, name, role, manager_local in DEMO_STAFF:
        email = f"{local}@{DOMAIN}"
        existing = db.exec(select(User).where(User.email == email)).first()
        if existing is not None:
            by_local[local] = existing.id
            result.skipped.append(email)
            continue
        created = users.create_user(
            db,
            actor=system,
            data=UserCreate(
                email=email,
                name=name,
                role=role,
                password=password,
                manager_id=by_local.get(manager_local) if manager_local else None,
            ),
        )
        by_local[local] = created.user.user_id
        result.created.append(email)
    if not result.created:
        result.password = None
        return result
    audit.record(
        db, actor=system, action="demo.loaded", entity="demo", changes={"users": result.created}
    )
    if credentials_file is not None:
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"Demo accounts (password for all: {password})\n")
            for email in result.created:
                fh.write(f"  {email}\n")
    return result
