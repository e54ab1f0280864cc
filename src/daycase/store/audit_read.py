"""Reading the audit log a page at a time, newest first (store room).

Pages are cut by row id (the log's own order), so a page stays the same while new rows
are written: `before` is the id of the oldest row already shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from daycase.store.audit_writer import flush_writer
from daycase.store.sql import reader
from daycase.store.tables import audit_table


@dataclass(frozen=True, slots=True)
class AuditPageRow:
    id: int
    at: str
    user_name: str
    role: str
    action: str
    case_id: str | None
    detail: str


_COLUMNS = (
    audit_table.c.id,
    audit_table.c.at,
    audit_table.c.user_name,
    audit_table.c.role,
    audit_table.c.action,
    audit_table.c.case_id,
    audit_table.c.detail,
)


def audit_page(
    engine: sa.Engine, *, case_id: str | None, before: int | None, limit: int
) -> list[AuditPageRow]:
    """Up to `limit` rows older than row `before` (all rows when None), newest first; the
    rows this process has queued for the audit writer are written first."""
    flush_writer(engine)
    query = sa.select(*_COLUMNS).order_by(audit_table.c.id.desc()).limit(limit)
    if case_id is not None:
        query = query.where(audit_table.c.case_id == case_id)
    if before is not None:
        query = query.where(audit_table.c.id < before)
    with reader(engine).connect() as conn:
        rows = conn.execute(query).all()
    return [AuditPageRow(*r) for r in rows]


def audit_time_from(engine: sa.Engine, *, case_id: str | None, row_id: int) -> str | None:
    """The time of the oldest row at or after `row_id`: where a newer page began."""
    query = (
        sa.select(audit_table.c.at)
        .where(audit_table.c.id >= row_id)
        .order_by(audit_table.c.id)
        .limit(1)
    )
    if case_id is not None:
        query = query.where(audit_table.c.case_id == case_id)
    with reader(engine).connect() as conn:
        found = conn.execute(query).scalar_one_or_none()
    return None if found is None else str(found)


def has_audit_action(engine: sa.Engine, action: str) -> bool:
    """Whether any row records `action` (the demo's marker, for one)."""
    query = sa.select(audit_table.c.id).where(audit_table.c.action == action).limit(1)
    with reader(engine).connect() as conn:
        return conn.execute(query).first() is not None
