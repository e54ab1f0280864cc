"""The store contract run against `SqlEventStore` on SQLite, plus SQLite's own set-up (store tests).

Every test gets its own database file in `tmp_path`, its schema made by `migrate(url)`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from daycase.store.base import EventStore
from daycase.store.factory import migrate, open_store
from daycase.store.sql import SqlEventStore, make_engine, metadata
from tests.contracts.projection_contract import ProjectionContract
from tests.contracts.store_contract import StoreContract
from tests.factories import history


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path / "daycase.db")
    migrate(url)
    return url


@pytest.fixture
def engine(url: str) -> Iterator[sa.Engine]:
    engine = make_engine(url)
    yield engine
    engine.dispose()


class TestSqliteStore(StoreContract, ProjectionContract):
    def make_store(self, tmp_path: Path) -> Iterator[EventStore]:
        url = sqlite_url(tmp_path / "contract.db")
        migrate(url)
        store = open_store(url)
        assert isinstance(store, SqlEventStore)
        yield store
        store.close()


def test_every_connection_gets_the_durability_pragmas(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        settings = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }

    assert settings == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 10000,
    }


def test_a_write_transaction_holds_the_write_lock_from_its_start(
    engine: sa.Engine, url: str
) -> None:
    other = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
    try:
        with engine.begin(), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_the_migrated_schema_matches_the_tables(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)

    assert differences == []


def test_migrate_makes_the_folder_and_can_run_again(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "deep" / "er" / "daycase.db")
    migrate(url)
    migrate(url)

    store = open_store(url)
    try:
        store.append(history("c1"), expected_seq=0)
        assert len(store.load("c1")) == 4
    finally:
        store.close()


def test_opening_a_store_does_not_create_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "bare.db"
    store = open_store(sqlite_url(path))
    try:
        with pytest.raises(sa.exc.OperationalError, match="no such table"):
            store.load("c1")
    finally:
        store.close()
