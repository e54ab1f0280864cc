"""The board read model: each case's board and family rows, kept, not re-folded (service room).

Folding and evaluating a case costs about 1.8 ms, so a board that did it per request grew
with the day (a second for 600 cases, per viewer, per refresh). Here each case's rows are
kept with the seq they were evaluated at and the instant they next change by the clock
alone (`engine.changes.next_change_at`). A read takes the day's index rows (one indexed
query, which carries each case's last seq) and re-evaluates only the cases that moved on
since (written by any process) or whose time came; everything else is served as kept,
with its minutes-in-phase stamped at the read. A tick (`keep_time`) re-evaluates due
cases with nobody reading and reports those whose rows changed, so time-based alerts
reach open boards on their own.

It is kept per process, in memory: rows are derived from events and the clock, so there
is nothing to store, and every process (a second server on PostgreSQL) keeps its own,
checked against the shared index on every read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TypeVar, cast

from daycase.engine.changes import next_change_at
from daycase.engine.evaluate import evaluate
from daycase.services.access import Reader
from daycase.services.board import (
    BoardRow,
    FamilyRow,
    RoomFacts,
    board_row,
    family_row,
    minutes_since,
    room_facts,
)
from daycase.services.cases import CaseNotFound, CaseService, Clock
from daycase.services.views import board_row_json
from daycase.store.base import CaseSummary
from daycase.types import JSON, JSONObject

log = logging.getLogger(__name__)
T = TypeVar("T")
# A 100-room health system has ~600 cases a day; a few days of them fit many times over.
KEPT_CASES = 20_000
KEPT_DAYS = 8
TICK_S = 1.0


@dataclass(frozen=True, slots=True)
class _Kept:
    seq: int
    staff: BoardRow
    family: FamilyRow
    facts: RoomFacts
    evaluated_at: datetime
    changes_at: datetime | None
    # The staff row as JSON per kind of reader, split where its minutes go: a board read
    # joins these instead of building and encoding 600 rows (half of what it cost).
    fragments: dict[str, tuple[str, str]] = field(default_factory=dict, compare=False)

    def current(self, seq: int, now: datetime) -> bool:
        return (
            self.seq == seq
            and self.evaluated_at <= now
            and (self.changes_at is None or now < self.changes_at)
        )

    def stamped(self, now: datetime) -> tuple[BoardRow, FamilyRow]:
        """The rows with their minutes counted at `now` (the only part that moves freely)."""
        since = self.staff.phase_since
        minutes = minutes_since(since, now)
        if minutes == self.staff.minutes_in_phase:
            return self.staff, self.family
        return (
            replace(self.staff, minutes_in_phase=minutes),
            replace(self.family, minutes_in_status=minutes),
        )


@dataclass(slots=True)
class _DayView:
    """A day's kept rows as of `signature`, good until a row's time comes (`valid_until`);
    `memo` holds what was made of them, good until a row's minutes turn over."""

    signature: tuple[int, int, int]
    kept: list[_Kept]
    built_at: datetime
    valid_until: datetime | None
    minutes_until: datetime | None
    memo: dict[Hashable, object] = field(default_factory=dict)

    def current(self, signature: tuple[int, int, int], now: datetime) -> bool:
        return (
            self.signature == signature
            and self.built_at <= now
            and (self.valid_until is None or now < self.valid_until)
        )


def _next_minute(kept: list[_Kept], now: datetime) -> datetime | None:
    """The first instant after `now` at which some row's whole minutes in phase go up."""
    soonest: datetime | None = None
    for k in kept:
        since = k.staff.phase_since
        if since is None:
            continue
        elapsed = max(0.0, (now - since).total_seconds())
        turn = since + timedelta(seconds=(math.floor(elapsed / 60) + 1) * 60)
        if soonest is None or turn < soonest:
            soonest = turn
    return soonest


