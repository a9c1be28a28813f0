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
from tests.conftest import PG_URL, TEST_KEYS, _pg_admin_url, _pg_url_for


@pytest.fixture(params=["sqlite", *(["postgresql"] if PG_URL else [])])
def empty_database(request, tmp_path, monkeypatch):
    # 0009e encrypts existing rows: its keys load as the app loads them (a keys file here).
    from brm_app import settings as settings_module

    monkeypatch.setenv("BRM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BRM_SECRET_KEY", "test-secret-key-" + "x" * 40)
    monkeypatch.setenv("BRM_ENCRYPTION_KEYS", TEST_KEYS)
    settings_module.get_settings.cache_clear()
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


# -- forward from every revision, with data ----------------------------------------------------


def _revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    from brm_app.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _value(column: sa.Column, table: str, parents: dict[str, dict]) -> object:
    import datetime as dt
    import decimal

    fk = next(iter(column.foreign_keys), None)
    if fk is not None:
        if fk.column.table.name == table:  # to itself (a manager): the row's own key
            return 900_001
        return parents[fk.column.table.name][fk.column.name]
    try:
        kind = column.type.python_type
    except NotImplementedError:
        kind = str
    if kind is bool:
        return False
    if kind is int:
        return 900_001
    if kind is float:
        return 1.5
    if kind is decimal.Decimal:
        return decimal.Decimal("1.5")
    if kind is dt.datetime:
        return dt.datetime(2026, 1, 2, 3, 4, 5)
    if kind is dt.date:
        return dt.date(2026, 1, 2)
    if kind is dict or kind is list:
        return {}
    if kind is bytes:
        return b"x"
    length = getattr(column.type, "length", None) or 40
    return f"m{table}"[: max(1, min(length, 20))]


def _fill_every_table(url: str) -> dict[str, int]:
    """One row in every table (parents first, every column given a value of its type), then
    the row count of every table."""
    engine = make_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    parents: dict[str, dict] = {}
    with engine.begin() as conn:
        for table in meta.sorted_tables:
            if table.name == "alembic_version" or "_fts" in table.name:
                continue
            row = {c.name: _value(c, table.name, parents) for c in table.columns}
            conn.execute(table.insert().values(**row))
            parents[table.name] = row
        counts = {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in meta.sorted_tables
            if t.name != "alembic_version" and "_fts" not in t.name
        }
    engine.dispose()
    return counts


@pytest.mark.parametrize("revision", _revisions()[:-1])
def test_upgrade_from_every_revision_keeps_its_data(empty_database, revision):
    """A database made at `revision`, with a row in every table, upgrades to head keeping every
    row (SQLite rebuilds tables in batch mode: nothing may be lost on the way)."""
    from alembic import command
    from brm_app.migrations import alembic_config

    command.upgrade(alembic_config(empty_database), revision)
    before = _fill_every_table(empty_database)
    upgrade_head(empty_database)
    engine = make_engine(empty_database)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        after = {
            name: conn.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one()
            for name in before
        }
    engine.dispose()
    # A migration that encrypts rows records its key's check value (encryption/check.py): a row
    # may be added there, none lost.
    assert after.pop("encryption_canaries", 0) >= before.pop("encryption_canaries", 0)
    assert after == before


