"""Read models kept beside the events, and how each is rebuilt from them (store room).

A projection is a table (or a process's memory) derived from the events alone, so it can
always be recomputed: `daycase projections rebuild` runs `rebuild` for each one here,
reading every case's history once. The case index (`cases`) is the first: the append
transaction writes its row (in the same statement as the events, on the write path's
hot path), and `rebuild` recomputes what the row says about the case from the
`CaseOpened` event. Its chain end (`last_seq`, `last_hash`) is not rewritten: it is
what `verify` checks the history against, so a rebuild that "repaired" it would hide a
cut or re-sealed history. A case whose chain end disagrees with its events is reported
and left for `verify`.

The audit case index (`audit_list_cases`) is the second: derived from the lists of cases
read (`audit_case_lists`) whose hashes the audit chain names, so a rebuild restores
exactly those. The board read model is kept
in each server's memory (`services.board_model`) and rebuilt when a server starts; it has
nothing stored to rebuild here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa

from daycase.engine.events import CaseOpened, CaseRescheduled
from daycase.store.audit import list_pairs
from daycase.store.chain import parse_body
from daycase.store.sql import case_index_row, reader, snapshot
from daycase.store.tables import (
    audit_case_lists_table,
    audit_list_cases_table,
    cases_table,
    events_table,
)


@dataclass(slots=True)
class Rebuilt:
    """What one projection's rebuild found: rows checked, rows it corrected, and cases it
    would not touch (with the reason)."""

    name: str
    checked: int = 0
    corrected: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    # Rows a read model kept at read time had not made yet: added, not a difference.
    filled: int = 0


class Projection(Protocol):
    name: str
    description: str

    def rebuild(
        self, engine: sa.Engine, *, write: bool, progress: Callable[[int], None] | None = None
    ) -> Rebuilt:
        """Recompute every row from the events; correct what differs when `write`."""
        ...

    def cases(self, engine: sa.Engine) -> int:
        """How many cases a rebuild reads (for a progress bar)."""
        ...


_DESCRIBED = (
    "pathway_id",
    "pathway_version",
    "pathway_digest",
    "scheduled_start",
    "scheduled_date",
    "family_code",
    "opened_at",
)


class CaseIndex:
    name = "case_index"
    description = "cases: one row per case (day, pathway, family code, where its chain ends)"

    def cases(self, engine: sa.Engine) -> int:
        with reader(engine).connect() as conn:
            count = sa.select(sa.func.count()).select_from(cases_table)
            return int(conn.execute(count).scalar_one())

    def rebuild(
        self, engine: sa.Engine, *, write: bool, progress: Callable[[int], None] | None = None
    ) -> Rebuilt:
        found = Rebuilt(self.name)
        fixes: list[dict[str, Any]] = []
        with snapshot(engine).connect() as conn:
            stored = {row.case_id: row for row in conn.execute(sa.select(cases_table))}
            for case_id, first, moved, last_seq, last_hash in _histories(conn):
                found.checked += 1
                if progress is not None:
                    progress(1)
                row = stored.get(case_id)
                if row is None:  # the foreign key makes this impossible; say so if it is not
                    found.refused.append((case_id, "events without an index row"))
                    continue
                if (row.last_seq, row.last_hash) != (last_seq, last_hash):
                    found.refused.append((case_id, "its chain end differs: run daycase verify"))
                    continue
                opened = parse_body(first)
                if not isinstance(opened, CaseOpened):
                    found.refused.append((case_id, "its first event is not the opening"))
                    continue
                move = parse_body(moved) if moved is not None else None
                if move is not None and not isinstance(move, CaseRescheduled):
                    found.refused.append((case_id, "a stored move is not a move"))
                    continue
                wanted = case_index_row(opened, move)
                if any(getattr(row, name) != wanted[name] for name in _DESCRIBED):
                    found.corrected.append(case_id)
                    fixes.append({"b_case_id": case_id, **wanted})
        if write and fixes:
            update = (
                cases_table.update()
                .where(cases_table.c.case_id == sa.bindparam("b_case_id"))
                .values({name: sa.bindparam(name) for name in _DESCRIBED})
            )
            with engine.begin() as conn:
                conn.execute(update, fixes)
        return found


def _histories(conn: sa.Connection) -> Iterator[tuple[str, str, str | None, int, str]]:
    """(case id, first event's body, last move's body or None, last seq, last hash) per
    case, in one pass."""
    rows = conn.execute(
        sa.select(
            events_table.c.case_id,
            events_table.c.seq,
            events_table.c.kind,
            events_table.c.body,
            events_table.c.hash,
        ).order_by(events_table.c.case_id, events_table.c.seq)
    )
    for case_id, group in itertools.groupby(rows, key=lambda row: str(row.case_id)):
        rows_of_case = iter(group)
        first = last = next(rows_of_case)
        moved: str | None = None
        for last in rows_of_case:
            if last.kind == "CaseRescheduled":
                moved = str(last.body)
        yield case_id, str(first.body), moved, int(last.seq), str(last.hash)


class AuditCaseIndex:
    """`audit_list_cases`: for each case, the stored lists of cases read that hold it.
    Derived from `audit_case_lists`, and only from lists that still match the hash the
    audit rows name, so a rebuild can only restore what the chain proves."""

    name = "audit_list_cases"
    description = "audit_list_cases: which lists of cases read hold each case"

    def cases(self, engine: sa.Engine) -> int:
        with reader(engine).connect() as conn:
            count = sa.select(sa.func.count()).select_from(audit_case_lists_table)
            return int(conn.execute(count).scalar_one())

    def rebuild(
        self, engine: sa.Engine, *, write: bool, progress: Callable[[int], None] | None = None
    ) -> Rebuilt:
        found = Rebuilt(self.name)
        with snapshot(engine).connect() as conn:
            wanted, edited = list_pairs(conn)
            index = sa.select(audit_list_cases_table.c.case_id, audit_list_cases_table.c.list_hash)
            stored = {(str(r.case_id), str(r.list_hash)) for r in conn.execute(index)}
            found.checked = int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(audit_case_lists_table)
                ).scalar_one()
            )
        if progress is not None:
            progress(found.checked)
        found.corrected = sorted({case_id for case_id, _ in wanted ^ stored})
        found.refused = [
            (h, "this list no longer matches its hash: run daycase verify") for h in edited
        ]
        if write and wanted != stored:
            with engine.begin() as conn:
                conn.execute(audit_list_cases_table.delete())
                rows = [{"case_id": c, "list_hash": h} for c, h in sorted(wanted)]
                if rows:
                    conn.execute(audit_list_cases_table.insert(), rows)
        return found


PROJECTIONS: tuple[Projection, ...] = (CaseIndex(), AuditCaseIndex())
