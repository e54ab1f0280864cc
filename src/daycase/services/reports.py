"""Quality reports over the report facts read model: keep it current, filter, build (service).

The facts rows are folded from the events. Before any report, the rows of its days that
lag behind their case (one join on the case index finds them) are folded again
(`refresh`), so a report is exact as of its last event. The write path does no report work:
a clinical write never waits for a fold (about 20 ms a case); the first report after a busy
day pays it once for that day's cases.

A server keeps each day's tallies (`measures.Tally`) per set of filters, with what they were
made from: the day's rows and their seqs, its schedule version and the set-up version. A
report reads those from the database, tallies again only the days where one of them moved
(or where a next-day call fell due since), and adds the days up: a year's report costs the
days that changed, not every case. The tallies of the report with no filter are also kept
in `report_days` under a fingerprint of the same things, so a new process (a restart,
each `daycase report`) reads a year's tallies rather than a year of rows.
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from daycase.engine.fold import fold
from daycase.reports.facts import VERSION as FACTS_VERSION
from daycase.reports.facts import CaseFacts, case_facts, from_json, to_json
from daycase.reports.measures import (
    MEASURES,
    TALLY_VERSION,
    Context,
    Placement,
    Tally,
    changes_at,
    finish,
    tallies_from_json,
    tallies_to_json,
    tally,
)
from daycase.reports.model import Filters, Report
from daycase.services.cases import Clock
from daycase.services.catalog import PathwayCatalog, PathwayUnavailable
from daycase.services.centre_setup import CentreSetupService
from daycase.services.schedule_plan import DaySchedule
from daycase.store.projections import Rebuilt
from daycase.store.report_days import DayRow, SqlReportDays
from daycase.store.report_facts import FactsRow, SqlReportFacts
from daycase.store.schedule import ScheduleRow, SqlSchedules

Progress = Callable[[int], None]


DEFAULT_DAYS = 90
# Parsed rows kept per process (about 2 kB each): several years of a busy centre.
MEMO_MAX = 400_000
MAX_DAYS = 366 * 5
# Days of tallies kept per process, each under one set of filters: years of reports.
DAYS_MAX = 20_000


class BadFilter(ValueError):
    """A filter the report cannot use, named (`field`) in words."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name
        self.problem = problem


def report_filters(
    *,
    today: date,
    start: date | None = None,
    end: date | None = None,
    room: str | None = None,
    proceduralist: str | None = None,
    pathway_id: str | None = None,
    pathway_version: str | None = None,
    levels: int | None = None,
) -> Filters:
    """The filters of a report, from what a person typed: the last 90 days by default."""
    last = end or today
    if start is None and last < date.min + timedelta(days=DEFAULT_DAYS):
        raise BadFilter("to", "is too early for a report")
    first = start or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise BadFilter("from", "the first day is after the last day")
    if (last - first).days >= MAX_DAYS:
        raise BadFilter("from", "a report covers at most five years")
    if levels is not None and not 1 <= levels <= 6:
        raise BadFilter("levels", "planned levels are 1 to 6")
    return Filters(
        first,
        last,
        room or None,
        proceduralist or None,
        pathway_id or None,
        pathway_version or None,
        levels,
    )


class UnknownMeasure(LookupError):
    def __init__(self, measure: str) -> None:
        super().__init__(f"no measure {measure!r}; the measures are: {', '.join(MEASURES)}")
        self.measure = measure


def fold_facts(
    catalog: PathwayCatalog,
    store: SqlReportFacts,
    case_ids: Sequence[str],
    progress: Progress | None = None,
    refused: list[tuple[str, str]] | None = None,
) -> list[FactsRow]:
    """The facts rows of these cases, folded from their stored events.

    Each case is judged by the exact definition it was opened on, never another version's
    rules: when that is not here, `PathwayUnavailable` (or, given `refused`, the case and
    the reason are added there and the rest go on)."""
    rows: list[FactsRow] = []
    for case_id, events in store.histories(case_ids):
        state = fold(events)
        opened = state.opened
        if opened is None:
            continue
        try:
            pathway = catalog.for_case(opened)
        except PathwayUnavailable as missing:
            if refused is None:
                raise
            refused.append((case_id, str(missing)))
            continue
        facts = case_facts(pathway, state)
        rows.append(FactsRow(case_id, facts.seq, facts.day.isoformat(), to_json(facts)))
        if progress is not None:
            progress(1)
    return rows


