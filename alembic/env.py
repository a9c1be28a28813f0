"""Alembic environment: our engine (with SQLite's pragmas), SQLModel's metadata, batch mode on SQLite."""

from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import brm_app.models  # noqa: F401  (registers every table on SQLModel.metadata)
from alembic import context
from brm_app.db import UTCDateTime, make_engine
from brm_app.search_ddl import include_object
from brm_app.settings import get_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def render_item(type_, obj, autogen_context):
    """Write our column types as plain SQLAlchemy types in revisions."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def run_migrations() -> None:
    url = config.attributes.get("database_url") or get_settings().database_url
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: sa.Connection) -> None:
    if connection.dialect.name == "sqlite":
        # The encryption migrations rewrite clear values in place: with secure_delete the space
        # the old values leave is zeroed, so no clear copy stays in the file's free pages.
        # (A pragma begins a transaction of its own: ended here unless the caller had one.)
        began = not connection.in_transaction()
        connection.exec_driver_sql("PRAGMA secure_delete = ON")
        if began:
            connection.commit()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        include_object=include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
