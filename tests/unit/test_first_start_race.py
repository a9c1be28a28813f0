"""Two servers started together on one empty PostgreSQL database (issue 14): one creates the
first admin (and the demo data), the other waits for it and finds the database taken; neither
fails to start on a duplicate admin."""

from __future__ import annotations

import contextlib
import dataclasses
import threading

import pytest
from sqlmodel import select

from brm_app import db as db_module
from brm_app import settings as settings_module
from brm_app.db import unit_of_work
from brm_app.models.user import User
from brm_app.services import first_start
from tests.conftest import PG_URL, _configure, fresh_database_url

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs BRM_TEST_DATABASE_URL (PostgreSQL)")


@pytest.fixture
def empty_postgres(db_templates, tmp_path, monkeypatch):
    url, drop = fresh_database_url("postgresql", db_templates, tmp_path)
    _configure(monkeypatch, tmp_path, url, BRM_ADMIN_EMAIL="first@test.example")
    yield
    db_module.get_engine().dispose()
    db_module.get_engine.cache_clear()
    settings_module.get_settings.cache_clear()
    drop()


def test_two_first_starts_at_once_make_one_admin(empty_postgres, monkeypatch):
    settings = dataclasses.replace(
        settings_module.get_settings(), admin_password="chosen by operator 1", demo=False
    )
    # Both starts look at the empty database before either has written (when nothing makes
    # the second wait for the first: then both would create the admin).
    both_looked = threading.Barrier(2, timeout=2)
    is_empty = first_start.database_is_empty

    def looked(db):
        empty = is_empty(db)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_looked.wait()
        return empty

    monkeypatch.setattr(first_start, "database_is_empty", looked)
    reports, errors = [], []

    def start() -> None:
        try:
            with unit_of_work(write=True) as db:
                reports.append(first_start.initialize(db, settings=settings))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert sorted(r is None for r in reports) == [False, True]
    with unit_of_work() as db:
        assert [u.email for u in db.exec(select(User)).all()] == ["first@test.example"]
