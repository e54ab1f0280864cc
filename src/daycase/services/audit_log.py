"""The audit log as the admin reads it: pages of reads, a case's writes merged in (service room).

Reads are audit rows; writes are the case's own events, which carry their author and
time already, so for one case they are merged into the page whose reads span their time.
A page is the `limit` newest rows before a cursor (`before`, the id of the oldest row
already shown), shown oldest first; `older` is the cursor of the next page back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from daycase.engine.events import (
    CaseOpened,
    CaseRescheduled,
    Event,
    EventAmended,
    EventVoided,
    StepRecorded,
)
from daycase.services.accounts import User
from daycase.store.audit_read import audit_page, audit_time_from
from daycase.store.sql import SqlEventStore

if TYPE_CHECKING:
    from daycase.services.runtime import Runtime

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class AuditLine:
    """One line of the log: a read (with its row id) or, for one case, a write (id None)."""

    id: int | None
    at: datetime
    user: str
    role: str
    action: str
    case_id: str | None
    detail: str
    case_ids: tuple[str, ...] = ()  # a read that showed several cases (a board): all of them


@dataclass(frozen=True, slots=True)
class AuditPage:
    lines: list[AuditLine]
    older: int | None  # `before` for the next page back; None on the oldest page


def _write_line(case_id: str, e: Event) -> AuditLine:
    if isinstance(e, CaseOpened):
        action, detail = "open_case", ""
    elif isinstance(e, StepRecorded):
        action, detail = "record", e.step + (" (override)" if e.override else "")
    elif isinstance(e, EventAmended):
        action, detail = "amend", e.target_event_id
    elif isinstance(e, CaseRescheduled):
        action, detail = "reschedule", e.scheduled_start.isoformat()
    else:
        assert isinstance(e, EventVoided)
        action, detail = "void", e.target_event_id
    return AuditLine(None, e.recorded_at, e.actor, e.role, action, case_id, detail)


def read_page(
    store: SqlEventStore,
    *,
    case_id: str | None,
    before: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> AuditPage:
    """One page of the log (of one case when `case_id` is given), oldest line first."""
    engine = store.engine
    limit = max(1, min(limit, MAX_LIMIT))
    rows = audit_page(engine, case_id=case_id, before=before, limit=limit)
    full = len(rows) == limit
    lines = [
        AuditLine(
            r.id,
            datetime.fromisoformat(r.at),
            r.user_name,
            r.role,
            r.action,
            r.case_id,
            r.detail,
            r.case_ids,
        )
        for r in rows
    ]
    if case_id is not None:
        # The writes of the span this page covers: after its oldest read (unless it is the
        # last page) and up to where the newer page began (unless it is the first).
        lower = lines[-1].at if full and lines else None
        newer = audit_time_from(engine, case_id=case_id, row_id=before) if before else None
        upper = datetime.fromisoformat(newer) if newer else None
        for e in store.load(case_id):
            line = _write_line(case_id, e)
            if (lower is None or line.at > lower) and (upper is None or line.at <= upper):
                lines.append(line)
    lines.sort(key=lambda line: (line.at, line.id or 0))
    return AuditPage(lines=lines, older=rows[-1].id if full else None)


def read_audit(
    runtime: Runtime,
    user: User,
    *,
    case_id: str | None,
    before: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> AuditPage:
    """A page of the log for an admin (the caller checks the role); the read is a row too,
    without a case (it shows no clinical detail), saying which part of the log was read."""
    page = read_page(runtime.store, case_id=case_id, before=before, limit=limit)
    detail = f"case {case_id}" if case_id else "whole log"
    if before is not None:
        detail += f", before row {before}"
    runtime.audit_read(user, "read_audit", [None], detail)
    return page


def audit_patient_lookup(runtime: Runtime, *, address: str, code: str, case_id: str | None) -> None:
    """A patient or family look-up (family code and birth date): found, or not.

    Nobody is signed in, so the row names the client's address; the code typed is kept
    as letters and digits only (anything else shows as ?), at most 16 characters.
    """
    shown = re.sub(r"[^A-Z0-9]", "?", code.upper()[:16])
    where = re.sub(r"[^0-9A-Za-z.:-]", "?", address[:64]) or "unknown"
    action = "patient_lookup" if case_id else "patient_lookup_failed"
    runtime.audit_read(
        User(f"patient@{where}", "patient"),
        action,
        [case_id],
        f"family code {shown}",
    )
