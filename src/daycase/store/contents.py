"""What a database already holds, read without changing it, at any schema version (store room).

The demo asks this before it seeds anything (and before any migration), and restore
before it replaces anything, so a centre's database is never touched by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa


@dataclass(frozen=True, slots=True)
class Holdings:
    users: list[tuple[str, str]]  # (name, role)
    cases: int
    actions: frozenset[str]  # the audit actions asked about that the log holds
    events: int = 0
    audit_rows: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.users or self.cases or self.events or self.audit_rows)


class CannotRead(Exception):
    """The URL names no database this can open, or the file is not a database."""


def holdings(url: str, *, actions: tuple[str, ...] = ()) -> Holdings:
    """Users, row counts, and which of `actions` the audit log records; an empty answer
    for a database with no tables yet (or no file: SQLite makes none)."""
    try:
        return _holdings(url, actions)
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        raise CannotRead(f"cannot read {url}: {exc.__class__.__name__}") from exc


def _holdings(url: str, actions: tuple[str, ...]) -> Holdings:
    engine = sa.create_engine(url)
    try:
        if url.startswith("sqlite") and not _sqlite_file_exists(engine):
            return Holdings([], 0, frozenset())
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())

            def count(table: str) -> int:
                if table not in tables:
                    return 0
                return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())

            users: list[tuple[str, str]] = []
            if "users" in tables:
                rows = conn.execute(sa.text("SELECT name, role FROM users ORDER BY name")).all()
                users = [(str(name), str(role)) for name, role in rows]
            found: set[str] = set()
            if "audit" in tables and actions:
                query = sa.text("SELECT DISTINCT action FROM audit WHERE action IN :actions")
                query = query.bindparams(sa.bindparam("actions", expanding=True))
                found = {str(a) for (a,) in conn.execute(query, {"actions": list(actions)})}
            held = Holdings(
                users, count("cases"), frozenset(found), count("events"), count("audit")
            )
        return held
    finally:
        engine.dispose()


def _sqlite_file_exists(engine: sa.Engine) -> bool:
    """In-memory databases count as existing; a file path only when the file is there."""
    database = engine.url.database
    return not database or database == ":memory:" or Path(database).exists()
