"""Where every chain ends, checked before it is anchored, and stored hashes at anchored
places (store room).

`collect_heads` reads the case index and the audit head in one snapshot and re-computes
the chains that moved since the last checkpoint, so a checkpoint only ever vouches for a
chain that was intact and still passes through what was anchored before. `stored_hashes`
reads what verification against checkpoints compares.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from daycase.store.audit import AuditHead, AuditProblem, verify_audit
from daycase.store.base import ChainProblem
from daycase.store.chain import StoredRow, check_chain
from daycase.store.codec import GENESIS_HASH
from daycase.store.sql import snapshot
from daycase.store.tables import audit_table, cases_table, events_table

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Head:
    """The end of one case's chain: its last seq and that event's hash."""

    seq: int
    hash: str


@dataclass(slots=True)
class HeadsScan:
    """What may be anchored now, and what was found wrong on the way."""

    cases: dict[str, Head] = field(default_factory=dict)
    audit: AuditHead = field(default_factory=lambda: AuditHead(0, GENESIS_HASH))
    problems: list[ChainProblem] = field(default_factory=list)
    audit_problems: list[AuditProblem] = field(default_factory=list)


def collect_heads(
    engine: sa.Engine, *, base: Mapping[str, Head], base_audit: AuditHead | None
) -> HeadsScan:
    """Heads to anchor, starting from a checkpoint's `base` (empty: check every chain).

    A case whose chain is broken, or no longer passes through its `base` head, keeps that
    base head (so the next checkpoint still proves where it stood) and is reported.
    """
    scan = HeadsScan()
    with snapshot(engine).connect() as conn:
        index = {
            str(r.case_id): Head(int(r.last_seq), str(r.last_hash))
            for r in conn.execute(
                sa.select(cases_table.c.case_id, cases_table.c.last_seq, cases_table.c.last_hash)
            )
        }
        changed = sorted(case_id for case_id, head in index.items() if base.get(case_id) != head)
        for case_id, head in index.items():
            if base.get(case_id) == head:
                scan.cases[case_id] = head
        for case_id, rows in _chains(conn, changed):
            _check_moved(scan, case_id, rows, index=index[case_id], before=base.get(case_id))
        for case_id in sorted(base.keys() - index.keys()):
            scan.cases[case_id] = base[case_id]
            scan.problems.append(
                ChainProblem(
                    case_id,
                    base[case_id].seq,
                    "the case is no longer in the case index (deleted?); not anchored again",
                )
            )
        problems, end, _ = verify_audit(conn, after=base_audit)
        scan.audit_problems = problems
        scan.audit = end if not problems else (base_audit or AuditHead(0, GENESIS_HASH))
    return scan


def _chains(conn: sa.Connection, case_ids: Sequence[str]) -> Iterator[tuple[str, list[StoredRow]]]:
    """Each named case's stored rows in seq order (an empty list for a case with none)."""
    for start in range(0, len(case_ids), _CHUNK):
        chunk = case_ids[start : start + _CHUNK]
        query = (
            sa.select(
                events_table.c.case_id,
                events_table.c.seq,
                events_table.c.body,
                events_table.c.prev_hash,
                events_table.c.hash,
            )
            .where(events_table.c.case_id.in_(chunk))
            .order_by(events_table.c.case_id, events_table.c.seq)
        )
        found: dict[str, list[StoredRow]] = {}
        rows = conn.execute(query)
        for case_id, group in itertools.groupby(rows, key=lambda r: str(r.case_id)):
            found[case_id] = [StoredRow(r.seq, r.body, r.prev_hash, r.hash) for r in group]
        for case_id in chunk:
            yield case_id, found.get(case_id, [])


def _check_moved(
    scan: HeadsScan, case_id: str, rows: list[StoredRow], *, index: Head, before: Head | None
) -> None:
    problem: ChainProblem | None
    if not rows:
        problem = ChainProblem(
            case_id, index.seq, f"history was cut: no events, index at {index.seq}"
        )
    else:
        problem = check_chain(case_id, rows, last_seq=index.seq, last_hash=index.hash)
    if problem is None and before is not None:
        at = next((row for row in rows if row.seq == before.seq), None)
        if at is None or at.hash != before.hash:
            problem = ChainProblem(
                case_id,
                before.seq,
                f"the chain no longer passes through seq {before.seq} as last anchored: "
                "re-sealed or cut since; not anchored again",
            )
    if problem is None:
        scan.cases[case_id] = index
        return
    scan.problems.append(problem)
    if before is not None:
        scan.cases[case_id] = before


@dataclass(slots=True)
class StoredHashes:
    """Hashes stored at the places checkpoints anchored, and where each chain ends now."""

    at: dict[tuple[str, int], str] = field(default_factory=dict)
    ends: dict[str, int] = field(default_factory=dict)
    audit_at: dict[int, str] = field(default_factory=dict)
    audit_end: int = 0


def stored_hashes(
    engine: sa.Engine, *, wanted: Mapping[str, set[int]], audit_wanted: set[int]
) -> StoredHashes:
    """Read (in one snapshot) the stored hash at every wanted (case, seq) and audit row."""
    found = StoredHashes()
    with snapshot(engine).connect() as conn:
        events = sa.select(events_table.c.case_id, events_table.c.seq, events_table.c.hash)
        with conn.execution_options(yield_per=5000).execute(events) as rows:
            for case_id, seq, digest in rows:
                if seq > found.ends.get(case_id, 0):
                    found.ends[case_id] = seq
                seqs = wanted.get(case_id)
                if seqs is not None and seq in seqs:
                    found.at[(case_id, seq)] = digest
        audit = sa.select(audit_table.c.seq, audit_table.c.hash)
        with conn.execution_options(yield_per=5000).execute(audit) as rows:
            for seq, digest in rows:
                found.audit_end = max(found.audit_end, seq)
                if seq in audit_wanted:
                    found.audit_at[seq] = digest
    return found
