"""Real databases for tests: a SQLite file, or a fresh PostgreSQL database per test.

PostgreSQL runs only when `DAYCASE_TEST_POSTGRES_URL` names a server database
(`.ci/run` sets it to postgresql+psycopg://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from daycase.store.factory import migrate

POSTGRES_VARIABLE = "DAYCASE_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgres"]


def postgres_server() -> str | None:
    return os.environ.get(POSTGRES_VARIABLE) or None


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    server = postgres_server()
    if server is None:
        pytest.skip(f"set {POSTGRES_VARIABLE} to run PostgreSQL tests")
    name = f"daycase_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(sa.make_url(server), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.make_url(server).set(database=name).render_as_string(hide_password=False)
        try:
            migrate(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@contextmanager
def database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A migrated database URL of the given backend ("sqlite" or "postgres")."""
    if backend == "postgres":
        with postgres_database() as url:
            yield url
        return
    url = f"sqlite:///{tmp_path / 'daycase.db'}"
    migrate(url)
    yield url


@contextmanager
def demo_database(backend: str, tmp_path: Path, *, patients: int, seed: int) -> Iterator[str]:
    """A database of the given backend holding the demo day of 26 Nov 2026 (New York)."""
    from datetime import date

    from rich.console import Console

    from daycase.demo import run_demo

    with database(backend, tmp_path) as url:
        run_demo(
            url=url,
            patients=patients,
            seed=seed,
            tz_name="America/New_York",
            today=date(2026, 11, 26),
            console=Console(quiet=True),
        )
        yield url
