"""Every measure, as a pure function of the cases' facts and the schedule (reports room).

A measure is two steps. `tally` reads cases and adds what it finds to a `Tally`: counts by
key, minutes and case ids in lists. Tallies add up, so a year's tally is the sum of its
days' and a reader may keep each day's (`services.reports` does: a year's report then folds
only the days that changed). `finish` turns a tally into the measure: rates, intervals,
quartiles, tables and charts. Each is registered with its id, group, title and definition;
the definitions are the ones `docs/reports.md` gives, and the CLI, the API and the pages
all go through `build` or `finish`.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from daycase.reports.facts import CaseFacts
from daycase.reports.model import (
    BarChart,
    BoxChart,
    Cell,
    Filters,
    Measure,
    Proportion,
    Report,
    RunChart,
    Summary,
    Table,
)
from daycase.reports.stats import month, months, proportion, summary, week

# A gap longer than this between two cases in a room is an idle room, not a turnover: the
# reports leave it out and the room board shows no turnover clock (services.schedule_plan).
TURNOVER_MAX_MIN = 60
# National rates, per 1,000 admissions (CMS ASC Quality Reporting, 2,197 ASCs, Q1 2024),
# and the normothermia rate in percent.
NATIONAL = {
    "asc1_burn": 0.017,
    "asc2_fall": 0.149,
    "asc3_wrong_site": 0.025,
    "asc4_transfer": 0.788,
    "asc13_normothermia": 99.4,
}
NATIONAL_LABEL = "National rate (2,197 ASCs, Q1 2024)"


@dataclass(frozen=True, slots=True)
class Placement:
    room: str
    position: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What a report needs besides the facts: the clock, the centre and its schedule."""

    now: datetime
    tz: ZoneInfo
    grace_min: int = 0
    placements: Mapping[str, Placement] = field(default_factory=dict)
    delays: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    cancellations: Mapping[str, str] = field(default_factory=dict)
    room_names: Mapping[str, str] = field(default_factory=dict)
    # The centre's words for its delay and cancellation reason codes.
    delay_words: Mapping[str, str] = field(default_factory=dict)
    cancel_words: Mapping[str, str] = field(default_factory=dict)


Key = str | tuple[str, ...]


