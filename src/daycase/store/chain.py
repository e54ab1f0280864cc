"""Batch rules and the hash chain every store shares (store room).

`seal` turns events into canonical bodies chained by SHA-256; `check_chain` re-computes a
case's chain and says in plain words where a stored history was edited, reordered or cut.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from daycase.engine.events import CaseOpened, Event
from daycase.store.base import ChainProblem, ConcurrencyError
from daycase.store.codec import (
    GENESIS_HASH,
    chain_hash,
    event_body,
    event_from_dict,
    event_kind,
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
        body = event_body(event)
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
