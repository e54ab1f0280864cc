"""Alembic environment for the store's tables (store room).

`factory.migrate()` builds the Alembic config in code, so there is no alembic.ini; the
engine comes from `make_engine`, so SQLite files get their WAL pragmas from the first run.
"""

from __future__ import annotations

from alembic import context

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
            context.configure(
                connection=connection,
                target_metadata=metadata,
                transactional_ddl=True,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
