"""Prefix search over firm and trader names, backed by a real index; a whole email address
finds its trader through the email's blind index (emails are encrypted, not in the text index).

SQLite: FTS5 tables kept in step by triggers (created by the migrations, see search_ddl.py).
PostgreSQL: GIN indexes over to_tsvector('simple', ...), queried with prefix tsqueries.
Every word the user typed must match the start of a word in the record ("acm cap" finds
"Acme Capital"). Nothing here ever runs LIKE '%x%'.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

MAX_TERMS = 8
_WORD = re.compile(r"\w+", re.UNICODE)


def terms(q: str | None) -> list[str]:
    if not q:
        return []
    return [t.lower() for t in _WORD.findall(q)[:MAX_TERMS]]


def _fts5_query(words: list[str]) -> str:
    # Words hold only \w characters, so quoting them is safe; `*` makes each a prefix.
    return " AND ".join(f'"{w}"*' for w in words)


def _tsquery(words: list[str]) -> str:
    return " & ".join(f"{w}:*" for w in words)


# The expressions the PostgreSQL GIN indexes are built on (they must match exactly).
PG_FIRM_VECTOR = "to_tsvector('simple', coalesce(name, ''))"
PG_TRADER_VECTOR = "to_tsvector('simple', coalesce(name, ''))"


def _materialized(hits: sa.Select[Any], name: str) -> sa.Select[Any]:
    """The matches found first, through the GIN index: left inline, PostgreSQL's planner walked
    the whole list in sort order computing every row's vector (a second per search)."""
    cte = hits.cte(name).prefix_with("MATERIALIZED", dialect="postgresql")
    return sa.select(cte.c.id)


def firm_ids(db: Session, q: str | None) -> sa.Select | None:
    """A SELECT of the ids of firms whose name matches, or None when q has no words."""
    words = terms(q)
    if not words:
        return None
    if db.get_bind().dialect.name == "postgresql":
        hits: sa.Select[Any] = (
            sa.select(sa.column("id"))
            .select_from(sa.table("firms"))
            .where(
                sa.text(f"{PG_FIRM_VECTOR} @@ to_tsquery('simple', :fq)").bindparams(
                    fq=_tsquery(words)
                )
            )
        )
        return _materialized(hits, "firms_hits")
    return (
        sa.select(sa.column("rowid"))
        .select_from(sa.table("firms_fts"))
        .where(sa.text("firms_fts MATCH :fq").bindparams(fq=_fts5_query(words)))
    )


def looks_like_email(q: str | None) -> bool:
    return q is not None and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", q.strip()) is not None


def trader_ids(db: Session, q: str | None) -> sa.Select | None:
    """A SELECT of the ids of traders whose name matches (or whose email is exactly q), or None
    when q has no words."""
    if q is not None and looks_like_email(q):
        from brm_app.encryption.columns import blind_index

        digest = blind_index("traders", "email", q.strip())
        return (
            sa.select(sa.column("id"))
            .select_from(sa.table("traders"))
            .where(sa.column("email_bidx").in_([digest]))
        )
    words = terms(q)
    if not words:
        return None
    if db.get_bind().dialect.name == "postgresql":
        hits: sa.Select[Any] = (
            sa.select(sa.column("id"))
            .select_from(sa.table("traders"))
            .where(
                sa.text(f"{PG_TRADER_VECTOR} @@ to_tsquery('simple', :tq)").bindparams(
                    tq=_tsquery(words)
                )
            )
        )
        return _materialized(hits, "traders_hits")
    return (
        sa.select(sa.column("rowid"))
        .select_from(sa.table("traders_fts"))
        .where(sa.text("traders_fts MATCH :tq").bindparams(tq=_fts5_query(words)))
    )