def test_0009e_encrypts_the_rows_already_there(empty_database):
    """Existing traders and firms are encrypted by the upgrade and read back the same."""
    from alembic import command
    from brm_app.encryption.columns import blind_index, open_value
    from brm_app.migrations import alembic_config

    command.upgrade(alembic_config(empty_database), "0008u")
    engine = make_engine(empty_database)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO firms (id, name, name_key, street, notes, account_status, tier, "
                "created_at, updated_at) VALUES (1, 'Old Firm', 'old firm', '1 Old Street', "
                "'old note', 'prospect', 'C', '2026-01-01', '2026-01-01')"
            )
        )
        conn.execute(sa.text(
            "INSERT INTO traders (id, firm_id, name, name_key, email, phone, role, portal_access, "
            "view_portfolio, receive_email, receive_sms, status, created_at, updated_at) VALUES "
            "(1, 1, 'Old Trader', 'old trader', 'old@trader.example', '+442079460123', 'Trader', "
            "false, false, true, false, 'active', '2026-01-01', '2026-01-01')"
        ))  # fmt: skip
    upgrade_head(empty_database)
    with engine.connect() as conn:
        t = conn.execute(sa.text("SELECT row_key, email, email_bidx, phone FROM traders")).one()
        f = conn.execute(sa.text("SELECT row_key, street, notes FROM firms")).one()
    engine.dispose()
    assert bytes(t.email)[:2] == b"\xe5\x01"  # an envelope, not the address
    assert open_value("traders", "email", t.row_key, t.email) == "old@trader.example"
    assert open_value("traders", "phone", t.row_key, t.phone) == "+442079460123"
    assert t.email_bidx == blind_index("traders", "email", "old@trader.example")
    assert open_value("firms", "street", f.row_key, f.street) == "1 Old Street"
    assert open_value("firms", "notes", f.row_key, f.notes) == "old note"


def test_0010c_encrypts_communications_and_indexes_their_words(empty_database):
    """Messages, deliveries, triage items and log entries already there are encrypted (and read
    back the same), their words indexed; the log's old content hash is kept; the log stays
    append-only."""
    from alembic import command
    from brm_app.encryption import terms
    from brm_app.encryption.columns import open_value
    from brm_app.migrations import alembic_config

    command.upgrade(alembic_config(empty_database), "0009e")
    engine = make_engine(empty_database)
    plan = {
        "messages": ("text",),
        "message_deliveries": ("address",),
        "inbound_triage": ("from_address", "subject", "text"),
        "communication_log": ("sender", "recipients", "content"),
    }
    _fill_every_table(empty_database)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE messages SET text = 'Old words, older words'")
        before = {
            table: conn.execute(sa.text(f"SELECT id, {', '.join(cols)} FROM {table}")).one()
            for table, cols in plan.items()
        }
        old_hash = conn.execute(sa.text("SELECT content_hash FROM communication_log")).scalar()
    upgrade_head(empty_database)
    with engine.connect() as conn:
        for table, cols in plan.items():
            row = conn.execute(sa.text(f"SELECT row_key, {', '.join(cols)} FROM {table}")).one()
            for i, c in enumerate(cols):
                value = row._mapping[c]
                assert bytes(value)[:2] == b"\xe5\x01", (table, c)
                plain = before[table][i + 1]
                plain = bytes(plain).decode() if isinstance(plain, bytes | memoryview) else plain
                assert open_value(table, c, row.row_key, value) == plain, (table, c)
        words = {t for (t,) in conn.execute(sa.text("SELECT term FROM message_search_terms")).all()}
        assert set(terms.terms(terms.MESSAGES, before["messages"][1])) == words
        assert conn.execute(sa.text("SELECT count(*) FROM communication_log_terms")).scalar()
        assert (
            conn.execute(sa.text("SELECT content_hash FROM communication_log")).scalar() == old_hash
        )
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text("UPDATE communication_log SET content = content"))
    engine.dispose()


