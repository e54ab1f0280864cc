"""Fold a case's events into its state (engine room).

`fold` is pure and deterministic: the same events always give the same state. Amendments
are applied in `seq` order over the original entry; voided entries drop out of `valid`.
Rules read `by_step`, ordered by clinical time `at` and, on equal `at`, by `seq`
(the one recorded last comes last), never by arrival order alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from daycase.engine.events import (
    CaseOpened,
    CaseRescheduled,
    Event,
    EventAmended,
    EventVoided,
    StepRecorded,
)
from daycase.types import JSONObject


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """A step entry as it stands after every correction: what the rules read."""

    event_id: str
    seq: int
    step: str
    at: datetime
    original_at: datetime
    recorded_at: datetime
    data: JSONObject
    level: str | None
    actor: str
    role: str
    override: bool
    override_reason: str | None
    amended: bool = False


@dataclass(slots=True)
class CaseState:
    """Everything known about one case: its history and the entries in force.

    `opened` is the opening as it stands: after a `CaseRescheduled` its `scheduled_start`
    is the newest booked start (the stored opening, in `history`, keeps the first)."""

    opened: CaseOpened | None = None
    history: list[Event] = field(default_factory=list)
    entries: dict[str, Entry] = field(default_factory=dict)
    voided: set[str] = field(default_factory=set)
    valid: list[Entry] = field(default_factory=list)
    by_step: dict[str, list[Entry]] = field(default_factory=dict)
    last_seq: int = 0

    @property
    def case_id(self) -> str:
        return self.opened.case_id if self.opened else ""

    @property
    def planned_levels(self) -> tuple[str, ...]:
        return self.opened.levels if self.opened else ()

    def step_entries(self, step: str, *, until: datetime | None = None) -> list[Entry]:
        """Valid entries of a step in clinical order, optionally only those at or before `until`."""
        entries = self.by_step.get(step, [])
        if until is None:
            return entries
        return [e for e in entries if e.at <= until]

    def latest(self, step: str, *, until: datetime | None = None) -> Entry | None:
        entries = self.step_entries(step, until=until)
        return entries[-1] if entries else None

    def levels_with(self, step: str, *, until: datetime | None = None) -> set[str]:
        return {e.level for e in self.step_entries(step, until=until) if e.level}

    def without(self, event_id: str) -> CaseState:
        """The state as if one entry had not been recorded: what a moved entry's gate reads."""
        return CaseState(
            opened=self.opened,
            history=self.history,
            entries=self.entries,
            voided=self.voided | {event_id},
            valid=[e for e in self.valid if e.event_id != event_id],
            by_step={
                step: [e for e in entries if e.event_id != event_id]
                for step, entries in self.by_step.items()
            },
            last_seq=self.last_seq,
        )


def fold(events: Iterable[Event]) -> CaseState:
    """Build the state of one case from its events in `seq` order."""
    state = CaseState()
    for event in events:
        apply(state, event)
    return state


def apply(state: CaseState, event: Event) -> None:
    """Apply one more event in place; used by `fold` and by services that keep a state warm."""
    state.history.append(event)
    state.last_seq = event.seq
    if isinstance(event, CaseOpened):
        state.opened = event
        return
    if isinstance(event, CaseRescheduled):
        if state.opened is not None:
            state.opened = replace(state.opened, scheduled_start=event.scheduled_start)
        return
    if isinstance(event, StepRecorded):
        entry = Entry(
            event_id=event.event_id,
            seq=event.seq,
            step=event.step,
            at=event.at,
            original_at=event.at,
            recorded_at=event.recorded_at,
            data=event.data,
            level=event.level,
            actor=event.actor,
            role=event.role,
            override=event.override,
            override_reason=event.override_reason,
        )
        state.entries[entry.event_id] = entry
        _insert(state, entry)
        return
    target = state.entries.get(event.target_event_id)
    if target is None:
        return
    if isinstance(event, EventVoided):
        if target.event_id not in state.voided:
            state.voided.add(target.event_id)
            _remove(state, target)
        return
    if isinstance(event, EventAmended) and target.event_id not in state.voided:
        corrected = amend_entry(target, event)
        state.entries[target.event_id] = corrected
        _remove(state, target)
        _insert(state, corrected)


def amend_entry(entry: Entry, amendment: EventAmended) -> Entry:
    """The entry with an amendment applied: data merged (None removes a field), `at` replaced."""
    data = dict(entry.data)
    for key, value in (amendment.data or {}).items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    level = data.get("level") if entry.level is not None else None
    return replace(
        entry,
        at=amendment.at or entry.at,
        data=data,
        level=level if isinstance(level, str) else entry.level,
        amended=True,
        override=entry.override or amendment.override,
        override_reason=amendment.override_reason if amendment.override else entry.override_reason,
    )


def _key(entry: Entry) -> tuple[datetime, int]:
    return (entry.at, entry.seq)


def _insert(state: CaseState, entry: Entry) -> None:
    for bucket in (state.valid, state.by_step.setdefault(entry.step, [])):
        bucket.append(entry)
        if len(bucket) > 1 and _key(bucket[-2]) > _key(entry):
            bucket.sort(key=_key)


def _remove(state: CaseState, entry: Entry) -> None:
    state.valid = [e for e in state.valid if e.event_id != entry.event_id]
    state.by_step[entry.step] = [
        e for e in state.by_step[entry.step] if e.event_id != entry.event_id
    ]
