"""Shared fixtures: a fresh real database per test (SQLite file, and PostgreSQL when
BRM_TEST_DATABASE_URL points at one), configured the way production configures it."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from brm_app import bootstrap
from brm_app import db as db_module
from brm_app import settings as settings_module
from brm_app.migrations import upgrade_head

PG_URL = os.environ.get("BRM_TEST_DATABASE_URL")
# A fixed key ring for PostgreSQL runs (which refuse to start without one); SQLite runs generate
# theirs into the test's data folder, as a first start does.
TEST_KEYS = "t1:" + "A" * 43 + "="


@pytest.fixture(scope="session", autouse=True)
def wired() -> None:
    """The record rules and merge hooks, installed the way the app and the CLI install them."""
    bootstrap.wire()


def _pg_admin_url() -> str:
    url = PG_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _pg_url_for(dbname: str) -> str:
    return (
        sa.engine.make_url(_pg_admin_url())
        .set(database=dbname)
        .render_as_string(hide_password=False)
    )


class _Templates:
    """Migrated once per test session, copied per test (a file copy / CREATE DATABASE ... TEMPLATE)."""

    def __init__(self, root: Path):
        self.root = root
        self.sqlite_file: Path | None = None
        self.pg_template: str | None = None

    def sqlite(self) -> Path:
        if self.sqlite_file is None:
            path = self.root / "template.db"
            upgrade_head(f"sqlite:///{path}", record_keys=False)
            self.sqlite_file = path
        return self.sqlite_file

    def postgres(self) -> str:
        if self.pg_template is None:
            name = f"brm_tmpl_{uuid.uuid4().hex[:10]}"
            admin = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            admin.dispose()
            upgrade_head(_pg_url_for(name), record_keys=False)
            self.pg_template = name
        return self.pg_template

    def drop_all(self) -> None:
        if self.pg_template:
            admin = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.pg_template}" WITH (FORCE)')
            admin.dispose()


@pytest.fixture(scope="session")
def db_templates(tmp_path_factory) -> Iterator[_Templates]:
    templates = _Templates(tmp_path_factory.mktemp("db-templates"))
    yield templates
    templates.drop_all()


BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


def fresh_database_url(backend: str, templates: _Templates, tmp_path: Path) -> tuple[str, callable]:
    """A migrated, empty database and a function that removes it."""
    if backend == "sqlite":
        path = tmp_path / "brm.db"
        shutil.copy(templates.sqlite(), path)
        return f"sqlite:///{path}", lambda: None
    name = f"brm_t_{uuid.uuid4().hex[:12]}"
    template = templates.postgres()
    admin = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return _pg_url_for(name), drop


def _configure(monkeypatch, tmp_path: Path, url: str, **extra: str) -> None:
    monkeypatch.setenv("BRM_DATABASE_URL", url)
    monkeypatch.setenv("BRM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BRM_SECRET_KEY", "test-secret-key-" + "x" * 40)
    if not url.startswith("sqlite"):
        monkeypatch.setenv("BRM_ENCRYPTION_KEYS", TEST_KEYS)
    # No market data feed in tests, except where a test drives one (use_providers).
    monkeypatch.setenv("BRM_MARKET_DATA_PROVIDER", "off")
    for key, value in extra.items():
        monkeypatch.setenv(key, value)
    settings_module.get_settings.cache_clear()
    db_module.get_engine.cache_clear()


@pytest.fixture(params=BACKENDS)
def database_url(request, db_templates, tmp_path, monkeypatch) -> Iterator[str]:
    """The app pointed at a fresh database, once per backend (SQLite, and PostgreSQL when set)."""
    url, drop = fresh_database_url(request.param, db_templates, tmp_path)
    _configure(monkeypatch, tmp_path, url)
    yield url
    db_module.get_engine().dispose()
    db_module.get_engine.cache_clear()
    settings_module.get_settings.cache_clear()
    drop()


@pytest.fixture
def sqlite_url(db_templates, tmp_path, monkeypatch) -> Iterator[str]:
    """The app pointed at a fresh SQLite database only (for tests that need no second backend)."""
    url, _ = fresh_database_url("sqlite", db_templates, tmp_path)
    _configure(monkeypatch, tmp_path, url)
    yield url
    db_module.get_engine().dispose()
    db_module.get_engine.cache_clear()
    settings_module.get_settings.cache_clear()


@pytest.fixture
def settings(database_url):
    return settings_module.get_settings()


def pytest_collection_modifyitems(config, items):
    """Browser tests last: they are the slowest, and fast failures should come first."""
    items.sort(key=lambda item: "/e2e/" in str(item.fspath))