@dataclass(slots=True)
class Tally:
    """What a measure found in some cases, in a form that adds up: counts by key, minutes
    and case ids (or table rows) in lists by key. The tally of two sets of days is the sum
    of their tallies; `finish` sorts what order matters for."""

    counts: Counter[Key] = field(default_factory=Counter)
    minutes: defaultdict[Key, list[float]] = field(default_factory=lambda: defaultdict(list))
    cases: defaultdict[Key, list[str]] = field(default_factory=lambda: defaultdict(list))
    rows: defaultdict[Key, list[tuple[str, ...]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, other: Tally) -> None:
        self.counts.update(other.counts)
        for key, minutes in other.minutes.items():
            self.minutes[key].extend(minutes)
        for key, cases in other.cases.items():
            self.cases[key].extend(cases)
        for key, rows in other.rows.items():
            self.rows[key].extend(rows)

    def total(self, kind: str) -> int:
        """The sum of the counts whose key is (`kind`, ...)."""
        return sum(n for key, n in self.counts.items() if isinstance(key, tuple) and key[0] == kind)

    def by(self, kind: str) -> Counter[str]:
        """The counts whose key is (`kind`, name), by name."""
        return Counter(
            {
                key[1]: n
                for key, n in self.counts.items()
                if isinstance(key, tuple) and key[0] == kind
            }
        )


# Of the tallies' shape and meaning: change it whenever a measure's tally changes, so a
# day's tallies kept by an older daycase are made again, never misread.
TALLY_VERSION = 1


def tallies_to_json(tallies: Mapping[str, Tally]) -> str:
    """A day's tallies as JSON text (kept in `report_days`): keys that are tuples become
    lists, and come back as tuples."""
    return json.dumps(
        {
            measure_id: [
                [[_key_out(k), n] for k, n in t.counts.items()],
                [[_key_out(k), v] for k, v in t.minutes.items()],
                [[_key_out(k), v] for k, v in t.cases.items()],
                [[_key_out(k), [list(r) for r in v]] for k, v in t.rows.items()],
            ]
            for measure_id, t in tallies.items()
        },
        separators=(",", ":"),
    )


def tallies_from_json(text: str) -> dict[str, Tally] | None:
    """The tallies `tallies_to_json` wrote; None when they are not this daycase's measures."""
    raw = json.loads(text)
    if not isinstance(raw, dict) or set(raw) != set(MEASURES):
        return None
    found: dict[str, Tally] = {}
    for measure_id, (counts, minutes, cases, rows) in raw.items():
        t = found[measure_id] = Tally()
        t.counts.update({_key_in(k): n for k, n in counts})
        t.minutes.update({_key_in(k): v for k, v in minutes})
        t.cases.update({_key_in(k): v for k, v in cases})
        t.rows.update({_key_in(k): [tuple(r) for r in v] for k, v in rows})
    return found


def _key_out(key: Key) -> str | list[str]:
    return list(key) if isinstance(key, tuple) else key


def _key_in(key: str | list[str]) -> Key:
    return tuple(key) if isinstance(key, list) else key


K = TypeVar("K")
Tallier = Callable[[Sequence[CaseFacts], Context, Tally], None]
Finisher = Callable[[Tally, Filters, Context], Measure]


@dataclass(frozen=True, slots=True)
class Definition:
    id: str
    group: str
    title: str
    definition: str
    tally: Tallier
    finish: Finisher


MEASURES: dict[str, Definition] = {}
GROUPS = ("CMS ASC quality reporting", "Safety process", "Flow", "Outcomes")


def measure(
    id_: str, group: str, title: str, definition: str, *, tally: Tallier
) -> Callable[[Finisher], Finisher]:
    """Register a measure: its `tally`, and the decorated function as its `finish`."""

    def register(finish: Finisher) -> Finisher:
        MEASURES[id_] = Definition(id_, group, title, definition, tally, finish)
        return finish

    return register


def tally(
    facts: Sequence[CaseFacts], context: Context, *, only: str | None = None
) -> dict[str, Tally]:
    """Each measure's tally (or `only` that one's) of one day's `facts`.

    Its case lists and rows are put in case id order, so days added in date order list
    their cases by day, then case id, with no sort over a year."""
    found: dict[str, Tally] = {}
    for d in [MEASURES[only]] if only is not None else MEASURES.values():
        t = found[d.id] = Tally()
        d.tally(facts, context, t)
        for cases in t.cases.values():
            cases.sort()
        for rows in t.rows.values():
            rows.sort()
        for minutes in t.minutes.values():
            minutes.sort()  # sorted runs: a year's minutes then sort in a few merges
    return found


def finish(
    tallies: Mapping[str, Tally],
    cases: int,
    filters: Filters,
    context: Context,
    *,
    only: str | None = None,
) -> Report:
    """The report from the tallies of `cases` cases: every measure, or `only` that one."""
    chosen = [MEASURES[only]] if only is not None else list(MEASURES.values())
    return Report(
        filters=filters,
        cases=cases,
        measures=tuple(d.finish(tallies[d.id], filters, context) for d in chosen),
    )


def build(
    facts: Sequence[CaseFacts], filters: Filters, context: Context, *, only: str | None = None
) -> Report:
    """The report over `facts` (already filtered): every measure, or `only` that one.

    Tallied a day at a time and added in date order, as a server adds the days it keeps."""
    by_day: dict[date, list[CaseFacts]] = defaultdict(list)
    for f in facts:
        by_day[f.day].append(f)
    total = {d: Tally() for d in ([only] if only is not None else MEASURES)}
    for day in sorted(by_day):
        for measure_id, t in tally(by_day[day], context, only=only).items():
            total[measure_id].add(t)
    return finish(total, len(facts), filters, context, only=only)


def changes_at(facts: Iterable[CaseFacts], now: datetime) -> datetime | None:
    """The next moment the tallies of `facts` change by the clock alone, with no new event:
    a next-day call falling due (`next_day_calls` counts the calls due by `now`)."""
    return min(
        (f.call_due_at for f in facts if f.call_due_at is not None and f.call_due_at > now),
        default=None,
    )


def _measure(
    id_: str,
    *,
    proportion: Proportion | None = None,
    cases: Iterable[str] = (),
    tables: Sequence[Table] = (),
    charts: Sequence[BarChart | RunChart | BoxChart] = (),
    notes: Sequence[str] = (),
) -> Measure:
    d = MEASURES[id_]
    reference = NATIONAL.get(id_)
    return Measure(
        id=d.id,
        group=d.group,
        title=d.title,
        definition=d.definition,
        proportion=proportion,
        reference=reference,
        reference_label=NATIONAL_LABEL if reference is not None else "",
        cases=tuple(cases),  # by day, then case id (see `tally`)
        tables=tuple(tables),
        charts=tuple(charts),
        notes=tuple(notes),
    )


def _local(at: datetime, tz: ZoneInfo) -> datetime:
    return at.astimezone(tz)


def _monthly(id_: str, title: str, filters: Filters, t: Tally, *, per: int) -> RunChart:
    """The rate per month over the report's range: a gap where a month has no cases."""
    denominators, hits = t.by("n"), t.by("k")
    points = tuple(
        (m, (hits[m] / denominators[m] * per) if denominators[m] else None)
        for m in sorted({*months(filters.start, filters.end), *denominators})
    )
    unit = "per 1,000 admissions" if per == 1000 else "%"
    reference = NATIONAL.get(id_)
    return RunChart(
        title=f"{title}: by month",
        description=(
            f"{title}, {unit}, for each month from {filters.start} to {filters.end}"
            + (f", with the national rate of {reference} as a dashed line." if reference else ".")
        ),
        unit=unit,
        points=points,
        reference=reference,
        reference_label=NATIONAL_LABEL if reference is not None else "",
    )


def _rates(included: Callable[[CaseFacts], bool], hit: Callable[[CaseFacts], bool]) -> Tallier:
    """The tally of a rate: the cases `included` and those among them that `hit`, per month."""

    def count(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
        chosen = [f for f in facts if included(f)]
        hits = [f for f in chosen if hit(f)]
        t.cases["hits"].extend(f.case_id for f in hits)
        for kind, cases in (("n", chosen), ("k", hits)):
            for day, n in Counter(f.day for f in cases).items():  # counted per day: fast
                t.counts[kind, month(day)] += n

    return count


def _rate_measure(
    id_: str, t: Tally, filters: Filters, *, per: int, rare: bool, notes: Sequence[str] = ()
) -> Measure:
    national = NATIONAL.get(id_)
    expected = national / per if rare and national is not None else None
    share = proportion(t.total("k"), t.total("n"), per=per, expected_rate=expected)
    chart = _monthly(id_, MEASURES[id_].title, filters, t, per=per)
    return _measure(id_, proportion=share, cases=t.cases["hits"], charts=[chart], notes=notes)


# --- CMS ASC quality reporting ------------------------------------------------------------


def _admission(f: CaseFacts) -> bool:
    return f.arrived


def _complication(kind: str) -> Callable[[CaseFacts], bool]:
    def hit(f: CaseFacts) -> bool:
        return any(k == kind for k, _ in f.complications)

    return hit


@measure(
    "asc1_burn",
    GROUPS[0],
    "ASC-1 Patient burn",
    "Admissions (cases checked in) with a complication of kind burn, per 1,000 admissions.",
    tally=_rates(_admission, _complication("burn")),
)
def asc1(t: Tally, filters: Filters, context: Context) -> Measure:
    return _rate_measure("asc1_burn", t, filters, per=1000, rare=True)


@measure(
    "asc2_fall",
    GROUPS[0],
    "ASC-2 Patient fall",
    "Admissions with a complication of kind fall while in the centre, per 1,000 admissions.",
    tally=_rates(_admission, _complication("fall")),
)
def asc2(t: Tally, filters: Filters, context: Context) -> Measure:
    return _rate_measure("asc2_fall", t, filters, per=1000, rare=True)


def _wrong_site(f: CaseFacts) -> bool:
    return f.alerts.get("wrong_level", 0) > 0 or any(
        level not in f.levels_planned for level in f.levels_treated
    )


@measure(
    "asc3_wrong_site",
    GROUPS[0],
    "ASC-3 Wrong site, side, patient, procedure or implant",
    "Admissions with a wrong-level alert, or with cement injected at a level that was not "
    "planned, per 1,000 admissions.",
    tally=_rates(_admission, _wrong_site),
)
def asc3(t: Tally, filters: Filters, context: Context) -> Measure:
    return _rate_measure("asc3_wrong_site", t, filters, per=1000, rare=True)


def _transferred(f: CaseFacts) -> bool:
    return f.outcome in ("admitted", "transferred")


@measure(
    "asc4_transfer",
    GROUPS[0],
    "ASC-4 All-cause hospital transfer or admission",
    "Admissions that ended admitted overnight or transferred to a hospital, per 1,000 admissions.",
    tally=_rates(_admission, _transferred),
)
def asc4(t: Tally, filters: Filters, context: Context) -> Measure:
    return _rate_measure("asc4_transfer", t, filters, per=1000, rare=True)


def _normothermia_case(f: CaseFacts) -> bool:
    minutes = f.minutes("anesthesia_start", "anesthesia_end")
    return (
        f.anesthesia_type == "general"
        and minutes is not None
        and minutes >= 60
        and "pacu_arrival" in f.times
    )


def _warm(f: CaseFacts) -> bool:
    return f.warm_on_arrival is True


@measure(
    "asc13_normothermia",
    GROUPS[0],
    "ASC-13 Normothermia",
    "Cases under general anesthesia for 60 min or more (anesthesia start to end) that reached "
    "recovery: the share whose first temperature within 15 min of arrival in recovery was "
    "35.5 °C or more. No temperature in those 15 min counts as not met.",
    tally=_rates(_normothermia_case, _warm),
)
def asc13(t: Tally, filters: Filters, context: Context) -> Measure:
    return _rate_measure("asc13_normothermia", t, filters, per=100, rare=False)


# --- Safety process -----------------------------------------------------------------------


def _incision(f: CaseFacts) -> bool:
    return "incision" in f.times


def _antibiotic_on_time(f: CaseFacts) -> bool:
    return f.alerts.get("antibiotic_timing", 0) == 0 and "antibiotic_given" in f.times


@measure(
    "antibiotic_timing",
    GROUPS[1],
    "Antibiotic on time",
    "Cases with an incision: the share whose antibiotic was given within 60 min before it "
    "(120 min for vancomycin and the fluoroquinolones), that is, without the pathway's "
    "antibiotic timing alert.",
    tally=_rates(_incision, _antibiotic_on_time),
)
def antibiotic_timing(t: Tally, filters: Filters, context: Context) -> Measure:
    return _rate_measure("antibiotic_timing", t, filters, per=100, rare=False)


CHECKLIST = (
    ("WHO Sign In", "sign_in", "in_room"),
    ("Time-out", "time_out", "incision"),
    ("WHO Sign Out", "sign_out", "out_of_room"),
)


def _checklist(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    missing = t.cases["missing"]
    for f in facts:  # one pass: a day may be a thousand cases
        times = f.times
        late = False
        for title, check, guarded in CHECKLIST:
            moment = times.get(guarded)
            if moment is None:
                continue
            t.counts["reached", title] += 1
            recorded = times.get(check)
            if recorded is not None and recorded <= moment:
                t.counts["done", title] += 1
            else:
                late = True
        if late:
            missing.append(f.case_id)


@measure(
    "who_checklist",
    GROUPS[1],
    "WHO checklist completion",
    "For each part of the WHO checklist, the cases that reached the moment it guards (in the "
    "room, incision, out of the room) and the share where it was recorded at or before that "
    "moment.",
    tally=_checklist,
)
def who_checklist(t: Tally, filters: Filters, context: Context) -> Measure:
    rows: list[tuple[Cell, ...]] = []
    bars: list[tuple[str, float]] = []
    for title, _, _ in CHECKLIST:
        done, reached = t.counts["done", title], t.counts["reached", title]
        share = proportion(done, reached)
        rows.append((title, done, reached, _pct(share)))
        bars.append((title, share.rate or 0.0))
    return _measure(
        "who_checklist",
        proportion=proportion(t.total("done"), t.total("reached")),
        cases=t.cases["missing"],
        tables=[Table("Completion by part", ("part", "done in time", "cases", "%"), tuple(rows))],
        charts=[
            BarChart(
                "WHO checklist done in time",
                "Percent of cases with each part of the WHO checklist recorded in time.",
                "%",
                tuple(bars),
            )
        ],
        notes=["The cases listed are those where a part was missing or late."],
    )


def _overrides(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    t.counts["booked"] += len(facts)
    for f in facts:
        if f.overrides:
            t.cases["hits"].append(f.case_id)
            for step, role, reason in f.overrides:
                t.counts["by", step, role, reason] += 1
                t.counts["step", step] += 1


@measure(
    "overrides",
    GROUPS[1],
    "Overrides",
    "Entries a physician recorded although the step's gate or role refused it, by step, role "
    "and reason; the headline is the share of cases booked with at least one.",
    tally=_overrides,
)
def overrides(t: Tally, filters: Filters, context: Context) -> Measure:
    by = Counter(
        {key[1:]: n for key, n in t.counts.items() if isinstance(key, tuple) and key[0] == "by"}
    )
    return _measure(
        "overrides",
        proportion=proportion(len(t.cases["hits"]), t.counts["booked"]),
        cases=t.cases["hits"],
        tables=[
            Table(
                "Overrides by step, role and reason",
                ("step", "role", "reason", "entries"),
                tuple((*key, n) for key, n in _ranked(by)),
            )
        ],
        charts=[
            _bars("Overrides by step", "Entries recorded by override, per step.", t.by("step"))
        ],
    )


def _late_entries(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    t.counts["booked"] += len(facts)
    for f in facts:
        entries = f.alerts.get("late_entry", 0)
        if entries:
            t.counts["entries"] += entries
            t.cases["hits"].append(f.case_id)


@measure(
    "late_entries",
    GROUPS[1],
    "Late entries",
    "Entries recorded more than 60 min after their clinical time (the pathway's late entry "
    "alert; the next-day call is never late); the headline is the share of cases booked "
    "with at least one.",
    tally=_late_entries,
)
def late_entries(t: Tally, filters: Filters, context: Context) -> Measure:
    hits = t.cases["hits"]
    return _measure(
        "late_entries",
        proportion=proportion(len(hits), t.counts["booked"]),
        cases=hits,
        tables=[
            Table(
                "Late entries",
                ("", "count"),
                (("entries", t.counts["entries"]), ("cases", len(hits))),
            )
        ],
    )


def _corrections(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    t.counts["booked"] += len(facts)
    for f in facts:
        if f.corrections:
            t.cases["hits"].append(f.case_id)
            for kind, step in f.corrections:
                t.counts[kind, step] += 1


@measure(
    "corrections",
    GROUPS[1],
    "Corrections",
    "Amendments and voids of entries, by the step of the entry corrected; the headline is the "
    "share of cases with at least one.",
    tally=_corrections,
)
def corrections(t: Tally, filters: Filters, context: Context) -> Measure:
    amended, voided = t.by("amended"), t.by("voided")
    steps = sorted({*amended, *voided})
    return _measure(
        "corrections",
        proportion=proportion(len(t.cases["hits"]), t.counts["booked"]),
        cases=t.cases["hits"],
        tables=[
            Table(
                "Corrections by step",
                ("step", "amended", "voided"),
                tuple((s, amended[s], voided[s]) for s in steps),
            )
        ],
        charts=[
            _bars(
                "Corrections by step",
                "Amendments and voids, per step of the entry corrected.",
                Counter({s: amended[s] + voided[s] for s in steps}),
            )
        ],
    )


def _holds(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    t.counts["booked"] += len(facts)
    for f in facts:
        if f.antithrombotic_resolution is not None:
            t.cases["hits"].append(f.case_id)
            t.counts["settled", f.antithrombotic_resolution] += 1


@measure(
    "antithrombotic_holds",
    GROUPS[1],
    "Blood thinners not held",
    "Cases where a blood thinner was not stopped long enough before the procedure (the "
    "pathway's alert), and how each was settled: cleared before incision (a correction or a "
    "later entry), went ahead by a physician's override, cancelled, or still open.",
    tally=_holds,
)
def antithrombotic_holds(t: Tally, filters: Filters, context: Context) -> Measure:
    by = t.by("settled")
    return _measure(
        "antithrombotic_holds",
        proportion=proportion(len(t.cases["hits"]), t.counts["booked"]),
        cases=t.cases["hits"],
        tables=[Table("How they were settled", ("settled", "cases"), tuple(_ranked(by)))],
        charts=[_bars("Blood thinners not held", "Cases by how it was settled.", by)],
    )


ALLERGY_CODES = {"antibiotic_allergy": "Antibiotic allergy", "material_allergy": "Material allergy"}


def _allergies(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    t.counts["booked"] += len(facts)
    for f in facts:
        found = [code for code in ALLERGY_CODES if f.alerts.get(code, 0) > 0]
        if found:
            t.cases["hits"].append(f.case_id)
            for code in found:
                t.counts["alert", code] += 1


@measure(
    "allergy_alerts",
    GROUPS[1],
    "Allergy alerts",
    "Cases booked with an antibiotic allergy alert (the antibiotic given matches a recorded "
    "allergy) or a material allergy alert (a recorded allergy to the cement or contrast).",
    tally=_allergies,
)
def allergy_alerts(t: Tally, filters: Filters, context: Context) -> Measure:
    return _measure(
        "allergy_alerts",
        proportion=proportion(len(t.cases["hits"]), t.counts["booked"]),
        cases=t.cases["hits"],
        tables=[
            Table(
                "Allergy alerts",
                ("alert", "cases"),
                tuple((title, t.counts["alert", code]) for code, title in ALLERGY_CODES.items()),
            )
        ],
    )


# --- Flow ---------------------------------------------------------------------------------


def _room(f: CaseFacts, context: Context) -> str:
    placed = context.placements.get(f.case_id)
    if placed is None:
        return "Not in the schedule"
    return context.room_names.get(placed.room, placed.room)


def _first_cases(facts: Sequence[CaseFacts], context: Context) -> list[CaseFacts]:
    """Each room's first case of each day: first in the schedule's order, else booked first."""
    by_room: dict[tuple[date, str], list[CaseFacts]] = defaultdict(list)
    for f in facts:
        by_room[(f.day, _room(f, context))].append(f)

    def order(f: CaseFacts) -> tuple[int, datetime, str]:
        placed = context.placements.get(f.case_id)
        return (placed.position if placed else 0, f.scheduled_start, f.case_id)

    return [min(cases, key=order) for cases in by_room.values()]


def _first_case_starts(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    grace = timedelta(minutes=context.grace_min)
    # The first case that went into each room: when the first booked is cancelled, the
    # next one opens the room's day.
    firsts = _first_cases([f for f in facts if "in_room" in f.times], context)
    t.counts["firsts"] += len(firsts)
    for f in firsts:
        if f.times["in_room"] > f.scheduled_start + grace:
            t.cases["late"].append(f.case_id)
            for reason in context.delays.get(f.case_id) or ("No reason given",):
                t.counts["reason", reason] += 1


@measure(
    "first_case_on_time",
    GROUPS[2],
    "First-case on-time starts",
    "Each room's first case of the day (the first in the schedule's order that went into the "
    "room): the share in the room at or before its booked start plus the centre's grace. "
    "Late ones are listed with the delay reasons recorded on the schedule.",
    tally=_first_case_starts,
)
def first_case_on_time(t: Tally, filters: Filters, context: Context) -> Measure:
    firsts, late = t.counts["firsts"], t.cases["late"]
    reasons = t.by("reason")
    return _measure(
        "first_case_on_time",
        proportion=proportion(firsts - len(late), firsts),
        cases=late,
        tables=[Table("Late first cases by reason", ("reason", "cases"), tuple(_ranked(reasons)))],
        charts=[_bars("Why first cases started late", "Late first cases by reason.", reasons)],
        notes=[f"The centre's grace is {context.grace_min} min. The cases listed started late."],
    )


def room_gaps(
    facts: Sequence[CaseFacts], context: Context
) -> Iterator[tuple[str, date, float | None, CaseFacts]]:
    """(room, day, minutes, the case that went in next) from each case out of a room to
    the next one in, in the order they went in; None for a gap that is no turnover
    (negative, or over 60 min). The turnover measure and the simulation's fit read the
    same gaps."""
    by_room_day: dict[tuple[str, date], list[tuple[datetime, datetime, CaseFacts]]] = defaultdict(
        list
    )
    for f in facts:
        went_in, came_out = f.times.get("in_room"), f.times.get("out_of_room")
        if went_in is not None and came_out is not None:
            by_room_day[(_room(f, context), f.day)].append((went_in, came_out, f))
    for (room, day), spans in by_room_day.items():
        spans.sort(key=_went_in)
        for (_, before_out, _), (after_in, _, after) in itertools.pairwise(spans):
            gap = (after_in - before_out).total_seconds() / 60
            yield room, day, None if gap < 0 or gap > TURNOVER_MAX_MIN else gap, after


def _went_in(span: tuple[datetime, datetime, CaseFacts]) -> datetime:
    return span[0]


def _turnovers(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    for room, day, gap, _ in room_gaps(facts, context):
        if gap is None:
            t.counts["excluded"] += 1
            continue
        t.minutes["room", room].append(gap)
        t.minutes["week", week(day)].append(gap)


@measure(
    "turnover",
    GROUPS[2],
    "Turnover",
    "In each room and day, the minutes from one case out of the room to the next case in the "
    "room, in the order they went in. Gaps over 60 min are not turnovers (a break, an empty "
    "slot): they are excluded and counted.",
    tally=_turnovers,
)
def turnover(t: Tally, filters: Filters, context: Context) -> Measure:
    by_room, by_week = _groups(t, "room"), _groups(t, "week")
    return _measure(
        "turnover",
        tables=[
            _summary_table("Turnover by room (min)", "room", by_room),
            _summary_table("Turnover by week (min)", "week", by_week),
        ],
        charts=[_boxes("Turnover by room", "Minutes between cases, per room.", by_room)],
        notes=[
            f"{t.counts['excluded']} gaps excluded (over 60 min, or cases overlapping in one room)."
        ],
    )


def _levels_group(f: CaseFacts) -> str:
    n = len(f.levels_treated)
    return {0: "no level treated", 1: "1 level", 2: "2 levels"}.get(n, "3 or more levels")


def _room_minutes(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    for f in facts:
        minutes = f.minutes("in_room", "out_of_room")
        if minutes is not None:
            t.minutes["levels", _levels_group(f)].append(minutes)


@measure(
    "room_minutes",
    GROUPS[2],
    "Room minutes by number of levels",
    "Minutes from in the room to out of the room, grouped by the number of levels treated "
    "(cement injected).",
    tally=_room_minutes,
)
def room_minutes(t: Tally, filters: Filters, context: Context) -> Measure:
    groups = _groups(t, "levels")
    return _measure(
        "room_minutes",
        tables=[_summary_table("Room minutes", "levels", groups)],
        charts=[_boxes("Room minutes by levels", "Minutes in the room, by levels.", groups)],
    )


INTERVALS = ("arrival to ready", "ready to discharged", "arrival to discharged")


def _recovery(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    to_ready, ready_to_home, to_home = (t.minutes[name] for name in INTERVALS)
    for f in facts:
        if f.outcome != "discharged" or "pacu_arrival" not in f.times:
            continue
        arrival, ready, home_at = f.times["pacu_arrival"], f.ready_at, f.outcome_at
        if ready is None:
            t.cases["never ready"].append(f.case_id)
        else:
            to_ready.append((ready - arrival).total_seconds() / 60)
        if home_at is not None:
            to_home.append((home_at - arrival).total_seconds() / 60)
            if ready is not None:
                ready_to_home.append((home_at - ready).total_seconds() / 60)


@measure(
    "recovery_intervals",
    GROUPS[2],
    "Recovery intervals",
    "For cases discharged home: arrival in recovery to ready (the first moment every "
    "discharge criterion held), ready to discharged (the discharge delay), and arrival to "
    "discharged, in minutes.",
    tally=_recovery,
)
def recovery_intervals(t: Tally, filters: Filters, context: Context) -> Measure:
    groups = {name: t.minutes[name] for name in INTERVALS}
    never = t.cases["never ready"]
    return _measure(
        "recovery_intervals",
        cases=never,
        tables=[_summary_table("Recovery intervals (min)", "interval", groups)],
        charts=[_boxes("Recovery intervals", "Minutes in recovery, by interval.", groups)],
        notes=[
            f"{len(never)} discharges went ahead by override before every criterion held; "
            "they are listed and have no ready time."
        ],
    )


def _same_day(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    tz = context.tz

    def ended(f: CaseFacts) -> bool:
        return "in_room" in f.times and f.outcome is not None

    def home_that_day(f: CaseFacts) -> bool:
        return (
            f.outcome == "discharged"
            and f.outcome_at is not None
            and _local(f.outcome_at, tz).date() == _local(f.times["in_room"], tz).date()
        )

    _rates(ended, home_that_day)(facts, context, t)


@measure(
    "same_day_discharge",
    GROUPS[2],
    "Same-day discharge",
    "Cases that went into the room and have ended: the share discharged home on the day they "
    "went into the room (the centre's local day).",
    tally=_same_day,
)
def same_day_discharge(t: Tally, filters: Filters, context: Context) -> Measure:
    return _rate_measure("same_day_discharge", t, filters, per=100, rare=False)


def _cancellations(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    t.counts["booked"] += len(facts)
    for f in facts:
        if (
            f.outcome == "cancelled"
            and f.outcome_at is not None
            and _local(f.outcome_at, context.tz).date() == f.day
        ):
            t.cases["cancelled"].append(f.case_id)
            why = context.cancellations.get(f.case_id) or f.outcome_reason or "No reason given"
            t.counts["why", why] += 1
        for reason in context.delays.get(f.case_id, ()):
            t.counts["delay", reason] += 1


@measure(
    "cancellations_delays",
    GROUPS[2],
    "Day-of cancellations and delays",
    "Cases cancelled on the day they were booked for, by reason (the schedule's reason, or "
    "the case's own words when it was cancelled on its page), as a share of the cases "
    "booked; and the delays recorded on the schedule, by reason.",
    tally=_cancellations,
)
def cancellations_delays(t: Tally, filters: Filters, context: Context) -> Measure:
    why, delays = t.by("why"), t.by("delay")
    return _measure(
        "cancellations_delays",
        proportion=proportion(len(t.cases["cancelled"]), t.counts["booked"]),
        cases=t.cases["cancelled"],
        tables=[
            Table("Day-of cancellations by reason", ("reason", "cases"), tuple(_ranked(why))),
            Table("Delays by reason", ("reason", "delays"), tuple(_ranked(delays))),
        ],
        charts=[
            _bars("Cancellations by reason", "Day-of cancellations, per reason.", why),
            _bars("Delays by reason", "Delays recorded on the schedule, per reason.", delays),
        ],
    )


# --- Outcomes -----------------------------------------------------------------------------


def _complications(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    for f in facts:
        if "in_room" in f.times:
            t.counts["in room"] += 1
            if f.complications:
                t.cases["hits"].append(f.case_id)
        for kind, severity in f.complications:
            t.counts["kind", kind] += 1
            t.counts[severity, kind] += 1


@measure(
    "complications",
    GROUPS[3],
    "Complications",
    "Complications recorded, by kind and severity; the headline is the share of cases that "
    "went into the room with at least one.",
    tally=_complications,
)
def complications(t: Tally, filters: Filters, context: Context) -> Measure:
    kinds, minor, major = t.by("kind"), t.by("minor"), t.by("major")
    return _measure(
        "complications",
        proportion=proportion(len(t.cases["hits"]), t.counts["in room"]),
        cases=t.cases["hits"],
        tables=[
            Table(
                "Complications by kind and severity",
                ("kind", "minor", "major"),
                tuple((k, minor[k], major[k]) for k, _ in _ranked(kinds)),
            )
        ],
        charts=[_bars("Complications by kind", "Complications recorded, per kind.", kinds)],
    )


LEAKAGE_COLUMNS = ("injected", "minor", "major")


def _leakage(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    for f in facts:
        if not f.leakage:
            continue
        group = _levels_group(f)
        leaked = False
        for _, leakage, site in f.leakage:
            t.counts["injected", group] += 1
            if leakage in ("minor", "major"):
                t.counts[leakage, group] += 1
                t.counts["site", site or "not given"] += 1
                leaked = True
        if leaked:
            t.cases["hits"].append(f.case_id)


@measure(
    "cement_leakage",
    GROUPS[3],
    "Cement leakage",
    "Levels injected with cement: the share with leakage (minor or major), by site and by "
    "the number of levels treated in the case.",
    tally=_leakage,
)
def cement_leakage(t: Tally, filters: Filters, context: Context) -> Measure:
    sites = t.by("site")
    columns = [t.by(name) for name in LEAKAGE_COLUMNS]
    return _measure(
        "cement_leakage",
        proportion=proportion(sum(sites.values()), t.total("injected")),
        cases=t.cases["hits"],
        tables=[
            Table("Leakage by site", ("site", "levels"), tuple(_ranked(sites))),
            Table(
                "Leakage by levels treated in the case",
                ("case", "levels injected", "minor", "major"),
                tuple((g, *(c[g] for c in columns)) for g in sorted(columns[0])),
            ),
        ],
        charts=[_bars("Cement leakage by site", "Levels with leakage, per site.", sites)],
    )


def _calls(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    for f in facts:
        listed = bool(f.alerts.get("follow_up_red_flag", 0))
        t.counts["red flag found"] += listed
        due = f.call_due_at
        if f.outcome == "discharged" and due is not None and due <= context.now:
            t.counts["due"] += 1
            reached = f.first_reached_call_at
            if reached is None:
                t.counts["not reached (missed)"] += 1
                t.counts["tried but not reached"] += f.calls_tried > 0
                listed = True
            elif reached <= due:
                t.counts["reached in time"] += 1
            else:
                t.counts["reached later"] += 1
                listed = True
        if listed:
            t.cases["listed"].append(f.case_id)


@measure(
    "next_day_calls",
    GROUPS[3],
    "Next-day calls",
    "Patients discharged home whose next-day call was due by the report's clock (36 h after "
    "going home, as the pathway's missed-call alert says): the share reached by then; also "
    "those reached later, never reached, and calls that found a red flag.",
    tally=_calls,
)
def next_day_calls(t: Tally, filters: Filters, context: Context) -> Measure:
    rows = (
        "due",
        "reached in time",
        "reached later",
        "not reached (missed)",
        "tried but not reached",
        "red flag found",
    )
    return _measure(
        "next_day_calls",
        proportion=proportion(t.counts["reached in time"], t.counts["due"]),
        cases=t.cases["listed"],
        tables=[Table("Next-day calls", ("", "patients"), tuple((r, t.counts[r]) for r in rows))],
        notes=["The cases listed were missed, reached late, or had a red flag."],
    )


def _admissions(facts: Sequence[CaseFacts], context: Context, t: Tally) -> None:
    for f in facts:
        if "in_room" not in f.times:
            continue
        t.counts["in room"] += 1
        if f.outcome in ("admitted", "transferred"):
            t.cases["hits"].append(f.case_id)
            t.rows["hits"].append((f.case_id, f.day.isoformat(), f.outcome, f.outcome_reason or ""))


@measure(
    "admissions_transfers",
    GROUPS[3],
    "Admissions and transfers",
    "Cases that went into the room and ended admitted overnight or transferred to a hospital, "
    "with the reasons recorded.",
    tally=_admissions,
)
def admissions_transfers(t: Tally, filters: Filters, context: Context) -> Measure:
    return _measure(
        "admissions_transfers",
        proportion=proportion(len(t.cases["hits"]), t.counts["in room"]),
        cases=t.cases["hits"],
        tables=[
            Table(
                "Admissions and transfers",
                ("case", "day", "outcome", "reason"),
                tuple(t.rows["hits"]),
            )
        ],
    )


# --- shared pieces ------------------------------------------------------------------------


def _ranked(counts: Counter[K]) -> list[tuple[K, int]]:
    """Most first, ties by name: the same cases give the same table, in any order."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))


def _pct(share: Proportion) -> Cell:
    return None if share.rate is None else round(share.rate, 1)


def _bars(title: str, description: str, counts: Mapping[str, int]) -> BarChart:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return BarChart(title, description, "count", tuple((k, float(v)) for k, v in ordered))


def _groups(t: Tally, kind: str) -> dict[str, list[float]]:
    """The minutes whose key is (`kind`, name), by name in order."""
    return dict(
        sorted(
            (key[1], values)
            for key, values in t.minutes.items()
            if isinstance(key, tuple) and key[0] == kind
        )
    )


def _summary_table(title: str, label: str, groups: Mapping[str, Sequence[float]]) -> Table:
    rows: list[tuple[Cell, ...]] = []
    for name, values in groups.items():
        s = summary(values)
        if s is not None:
            rows.append((name, s.n, _r(s.median), _r(s.q1), _r(s.q3), _r(s.q3 - s.q1)))
    return Table(title, (label, "n", "median", "Q1", "Q3", "IQR"), tuple(rows))


def _boxes(title: str, description: str, groups: Mapping[str, Sequence[float]]) -> BoxChart:
    boxes: list[tuple[str, Summary]] = []
    for name, values in groups.items():
        s = summary(values)
        if s is not None:
            boxes.append((name, s))
    return BoxChart(title, description, "min", tuple(boxes))


def _r(value: float) -> float:
    return round(value, 1)
