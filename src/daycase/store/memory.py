"""The in-memory event store (store room).

The scenario runner and the simulation use `MemoryEventStore`; it keeps the same canonical
bodies and hash chain as the SQL store, so `verify()` and `load()` behave identically.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from daycase.engine.events import CaseOpened, CaseRescheduled, Event
from daycase.store.base import (
    CaseSummary,
    ChainProblem,
    ConcurrencyError,
    FamilyCodeTaken,
    IdempotencyKey,
    KeyUsed,
    Subscriber,
)
from daycase.store.chain import StoredRow, check_batch, check_chain, parse_body, seal
from daycase.store.codec import GENESIS_HASH


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
        self._keys: dict[str, tuple[str, Event]] = {}
        self._subscribers: list[Subscriber] = []

    def append(
        self,
        events: Sequence[Event],
        *,
        expected_seq: int,
        idempotency: IdempotencyKey | None = None,
    ) -> None:
        """Append one case's events atomically, or raise and store nothing."""
        if not events:
            return
        case_id = check_batch(events, expected_seq=expected_seq)
        with self._lock:
            if idempotency is not None and idempotency.key in self._keys:
                raise KeyUsed(idempotency.key)
            rows = self._rows.get(case_id, [])
            last_seq = rows[-1].seq if rows else 0
            if last_seq != expected_seq:
                raise ConcurrencyError(
                    f"case {case_id} is at seq {last_seq}, not {expected_seq}; reload and retry"
                )
            taken = [event.event_id for event in events if event.event_id in self._event_ids]
            if taken:
                raise ValueError(f"event id {taken[0]} is already stored")
            first = events[0]
            if isinstance(first, CaseOpened):
                on = first.scheduled_start.date()
                if any(
                    e.scheduled_date == on and e.summary.family_code == first.family_code
                    for e in self._index.values()
                ):
                    raise FamilyCodeTaken(first.family_code, on)
            sealed = seal(events, prev_hash=rows[-1].hash if rows else GENESIS_HASH)
            if isinstance(first, CaseOpened):
                summary = CaseSummary(
                    case_id=case_id,
                    pathway_id=first.pathway_id,
                    pathway_version=first.pathway_version,
                    pathway_digest=first.pathway_digest,
                    scheduled_start_iso=first.scheduled_start.isoformat(),
                    family_code=first.family_code,
                    last_seq=events[-1].seq,
                )
                self._index[case_id] = _IndexEntry(summary, first.scheduled_start.date())
            else:
                entry = self._index[case_id]
                summary = replace(entry.summary, last_seq=events[-1].seq)
                day = entry.scheduled_date
                moves = [e for e in events if isinstance(e, CaseRescheduled)]
                if moves:  # the index follows a booking to its new start
                    start = moves[-1].scheduled_start
                    code = entry.summary.family_code
                    if start.date() != day and any(
                        e.scheduled_date == start.date() and e.summary.family_code == code
                        for other, e in self._index.items()
                        if other != case_id
                    ):
                        raise FamilyCodeTaken(code, start.date())
                    summary = replace(summary, scheduled_start_iso=start.isoformat())
                    day = start.date()
                self._index[case_id] = _IndexEntry(summary, day)
            self._rows[case_id] = [*rows, *(item.row for item in sealed)]
            self._event_ids.update(event.event_id for event in events)
            if idempotency is not None:
                self._keys[idempotency.key] = (idempotency.request, events[-1])
        for subscriber in self._subscribers:
            subscriber(case_id)

    async def append_async(
        self,
        events: Sequence[Event],
        *,
        expected_seq: int,
        idempotency: IdempotencyKey | None = None,
    ) -> None:
        """Memory never blocks: the same as `append`."""
        self.append(events, expected_seq=expected_seq, idempotency=idempotency)

    def replay(self, key: str) -> tuple[str, Event] | None:
        with self._lock:
            return self._keys.get(key)

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

    def cases_between(self, first: date, last: date) -> list[CaseSummary]:
        with self._lock:
            entries = list(self._index.values())
        chosen = [e.summary for e in entries if first <= e.scheduled_date <= last]
        return sorted(chosen, key=lambda s: (s.scheduled_start_iso, s.case_id))

    def changed_since(self, since: datetime) -> list[str]:
        with self._lock:
            histories = {case_id: list(rows) for case_id, rows in self._rows.items()}
        return sorted(
            case_id
            for case_id, rows in histories.items()
            if any(parse_body(row.body).recorded_at >= since for row in rows)
        )

    def day_signature(self, *, on: date) -> tuple[int, int, int]:
        with self._lock:
            ends = [
                (e.summary.last_seq, self._rows[case_id][-1].hash)
                for case_id, e in self._index.items()
                if e.scheduled_date == on
            ]
        return len(ends), sum(s for s, _ in ends), sum(int(h[:4], 16) for _, h in ends)

    def case(self, case_id: str) -> CaseSummary | None:
        with self._lock:
            entry = self._index.get(case_id)
        return entry.summary if entry else None

    def family_codes(self, *, on: date) -> set[str]:
        return {case.family_code for case in self.cases(on=on)}

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

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
