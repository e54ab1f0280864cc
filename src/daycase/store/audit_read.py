"""Reading the audit log a page at a time, newest first (store room).

Pages are cut by row id (the log's own order), so a page stays the same while new rows
are written: `before` is the id of the oldest row already shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from daycase.store.audit import listed_cases
from daycase.store.audit_writer import flush_writer
from daycase.store.sql import reader
from daycase.store.tables import audit_case_lists_table, audit_list_cases_table, audit_table


@dataclass(frozen=True, slots=True)
class AuditPageRow:
    id: int
    at: str
    user_name: str
    role: str
    action: str
    case_id: str | None
    detail: str
    case_ids: tuple[str, ...] = ()


PAGE_COLUMNS = (
    audit_table.c.id,
    audit_table.c.at,
    audit_table.c.user_name,
    audit_table.c.role,
    audit_table.c.action,
    audit_table.c.case_id,
    audit_table.c.detail,
    audit_case_lists_table.c.case_ids,
)
# Each row with the list of cases it read, when it read several.
WITH_LISTS = audit_table.outerjoin(
    audit_case_lists_table, audit_case_lists_table.c.list_hash == audit_table.c.case_list
)


def of_case(case_id: str) -> sa.ColumnElement[bool]:
    """Rows about one case: its own rows and the many-case rows whose list holds it."""
    lists = sa.select(audit_list_cases_table.c.list_hash).where(
        audit_list_cases_table.c.case_id == case_id
    )
    return sa.or_(audit_table.c.case_id == case_id, audit_table.c.case_list.in_(lists))


def page_row(row: Any, *, case_id: str | None) -> AuditPageRow:
    """A stored row as read; a many-case row read for one case names that case."""
    listed = listed_cases(row.case_ids)
    return AuditPageRow(
        row.id,
        row.at,
        row.user_name,
        row.role,
        row.action,
        case_id if listed and case_id is not None else row.case_id,
        row.detail,
        listed,
    )


def audit_page(
    engine: sa.Engine, *, case_id: str | None, before: int | None, limit: int
) -> list[AuditPageRow]:
    """Up to `limit` rows older than row `before` (all rows when None), newest first; the
    rows this process has queued for the audit writer are written first."""
    flush_writer(engine)
    query = sa.select(*PAGE_COLUMNS).select_from(WITH_LISTS).order_by(audit_table.c.id.desc())
    query = query.limit(limit)
    if case_id is not None:
        query = query.where(of_case(case_id))
    if before is not None:
        query = query.where(audit_table.c.id < before)
    with reader(engine).connect() as conn:
        rows = conn.execute(query).all()
    return [page_row(r, case_id=case_id) for r in rows]


def audit_time_from(engine: sa.Engine, *, case_id: str | None, row_id: int) -> str | None:
    """The time of the oldest row at or after `row_id`: where a newer page began."""
    query = (
        sa.select(audit_table.c.at)
        .where(audit_table.c.id >= row_id)
        .order_by(audit_table.c.id)
        .limit(1)
    )
    if case_id is not None:
        query = query.where(of_case(case_id))
    with reader(engine).connect() as conn:
        found = conn.execute(query).scalar_one_or_none()
    return None if found is None else str(found)


def has_audit_action(engine: sa.Engine, action: str) -> bool:
    """Whether any row records `action` (the demo's marker, for one)."""
    query = sa.select(audit_table.c.id).where(audit_table.c.action == action).limit(1)
    with reader(engine).connect() as conn:
        return conn.execute(query).first() is not None
