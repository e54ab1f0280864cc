"""Opening a store from a URL and bringing its schema up to date (store room).

Migrations are a separate, explicit step (`daycase migrate`): opening a store never changes
its schema, so an old binary cannot silently half-migrate a newer database.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from daycase.store.base import EventStore
from daycase.store.memory import MemoryEventStore
from daycase.store.sql import SqlEventStore, make_engine

MEMORY_URL = "memory://"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config built in code: no alembic.ini is needed at run time."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolates '%', which URL-encoded passwords contain.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Upgrade the database at `url` to the newest schema; SQLite files get their folder made."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")


def open_store(url: str) -> EventStore:
    """The store for `url`: `memory://` for a fresh in-memory store, else a SQLAlchemy URL."""
    if url == MEMORY_URL:
        return MemoryEventStore()
    return SqlEventStore(make_engine(url))
