"""The in-memory event store, and the batch rules and chain check every store shares (store room).

The scenario runner and the simulation use `MemoryEventStore`; it keeps the same canonical
bodies and hash chain as the SQL store, so `verify()` and `load()` behave identically.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from daycase.engine.events import CaseOpened, Event
from daycase.store.base import CaseSummary, ChainProblem, ConcurrencyError
from daycase.store.codec import (
    GENESIS_HASH,
    canonical_json,
    chain_hash,
    event_from_dict,
    event_kind,
    event_to_dict,
)


@dataclass(frozen=True, slots=True)
class StoredRow:
    """One event as a store keeps it: the canonical body and its link in the chain."""

    seq: int
    body: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class SealedEvent:
    """An event ready to insert: its stored row plus the columns indexed beside it."""

    event: Event
    kind: str
    row: StoredRow


def check_batch(events: Sequence[Event], *, expected_seq: int) -> str:
    """Refuse a malformed batch before any storage is touched; return its case id.

    A seq that does not continue `expected_seq` is a concurrency conflict (the protocol
    says so); everything else here is a caller bug and raises `ValueError`.
    """
    case_id = events[0].case_id
    if any(event.case_id != case_id for event in events):
        raise ValueError("a batch must hold events of one case")
    if events[0].seq != expected_seq + 1:
        raise ConcurrencyError(
            f"case {case_id}: first event has seq {events[0].seq}, expected {expected_seq + 1}"
        )
    for before, after in itertools.pairwise(events):
        if after.seq != before.seq + 1:
            raise ValueError(f"case {case_id}: seq {after.seq} does not follow {before.seq}")
    for event in events:
        if isinstance(event, CaseOpened) != (event.seq == 1):
            raise ValueError(f"case {case_id}: CaseOpened must be the event with seq 1, only")
    ids = [event.event_id for event in events]
    if len(set(ids)) != len(ids):
        raise ValueError(f"case {case_id}: the batch repeats an event id")
    return case_id


def seal(events: Sequence[Event], *, prev_hash: str) -> list[SealedEvent]:
    """Serialise events canonically and chain their hashes on from `prev_hash`."""
    sealed: list[SealedEvent] = []
    for event in events:
        body = canonical_json(event_to_dict(event))
        digest = chain_hash(prev_hash, body)
        row = StoredRow(seq=event.seq, body=body, prev_hash=prev_hash, hash=digest)
        sealed.append(SealedEvent(event=event, kind=event_kind(event), row=row))
        prev_hash = digest
    return sealed


def parse_body(body: str) -> Event:
    """Rebuild an event from its stored canonical body."""
    return event_from_dict(json.loads(body))


def check_chain(
    case_id: str,
    rows: Iterable[StoredRow],
    *,
    last_seq: int | None,
    last_hash: str | None,
) -> ChainProblem | None:
    """Re-compute one case's chain from the genesis hash; the first problem found, if any.

    `last_seq`/`last_hash` come from the case index (None when it has no row for the case):
    a chain alone cannot show that its newest events were deleted, the index can.
    """
    expected_seq = 1
    prev_hash = GENESIS_HASH
    for row in rows:
        if row.seq != expected_seq:
            return ChainProblem(
                case_id,
                row.seq,
                f"events are missing or reordered: expected seq {expected_seq}, found {row.seq}",
            )
        try:
            event = parse_body(row.body)
        except (ValueError, KeyError, TypeError):
            return ChainProblem(case_id, row.seq, f"event {row.seq} body does not parse")
        if chain_hash(prev_hash, row.body) != row.hash:
            if chain_hash(row.prev_hash, row.body) == row.hash and row.prev_hash != prev_hash:
                problem = (
                    f"events are missing or reordered: the event stored as seq {row.seq} "
                    f"does not follow seq {row.seq - 1}"
                )
            else:
                problem = f"event {row.seq} was edited (hash mismatch)"
            return ChainProblem(case_id, row.seq, problem)
        if row.prev_hash != prev_hash:
            return ChainProblem(case_id, row.seq, f"event {row.seq} was edited (prev_hash)")
        if event.seq != row.seq or event.case_id != case_id:
            return ChainProblem(
                case_id,
                row.seq,
                f"events are missing or reordered: the event stored as seq {row.seq} "
                f"says case {event.case_id} seq {event.seq}",
            )
        prev_hash = row.hash
        expected_seq += 1
    end_seq = expected_seq - 1
    if last_seq is None:
        return ChainProblem(
            case_id, end_seq, f"the case index has no row (events end at {end_seq})"
        )
    if last_seq != end_seq:
        return ChainProblem(
            case_id,
            last_seq,
            f"history was cut: the case index ends at seq {last_seq}, the events at seq {end_seq}",
        )
    if last_hash != prev_hash:
        return ChainProblem(
            case_id, end_seq, f"history was cut: event {end_seq} differs from the case index"
        )
    return None


@dataclass(frozen=True, slots=True)
class _IndexEntry:
    summary: CaseSummary
    scheduled_date: date


class MemoryEventStore:
    """An `EventStore` held in process memory; one lock makes it safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, list[StoredRow]] = {}
        self._index: dict[str, _IndexEntry] = {}
        self._event_ids: set[str] = set()

    def append(self, events: Sequence[Event], *, expected_seq: int) -> None:
        """Append one case's events atomically, or raise and store nothing."""
        if not events:
            return
        case_id = check_batch(events, expected_seq=expected_seq)
        with self._lock:
            rows = self._rows.get(case_id, [])
            last_seq = rows[-1].seq if rows else 0
            if last_seq != expected_seq:
                raise ConcurrencyError(
                    f"case {case_id} is at seq {last_seq}, not {expected_seq}; reload and retry"
                )
            taken = [event.event_id for event in events if event.event_id in self._event_ids]
            if taken:
                raise ValueError(f"event id {taken[0]} is already stored")
            sealed = seal(events, prev_hash=rows[-1].hash if rows else GENESIS_HASH)
            first = events[0]
            if isinstance(first, CaseOpened):
                summary = CaseSummary(
                    case_id=case_id,
                    pathway_id=first.pathway_id,
                    scheduled_start_iso=first.scheduled_start.isoformat(),
                    family_code=first.family_code,
                )
                self._index[case_id] = _IndexEntry(summary, first.scheduled_start.date())
            self._rows[case_id] = [*rows, *(item.row for item in sealed)]
            self._event_ids.update(event.event_id for event in events)

    def load(self, case_id: str) -> list[Event]:
        """Every event of the case in seq order, parsed afresh so callers share no state."""
        with self._lock:
            rows = list(self._rows.get(case_id, ()))
        return [parse_body(row.body) for row in rows]

    def cases(self, *, on: date | None = None) -> list[CaseSummary]:
        """Cases scheduled on a local date, ordered like the SQL store (start text, id)."""
        with self._lock:
            entries = list(self._index.values())
        chosen = [e.summary for e in entries if on is None or e.scheduled_date == on]
        return sorted(chosen, key=lambda s: (s.scheduled_start_iso, s.case_id))

    def verify(self) -> list[ChainProblem]:
        """Re-compute every chain exactly as the SQL store does."""
        with self._lock:
            snapshot = {case_id: list(rows) for case_id, rows in self._rows.items()}
        problems: list[ChainProblem] = []
        for case_id in sorted(snapshot):
            rows = snapshot[case_id]
            last = rows[-1] if rows else None
            problem = check_chain(
                case_id,
                rows,
                last_seq=last.seq if last else 0,
                last_hash=last.hash if last else GENESIS_HASH,
            )
            if problem:
                problems.append(problem)
        return problems

    def close(self) -> None:
        """Nothing to release; present to satisfy the protocol."""
