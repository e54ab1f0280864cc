"""The event-store contract every backend keeps (store room).

A store appends events to a case atomically, refuses a stale `expected_seq` with
`ConcurrencyError` (optimistic concurrency: the caller reloads and decides again), chains a
SHA-256 hash through each case's events, and can re-check those chains.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from daycase.engine.events import Event


class ConcurrencyError(Exception):
    """Another writer appended to the case first; reload, decide again, retry."""


class StoreBusy(Exception):
    """The database is locked by another program or did not answer in time (503 with
    Retry-After). Almost always nothing was stored; a connection lost during the commit
    itself may leave it unknown, which is why a retry is safe only as the same write: its
    Idempotency-Key, or its expected seq, turns a repeat into the stored original."""


class KeyUsed(Exception):
    """The idempotency key already stands for a stored write: answer with that one."""


class FamilyCodeTaken(Exception):
    """Another case booked on that day already holds the opening's family code: the
    family board would show two patients under one code. Nothing was stored; draw
    another code and open again."""

    def __init__(self, code: str, on: date) -> None:
        super().__init__(f"family code {code} is already taken on {on.isoformat()}")
        self.code = code
        self.on = on


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's key for one write, as stored: `key` is a digest of who sent it and the
    key itself (two users never share keys), `request` a digest of what was asked."""

    key: str
    request: str


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """One row of the case index: enough to list a day's cases without loading events.

    `last_seq` is where the case's history ends: a read model kept at an older seq is
    stale (the board projection compares the two on every read)."""

    case_id: str
    pathway_id: str
    pathway_version: str
    pathway_digest: str
    scheduled_start_iso: str
    family_code: str
    last_seq: int = 0


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """A case whose stored history no longer matches its hash chain."""

    case_id: str
    seq: int
    problem: str


# Called with a case id once an append to that case has committed.
Subscriber = Callable[[str], None]


class EventStore(Protocol):
    """What the service layer needs from storage; one implementation per backend."""

    def append(
        self,
        events: Sequence[Event],
        *,
        expected_seq: int,
        idempotency: IdempotencyKey | None = None,
    ) -> None:
        """Append events of one case in one transaction.

        The first event's `seq` must be `expected_seq + 1` and the case's stored last seq
        must be `expected_seq` (0 for a new case), else `ConcurrencyError`. With an
        `idempotency` key the key is stored in the same transaction; a key already stored
        raises `KeyUsed` and stores nothing. An opening whose family code another case of
        its day (its start's local date) already holds raises `FamilyCodeTaken` and stores
        nothing: checked inside the transaction, so two openings never share a code.
        """
        ...

    async def append_async(
        self,
        events: Sequence[Event],
        *,
        expected_seq: int,
        idempotency: IdempotencyKey | None = None,
    ) -> None:
        """`append` for a caller on an event loop: the loop is not blocked meanwhile."""
        ...

    def replay(self, key: str) -> tuple[str, Event] | None:
        """The request digest and the last event stored under an idempotency key."""
        ...

    def load(self, case_id: str) -> list[Event]:
        """Every event of the case in `seq` order; empty when the case is unknown."""
        ...

    def cases(self, *, on: date | None = None) -> list[CaseSummary]:
        """Cases scheduled on a local calendar date (all cases when `on` is None)."""
        ...

    def case(self, case_id: str) -> CaseSummary | None:
        """The case's index row; None when the case is unknown."""
        ...

    def family_codes(self, *, on: date) -> set[str]:
        """The family codes already given to cases on that date (a new one must differ)."""
        ...

    def cases_between(self, first: date, last: date) -> list[CaseSummary]:
        """Cases scheduled from local date `first` to `last`, both included, by start."""
        ...

    def changed_since(self, since: datetime) -> list[str]:
        """Cases with an event recorded at or after `since` (an instant), by case id."""
        ...

    def day_signature(self, *, on: date) -> tuple[int, int, int]:
        """(cases, sum of their last seqs, sum of a number read off each one's last hash)
        on a date: it changes with every case opened and every event appended to one
        (seqs only grow), so a read model of the day can tell it is still current without
        reading the day's rows. The hash part is for moves: one case leaving a day as
        another arrives may leave the count and the seqs as they were, not the hashes."""
        ...

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call `subscriber(case_id)` after every committed append, this process's and, where
        the database can tell (PostgreSQL), every other process's: the one way live views
        learn of a change. It runs on a store thread and must return quickly."""
        ...

    def verify(self) -> list[ChainProblem]:
        """Re-compute every hash chain; one problem per damaged case, empty when intact."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
