"""Consistent copies of a SQLite store while it serves, and what a database holds (store room).

A plain copy of a live SQLite file misses what is still in its `-wal` (such a copy held no
events at all); SQLite's online backup API, from one pinned read snapshot, copies the
database as it stood at one instant while writers carry on. PostgreSQL has its own tools.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from daycase.store.factory import alembic_config
from daycase.store.sql import reader

Progress = Callable[[int, int], None]  # (pages copied, pages in all)

PAGES_PER_STEP = 1024  # 4 MiB a step with SQLite's default page size
_BUSY_MS = 30_000


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL; None for another database (or an in-memory one)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def copy_sqlite(
    source: Path,
    dest: Path,
    *,
    progress: Progress | None = None,
    pages_per_step: int = PAGES_PER_STEP,
) -> None:
    """Copy the database `source` into `dest` (made or replaced) from one read snapshot.

    `dest` ends as one self-contained file (rollback journal, no `-wal` beside it).
    """
    src = sqlite3.connect(source, isolation_level=None, timeout=_BUSY_MS / 1000)
    try:
        # Holding a read transaction pins one snapshot: without it every write to the
        # live database would restart the copy from its first page.
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()
        dst = sqlite3.connect(dest, isolation_level=None, timeout=_BUSY_MS / 1000)
        try:
            src.backup(dst, pages=pages_per_step, progress=_step(progress), sleep=0)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
        src.execute("ROLLBACK")
    finally:
        src.close()


def to_single_file(path: Path) -> None:
    """Leave the SQLite file at `path` with a rollback journal: one file, no `-wal` beside it."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_MS / 1000)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def copy_into_live(source: Path, target: Path) -> None:
    """Replace the content of `target` with `source`'s, through SQLite (for restore).

    Going through SQLite rather than the file system keeps a `-wal` file that belongs to
    the old content from being applied to the new.
    """
    src = sqlite3.connect(source, isolation_level=None, timeout=_BUSY_MS / 1000)
    try:
        dst = sqlite3.connect(target, isolation_level=None, timeout=_BUSY_MS / 1000)
        try:
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=WAL")
        finally:
            dst.close()
    finally:
        src.close()


def _step(progress: Progress | None) -> Callable[[int, int, int], None] | None:
    if progress is None:
        return None

    def report(_status: int, remaining: int, total: int) -> None:
        progress(total - remaining, total)

    return report


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: str | None  # None: no daycase schema at all
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def schema_state(engine: sa.Engine) -> SchemaState:
    """The database's migration revision and the one this daycase needs."""
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    assert head is not None
    with reader(engine).connect() as conn:
        if "alembic_version" not in sa.inspect(conn).get_table_names():
            return SchemaState(None, head)
        current = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return SchemaState(str(current) if current else None, head)
