"""Alembic environment for the store's tables (store room).

`factory.migrate()` builds the Alembic config in code, so there is no alembic.ini; the
engine comes from `make_engine`, so SQLite files get their WAL pragmas from the first run.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from daycase.store.sql import make_engine, metadata

config = context.config


def run_offline() -> None:
    """Emit the SQL as text (`alembic upgrade --sql`) instead of running it."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run every pending revision in one transaction (SQLite and PostgreSQL both allow DDL)."""
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("the Alembic config has no sqlalchemy.url")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                _sqlite_foreign_keys(connection, on=False)
            context.configure(
                connection=connection,
                target_metadata=metadata,
                transactional_ddl=True,
                render_as_batch=sqlite,
            )
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                _sqlite_foreign_keys(connection, on=True)
    finally:
        engine.dispose()


def _sqlite_foreign_keys(connection: Connection, *, on: bool) -> None:
    """SQLite rebuilds a table to alter it (batch mode); a table others refer to (`cases`)
    can only be dropped with foreign keys off, which SQLite allows only outside a
    transaction. After the migration they are turned on again and every reference checked.
    """
    raw = connection.connection.driver_connection
    assert raw is not None
    raw.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    if on:
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"the migration left rows with broken references: {broken[:5]}")


if context.is_offline_mode():
    run_offline()
else:
    run_online()
