"""The audit log as one hash chain: appending under the head's lock, reading, checking (store room).

Each row is hashed (SHA-256) over the previous row's hash and its own canonical JSON, in
`seq` order, so an edited, deleted or reordered row shows when the chain is re-computed;
`audit_head` says where the chain ends, so a cut tail shows too. Writers append one at a
time: SQLite's `BEGIN IMMEDIATE` already serialises them, and PostgreSQL locks the head
row (`FOR UPDATE`) for the transaction, across every server process.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from daycase.store.codec import GENESIS_HASH, canonical_json, chain_hash
from daycase.store.sql import Prepared
from daycase.store.tables import audit_cases_table, audit_head_table, audit_table


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row to write: who did what to which case, when."""

    at: datetime
    user_name: str
    role: str
    action: str
    case_id: str | None
    detail: str
    # A read that showed several cases: all of them, in one row (`case_id` is None).
    case_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditHead:
    """Where the audit chain ends (seq 0 and the genesis hash when it is empty)."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class AuditProblem:
    """A place where the stored audit log no longer matches its chain."""

    seq: int
    problem: str


def audit_body(
    *,
    at: str,
    user_name: str,
    role: str,
    action: str,
    case_id: str | None,
    detail: str,
    case_ids: Sequence[str] = (),
) -> str:
    """The canonical text of one audit row: what its hash covers with the previous hash.

    Its place (`seq`) is not in it: the link to the previous row already fixes the order,
    and leaving it out lets a moved row be told from an edited one. `case_ids` is in it
    only when there are some, so rows written before it existed keep their hashes.
    """
    body: dict[str, Any] = {
        "at": at,
        "user_name": user_name,
        "role": role,
        "action": action,
        "case_id": case_id,
        "detail": detail,
    }
    if case_ids:
        body["case_ids"] = list(case_ids)
    return canonical_json(body)


_LOCK_HEAD = sa.select(audit_head_table.c.last_seq, audit_head_table.c.last_hash).where(
    audit_head_table.c.id == 1
)


_INSERTS: dict[str, tuple[Prepared, Prepared]] = {}
_AUDIT_COLUMNS = ["seq", "at", "user_name", "role", "action", "case_id", "detail"]
_AUDIT_COLUMNS += ["prev_hash", "hash", "case_ids"]


def _inserts_for(dialect: sa.Dialect) -> tuple[Prepared, Prepared]:
    found = _INSERTS.get(dialect.name)
    if found is None:
        found = (
            Prepared(audit_table.insert().inline(), dialect, column_keys=_AUDIT_COLUMNS),
            Prepared(audit_cases_table.insert().inline(), dialect, column_keys=["case_id", "seq"]),
        )
        _INSERTS[dialect.name] = found
    return found


def append_entries(conn: sa.Connection, entries: Sequence[AuditEntry]) -> AuditHead:
    """Chain `entries` onto the stored head inside the caller's write transaction."""
    locking = _LOCK_HEAD.with_for_update() if conn.dialect.name == "postgresql" else _LOCK_HEAD
    head = conn.execute(locking).first()
    if head is None:
        raise RuntimeError("the audit log has no head row: run `daycase migrate`")
    seq, prev_hash = int(head[0]), str(head[1])
    rows: list[dict[str, Any]] = []
    listed: list[tuple[str, int]] = []
    for entry in entries:
        seq += 1
        at = entry.at.isoformat()
        body = audit_body(
            at=at,
            user_name=entry.user_name,
            role=entry.role,
            action=entry.action,
            case_id=entry.case_id,
            detail=entry.detail,
            case_ids=entry.case_ids,
        )
        digest = chain_hash(prev_hash, body)
        rows.append(
            {
                "seq": seq,
                "at": at,
                "user_name": entry.user_name,
                "role": entry.role,
                "action": entry.action,
                "case_id": entry.case_id,
                "detail": entry.detail,
                "prev_hash": prev_hash,
                "hash": digest,
                "case_ids": json.dumps(list(entry.case_ids)) if entry.case_ids else None,
            }
        )
        listed.extend((case_id, seq) for case_id in dict.fromkeys(entry.case_ids))
        prev_hash = digest
    if rows:
        # A board read writes one row per case shown (600 on a big day): through the
        # driver's own executemany, as the event append does, not Core's per-row work,
        # which cost more than hashing them (measured with bench/board.py).
        insert, insert_listed = _inserts_for(conn.dialect)
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(insert.sql, insert.params_many(rows))
            if listed:
                cursor.executemany(
                    insert_listed.sql,
                    insert_listed.params_many([{"case_id": c, "seq": s} for c, s in listed]),
                )
        finally:
            cursor.close()
        conn.execute(
            audit_head_table.update()
            .where(audit_head_table.c.id == 1)
            .values(last_seq=seq, last_hash=prev_hash)
        )
    return AuditHead(seq, prev_hash)


_CHAIN_COLUMNS = (
    audit_table.c.seq,
    audit_table.c.at,
    audit_table.c.user_name,
    audit_table.c.role,
    audit_table.c.action,
    audit_table.c.case_id,
    audit_table.c.detail,
    audit_table.c.prev_hash,
    audit_table.c.hash,
    audit_table.c.case_ids,
)


