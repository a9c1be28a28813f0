"""The seeded book on PostgreSQL (BENCH_DATABASE_URL): the same rows as the SQLite file, copied.

The database named by the URL is dropped and created again, migrated to head (the same schema as
the app's), then every table is filled from the cached SQLite book with COPY, and the id sequences
are moved past the copied ids. Triggers (foreign keys) are off during the copy: the rows come from
a database that already held them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import sqlalchemy as sa

_SKIP = ("sqlite_", "firms_fts", "traders_fts", "alembic_version")


def _admin_url(url: sa.engine.URL) -> str:
    return url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )


def _plain(url: sa.engine.URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def prepare(url_text: str, sqlite_file: Path, *, log: Callable[[str], None] = print) -> str:
    """A fresh PostgreSQL copy of the book at `url_text` (answered back, for the servers)."""
    from brm_app.migrations import upgrade_head

    url = sa.engine.make_url(url_text)
    name = url.database
    if not name or name in ("postgres", "template0", "template1"):
        raise SystemExit("BENCH_DATABASE_URL must name a database of its own (it is recreated)")
    started = time.perf_counter()
    with psycopg.connect(_admin_url(url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    upgrade_head(url_text)
    log(f"# postgresql: migrated in {time.perf_counter() - started:.1f} s")

    src = sqlite3.connect(f"file:{sqlite_file}?immutable=1", uri=True)
    tables = [
        t
        for (t,) in src.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        if not t.startswith(_SKIP)
    ]
    with psycopg.connect(_plain(url)) as pg:
        pg.execute("SET session_replication_role = replica")  # no FK triggers while copying
        # What the migrations seeded (the default interaction types, ...) comes from the book.
        present = [
            r[0]
            for r in pg.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        if present:
            pg.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in present) + " RESTART IDENTITY")
        for table in tables:
            pg_cols = {
                r[0]
                for r in pg.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                    (table,),
                )
            }
            if not pg_cols:
                continue
            cols = [r[1] for r in src.execute(f'PRAGMA table_info("{table}")') if r[1] in pg_cols]
            bools = {
                r[0]
                for r in pg.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = %s AND data_type = 'boolean'",
                    (table,),
                )
            }
            t = time.perf_counter()
            col_list = ", ".join(f'"{c}"' for c in cols)
            n = 0
            with pg.cursor().copy(f'COPY "{table}" ({col_list}) FROM STDIN') as copy:
                flags = [c in bools for c in cols]
                for row in src.execute(f'SELECT {col_list} FROM "{table}"'):
                    copy.write_row(
                        [
                            (bool(v) if v is not None else None) if f else v
                            for v, f in zip(row, flags, strict=True)
                        ]
                    )
                    n += 1
            if "id" in cols:
                pg.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                    f'COALESCE((SELECT max(id) FROM "{table}"), 1))'
                )
            if n:
                log(f"#   {table}: {n:,} rows in {time.perf_counter() - t:.1f} s")
        pg.commit()
    with psycopg.connect(_plain(url), autocommit=True) as pg:
        pg.execute("VACUUM ANALYZE")
    log(f"# postgresql: the book copied in {time.perf_counter() - started:.1f} s")
    return url_text
