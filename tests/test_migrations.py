"""Migrations: `upgrade head` on an empty database, and the models match them (no pending diff)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import brm_app.models  # noqa: F401
from brm_app.db import make_engine
from brm_app.migrations import current_revision, head_revision, upgrade_head
from brm_app.search_ddl import include_object
from tests.conftest import PG_URL, _pg_admin_url, _pg_url_for


@pytest.fixture(params=["sqlite", *(["postgresql"] if PG_URL else [])])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"brm_mig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield _pg_url_for(name)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _render(item, autogen_context) -> str:
    return repr(item)


def test_upgrade_head_on_empty_database_and_no_pending_diff(empty_database):
    engine = make_engine(empty_database)
    assert current_revision(engine) is None
    upgrade_head(empty_database)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        diff = compare_metadata(ctx, SQLModel.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_upgrade_is_idempotent(empty_database):
    upgrade_head(empty_database)
    upgrade_head(empty_database)
    engine = make_engine(empty_database)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


@pytest.mark.skipif(not PG_URL, reason="needs BRM_TEST_DATABASE_URL (PostgreSQL)")
def test_one_server_migrates_at_a_time_on_postgresql(tmp_path):
    """While another server holds the migration lock, an upgrade waits; then it finds head."""
    import threading

    from brm_app.migrations import MIGRATION_LOCK_KEY

    name = f"brm_mig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = _pg_url_for(name)
    holder = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with holder.connect() as lock:
            lock.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            lock.commit()
            waiting = threading.Thread(target=upgrade_head, args=(url,))
            waiting.start()
            waiting.join(timeout=2)
            assert waiting.is_alive(), "the upgrade did not wait for the lock"
            engine = make_engine(url)
            assert current_revision(engine) is None
            lock.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            lock.commit()
        waiting.join(timeout=120)
        assert not waiting.is_alive()
        assert current_revision(engine) == head_revision()
        engine.dispose()
    finally:
        holder.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