def test_0010n_encrypts_notes_and_their_copies(empty_database):
    """Existing interaction notes, versions, follow-up notes, notification bodies, review
    excerpts and portfolio transaction notes are encrypted by the upgrade (no plaintext left in the file) and read back the same."""
    from alembic import command
    from brm_app.encryption.columns import open_value
    from brm_app.migrations import alembic_config

    command.upgrade(alembic_config(empty_database), "0009e")
    engine = make_engine(empty_database)
    secrets = {
        "interactions.notes": "old interaction note",
        "interaction_versions.data": '{"notes":"old interaction note"}',
        "follow_ups.notes": "old follow-up note",
        "notifications.body": "old message snippet",
        "review_items.excerpt": "old excerpt guaranteed",
        "portfolio_transactions.note": "old transaction note",
    }
    meta = sa.MetaData()
    meta.reflect(engine)
    parents: dict[str, dict] = {}

    def put(conn: sa.Connection, table: str, **given: object) -> None:
        t = meta.tables[table]
        row = {c.name: given.get(c.name) if c.name in given else _value(c, table, parents)
               for c in t.columns}  # fmt: skip
        conn.execute(t.insert().values(**row))
        parents[table] = row

    with engine.begin() as conn:
        put(conn, "users", manager_id=None)
        put(conn, "firms", merged_into_id=None)
        put(conn, "interactions", notes=secrets["interactions.notes"])
        put(conn, "interaction_versions", data=secrets["interaction_versions.data"])
        put(conn, "follow_ups", notes=secrets["follow_ups.notes"], interaction_id=None)
        put(conn, "notifications", body=secrets["notifications.body"])
        put(conn, "review_items", excerpt=secrets["review_items.excerpt"])
        put(conn, "instruments")
        put(conn, "portfolios")
        put(
            conn,
            "portfolio_transactions",
            note=secrets["portfolio_transactions.note"],
            reverses_id=None,
            trader_id=None,
        )
    upgrade_head(empty_database)
    with engine.connect() as conn:
        for place, plain in secrets.items():
            table, column = place.split(".")
            row = conn.execute(sa.text(f"SELECT row_key, {column} AS v FROM {table}")).one()
            assert bytes(row.v)[:2] == b"\xe5\x01", place  # an envelope, not the text
            assert open_value(table, column, row.row_key, row.v) == plain
    engine.dispose()
    if empty_database.startswith("sqlite:///"):
        path = empty_database.removeprefix("sqlite:///")
        import pathlib

        raw = b"".join(
            p.read_bytes() for p in (pathlib.Path(path), pathlib.Path(path + "-wal")) if p.exists()
        )
        for plain in secrets.values():
            assert plain.encode() not in raw


def test_0010o_encrypts_the_opted_out_numbers(empty_database):
    """Numbers opted out before 0010o (kept in clear, as the key) are encrypted by the upgrade,
    one row each by their blind index (the same number written twice is one opt-out), their
    time kept; the file holds none of them in clear."""
    from alembic import command
    from brm_app.encryption.columns import blind_index, open_value
    from brm_app.migrations import alembic_config

    command.upgrade(alembic_config(empty_database), "0010n")
    engine = make_engine(empty_database)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO sms_opt_outs (number, opted_out_at) VALUES (:n, :t)"),
            [
                {"n": "+447911123456", "t": "2026-01-02 03:04:05"},
                {"n": "+44 7911 123456", "t": "2026-01-03 03:04:05"},
                {"n": "+14155552671", "t": "2026-02-03 04:05:06"},
            ],
        )
    upgrade_head(empty_database)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, row_key, number, number_bidx, opted_out_at FROM sms_opt_outs")
        ).all()
    engine.dispose()
    numbers = {}
    for row in rows:
        assert bytes(row.number)[:2] == b"\xe5\x01"  # an envelope, not the number
        plain = open_value("sms_opt_outs", "number", row.row_key, row.number)
        assert row.number_bidx == blind_index("sms_opt_outs", "number", plain)
        numbers[blind_index("sms_opt_outs", "number", plain)] = str(row.opted_out_at)
    assert set(numbers) == {
        blind_index("sms_opt_outs", "number", "+447911123456"),
        blind_index("sms_opt_outs", "number", "+14155552671"),
    }
    assert numbers[blind_index("sms_opt_outs", "number", "+14155552671")].startswith(
        "2026-02-03 04:05:06"
    )
    if empty_database.startswith("sqlite:///"):
        import pathlib

        path = empty_database.removeprefix("sqlite:///")
        raw = b"".join(
            p.read_bytes() for p in (pathlib.Path(path), pathlib.Path(path + "-wal")) if p.exists()
        )
        assert b"7911123456" not in raw and b"4155552671" not in raw


