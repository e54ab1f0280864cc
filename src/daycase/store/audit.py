"""The audit log as one hash chain: appending under the head's lock, reading, checking (store room).

Each row is hashed (SHA-256) over the previous row's hash and its own canonical JSON, in
`seq` order, so an edited, deleted or reordered row shows when the chain is re-computed;
`audit_head` says where the chain ends, so a cut tail shows too. Writers append one at a
time: SQLite's `BEGIN IMMEDIATE` already serialises them, and PostgreSQL locks the head
row (`FOR UPDATE`) for the transaction, across every server process.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from daycase.store.codec import GENESIS_HASH, canonical_json, chain_hash
from daycase.store.sql import Prepared
from daycase.store.tables import (
    audit_case_lists_table,
    audit_head_table,
    audit_list_cases_table,
    audit_table,
)


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
    case_list: str | None = None,
) -> str:
    """The canonical text of one audit row: what its hash covers with the previous hash.

    Its place (`seq`) is not in it: the link to the previous row already fixes the order,
    and leaving it out lets a moved row be told from an edited one. `case_list` (the
    SHA-256 of the list of cases a read showed) is in it only when there is one, so rows
    written before it existed keep their hashes.
    """
    body: dict[str, Any] = {
        "at": at,
        "user_name": user_name,
        "role": role,
        "action": action,
        "case_id": case_id,
        "detail": detail,
    }
    if case_list:
        body["case_list"] = case_list
    return canonical_json(body)


def case_list(case_ids: Sequence[str]) -> tuple[str, str]:
    """A list of cases a read showed: its canonical JSON and the SHA-256 naming it."""
    text = json.dumps(list(dict.fromkeys(case_ids)), ensure_ascii=False, separators=(",", ":"))
    return text, hashlib.sha256(text.encode()).hexdigest()


_LOCK_HEAD = sa.select(audit_head_table.c.last_seq, audit_head_table.c.last_hash).where(
    audit_head_table.c.id == 1
)


_INSERTS: dict[str, Prepared] = {}
_AUDIT_COLUMNS = ["seq", "at", "user_name", "role", "action", "case_id", "detail"]
_AUDIT_COLUMNS += ["prev_hash", "hash", "case_list"]
# A new list, then its cases in one statement over the JSON array: row by row, SQLite's
# driver lets go of the GIL at each row and must win it back from the request threads.
_NEW_LIST = {
    "sqlite": "INSERT INTO audit_case_lists (list_hash, case_ids) VALUES (?, ?) "
    "ON CONFLICT DO NOTHING",
    "postgresql": "INSERT INTO audit_case_lists (list_hash, case_ids) VALUES (%s, %s) "
    "ON CONFLICT DO NOTHING",
}
_LIST_CASES = {
    "sqlite": "INSERT INTO audit_list_cases (case_id, list_hash) SELECT value, ? FROM json_each(?)",
    "postgresql": "INSERT INTO audit_list_cases (case_id, list_hash) "
    "SELECT value, %s FROM json_array_elements_text(%s::json)",
}


def _insert_for(dialect: sa.Dialect) -> Prepared:
    found = _INSERTS.get(dialect.name)
    if found is None:
        found = Prepared(audit_table.insert().inline(), dialect, column_keys=_AUDIT_COLUMNS)
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
    lists: dict[str, str] = {}  # hash -> JSON array of the cases, for each list named
    for entry in entries:
        seq += 1
        at = entry.at.isoformat()
        named = None
        if entry.case_ids:
            text, named = case_list(entry.case_ids)
            lists[named] = text
        body = audit_body(
            at=at,
            user_name=entry.user_name,
            role=entry.role,
            action=entry.action,
            case_id=entry.case_id,
            detail=entry.detail,
            case_list=named,
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
                "case_list": named,
            }
        )
        prev_hash = digest
    if rows:
        # Through the driver's own cursor, as the event append does; a list of cases is
        # written once, the first time a read shows it (measured with bench/board.py).
        insert = _insert_for(conn.dialect)
        dialect = conn.dialect.name
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(insert.sql, insert.params_many(rows))
            for named, text in lists.items():
                cursor.execute(_NEW_LIST[dialect], (named, text))
                if cursor.rowcount == 1:
                    cursor.execute(_LIST_CASES[dialect], (named, text))
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
    audit_table.c.case_list,
)


def listed_cases(text: str | None) -> tuple[str, ...]:
    """The cases a stored list holds (its JSON array), else none."""
    return tuple(str(c) for c in json.loads(text)) if text else ()


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
            case_list=row.case_list,
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


def list_pairs(conn: sa.Connection) -> tuple[set[tuple[str, str]], list[str]]:
    """(case id, list) for every case of every stored list that still matches its hash:
    what `audit_list_cases` must hold; and the lists that no longer match."""
    pairs: set[tuple[str, str]] = set()
    edited: list[str] = []
    for row in conn.execute(sa.select(audit_case_lists_table)).all():
        cases = listed_cases(row.case_ids)
        if case_list(cases)[1] != row.list_hash:
            edited.append(str(row.list_hash))
            continue
        pairs.update((case_id, str(row.list_hash)) for case_id in cases)
    return pairs, edited


def _index_problems(conn: sa.Connection, *, after: int) -> list[AuditProblem]:
    """Every list a row names must be stored, unchanged, and indexed by case: a list
    edited or an index row deleted would hide a read from "who read this case"."""
    wanted, edited = list_pairs(conn)
    named = sa.select(audit_table.c.seq, audit_table.c.case_list).where(
        audit_table.c.case_list.is_not(None), audit_table.c.seq > after
    )
    stored_lists = set(conn.execute(sa.select(audit_case_lists_table.c.list_hash)).scalars())
    for row in conn.execute(named.order_by(audit_table.c.seq)).all():
        if row.case_list not in stored_lists:
            return [AuditProblem(row.seq, f"the list of cases audit row {row.seq} read is missing")]
        if row.case_list in edited:
            return [AuditProblem(row.seq, f"the list of cases audit row {row.seq} read was edited")]
    index = sa.select(audit_list_cases_table.c.case_id, audit_list_cases_table.c.list_hash)
    stored = {(str(r.case_id), str(r.list_hash)) for r in conn.execute(index)}
    if stored != wanted:
        return [
            AuditProblem(
                0,
                "the audit log's index of cases read differs from its lists "
                "(run daycase projections rebuild)",
            )
        ]
    return []


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
