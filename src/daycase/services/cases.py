"""The case service: every write and read of a case goes through here (service room).

Each write is: load the case state → let the pure engine decide → append with the
expected sequence number. When another writer got there first the store says so
(`ConcurrencyError`) and the command is decided again on fresh state, so no event is
lost, duplicated or reordered and the hash chain stays whole.

A write is written once, as a plan that asks for its I/O (`_Load`, `_Append`, …) and is
driven either by a thread (`record`, for the CLI, scenarios and tests) or by the server's
event loop (`record_async`): the loop decides in place and only the transaction leaves
it, which halves what a write costs the server.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from daycase.engine.check import (
    decide_amend,
    decide_open,
    decide_record,
    decide_reschedule,
    decide_void,
)
from daycase.engine.commands import (
    Actor,
    AmendEvent,
    OpenCase,
    RecordStep,
    Refusal,
    RescheduleCase,
    VoidEvent,
)
from daycase.engine.evaluate import Evaluation, evaluate
from daycase.engine.events import (
    CaseOpened,
    CaseRescheduled,
    Event,
    EventAmended,
    EventVoided,
    StepRecorded,
)
from daycase.engine.fold import CaseState, apply, fold
from daycase.pathways.schema import Pathway
from daycase.services.catalog import PathwayCatalog
from daycase.store.base import (
    ConcurrencyError,
    EventStore,
    FamilyCodeTaken,
    IdempotencyKey,
    KeyUsed,
)

Clock = Callable[[], datetime]
E = TypeVar("E", bound=Event)
MAX_ATTEMPTS = 50
CACHE_SIZE = 2048


class CaseNotFound(LookupError):
    """No case with that id (a 404 through the API)."""


def system_clock() -> datetime:
    return datetime.now(UTC)


class _RandomIds:
    """Random 128-bit hex ids from the OS's generator, read 4 KiB at a time.

    One `os.urandom` call per id releases the GIL on the server's event loop for every
    write, and taking it back behind the writer thread costs more than the id itself.
    The buffer is dropped in a forked child, so two processes never share ids.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0
        os.register_at_fork(after_in_child=self._drop)

    def _drop(self) -> None:
        self._buffer, self._at = b"", 0

    def __call__(self) -> str:
        with self._lock:
            if self._at + 16 > len(self._buffer):
                self._buffer, self._at = os.urandom(4096), 0
            at = self._at
            self._at = at + 16
            return self._buffer[at : at + 16].hex()


random_id = _RandomIds()


def shifted_clock(offset_s: float) -> Clock:
    """The system clock moved by `offset_s` seconds: the seam tests and training days use."""
    if not offset_s:
        return system_clock
    offset = timedelta(seconds=offset_s)
    return lambda: datetime.now(UTC) + offset


@dataclass(frozen=True, slots=True)
class WriteKey:
    """A client's Idempotency-Key for one write and a digest of the request it came with."""

    key: str
    request: str


def code_clash(code: str, on: date) -> Refusal:
    """A move refused because another case of the new day holds the family code."""
    return Refusal.of_fields(
        {
            "scheduled_start": f"another case on {on} already has this case's family code "
            f"{code}; cancel this booking and book the patient again for that day"
        }
    )


