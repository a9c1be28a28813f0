"""Alembic from code: `brm db upgrade`, first start, the health check and the tests use this."""

from __future__ import annotations

import functools
import logging

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from alembic import command
from brm_app.settings import PROJECT_ROOT, get_settings


def alembic_config(database_url: str | None = None) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    if database_url:
        cfg.attributes["database_url"] = database_url
    return cfg


# pg_advisory_lock key of the migrations ("brm-migrate"): one server migrates, the others wait.
MIGRATION_LOCK_KEY = 0x62726D2D6D6967


def record_key_check(url: str) -> None:
    """The start-up key check (encryption/check.py) on the database at `url`: its key ring must
    open what the database holds, and the current key's canary is recorded. Raises KeyError_."""
    from brm_app.db import make_engine
    from brm_app.encryption.check import check_keys

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            check_keys(conn)
    finally:
        engine.dispose()


def upgrade_head(database_url: str | None = None, *, record_keys: bool = True) -> None:
    """Apply pending migrations, then run the key check so that every database made or migrated
    here has the canary of the key its values are written with (a seeder writing right after
    this, without the server's start, leaves no database a wrong key ring could open).
    `record_keys=False` is for test templates copied under other key rings.

    On PostgreSQL under a session advisory lock: servers started together take turns, and the
    second finds the database already at head (and the canary recorded)."""
    url = database_url or get_settings().database_url
    # The data folder's files belong to the app's own database (not to another one migrated
    # with these settings: the tests' templates).
    own = url == get_settings().database_url
    if not url.startswith("postgresql"):
        command.upgrade(alembic_config(database_url), "head")
        if record_keys:
            record_key_check(url)
        if own:
            encrypt_files()
        return
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as lock:
            lock.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            lock.commit()
            try:
                command.upgrade(alembic_config(database_url), "head")
                if record_keys:
                    record_key_check(url)
                if own:
                    encrypt_files()
            finally:
                lock.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                lock.commit()
    finally:
        engine.dispose()


def encrypt_files() -> int:
    """Files of the data folder still in clear (written before encryption at rest: attachments,
    kept uploads, exports, backups there) encrypted; a no-op once done."""
    from brm_app.encryption.files import encrypt_clear_files

    done = encrypt_clear_files()
    if done:
        logging.getLogger(__name__).info("encrypted %d stored files that were in clear", done)
    return done


@functools.cache
def head_revision() -> str | None:
    # Read once: parsing every script file took ~10 ms per call of the health check.
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