@dataclass(frozen=True, slots=True)
class _Day:
    """One day's tallies under one set of filters, and what they were made from."""

    seqs: dict[str, int]
    schedule: int
    setup: int
    until: datetime | None  # a next-day call falls due then: tally again
    cases: int
    tallies: dict[str, Tally]


@dataclass(frozen=True, slots=True)
class _Sources:
    """What a report's days are counted from, as the database holds it now: each day's
    rows at their seqs, each day's schedule version and the set-up version."""

    seqs: dict[str, dict[str, int]]
    schedules: dict[str, int]
    setup: int

    def fits(self, day: str, d: _Day) -> bool:
        """Whether `d` was counted from what the database holds for `day` now."""
        return (
            d.seqs == self.seqs[day]
            and d.schedule == self.schedules.get(day, 0)
            and d.setup == self.setup
        )

    def day(
        self, day: str, *, until: datetime | None, cases: int, tallies: dict[str, Tally]
    ) -> _Day:
        return _Day(self.seqs[day], self.schedules.get(day, 0), self.setup, until, cases, tallies)


FilterKey = tuple[str | int | None, ...]
NO_FILTER: FilterKey = (None, None, None, None, None)


@dataclass(slots=True)
class ReportService:
    facts: SqlReportFacts
    schedules: SqlSchedules
    setup: CentreSetupService
    catalog: PathwayCatalog
    clock: Clock
    tz: ZoneInfo
    days: SqlReportDays | None = None  # without it, nothing is kept beyond this process
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _memo: dict[str, CaseFacts] = field(default_factory=dict)
    _days: dict[tuple[str, FilterKey], _Day] = field(default_factory=dict)

    def refresh(
        self, first: date | None = None, last: date | None = None, progress: Progress | None = None
    ) -> int:
        """Fold again the rows of these days that lag behind their case; how many."""
        with self._lock:
            stale = self.facts.stale(first, last)
            if stale:
                self.facts.put(fold_facts(self.catalog, self.facts, stale, progress))
            return len(stale)

    def report(
        self, filters: Filters, *, measure: str | None = None, progress: Progress | None = None
    ) -> Report:
        """Every measure (or one) over the cases the filters choose, as of the clock."""
        if measure is not None and measure not in MEASURES:
            raise UnknownMeasure(measure)
        self.refresh(filters.start, filters.end, progress)
        base = self._base()
        key = _filter_key(filters)
        seqs: dict[str, dict[str, int]] = defaultdict(dict)
        for case_id, seq, day in self.facts.seqs_between(filters.start, filters.end):
            seqs[day][case_id] = seq
        sources = _Sources(
            seqs=seqs,
            schedules=self.schedules.latest_versions(filters.start, filters.end),
            setup=self.setup.current().version,
        )
        days: dict[str, _Day] = {}
        missed: list[str] = []
        for day in seqs:
            kept = self._days.get((day, key))
            if (
                kept is not None
                and sources.fits(day, kept)
                and (kept.until is None or base.now < kept.until)
            ):
                days[day] = kept
            else:
                missed.append(day)
        unfiltered = key == NO_FILTER and self.days is not None
        if missed and unfiltered:
            days.update(self._stored_days(missed, sources, base.now))
            missed = [day for day in missed if day not in days]
        if missed:
            made = self._tally_days(missed, sources, base, filters)
            days.update(made)
            if unfiltered and self.days is not None:
                self.days.put([self._stored(day, d) for day, d in made.items()])
        total = {m: Tally() for m in MEASURES}
        for day in sorted(days):  # in date order: the case lists come out in order
            for m, t in days[day].tallies.items():
                total[m].add(t)
        return finish(total, sum(d.cases for d in days.values()), filters, base, only=measure)

    def _tally_days(
        self, days: list[str], sources: _Sources, base: Context, filters: Filters
    ) -> dict[str, _Day]:
        """Tally these days again (every measure, so the day serves any later report)."""
        facts: dict[str, list[CaseFacts]] = defaultdict(list)
        for f in self._read([(c, s) for day in days for c, s in sources.seqs[day].items()]):
            facts[f.day.isoformat()].append(f)
        schedules: dict[str, list[ScheduleRow]] = defaultdict(list)
        for row in self.schedules.latest_between(
            date.fromisoformat(min(days)), date.fromisoformat(max(days))
        ):
            schedules[row.day].append(row)
        key = _filter_key(filters)
        made: dict[str, _Day] = {}
        for day in days:
            context = _with_schedules(base, schedules.get(day, []))
            chosen = [f for f in facts[day] if _kept(f, filters, context)]
            made[day] = sources.day(
                day,
                until=changes_at(chosen, base.now),
                cases=len(chosen),
                tallies=tally(chosen, context),
            )
            self._keep((day, key), made[day])
        return made

    def _stored_days(self, wanted: list[str], sources: _Sources, now: datetime) -> dict[str, _Day]:
        """The days whose kept tallies (`report_days`) were made from what is there now."""
        if self.days is None:
            return {}
        found: dict[str, _Day] = {}
        for day, row in self.days.get(wanted).items():
            until = None if row.until is None else datetime.fromisoformat(row.until)
            fingerprint = self._fingerprint(
                sources.seqs[day], sources.schedules.get(day, 0), sources.setup
            )
            if row.fingerprint != fingerprint or (until is not None and now >= until):
                continue
            tallies = tallies_from_json(row.body)
            if tallies is None:
                continue
            found[day] = sources.day(day, until=until, cases=row.cases, tallies=tallies)
            self._keep((day, NO_FILTER), found[day])
        return found

    def _keep(self, key: tuple[str, FilterKey], d: _Day) -> None:
        if len(self._days) >= DAYS_MAX:
            self._days.clear()  # a cold start again beats memory without bound
        self._days[key] = d

    def _stored(self, day: str, d: _Day) -> DayRow:
        return DayRow(
            day=day,
            fingerprint=self._fingerprint(d.seqs, d.schedule, d.setup),
            until=None if d.until is None else d.until.isoformat(),
            cases=d.cases,
            body=tallies_to_json(d.tallies),
        )

    def _fingerprint(self, seqs: dict[str, int], schedule: int, setup: int) -> str:
        """What a day's tallies were made from: its rows at their seqs, its schedule and
        set-up versions, the centre's time zone, and the shapes of rows and tallies."""
        digest = hashlib.sha256(
            f"{TALLY_VERSION}:{FACTS_VERSION}:{self.tz.key}:{schedule}:{setup}".encode()
        )
        digest.update("|".join(f"{c}:{seqs[c]}" for c in sorted(seqs)).encode())
        return digest.hexdigest()

    def read(self, first: date, last: date) -> list[CaseFacts]:
        """The facts rows of these days (parsed once per process, see `_read`)."""
        return self._read([(c, s) for c, s, _ in self.facts.seqs_between(first, last)])

    def _read(self, wanted: Iterable[tuple[str, int]]) -> list[CaseFacts]:
        """These rows, parsed once per process: a row is parsed again only when its case
        moved on (its `seq` changed)."""
        found: list[CaseFacts] = []
        misses: list[str] = []
        memo = self._memo
        for case_id, seq in wanted:
            kept = memo.get(case_id)
            if kept is not None and kept.seq == seq:
                found.append(kept)
            else:
                misses.append(case_id)
        stale: list[str] = []
        for row in self.facts.bodies(misses):
            facts = from_json(row.body)
            if facts is None:
                stale.append(row.case_id)
            else:
                found.append(facts)
                self._remember(facts)
        if stale:  # stored by another version of daycase: fold them again, now
            rows = fold_facts(self.catalog, self.facts, stale)
            self.facts.put(rows)
            for r in rows:
                if (facts := from_json(r.body)) is not None:
                    found.append(facts)
                    self._remember(facts)
        return found

    def _remember(self, facts: CaseFacts) -> None:
        if len(self._memo) >= MEMO_MAX:
            self._memo.clear()  # a cold start again beats memory without bound
        self._memo[facts.case_id] = facts

    def forget(self) -> None:
        """Drop what this process keeps (parsed rows, days' tallies): the next report is
        cold. The bench times both."""
        self._memo.clear()
        self._days.clear()

    def context(self, first: date, last: date) -> Context:
        """The schedule of the days: where each case was placed, its delays, and why it was
        cancelled, in the centre's own words."""
        return _with_schedules(self._base(), self.schedules.latest_between(first, last))

    def _base(self) -> Context:
        """The clock and the centre's set-up, without any day's schedule."""
        setup = self.setup.current().setup
        return Context(
            now=self.clock(),
            tz=self.tz,
            grace_min=setup.first_case_grace_min,
            delay_words={r.code: r.label for r in setup.delay_reasons},
            cancel_words={r.code: r.label for r in setup.cancellation_reasons},
            room_names={room.id: room.name for room in setup.rooms},
        )


