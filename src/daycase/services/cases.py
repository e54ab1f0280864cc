"""The case service: every write and read of a case goes through here (service room).

Each write is: load the case state → let the pure engine decide → append with the
expected sequence number. When another writer got there first the store says so
(`ConcurrencyError`) and the command is decided again on fresh state, so no event is
lost, duplicated or reordered and the hash chain stays whole.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from daycase.engine.check import decide_amend, decide_open, decide_record, decide_void
from daycase.engine.commands import AmendEvent, OpenCase, RecordStep, Refusal, VoidEvent
from daycase.engine.evaluate import Evaluation, evaluate
from daycase.engine.events import CaseOpened, Event, EventAmended, EventVoided, StepRecorded
from daycase.engine.fold import CaseState, apply, fold
from daycase.pathways.schema import Pathway
from daycase.services.catalog import PathwayCatalog
from daycase.store.base import ConcurrencyError, EventStore

Clock = Callable[[], datetime]
E = TypeVar("E", bound=Event)
MAX_ATTEMPTS = 50
CACHE_SIZE = 2048


class CaseNotFound(LookupError):
    """No case with that id (a 404 through the API)."""


def system_clock() -> datetime:
    return datetime.now(UTC)


def shifted_clock(offset_s: float) -> Clock:
    """The system clock moved by `offset_s` seconds: the seam tests and training days use."""
    if not offset_s:
        return system_clock
    offset = timedelta(seconds=offset_s)
    return lambda: datetime.now(UTC) + offset


class CaseService:
    """Use cases over one event store. Clock, ids and randomness are injectable for tests."""

    def __init__(
        self,
        store: EventStore,
        *,
        catalog: PathwayCatalog | None = None,
        clock: Clock = system_clock,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
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
        # Called with the case id after every accepted write (live updates in one process).
        self.on_change: Callable[[str], None] | None = None

    def open_case(self, cmd: OpenCase) -> CaseOpened | Refusal:
        """Open a case with a family code unique among that day's cases."""
        pathway = self.catalog.get(cmd.pathway_id, cmd.pathway_version)
        day = cmd.scheduled_start.date() if cmd.scheduled_start.tzinfo else None
        taken = {c.family_code for c in self.store.cases(on=day)} if day else set()
        code = self._family_code(pathway, taken)
        case_id = self.new_id()
        decision = decide_open(
            pathway,
            cmd,
            case_id=case_id,
            event_id=self.new_id(),
            now=self.clock(),
            family_code=code,
        )
        if isinstance(decision, CaseOpened):
            self.store.append([decision], expected_seq=0)
            self._remember(fold([decision]))
            self._changed(decision.case_id)
        return decision

    def record(self, case_id: str, cmd: RecordStep) -> StepRecorded | Refusal:
        return self._decide_and_append(
            case_id,
            lambda p, s: decide_record(p, s, cmd, event_id=self.new_id(), now=self.clock()),
        )

    def amend(self, case_id: str, cmd: AmendEvent) -> EventAmended | Refusal:
        return self._decide_and_append(
            case_id,
            lambda p, s: decide_amend(p, s, cmd, event_id=self.new_id(), now=self.clock()),
        )

    def void(self, case_id: str, cmd: VoidEvent) -> EventVoided | Refusal:
        return self._decide_and_append(
            case_id,
            lambda p, s: decide_void(p, s, cmd, event_id=self.new_id(), now=self.clock()),
        )

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

    def _decide_and_append(
        self, case_id: str, decide: Callable[[Pathway, CaseState], E | Refusal]
    ) -> E | Refusal:
        """Writers of one case take turns in this process; other processes are caught by seq."""
        with self._case_lock(case_id):
            return self._attempt(case_id, decide)

    def _attempt(
        self, case_id: str, decide: Callable[[Pathway, CaseState], E | Refusal]
    ) -> E | Refusal:
        state, fresh = self._cached(case_id)
        for attempt in range(MAX_ATTEMPTS):
            decision = decide(self.pathway_of(state), state)
            if isinstance(decision, Refusal):
                if fresh:
                    return decision
                # The warm copy may lag writes made by another process (a second server,
                # the CLI): refuse only on what is stored now, never on a stale gate.
                latest = self._reload(case_id)
                fresh = True
                if latest.last_seq == state.last_seq:
                    return decision
                state = latest
                continue
            try:
                self.store.append([decision], expected_seq=state.last_seq)
            except ConcurrencyError:
                time.sleep(min(0.001 * attempt, 0.02) * random.random())
                state, fresh = self._reload(case_id), True
                continue
            apply(state, decision)
            self._changed(case_id)
            return decision
        raise ConcurrencyError(f"case {case_id}: gave up after {MAX_ATTEMPTS} concurrent retries")

    def _changed(self, case_id: str) -> None:
        if self.on_change is not None:
            self.on_change(case_id)

    def _case_lock(self, case_id: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(case_id, threading.Lock())

    def _cached(self, case_id: str) -> tuple[CaseState, bool]:
        """The warm copy of the case, and whether it was read from the store just now."""
        with self._lock:
            state = self._cache.get(case_id)
            if state is not None:
                self._cache.move_to_end(case_id)
                return state, False
        return self._reload(case_id), True

    def _reload(self, case_id: str) -> CaseState:
        state = self.state(case_id)
        self._remember(state)
        return state

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