def request_digest(*parts: str | bytes) -> str:
    """A digest of what a write asked for, to tell a true retry from a reused key."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


# The I/O a write plan asks its driver for; the answer is sent back into the plan.
@dataclass(frozen=True, slots=True)
class _Load:
    case_id: str


@dataclass(frozen=True, slots=True)
class _Append:
    event: Event
    expected_seq: int
    key: IdempotencyKey | None


@dataclass(frozen=True, slots=True)
class _Replay:
    key: str


@dataclass(frozen=True, slots=True)
class _Day:
    on: date


@dataclass(frozen=True, slots=True)
class _Pause:
    seconds: float


_Io = _Load | _Append | _Replay | _Day | _Pause
Plan = Generator[_Io, Any, E | Refusal]


class CaseService:
    """Use cases over one event store. Clock, ids and randomness are injectable for tests."""

    def __init__(
        self,
        store: EventStore,
        *,
        catalog: PathwayCatalog | None = None,
        clock: Clock = system_clock,
        new_id: Callable[[], str] = random_id,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog or PathwayCatalog()
        self.clock = clock
        self.new_id = new_id
        self._rng = rng
        self._cache: OrderedDict[str, CaseState] = OrderedDict()
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._async_locks: dict[str, asyncio.Lock] = {}

    # --- writes, from a thread ---------------------------------------------------------

    def open_case(self, cmd: OpenCase, *, key: WriteKey | None = None) -> CaseOpened | Refusal:
        """Open a case with a family code unique among that day's cases."""
        return self._run(self._open(cmd, key))

    def record(
        self, case_id: str, cmd: RecordStep, *, key: WriteKey | None = None
    ) -> StepRecorded | Refusal:
        with self._case_lock(case_id):
            return self._run(
                self._write(case_id, self._deciding_record(cmd), key, cmd.actor, StepRecorded)
            )

    def amend(
        self, case_id: str, cmd: AmendEvent, *, key: WriteKey | None = None
    ) -> EventAmended | Refusal:
        with self._case_lock(case_id):
            return self._run(
                self._write(case_id, self._deciding_amend(cmd), key, cmd.actor, EventAmended)
            )

    def void(
        self, case_id: str, cmd: VoidEvent, *, key: WriteKey | None = None
    ) -> EventVoided | Refusal:
        with self._case_lock(case_id):
            return self._run(
                self._write(case_id, self._deciding_void(cmd), key, cmd.actor, EventVoided)
            )

    def reschedule(
        self, case_id: str, cmd: RescheduleCase, *, key: WriteKey | None = None
    ) -> CaseRescheduled | Refusal:
        """Move a booking to another start (the engine says when it may move)."""
        with self._case_lock(case_id):
            return self._run(self._reschedule(case_id, cmd, key))

    # --- the same writes, from the event loop --------------------------------------------

    async def open_case_async(
        self, cmd: OpenCase, *, key: WriteKey | None = None
    ) -> CaseOpened | Refusal:
        return await self._run_async(self._open(cmd, key))

    async def record_async(
        self, case_id: str, cmd: RecordStep, *, key: WriteKey | None = None
    ) -> StepRecorded | Refusal:
        return await self._locked_async(
            case_id, self._write(case_id, self._deciding_record(cmd), key, cmd.actor, StepRecorded)
        )

    async def amend_async(
        self, case_id: str, cmd: AmendEvent, *, key: WriteKey | None = None
    ) -> EventAmended | Refusal:
        return await self._locked_async(
            case_id, self._write(case_id, self._deciding_amend(cmd), key, cmd.actor, EventAmended)
        )

    async def void_async(
        self, case_id: str, cmd: VoidEvent, *, key: WriteKey | None = None
    ) -> EventVoided | Refusal:
        return await self._locked_async(
            case_id, self._write(case_id, self._deciding_void(cmd), key, cmd.actor, EventVoided)
        )

    # --- reads ---------------------------------------------------------------------------

    def state(self, case_id: str) -> CaseState:
        """The case as stored now, read afresh: other processes may have written.

        The state returned is the caller's own; the write path keeps a separate warm copy.
        """
        state = fold(self.store.load(case_id))
        if state.opened is None:
            raise CaseNotFound(case_id)
        return state

    def pathway_of(self, state: CaseState) -> Pathway:
        """The exact definition the case was opened with (PathwayUnavailable otherwise)."""
        assert state.opened is not None
        return self.catalog.for_case(state.opened)

    def evaluate(
        self, case_id: str, *, now: datetime | None = None
    ) -> tuple[CaseState, Evaluation]:
        state = self.state(case_id)
        return state, evaluate(self.pathway_of(state), state, now or self.clock())

    def warm_evaluation(
        self, case_id: str, *, now: datetime
    ) -> tuple[CaseState, Evaluation] | None:
        """The case as this process last wrote it, evaluated, without reading the store;
        None when it is not warm or a writer holds it right now (then read it afresh).

        Live board rows come from here: the write path has just folded the case, so
        loading and folding it again for every change would double a write's cost.
        """
        lock = self._case_lock(case_id)
        if not lock.acquire(blocking=False):
            return None
        try:
            with self._lock:
                state = self._cache.get(case_id)
            if state is None:
                return None
            return state, evaluate(self.pathway_of(state), state, now)
        finally:
            lock.release()

    # --- the plans -----------------------------------------------------------------------

    def _deciding_record(self, cmd: RecordStep) -> Callable[[Pathway, CaseState], Any]:
        return lambda p, s: decide_record(p, s, cmd, event_id=self.new_id(), now=self.clock())

    def _deciding_amend(self, cmd: AmendEvent) -> Callable[[Pathway, CaseState], Any]:
        return lambda p, s: decide_amend(p, s, cmd, event_id=self.new_id(), now=self.clock())

    def _deciding_void(self, cmd: VoidEvent) -> Callable[[Pathway, CaseState], Any]:
        return lambda p, s: decide_void(p, s, cmd, event_id=self.new_id(), now=self.clock())

    def _open(self, cmd: OpenCase, key: WriteKey | None) -> Plan[CaseOpened]:
        stored_key = self._stored_key(key, cmd.actor)
        if stored_key is not None:
            replayed = yield from self._replayed(stored_key, CaseOpened)
            if replayed is not None:
                return replayed
        pathway = self.catalog.get(cmd.pathway_id, cmd.pathway_version)
        case_id, event_id = self.new_id(), self.new_id()
        # The store checks the code in the opening's own transaction, so nothing is read
        # first: a code drawn twice on one day (rare) is refused there and drawn again,
        # clear of every code the day holds by then.
        taken: set[str] = set()
        for _ in range(MAX_ATTEMPTS):
            decision = decide_open(
                pathway,
                cmd,
                case_id=case_id,
                event_id=event_id,
                now=self.clock(),
                family_code=self._family_code(pathway, taken),
            )
            if not isinstance(decision, CaseOpened):
                return decision
            try:
                yield _Append(decision, 0, stored_key)
            except FamilyCodeTaken as clash:
                taken |= {clash.code, *(yield _Day(clash.on))}
                continue
            except KeyUsed:
                assert stored_key is not None
                replayed = yield from self._replayed(stored_key, CaseOpened)
                if replayed is not None:
                    return replayed
                raise
            self._remember(fold([decision]))
            return decision
        raise RuntimeError("no free family code left for this day")

    def _reschedule(
        self, case_id: str, cmd: RescheduleCase, key: WriteKey | None
    ) -> Plan[CaseRescheduled]:
        """A move keeps the case's family code, so on another day no other case may hold
        it: the family board would show two patients under one code."""
        day = cmd.scheduled_start.date() if cmd.scheduled_start.tzinfo else None
        taken: set[str] = (yield _Day(day)) if day else set()

        def decide(pathway: Pathway, state: CaseState) -> CaseRescheduled | Refusal:
            decided = decide_reschedule(
                pathway, state, cmd, event_id=self.new_id(), now=self.clock()
            )
            opened = state.opened
            assert opened is not None
            if (
                isinstance(decided, CaseRescheduled)
                and decided.scheduled_start.date() != opened.scheduled_start.date()
                and opened.family_code in taken
            ):
                return code_clash(opened.family_code, decided.scheduled_start.date())
            return decided

        return (yield from self._write(case_id, decide, key, cmd.actor, CaseRescheduled))

    def _write(
        self,
        case_id: str,
        decide: Callable[[Pathway, CaseState], E | Refusal],
        key: WriteKey | None,
        actor: Actor,
        kind: type[E],
    ) -> Plan[E]:
        """Decide on the warm copy, append, and on a lost race decide again on fresh state.

        Writers of one case take turns in this process (the caller holds its lock); other
        processes are caught by the store's seq check.
        """
        stored_key = self._stored_key(key, actor)
        if stored_key is not None:
            replayed = yield from self._replayed(stored_key, kind)
            if replayed is not None:
                return replayed
        state, fresh = self._warm(case_id)
        if state is None:
            state, fresh = (yield from self._reload(case_id)), True
        for attempt in range(MAX_ATTEMPTS):
            decision = decide(self.pathway_of(state), state)
            if isinstance(decision, Refusal):
                if fresh:
                    return decision
                # The warm copy may lag writes made by another process (a second server,
                # the CLI): refuse only on what is stored now, never on a stale gate.
                latest = yield from self._reload(case_id)
                fresh = True
                if latest.last_seq == state.last_seq:
                    return decision
                state = latest
                continue
            try:
                yield _Append(decision, state.last_seq, stored_key)
            except ConcurrencyError:
                yield _Pause(min(0.001 * attempt, 0.02) * random.random())
                state, fresh = (yield from self._reload(case_id)), True
                continue
            except KeyUsed:
                assert stored_key is not None
                replayed = yield from self._replayed(stored_key, kind)
                if replayed is not None:
                    return replayed
                raise
            except FamilyCodeTaken as clash:  # a move onto a day that took the code meanwhile
                return code_clash(clash.code, clash.on)
            apply(state, decision)
            return decision
        raise ConcurrencyError(f"case {case_id}: gave up after {MAX_ATTEMPTS} concurrent retries")

    def _stored_key(self, key: WriteKey | None, actor: Actor) -> IdempotencyKey | None:
        """Keys are the sender's own: the same key from two users names two writes."""
        if key is None:
            return None
        return IdempotencyKey(key=request_digest(actor.name, key.key), request=key.request)

    def _replayed(
        self, key: IdempotencyKey, kind: type[E]
    ) -> Generator[_Io, Any, E | Refusal | None]:
        """The write already stored under this key, or a refusal if the key was used for
        another request; None when the key is new."""
        found: tuple[str, Event] | None = yield _Replay(key.key)
        if found is None:
            return None
        request, event = found
        if request != key.request or not isinstance(event, kind):
            problem = "was already used for a different request; send a new key"
            return Refusal(
                "invalid", (f"Idempotency-Key: {problem}",), {"Idempotency-Key": problem}
            )
        return event

    def _reload(self, case_id: str) -> Generator[_Io, Any, CaseState]:
        events: list[Event] = yield _Load(case_id)
        state = fold(events)
        if state.opened is None:
            raise CaseNotFound(case_id)
        self._remember(state)
        return state

    # --- drivers -------------------------------------------------------------------------

    def _run(self, plan: Plan[E]) -> E | Refusal:
        """Drive a plan from this thread, with blocking I/O."""
        answer: Any = None
        error: Exception | None = None
        while True:
            try:
                io = plan.send(answer) if error is None else plan.throw(error)
            except StopIteration as stop:
                result: E | Refusal = stop.value
                return result
            answer, error = None, None
            try:
                answer = self._io(io)
            except Exception as exc:
                error = exc

    def _io(self, io: _Io) -> Any:
        match io:
            case _Append(event, expected_seq, key):
                return self.store.append([event], expected_seq=expected_seq, idempotency=key)
            case _Load(case_id):
                return self.store.load(case_id)
            case _Replay(key):
                return self.store.replay(key)
            case _Day(on):
                return self.store.family_codes(on=on)
            case _Pause(seconds):
                return time.sleep(seconds)

    async def _run_async(self, plan: Plan[E]) -> E | Refusal:
        """Drive a plan on the event loop: deciding runs here, I/O elsewhere."""
        answer: Any = None
        error: Exception | None = None
        while True:
            try:
                io = plan.send(answer) if error is None else plan.throw(error)
            except StopIteration as stop:
                result: E | Refusal = stop.value
                return result
            answer, error = None, None
            try:
                answer = await self._io_async(io)
            except Exception as exc:
                error = exc

    async def _io_async(self, io: _Io) -> Any:
        match io:
            case _Append(event, expected_seq, key):
                return await self.store.append_async(
                    [event], expected_seq=expected_seq, idempotency=key
                )
            case _Load(case_id):
                return await asyncio.to_thread(self.store.load, case_id)
            case _Replay(key):
                return await asyncio.to_thread(self.store.replay, key)
            case _Day(on):
                return await asyncio.to_thread(self.store.family_codes, on=on)
            case _Pause(seconds):
                return await asyncio.sleep(seconds)

    async def _locked_async(self, case_id: str, plan: Plan[E]) -> E | Refusal:
        """Take the case's turn without blocking the loop: first among this loop's writers,
        then the lock a thread's writer (the CLI in-process, a test) would hold."""
        async with self._async_lock(case_id):
            lock = self._case_lock(case_id)
            while not lock.acquire(blocking=False):
                await asyncio.sleep(0.002)
            try:
                return await self._run_async(plan)
            finally:
                lock.release()

    # --- the warm copies ---------------------------------------------------------------

    def _case_lock(self, case_id: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(case_id, threading.Lock())

    def _async_lock(self, case_id: str) -> asyncio.Lock:
        with self._lock:
            return self._async_locks.setdefault(case_id, asyncio.Lock())

    def _warm(self, case_id: str) -> tuple[CaseState | None, bool]:
        """The warm copy of the case (None when not held), and that it was not just read."""
        with self._lock:
            state = self._cache.get(case_id)
            if state is not None:
                self._cache.move_to_end(case_id)
        return state, False

    def _remember(self, state: CaseState) -> None:
        with self._lock:
            self._cache[state.case_id] = state
            self._cache.move_to_end(state.case_id)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def _family_code(self, pathway: Pathway, taken: set[str]) -> str:
        alphabet = pathway.family.code_alphabet
        for _ in range(1000):
            if self._rng is not None:
                code = "".join(
                    self._rng.choice(alphabet) for _ in range(pathway.family.code_length)
                )
            else:
                code = "".join(secrets.choice(alphabet) for _ in range(pathway.family.code_length))
            if code not in taken:
                return code
        raise RuntimeError("no free family code left for this day")