def _with_schedules(base: Context, rows: Iterable[ScheduleRow]) -> Context:
    """`base` with the placements, delays and cancellations these schedules record."""
    placements: dict[str, Placement] = {}
    delays: dict[str, tuple[str, ...]] = {}
    cancellations: dict[str, str] = {}
    delay_words, cancel_words = base.delay_words, base.cancel_words
    for row in rows:
        day = DaySchedule.model_validate_json(row.body)
        for room, case_ids in day.rooms.items():
            for position, case_id in enumerate(case_ids):
                placements[case_id] = Placement(room, position)
        for case_id, notes in day.delays.items():
            delays[case_id] = tuple(delay_words.get(n.reason, n.reason) for n in notes)
        for case_id, cancelled in day.cancellations.items():
            cancellations[case_id] = cancel_words.get(cancelled.reason, cancelled.reason)
    return replace(base, placements=placements, delays=delays, cancellations=cancellations)


def _filter_key(filters: Filters) -> FilterKey:
    return (
        filters.room,
        filters.proceduralist,
        filters.pathway_id,
        filters.pathway_version,
        filters.levels,
    )


def _kept(f: CaseFacts, filters: Filters, context: Context) -> bool:
    if filters.room is not None:
        placed = context.placements.get(f.case_id)
        if placed is None or placed.room != filters.room:
            return False
    return (
        (filters.proceduralist is None or f.proceduralist == filters.proceduralist)
        and (filters.pathway_id is None or f.pathway_id == filters.pathway_id)
        and (filters.pathway_version is None or f.pathway_version == filters.pathway_version)
        and (filters.levels is None or len(f.levels_planned) == filters.levels)
    )


