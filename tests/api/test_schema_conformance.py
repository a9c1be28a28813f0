"""The OpenAPI document says what the server enforces: Schemathesis with every check, over every
operation of /api/openapi.json, as each role (admin, compliance, manager, broker, portal trader),
on the demo book (SQLite, and PostgreSQL when BRM_TEST_DATABASE_URL is set), finds no failure.

Configuration is the committed schemathesis.toml (the CLI reads the same file): bounded,
derandomized generation, and per operation the statuses a valid request may still get and the
checks that do not apply, each with its reason. Set BRM_SCHEMA_EXAMPLES (e.g. 100) and
BRM_SCHEMA_FULL=1 to search harder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import schemathesis
from schemathesis.engine import events, from_schema
from sqlmodel import select

from brm_app.api.app import create_api
from brm_app.auth import tokens
from brm_app.db import unit_of_work
from brm_app.models.firm import Firm
from brm_app.models.trader import TraderPermission, TraderWrite
from brm_app.models.user import Role, User, email_index
from brm_app.services import demo, traders
from brm_app.services.authentication import actor_of
from brm_app.settings import get_settings
from tests.factories import make_user

CONFIG = Path(__file__).resolve().parents[2] / "schemathesis.toml"
ROLES = ("admin", "compliance", "manager", "broker", "trader")
# The coverage phase (every boundary and every negation of every parameter, undeclared methods)
# is deterministic and the slow part (a minute or two): it runs once, as the broker on SQLite (as
# the issue found it). Every role on every database gets the examples, fuzzing and stateful
# phases with fewer examples. BRM_SCHEMA_FULL=1 runs every phase as every role on each database.
FULL = {("sqlite", "broker")}
LIGHT_EXAMPLES = 3
DEMO = {
    "compliance": "chris.compliance@brokersync.example",
    "manager": "maria.manager@brokersync.example",
    "broker": "ben.broker@brokersync.example",
}


def _seed() -> dict[str, int]:
    """The demo book and staff, an admin, and a portal trader at one of the manager's firms:
    each role's user id."""
    admin = make_user(Role.ADMIN)
    with unit_of_work(write=True) as db:
        demo.load(db)
    with unit_of_work(write=True) as db:
        ids = {
            r: db.exec(select(User.id).where(User.email_bidx == email_index(e))).one()
            for r, e in DEMO.items()
        }
        manager = actor_of(db.get(User, ids["manager"]), ip="127.0.0.1")
        firm_id = db.exec(select(Firm.id).order_by(Firm.id)).first()
        saved = traders.create_trader(
            db,
            actor=manager,
            firm_id=firm_id,
            data=TraderWrite(
                name="Tess Portal",
                email="tess.portal@client.example",
                permissions=[TraderPermission.PORTAL_ACCESS],
            ),
        )
    return {**ids, "admin": admin.user_id, "trader": saved.trader.portal_user_id}


def _token(user_id: int) -> str:
    with unit_of_work() as db:
        user = db.get(User, user_id)
        token, _ = tokens.issue(
            user.id,
            cv=tokens.credentials_version(user.credentials_changed_at),
            secret=get_settings().secret_key,
            minutes=60,
        )
    return token


def _config(*, full: bool) -> schemathesis.Config:
    config = schemathesis.Config.from_path(CONFIG)
    if not full:
        config.projects.override.phases.update(phases=["examples", "fuzzing", "stateful"])
        config.projects.override.generation.update(max_examples=LIGHT_EXAMPLES)
    if examples := os.environ.get("BRM_SCHEMA_EXAMPLES"):
        config.projects.override.generation.update(max_examples=int(examples))
    return config


def _failures(stream) -> tuple[list[str], set[str], list[str]]:
    """Every failed check (operation, check, what happened), the operations that ran, errors."""
    failures, tested, errors = [], set(), []
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            tested.add(event.recorder.label)
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.failure_info is None:
                        continue
                    failure = check.failure_info.failure
                    interaction = event.recorder.interactions.get(case_id)
                    response = interaction.response if interaction else None
                    answer = (
                        f"{response.status_code} {response.content[:200]!r}" if response else "-"
                    )
                    failures.append(
                        f"{failure.operation or event.recorder.label} [{check.name}] "
                        f"{failure.title}: {failure.message[:200]}\n"
                        f"    answer: {answer}\n"
                        f"    {check.failure_info.code_sample[:400]}"
                    )
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.title}: {event.info.message[:300]}")
        elif isinstance(event, events.FatalError):
            errors.append(f"fatal: {event.exception!r}")
    return sorted(set(failures)), tested, errors


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_conforms_to_the_schema(database_url, role):
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    full = (backend, role) in FULL or os.environ.get("BRM_SCHEMA_FULL") == "1"
    user_ids = _seed()
    config = _config(full=full)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", create_api(), config=config)
    schema.config.update(headers={"Authorization": f"Bearer {_token(user_ids[role])}"})
    operations = {r.ok().label for r in schema.get_all_operations()}
    failures, tested, errors = _failures(from_schema(schema).execute())
    assert not errors, "\n".join(errors)
    assert operations <= tested, f"not tested: {sorted(operations - tested)}"
    assert not failures, f"{len(failures)} failures as {role}:\n" + "\n".join(failures)


def test_every_configuration_entry_gives_its_reason():
    """Every [[operations]] entry and every `enabled = false` has a `# why:` comment above it."""
    lines = CONFIG.read_text(encoding="utf-8").splitlines()
    missing = []
    for n, line in enumerate(lines):
        if line.strip() == "[[operations]]" or re.match(r"\s*enabled\s*=\s*false", line):
            above = []  # the comment lines right above it
            for previous in reversed(lines[:n]):
                if not previous.strip().startswith("#"):
                    break
                above.append(previous.strip())
            if not any(a.startswith("# why:") and len(a) > 12 for a in above):
                missing.append(f"line {n + 1}: {line.strip()}")
    assert not missing, "entries without a reason:\n" + "\n".join(missing)