def listed_cases(row: Any) -> list[str]:
    """The cases a many-case row lists (its stored JSON array), else none."""
    text = row.case_ids
    return [str(c) for c in json.loads(text)] if text else []


def stored_head(conn: sa.Connection) -> AuditHead | None:
    """The head row as stored; None when it is missing."""
    row = conn.execute(_LOCK_HEAD).first()
    return AuditHead(int(row[0]), str(row[1])) if row else None


def check_audit_chain(
    rows: Iterable[Any], *, head: AuditHead | None, after: AuditHead | None = None
) -> tuple[list[AuditProblem], AuditHead]:
    """Re-compute the chain over `rows` (seq order) from `after` (the genesis by default).

    Returns the first problem found (at most one, plus a head mismatch) and where the
    chain as computed ends: what may be anchored.
    """
    start = after or AuditHead(0, GENESIS_HASH)
    expected, prev_hash = start.seq + 1, start.hash
    for row in rows:
        seq = int(row.seq)
        if seq != expected:
            return [
                AuditProblem(
                    seq,
                    f"audit rows are missing or reordered: expected row {expected}, found {seq}",
                )
            ], AuditHead(expected - 1, prev_hash)
        body = audit_body(
            at=row.at,
            user_name=row.user_name,
            role=row.role,
            action=row.action,
            case_id=row.case_id,
            detail=row.detail,
            case_ids=listed_cases(row),
        )
        if chain_hash(prev_hash, body) != row.hash:
            if row.prev_hash != prev_hash and chain_hash(row.prev_hash, body) == row.hash:
                problem = (
                    f"audit rows are missing or reordered: row {seq} does not follow row {seq - 1}"
                )
            else:
                problem = f"audit row {seq} was edited (hash mismatch)"
            return [AuditProblem(seq, problem)], AuditHead(expected - 1, prev_hash)
        if row.prev_hash != prev_hash:
            return [AuditProblem(seq, f"audit row {seq} was edited (prev_hash)")], AuditHead(
                expected - 1, prev_hash
            )
        prev_hash = row.hash
        expected += 1
    end = AuditHead(expected - 1, prev_hash)
    if head is None:
        return [AuditProblem(end.seq, "the audit log has no head row")], end
    if head.seq != end.seq:
        return [
            AuditProblem(
                head.seq,
                f"the audit log was cut: its head says row {head.seq}, the rows end at row "
                f"{end.seq}",
            )
        ], end
    if head.hash != end.hash:
        return [
            AuditProblem(end.seq, f"the audit log was cut: row {end.seq} differs from its head")
        ], end
    return [], end


def verify_audit(
    conn: sa.Connection, *, after: AuditHead | None = None
) -> tuple[list[AuditProblem], AuditHead, int]:
    """Check the stored audit chain (from `after`, else from its start) in the caller's
    snapshot: problems, where the checked chain ends, and how many rows it holds."""
    head = stored_head(conn)
    query = sa.select(*_CHAIN_COLUMNS).order_by(audit_table.c.seq)
    if after is not None:
        query = query.where(audit_table.c.seq > after.seq)
    with conn.execution_options(yield_per=2000).execute(query) as rows:
        problems, end = check_audit_chain(rows, head=head, after=after)
    problems += _index_problems(conn, after=after.seq if after else 0)
    if after is not None and after.seq > 0:
        problems = _still_passes(conn, after) + problems
    count = conn.execute(sa.select(sa.func.count()).select_from(audit_table)).scalar_one()
    return problems, end, int(count)


def listed_pairs(conn: sa.Connection, *, after: int = 0) -> set[tuple[str, int]]:
    """(case id, row) for every case a many-case row lists: what `audit_cases` must hold."""
    query = sa.select(audit_table.c.seq, audit_table.c.case_ids).where(
        audit_table.c.case_ids.is_not(None), audit_table.c.seq > after
    )
    return {(case_id, int(row.seq)) for row in conn.execute(query) for case_id in listed_cases(row)}


def _index_problems(conn: sa.Connection, *, after: int) -> list[AuditProblem]:
    """The per-case index must list exactly what the hashed rows list: a deleted index row
    would hide a read from "who read this case"."""
    wanted = listed_pairs(conn, after=after)
    query = sa.select(audit_cases_table.c.case_id, audit_cases_table.c.seq).where(
        audit_cases_table.c.seq > after
    )
    stored = {(str(r.case_id), int(r.seq)) for r in conn.execute(query)}
    differing = sorted(seq for _, seq in wanted ^ stored)
    if not differing:
        return []
    return [
        AuditProblem(
            differing[0],
            f"the audit log's index of cases read differs from row {differing[0]} "
            "(run daycase projections rebuild)",
        )
    ]


def _still_passes(conn: sa.Connection, anchor: AuditHead) -> list[AuditProblem]:
    """Does the stored chain still pass through `anchor`, the row a checkpoint proved?"""
    stored = conn.execute(
        sa.select(audit_table.c.hash).where(audit_table.c.seq == anchor.seq)
    ).scalar_one_or_none()
    if stored is None:
        return [AuditProblem(anchor.seq, f"the audit log no longer holds row {anchor.seq}")]
    if stored != anchor.hash:
        return [
            AuditProblem(anchor.seq, f"the audit log was rewritten at or before row {anchor.seq}")
        ]
    return []