class ReportFactsProjection:
    """`report_facts` for `daycase projections rebuild`: every row folded again from the
    events and compared with what is stored. A row not made yet (no report has read its
    day) is filled, not counted as a difference: the model is kept when reports read it.
    Writing also drops the days' kept tallies (`report_days`), made again when read."""

    name = "report_facts"
    description = "report_facts: one row of facts per case, what the quality reports read"

    def __init__(self, catalog: PathwayCatalog) -> None:
        self._catalog = catalog

    def cases(self, engine: sa.Engine) -> int:
        return len(SqlReportFacts(engine).case_ids())

    def rebuild(
        self, engine: sa.Engine, *, write: bool, progress: Progress | None = None
    ) -> Rebuilt:
        store = SqlReportFacts(engine)
        found = Rebuilt(self.name)
        stored = store.stored()
        case_ids = store.case_ids()
        wanted = fold_facts(self._catalog, store, case_ids, progress, refused=found.refused)
        missing = [row for row in wanted if row.case_id not in stored]
        differ = [
            row
            for row in wanted
            if row.case_id in stored and stored[row.case_id] != (row.seq, row.body)
        ]
        orphans = sorted(set(stored) - set(case_ids))
        found.checked = len(wanted)
        found.filled = len(missing)
        found.corrected = [row.case_id for row in differ] + orphans
        if write:
            store.put([*missing, *differ])
            store.drop(orphans)
            SqlReportDays(engine).clear()  # the days' tallies are made again when read
        return found
