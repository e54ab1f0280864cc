"""The store contract run against `SqlEventStore` on PostgreSQL (store tests).

Skipped unless `DAYCASE_TEST_POSTGRES_URL` names a server database to connect to (for
example postgresql+psycopg://postgres@127.0.0.1:5432/test) and psycopg is installed.
Every test gets a database of its own, created from that one and dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from daycase.store.base import EventStore
from daycase.store.factory import migrate, open_store
from daycase.store.sql import SqlEventStore
from tests.contracts.projection_contract import ProjectionContract
from tests.contracts.store_contract import StoreContract

URL_VARIABLE = "DAYCASE_TEST_POSTGRES_URL"

if not os.environ.get(URL_VARIABLE):
    pytest.skip(f"set {URL_VARIABLE} to run the PostgreSQL store tests", allow_module_level=True)
pytest.importorskip("psycopg")


def server_url() -> sa.URL:
    return sa.make_url(os.environ[URL_VARIABLE])


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh, migrated database on the test server, dropped after the test."""
    name = f"daycase_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = server_url().set(database=name).render_as_string(hide_password=False)
        try:
            migrate(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


class TestPostgresStore(StoreContract, ProjectionContract):
    @pytest.fixture(autouse=True)
    def _database(self, database_url: str) -> None:
        self.url = database_url

    def make_store(self, tmp_path: Path) -> Iterator[EventStore]:
        store = open_store(self.url)
        assert isinstance(store, SqlEventStore)
        yield store
        store.close()
