"""DDL for the search indexes, shared by migrations (a batch-mode rebuild of `firms` or `traders`
on SQLite drops their triggers: a migration that rebuilds them must call `create` again).
Trader names only: emails are encrypted since 0009e (found by their blind index instead)."""

from __future__ import annotations

from alembic import op
from brm_app.services.search import PG_FIRM_VECTOR, PG_TRADER_VECTOR

SEARCH_OBJECTS = {"firms_fts", "traders_fts", "ix_firms_search", "ix_traders_search"}


def _is_search_object(name: str | None) -> bool:
    return bool(name) and (
        name in SEARCH_OBJECTS or name.startswith(("firms_fts_", "traders_fts_"))
    )


def create() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE INDEX IF NOT EXISTS ix_firms_search ON firms USING gin ({PG_FIRM_VECTOR})"
        )
        op.execute(
            f"CREATE INDEX IF NOT EXISTS ix_traders_search ON traders USING gin ({PG_TRADER_VECTOR})"
        )
        return
    tokenizer = "unicode61 remove_diacritics 2 tokenchars ''"
    op.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS firms_fts USING fts5(name, content='firms', content_rowid='id', tokenize=\"{tokenizer}\")"
    )
    op.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS traders_fts USING fts5(name, content='traders', content_rowid='id', tokenize=\"{tokenizer}\")"
    )
    op.execute(
        "CREATE TRIGGER IF NOT EXISTS firms_fts_ai AFTER INSERT ON firms BEGIN INSERT INTO firms_fts(rowid, name) VALUES (new.id, new.name); END"
    )
    op.execute(
        "CREATE TRIGGER IF NOT EXISTS firms_fts_ad AFTER DELETE ON firms BEGIN "
        "INSERT INTO firms_fts(firms_fts, rowid, name) VALUES ('delete', old.id, old.name); END"
    )
    op.execute(
        "CREATE TRIGGER IF NOT EXISTS firms_fts_au AFTER UPDATE OF name ON firms BEGIN "
        "INSERT INTO firms_fts(firms_fts, rowid, name) VALUES ('delete', old.id, old.name); "
        "INSERT INTO firms_fts(rowid, name) VALUES (new.id, new.name); END"
    )
    op.execute(
        "CREATE TRIGGER IF NOT EXISTS traders_fts_ai AFTER INSERT ON traders BEGIN "
        "INSERT INTO traders_fts(rowid, name) VALUES (new.id, new.name); END"
    )
    op.execute(
        "CREATE TRIGGER IF NOT EXISTS traders_fts_ad AFTER DELETE ON traders BEGIN "
        "INSERT INTO traders_fts(traders_fts, rowid, name) VALUES ('delete', old.id, old.name); END"
    )
    op.execute(
        "CREATE TRIGGER IF NOT EXISTS traders_fts_au AFTER UPDATE OF name ON traders BEGIN "
        "INSERT INTO traders_fts(traders_fts, rowid, name) VALUES ('delete', old.id, old.name); "
        "INSERT INTO traders_fts(rowid, name) VALUES (new.id, new.name); END"
    )
    # Index whatever rows exist already (none on a fresh database).
    op.execute("INSERT INTO firms_fts(firms_fts) VALUES ('rebuild')")
    op.execute("INSERT INTO traders_fts(traders_fts) VALUES ('rebuild')")


def drop() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_firms_search")
        op.execute("DROP INDEX IF EXISTS ix_traders_search")
        return
    for trigger in (
        "firms_fts_ai",
        "firms_fts_ad",
        "firms_fts_au",
        "traders_fts_ai",
        "traders_fts_ad",
        "traders_fts_au",
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS firms_fts")
    op.execute("DROP TABLE IF EXISTS traders_fts")


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """For Alembic's autogenerate: the search objects live outside the models on purpose."""
    return not (reflected and _is_search_object(name))