def test_0010u_encrypts_users_emails_and_rekeys_the_throttle(empty_database):
    """Users made before 0010u (a staff user, a portal trader's login with the trader's email)
    are encrypted by the upgrade and read back the same, each with its blind index; sign-in by
    email (any case) works after it; a lock counted under "acct:<email>" stays in force under
    the blind index; the file holds none of the emails in clear."""
    from sqlmodel import Session

    from alembic import command
    from brm_app.auth import throttle
    from brm_app.auth.passwords import hash_password
    from brm_app.encryption.columns import blind_index, open_value
    from brm_app.migrations import alembic_config
    from brm_app.services import authentication
    from brm_app.settings import get_settings

    command.upgrade(alembic_config(empty_database), "0010o")
    engine = make_engine(empty_database)
    password = "An old password 123!"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, name, role, password_hash, is_active, "
                "credentials_changed_at, created_at, updated_at, time_zone, mobile) VALUES "
                "(:id, :email, :name, :role, :hash, true, '2026-01-01', '2026-01-01', "
                "'2026-01-01', 'UTC', :mobile)"
            ),
            [
                {"id": 1, "email": "old.staff@brm.example", "name": "Old Staff",
                 "role": "broker", "hash": hash_password(password), "mobile": "+447700900771"},
                {"id": 2, "email": "old.portal@trader.example", "name": "Old Portal",
                 "role": "trader", "hash": hash_password(password), "mobile": None},
            ],
        )  # fmt: skip
        conn.execute(
            sa.text(
                "INSERT INTO login_throttle (key, failures, window_started_at, last_failure_at, "
                "locked_until) VALUES ('acct:old.staff@brm.example', 10, '2026-01-01', "
                "'2026-01-01', '2999-01-01')"
            )
        )
    upgrade_head(empty_database)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, row_key, email, email_bidx, mobile FROM users")
        ).all()
        keys = conn.execute(sa.text("SELECT key FROM login_throttle")).scalars().all()
    emails = {1: "old.staff@brm.example", 2: "old.portal@trader.example"}
    for row in rows:
        assert bytes(row.email)[:2] == b"\xe5\x01"  # an envelope, not the address
        assert open_value("users", "email", row.row_key, row.email) == emails[row.id]
        assert row.email_bidx == blind_index("users", "email", emails[row.id])
        mobile = open_value("users", "mobile", row.row_key, row.mobile)
        assert mobile == ("+447700900771" if row.id == 1 else None)
    assert keys == [throttle.account_key("Old.Staff@BRM.example")]
    settings = get_settings()
    with Session(engine) as db:
        # The staff user is still locked (the lock moved to the blind index) ...
        with pytest.raises(Exception, match="locked"):
            authentication.issue_api_token(
                db, email="old.staff@brm.example", password=password, ip=None, settings=settings
            )
        # ... the portal trader signs in, by email in any case, and their token names them.
        token = authentication.issue_api_token(
            db, email="Old.Portal@Trader.example", password=password, ip=None, settings=settings
        )
        actor = authentication.actor_for_api_token(
            db, token=token.access_token, ip=None, settings=settings
        )
        db.commit()
    engine.dispose()
    assert actor.user_id == 2 and actor.email == "old.portal@trader.example"
    if empty_database.startswith("sqlite:///"):
        import pathlib

        path = empty_database.removeprefix("sqlite:///")
        raw = b"".join(
            p.read_bytes() for p in (pathlib.Path(path), pathlib.Path(path + "-wal")) if p.exists()
        )
        assert b"old.staff@brm" not in raw and b"old.portal@trader" not in raw
        assert b"7700900771" not in raw


def test_0010u_refuses_two_users_with_one_email_ignoring_case(empty_database):
    """Two accounts whose emails differ only in case (possible before: the lookup was exact)
    stop the upgrade with a message naming them, nothing changed."""
    from alembic import command
    from brm_app.migrations import alembic_config

    command.upgrade(alembic_config(empty_database), "0010o")
    engine = make_engine(empty_database)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, name, role, password_hash, is_active, "
                "credentials_changed_at, created_at, updated_at, time_zone) VALUES "
                "(:id, :email, 'Twin', 'broker', 'x', true, '2026-01-01', '2026-01-01', "
                "'2026-01-01', 'UTC')"
            ),
            [{"id": 1, "email": "twin@brm.example"}, {"id": 2, "email": "Twin@brm.example"}],
        )
    with pytest.raises(RuntimeError, match="users 1 and 2 have the same email"):
        upgrade_head(empty_database)
    assert current_revision(engine) == "0010o"
    engine.dispose()