class BoardModel:
    """Board and family rows per case, current on every read; safe across threads."""

    def __init__(self, service: CaseService, *, clock: Clock) -> None:
        self._service = service
        self._clock = clock
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._views: OrderedDict[date, _DayView] = OrderedDict()
        self._lock = threading.Lock()

    # --- reads ---------------------------------------------------------------------

    def day(self, on: date, *, now: datetime) -> list[tuple[BoardRow, FamilyRow]]:
        """Every case scheduled on `on`, by scheduled start then family code."""
        return [kept.stamped(now) for kept in self._day(on, now)]

    def board_json(self, on: date, *, now: datetime, reader: Reader) -> tuple[str, list[str]]:
        """The staff board of `on` as `reader` may see it, as the API's JSON text, and the
        ids of the cases it shows (for the read audit)."""
        key = "clinical" if reader.clinical else reader.role

        def build(kept_rows: list[_Kept]) -> tuple[str, list[str]]:
            parts: list[str] = []
            for kept in kept_rows:
                fragment = kept.fragments.get(key)
                if fragment is None:
                    row = board_row_json(reader.board_row(kept.staff))
                    withheld: list[JSON] = list(reader.withheld)
                    fragment = _split_at_minutes({**row, "withheld": withheld})
                    kept.fragments[key] = fragment
                minutes = minutes_since(kept.staff.phase_since, now)
                shown = "null" if minutes is None else str(minutes)
                parts.append(fragment[0] + shown + fragment[1])
            return "[" + ",".join(parts) + "]", [kept.staff.case_id for kept in kept_rows]

        return self._memo(on, now=now, key=("json", key), build=build)

    def rows_text(
        self,
        on: date,
        *,
        now: datetime,
        key: str,
        render: Callable[[BoardRow], str],
        no_minutes: str = "",
    ) -> tuple[list[str], list[str]]:
        """Each staff row of `on` as text (a page's table row), and the case ids. `render`
        gets a row whose minutes in phase are `MINUTES_MARK`; its text is kept per case
        (per `key`) split at that mark, and each read puts the minutes in (`no_minutes`
        where a case has none), so 600 rows are rendered once, not once a minute."""

        def build(kept_rows: list[_Kept]) -> tuple[list[str], list[str]]:
            texts: list[str] = []
            for kept in kept_rows:
                fragment = kept.fragments.get(key)
                if fragment is None:
                    text = render(replace(kept.staff, minutes_in_phase=MINUTES_MARK))
                    before, mark, after = text.partition(str(MINUTES_MARK))
                    assert mark, "a rendered row shows its minutes in phase"
                    fragment = kept.fragments[key] = (before, after)
                minutes = minutes_since(kept.staff.phase_since, now)
                texts.append(
                    fragment[0] + (no_minutes if minutes is None else str(minutes)) + fragment[1]
                )
            return texts, [kept.staff.case_id for kept in kept_rows]

        return self._memo(on, now=now, key=("text", key), build=build)

    def _memo(
        self, on: date, *, now: datetime, key: Hashable, build: Callable[[list[_Kept]], T]
    ) -> T:
        """What `build` makes of the day's kept rows (a board's JSON, a page's rows), made
        once and served again until the day changes: a case written, a row's time come,
        or any row's minutes in phase turning over."""
        view = self._view(on, now)
        with self._lock:
            if view.minutes_until is not None and now >= view.minutes_until:
                view.memo.clear()
                view.minutes_until = _next_minute(view.kept, now)
            if key in view.memo:
                return cast(T, view.memo[key])
        made = build(view.kept)
        with self._lock:
            view.memo[key] = made
        return made

    def day_facts(self, on: date, *, now: datetime) -> list[tuple[BoardRow, RoomFacts]]:
        """Every case of `on` with what the schedule and the room board read of it."""
        return [(kept.stamped(now)[0], kept.facts) for kept in self._day(on, now)]

    def board(self, on: date, *, now: datetime) -> list[BoardRow]:
        return [staff for staff, _ in self.day(on, now=now)]

    def family_board(self, on: date, *, now: datetime, ended_last: bool = False) -> list[FamilyRow]:
        """The waiting-room rows in booked order; with `ended_last`, the patients whose day
        has ended (gone home, staying, moved, not today) after those still here."""
        kept = self._day(on, now)
        if ended_last:
            kept = sorted(kept, key=lambda k: k.facts.closed)
        return [k.stamped(now)[1] for k in kept]

    def case(self, case_id: str, *, now: datetime) -> tuple[BoardRow, FamilyRow] | None:
        """One case's rows as stored now; None when there is no such case."""
        head = self._service.store.case(case_id)
        kept = self._current(head, now) if head is not None else None
        return kept.stamped(now) if kept is not None else None

    # --- keeping time ----------------------------------------------------------------

    def refresh_due(self, now: datetime) -> list[str]:
        """Re-evaluate the kept cases whose rows change by `now`; the ids whose rows did."""
        with self._lock:
            due = [
                (case_id, kept)
                for case_id, kept in self._kept.items()
                if kept.changes_at is not None and kept.changes_at <= now
            ]
        changed: list[str] = []
        for case_id, before in due:
            after = self._evaluate(case_id, before.seq, now)
            if after is None:
                continue
            if _visible(after) != _visible(before):
                changed.append(case_id)
        return changed

    async def keep_time(self, changed: Callable[[str], None], *, every_s: float = TICK_S) -> None:
        """Run until cancelled: each `every_s`, re-evaluate what came due and hand the ids
        of changed cases to `changed` (the live hub), as a write would."""
        while True:
            await asyncio.sleep(every_s)
            try:
                for case_id in await asyncio.to_thread(self.refresh_due, self._clock()):
                    changed(case_id)
            except Exception:
                log.exception("board tick failed; trying again next tick")

    def warm(self, on: date) -> None:
        """Evaluate a day ahead of its first reader (the server does today's at start)."""
        self.day(on, now=self._clock())

    # --- inside ------------------------------------------------------------------------

    def _day(self, on: date, now: datetime) -> list[_Kept]:
        return self._view(on, now).kept

    def _view(self, on: date, now: datetime) -> _DayView:
        """The day's kept rows in board order, re-read only when the day changed.

        The signature (cases and the sum of their last seqs) is read before the rows: a
        write between the two leaves a view whose signature is older than its rows, which
        the next read rebuilds; the other order could keep rows older than their signature."""
        signature = self._service.store.day_signature(on=on)
        with self._lock:
            view = self._views.get(on)
        if view is not None and view.current(signature, now):
            return view
        if view is not None and view.signature == signature and view.built_at <= now:
            # Nothing written since: only rows whose time came are evaluated again, at the
            # seq they were kept at (the day's rows need not be read again).
            found = [
                kept
                for k in view.kept
                if (kept := self._current_at(k.staff.case_id, k.seq, now)) is not None
            ]
        else:
            found = [
                kept
                for head in self._service.store.cases(on=on)
                if (kept := self._current_at(head.case_id, head.last_seq, now))
            ]
            found.sort(key=lambda k: (k.staff.scheduled_start, k.staff.family_code))
        changes = [k.changes_at for k in found if k.changes_at is not None]
        view = _DayView(
            signature=signature,
            kept=found,
            built_at=now,
            valid_until=min(changes, default=None),
            minutes_until=_next_minute(found, now),
        )
        with self._lock:
            self._views[on] = view
            self._views.move_to_end(on)
            while len(self._views) > KEPT_DAYS:
                self._views.popitem(last=False)
        return view

    def _current(self, head: CaseSummary, now: datetime) -> _Kept | None:
        return self._current_at(head.case_id, head.last_seq, now)

    def _current_at(self, case_id: str, seq: int, now: datetime) -> _Kept | None:
        with self._lock:
            kept = self._kept.get(case_id)
        if kept is None or not kept.current(seq, now):
            kept = self._evaluate(case_id, seq, now)
        return kept

    def _evaluate(self, case_id: str, seq: int, now: datetime) -> _Kept | None:
        """Fold (or take the write path's warm copy at that seq) and evaluate at `now`."""
        found = self._service.warm_evaluation(case_id, now=now)
        if found is not None and found[0].last_seq == seq:
            state, ev = found
        else:
            try:
                state = self._service.state(case_id)
            except CaseNotFound:
                return None
            ev = evaluate(self._service.pathway_of(state), state, now)
        pathway = self._service.pathway_of(state)
        kept = _Kept(
            seq=state.last_seq,
            staff=board_row(pathway, state, ev, now=now),
            family=family_row(pathway, state, ev, now=now),
            facts=room_facts(pathway, state, ev),
            evaluated_at=now,
            changes_at=next_change_at(pathway, state, now),
        )
        with self._lock:
            held = self._kept.get(case_id)
            # Two readers may race: never let an older history replace a newer one.
            if (
                held is None
                or held.seq < kept.seq
                or (held.seq == kept.seq and held.evaluated_at <= now)
            ):
                self._kept[case_id] = kept
                self._kept.move_to_end(case_id)
                while len(self._kept) > KEPT_CASES:
                    self._kept.popitem(last=False)
        return kept


# Never a count of minutes: marks where a row's minutes go in its JSON.
MINUTES_MARK = -918_273_645


def _split_at_minutes(row: JSONObject) -> tuple[str, str]:
    """A row's JSON text, split where the value of `minutes_in_phase` goes."""
    text = json.dumps(
        {**row, "minutes_in_phase": MINUTES_MARK}, ensure_ascii=False, separators=(",", ":")
    )
    before, mark, after = text.partition(f'"minutes_in_phase":{MINUTES_MARK}')
    assert mark, "a board row has its minutes in phase"
    return before + '"minutes_in_phase":', after


def _visible(kept: _Kept) -> tuple[object, ...]:
    """What a board shows of a case, minutes aside (those are stamped at every read)."""
    return (
        replace(kept.staff, minutes_in_phase=None),
        replace(kept.family, minutes_in_status=None),
    )
