"""Every measure, as a pure function of the cases' facts and the schedule (reports room).

Each measure is registered with its id, group, title and definition; the definitions are
the ones `docs/reports.md` gives, and the CLI, the API and the pages all call `build`.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
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


K = TypeVar("K")
Build = Callable[[Sequence[CaseFacts], Filters, Context], Measure]


@dataclass(frozen=True, slots=True)
class Definition:
    id: str
    group: str
    title: str
    definition: str
    build: Build


MEASURES: dict[str, Definition] = {}
GROUPS = ("CMS ASC quality reporting", "Safety process", "Flow", "Outcomes")


def measure(id_: str, group: str, title: str, definition: str) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        MEASURES[id_] = Definition(id_, group, title, definition, build)
        return build

    return register


def build(
    facts: Sequence[CaseFacts], filters: Filters, context: Context, *, only: str | None = None
) -> Report:
    """The report over `facts` (already filtered): every measure, or `only` that one."""
    chosen = [MEASURES[only]] if only is not None else list(MEASURES.values())
    return Report(
        filters=filters,
        cases=len(facts),
        measures=tuple(d.build(facts, filters, context) for d in chosen),
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
        cases=tuple(sorted(cases)),
        tables=tuple(tables),
        charts=tuple(charts),
        notes=tuple(notes),
    )


def _local(at: datetime, tz: ZoneInfo) -> datetime:
    return at.astimezone(tz)


def _monthly(
    id_: str,
    title: str,
    filters: Filters,
    denominator: Sequence[CaseFacts],
    hits: Sequence[CaseFacts],
    *,
    per: int,
) -> RunChart:
    """The rate per month over the report's range: a gap where a month has no cases.

    Counted per day first (a year has 365 days and perhaps 30,000 cases)."""
    counts: dict[str, list[int]] = {m: [0, 0] for m in months(filters.start, filters.end)}
    for index, group in ((1, denominator), (0, hits)):
        for day, n in Counter(f.day for f in group).items():
            counts.setdefault(month(day), [0, 0])[index] += n
    points = tuple((m, (k / n * per) if n else None) for m, (k, n) in counts.items())
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


def _rate_measure(
    id_: str,
    facts: Sequence[CaseFacts],
    filters: Filters,
    *,
    included: Callable[[CaseFacts], bool],
    hit: Callable[[CaseFacts], bool],
    per: int,
    rare: bool,
    notes: Sequence[str] = (),
) -> Measure:
    denominator = [f for f in facts if included(f)]
    hits = [f for f in denominator if hit(f)]
    national = NATIONAL.get(id_)
    expected = national / per if rare and national is not None else None
    share = proportion(len(hits), len(denominator), per=per, expected_rate=expected)
    chart = _monthly(id_, MEASURES[id_].title, filters, denominator, hits, per=per)
    return _measure(
        id_, proportion=share, cases=(f.case_id for f in hits), charts=[chart], notes=notes
    )


# --- CMS ASC quality reporting ------------------------------------------------------------


def _admission(f: CaseFacts) -> bool:
    return f.arrived


@measure(
    "asc1_burn",
    GROUPS[0],
    "ASC-1 Patient burn",
    "Admissions (cases checked in) with a complication of kind burn, per 1,000 admissions.",
)
def asc1(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    return _rate_measure(
        "asc1_burn",
        facts,
        filters,
        included=_admission,
        hit=lambda f: any(kind == "burn" for kind, _ in f.complications),
        per=1000,
        rare=True,
    )


@measure(
    "asc2_fall",
    GROUPS[0],
    "ASC-2 Patient fall",
    "Admissions with a complication of kind fall while in the centre, per 1,000 admissions.",
)
def asc2(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    return _rate_measure(
        "asc2_fall",
        facts,
        filters,
        included=_admission,
        hit=lambda f: any(kind == "fall" for kind, _ in f.complications),
        per=1000,
        rare=True,
    )


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
)
def asc3(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    return _rate_measure(
        "asc3_wrong_site", facts, filters, included=_admission, hit=_wrong_site, per=1000, rare=True
    )


@measure(
    "asc4_transfer",
    GROUPS[0],
    "ASC-4 All-cause hospital transfer or admission",
    "Admissions that ended admitted overnight or transferred to a hospital, per 1,000 admissions.",
)
def asc4(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    return _rate_measure(
        "asc4_transfer",
        facts,
        filters,
        included=_admission,
        hit=lambda f: f.outcome in ("admitted", "transferred"),
        per=1000,
        rare=True,
    )


def _normothermia_case(f: CaseFacts) -> bool:
    minutes = f.minutes("anesthesia_start", "anesthesia_end")
    return (
        f.anesthesia_type == "general"
        and minutes is not None
        and minutes >= 60
        and "pacu_arrival" in f.times
    )


@measure(
    "asc13_normothermia",
    GROUPS[0],
    "ASC-13 Normothermia",
    "Cases under general anesthesia for 60 min or more (anesthesia start to end) that reached "
    "recovery: the share whose first temperature within 15 min of arrival in recovery was "
    "35.5 °C or more. No temperature in those 15 min counts as not met.",
)
def asc13(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    return _rate_measure(
        "asc13_normothermia",
        facts,
        filters,
        included=_normothermia_case,
        hit=lambda f: f.warm_on_arrival is True,
        per=100,
        rare=False,
    )


# --- Safety process -----------------------------------------------------------------------


@measure(
    "antibiotic_timing",
    GROUPS[1],
    "Antibiotic on time",
    "Cases with an incision: the share whose antibiotic was given within 60 min before it "
    "(120 min for vancomycin and the fluoroquinolones), that is, without the pathway's "
    "antibiotic timing alert.",
)
def antibiotic_timing(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    return _rate_measure(
        "antibiotic_timing",
        facts,
        filters,
        included=lambda f: "incision" in f.times,
        hit=lambda f: f.alerts.get("antibiotic_timing", 0) == 0 and "antibiotic_given" in f.times,
        per=100,
        rare=False,
    )


CHECKLIST = (
    ("WHO Sign In", "sign_in", "in_room"),
    ("Time-out", "time_out", "incision"),
    ("WHO Sign Out", "sign_out", "out_of_room"),
)


@measure(
    "who_checklist",
    GROUPS[1],
    "WHO checklist completion",
    "For each part of the WHO checklist, the cases that reached the moment it guards (in the "
    "room, incision, out of the room) and the share where it was recorded at or before that "
    "moment.",
)
def who_checklist(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    reached = [0] * len(CHECKLIST)
    done = [0] * len(CHECKLIST)
    missing: set[str] = set()
    for f in facts:  # one pass: a year is tens of thousands of cases
        times = f.times
        for i, (_, check, guarded) in enumerate(CHECKLIST):
            moment = times.get(guarded)
            if moment is None:
                continue
            reached[i] += 1
            recorded = times.get(check)
            if recorded is not None and recorded <= moment:
                done[i] += 1
            else:
                missing.add(f.case_id)
    rows: list[tuple[Cell, ...]] = []
    bars: list[tuple[str, float]] = []
    for i, (title, _, _) in enumerate(CHECKLIST):
        share = proportion(done[i], reached[i])
        rows.append((title, done[i], reached[i], _pct(share)))
        bars.append((title, share.rate or 0.0))
    total_hit, total_n = sum(done), sum(reached)
    return _measure(
        "who_checklist",
        proportion=proportion(total_hit, total_n),
        cases=missing,
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


@measure(
    "overrides",
    GROUPS[1],
    "Overrides",
    "Entries a physician recorded although the step's gate or role refused it, by step, role "
    "and reason; the headline is the share of cases booked with at least one.",
)
def overrides(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    by = Counter((step, role, reason) for f in facts for step, role, reason in f.overrides)
    by_step = Counter(step for f in facts for step, _, _ in f.overrides)
    hits = [f for f in facts if f.overrides]
    return _measure(
        "overrides",
        proportion=proportion(len(hits), len(facts)),
        cases=(f.case_id for f in hits),
        tables=[
            Table(
                "Overrides by step, role and reason",
                ("step", "role", "reason", "entries"),
                tuple((s, r, why, n) for (s, r, why), n in _ranked(by)),
            )
        ],
        charts=[_bars("Overrides by step", "Entries recorded by override, per step.", by_step)],
    )


@measure(
    "late_entries",
    GROUPS[1],
    "Late entries",
    "Entries recorded more than 60 min after their clinical time (the pathway's late entry "
    "alert; the next-day call is never late); the headline is the share of cases booked "
    "with at least one.",
)
def late_entries(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    hits = [f for f in facts if f.alerts.get("late_entry", 0)]
    entries = sum(f.alerts.get("late_entry", 0) for f in facts)
    return _measure(
        "late_entries",
        proportion=proportion(len(hits), len(facts)),
        cases=(f.case_id for f in hits),
        tables=[Table("Late entries", ("", "count"), (("entries", entries), ("cases", len(hits))))],
    )


@measure(
    "corrections",
    GROUPS[1],
    "Corrections",
    "Amendments and voids of entries, by the step of the entry corrected; the headline is the "
    "share of cases with at least one.",
)
def corrections(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    by = Counter((step, kind) for f in facts for kind, step in f.corrections)
    hits = [f for f in facts if f.corrections]
    steps = sorted({step for step, _ in by})
    return _measure(
        "corrections",
        proportion=proportion(len(hits), len(facts)),
        cases=(f.case_id for f in hits),
        tables=[
            Table(
                "Corrections by step",
                ("step", "amended", "voided"),
                tuple((s, by[(s, "amended")], by[(s, "voided")]) for s in steps),
            )
        ],
        charts=[
            _bars(
                "Corrections by step",
                "Amendments and voids, per step of the entry corrected.",
                Counter({s: by[(s, "amended")] + by[(s, "voided")] for s in steps}),
            )
        ],
    )


@measure(
    "antithrombotic_holds",
    GROUPS[1],
    "Blood thinners not held",
    "Cases where a blood thinner was not stopped long enough before the procedure (the "
    "pathway's alert), and how each was settled: cleared before incision (a correction or a "
    "later entry), went ahead by a physician's override, cancelled, or still open.",
)
def antithrombotic_holds(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    hits = [f for f in facts if f.antithrombotic_resolution is not None]
    by = Counter(f.antithrombotic_resolution or "" for f in hits)
    return _measure(
        "antithrombotic_holds",
        proportion=proportion(len(hits), len(facts)),
        cases=(f.case_id for f in hits),
        tables=[Table("How they were settled", ("settled", "cases"), tuple(_ranked(by)))],
        charts=[_bars("Blood thinners not held", "Cases by how it was settled.", by)],
    )


ALLERGY_CODES = {"antibiotic_allergy": "Antibiotic allergy", "material_allergy": "Material allergy"}


@measure(
    "allergy_alerts",
    GROUPS[1],
    "Allergy alerts",
    "Cases booked with an antibiotic allergy alert (the antibiotic given matches a recorded "
    "allergy) or a material allergy alert (a recorded allergy to the cement or contrast).",
)
def allergy_alerts(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    hits = [f for f in facts if any(f.alerts.get(code, 0) for code in ALLERGY_CODES)]
    by = Counter(
        {
            title: sum(f.alerts.get(code, 0) > 0 for f in facts)
            for code, title in ALLERGY_CODES.items()
        }
    )
    return _measure(
        "allergy_alerts",
        proportion=proportion(len(hits), len(facts)),
        cases=(f.case_id for f in hits),
        tables=[Table("Allergy alerts", ("alert", "cases"), tuple(by.items()))],
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


@measure(
    "first_case_on_time",
    GROUPS[2],
    "First-case on-time starts",
    "Each room's first case of the day (the first in the schedule's order that went into the "
    "room): the share in the room at or before its booked start plus the centre's grace. "
    "Late ones are listed with the delay reasons recorded on the schedule.",
)
def first_case_on_time(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    grace = timedelta(minutes=context.grace_min)
    # The first case that went into each room: when the first booked is cancelled, the
    # next one opens the room's day.
    firsts = _first_cases([f for f in facts if "in_room" in f.times], context)
    late = [f for f in firsts if f.times["in_room"] > f.scheduled_start + grace]
    reasons = Counter(
        reason for f in late for reason in (context.delays.get(f.case_id) or ("No reason given",))
    )
    return _measure(
        "first_case_on_time",
        proportion=proportion(len(firsts) - len(late), len(firsts)),
        cases=(f.case_id for f in late),
        tables=[Table("Late first cases by reason", ("reason", "cases"), tuple(_ranked(reasons)))],
        charts=[_bars("Why first cases started late", "Late first cases by reason.", reasons)],
        notes=[f"The centre's grace is {context.grace_min} min. The cases listed started late."],
    )


@measure(
    "turnover",
    GROUPS[2],
    "Turnover",
    "In each room and day, the minutes from one case out of the room to the next case in the "
    "room, in the order they went in. Gaps over 60 min are not turnovers (a break, an empty "
    "slot): they are excluded and counted.",
)
def turnover(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    by_room_day: dict[tuple[str, date], list[tuple[datetime, datetime]]] = defaultdict(list)
    for f in facts:
        went_in, came_out = f.times.get("in_room"), f.times.get("out_of_room")
        if went_in is not None and came_out is not None:
            by_room_day[(_room(f, context), f.day)].append((went_in, came_out))
    by_room: dict[str, list[float]] = defaultdict(list)
    by_week: dict[str, list[float]] = defaultdict(list)
    excluded = 0
    for (room, day), spans in by_room_day.items():
        spans.sort(key=_went_in)
        for (_, before_out), (after_in, _) in itertools.pairwise(spans):
            gap = (after_in - before_out).total_seconds() / 60
            if gap < 0 or gap > TURNOVER_MAX_MIN:
                excluded += 1
                continue
            by_room[room].append(gap)
            by_week[week(day)].append(gap)
    return _measure(
        "turnover",
        tables=[
            _summary_table("Turnover by room (min)", "room", dict(sorted(by_room.items()))),
            _summary_table("Turnover by week (min)", "week", dict(sorted(by_week.items()))),
        ],
        charts=[
            _boxes(
                "Turnover by room",
                "Minutes between cases, per room.",
                dict(sorted(by_room.items())),
            )
        ],
        notes=[f"{excluded} gaps excluded (over 60 min, or cases overlapping in one room)."],
    )


def _went_in(span: tuple[datetime, datetime]) -> datetime:
    return span[0]


def _levels_group(f: CaseFacts) -> str:
    n = len(f.levels_treated)
    return {0: "no level treated", 1: "1 level", 2: "2 levels"}.get(n, "3 or more levels")


@measure(
    "room_minutes",
    GROUPS[2],
    "Room minutes by number of levels",
    "Minutes from in the room to out of the room, grouped by the number of levels treated "
    "(cement injected).",
)
def room_minutes(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    groups: dict[str, list[float]] = defaultdict(list)
    for f in facts:
        minutes = f.minutes("in_room", "out_of_room")
        if minutes is not None:
            groups[_levels_group(f)].append(minutes)
    ordered = dict(sorted(groups.items()))
    return _measure(
        "room_minutes",
        tables=[_summary_table("Room minutes", "levels", ordered)],
        charts=[_boxes("Room minutes by levels", "Minutes in the room, by levels.", ordered)],
    )


@measure(
    "recovery_intervals",
    GROUPS[2],
    "Recovery intervals",
    "For cases discharged home: arrival in recovery to ready (the first moment every "
    "discharge criterion held), ready to discharged (the discharge delay), and arrival to "
    "discharged, in minutes.",
)
def recovery_intervals(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    home = [f for f in facts if f.outcome == "discharged" and "pacu_arrival" in f.times]
    groups: dict[str, list[float]] = {
        "arrival to ready": [],
        "ready to discharged": [],
        "arrival to discharged": [],
    }
    never = [f for f in home if f.ready_at is None]
    to_ready, ready_to_home, to_home = groups.values()
    for f in home:
        arrival, ready, home_at = f.times["pacu_arrival"], f.ready_at, f.outcome_at
        if ready is not None:
            to_ready.append((ready - arrival).total_seconds() / 60)
        if home_at is not None:
            to_home.append((home_at - arrival).total_seconds() / 60)
            if ready is not None:
                ready_to_home.append((home_at - ready).total_seconds() / 60)
    return _measure(
        "recovery_intervals",
        cases=(f.case_id for f in never),
        tables=[_summary_table("Recovery intervals (min)", "interval", groups)],
        charts=[_boxes("Recovery intervals", "Minutes in recovery, by interval.", groups)],
        notes=[
            f"{len(never)} discharges went ahead by override before every criterion held; "
            "they are listed and have no ready time."
        ],
    )


@measure(
    "same_day_discharge",
    GROUPS[2],
    "Same-day discharge",
    "Cases that went into the room and have ended: the share discharged home on the day they "
    "went into the room (the centre's local day).",
)
def same_day_discharge(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    def same_day(f: CaseFacts) -> bool:
        return (
            f.outcome == "discharged"
            and f.outcome_at is not None
            and _local(f.outcome_at, context.tz).date()
            == _local(f.times["in_room"], context.tz).date()
        )

    return _rate_measure(
        "same_day_discharge",
        facts,
        filters,
        included=lambda f: "in_room" in f.times and f.outcome is not None,
        hit=same_day,
        per=100,
        rare=False,
    )


@measure(
    "cancellations_delays",
    GROUPS[2],
    "Day-of cancellations and delays",
    "Cases cancelled on the day they were booked for, by reason (the schedule's reason, or "
    "the case's own words when it was cancelled on its page), as a share of the cases "
    "booked; and the delays recorded on the schedule, by reason.",
)
def cancellations_delays(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    cancelled = [
        f
        for f in facts
        if f.outcome == "cancelled"
        and f.outcome_at is not None
        and _local(f.outcome_at, context.tz).date() == f.day
    ]
    why = Counter(
        context.cancellations.get(f.case_id) or f.outcome_reason or "No reason given"
        for f in cancelled
    )
    delays = Counter(reason for f in facts for reason in context.delays.get(f.case_id, ()))
    return _measure(
        "cancellations_delays",
        proportion=proportion(len(cancelled), len(facts)),
        cases=(f.case_id for f in cancelled),
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


@measure(
    "complications",
    GROUPS[3],
    "Complications",
    "Complications recorded, by kind and severity; the headline is the share of cases that "
    "went into the room with at least one.",
)
def complications(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    by = Counter(pair for f in facts for pair in f.complications)
    kinds = Counter(kind for f in facts for kind, _ in f.complications)
    in_room = [f for f in facts if "in_room" in f.times]
    hits = [f for f in in_room if f.complications]
    return _measure(
        "complications",
        proportion=proportion(len(hits), len(in_room)),
        cases=(f.case_id for f in hits),
        tables=[
            Table(
                "Complications by kind and severity",
                ("kind", "minor", "major"),
                tuple((k, by[(k, "minor")], by[(k, "major")]) for k, _ in _ranked(kinds)),
            )
        ],
        charts=[_bars("Complications by kind", "Complications recorded, per kind.", kinds)],
    )


@measure(
    "cement_leakage",
    GROUPS[3],
    "Cement leakage",
    "Levels injected with cement: the share with leakage (minor or major), by site and by "
    "the number of levels treated in the case.",
)
def cement_leakage(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    sites: Counter[str] = Counter()
    by_count: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    injected = 0
    cases: set[str] = set()
    for f in facts:
        if not f.leakage:
            continue
        slot = by_count[_levels_group(f)]
        for _, leakage, site in f.leakage:
            injected += 1
            slot[0] += 1
            if leakage in ("minor", "major"):
                slot[1 if leakage == "minor" else 2] += 1
                sites[site or "not given"] += 1
                cases.add(f.case_id)
    return _measure(
        "cement_leakage",
        proportion=proportion(sum(sites.values()), injected),
        cases=cases,
        tables=[
            Table("Leakage by site", ("site", "levels"), tuple(_ranked(sites))),
            Table(
                "Leakage by levels treated in the case",
                ("case", "levels injected", "minor", "major"),
                tuple((k, *v) for k, v in sorted(by_count.items())),
            ),
        ],
        charts=[_bars("Cement leakage by site", "Levels with leakage, per site.", sites)],
    )


@measure(
    "next_day_calls",
    GROUPS[3],
    "Next-day calls",
    "Patients discharged home whose next-day call was due by the report's clock (36 h after "
    "going home, as the pathway's missed-call alert says): the share reached by then; also "
    "those reached later, never reached, and calls that found a red flag.",
)
def next_day_calls(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    home = [
        f
        for f in facts
        if f.outcome == "discharged" and f.call_due_at is not None and f.call_due_at <= context.now
    ]
    in_time: list[CaseFacts] = []
    late: list[CaseFacts] = []
    never: list[CaseFacts] = []
    for f in home:
        reached, due = f.first_reached_call_at, f.call_due_at
        if reached is None or due is None:
            never.append(f)
        else:
            (in_time if reached <= due else late).append(f)
    flags = [f for f in facts if f.alerts.get("follow_up_red_flag", 0)]
    return _measure(
        "next_day_calls",
        proportion=proportion(len(in_time), len(home)),
        cases=(f.case_id for f in [*never, *late, *flags]),
        tables=[
            Table(
                "Next-day calls",
                ("", "patients"),
                (
                    ("due", len(home)),
                    ("reached in time", len(in_time)),
                    ("reached later", len(late)),
                    ("not reached (missed)", len(never)),
                    ("tried but not reached", sum(f.calls_tried > 0 for f in never)),
                    ("red flag found", len(flags)),
                ),
            )
        ],
        notes=["The cases listed were missed, reached late, or had a red flag."],
    )


@measure(
    "admissions_transfers",
    GROUPS[3],
    "Admissions and transfers",
    "Cases that went into the room and ended admitted overnight or transferred to a hospital, "
    "with the reasons recorded.",
)
def admissions_transfers(facts: Sequence[CaseFacts], filters: Filters, context: Context) -> Measure:
    in_room = [f for f in facts if "in_room" in f.times]
    hits = [f for f in in_room if f.outcome in ("admitted", "transferred")]
    return _measure(
        "admissions_transfers",
        proportion=proportion(len(hits), len(in_room)),
        cases=(f.case_id for f in hits),
        tables=[
            Table(
                "Admissions and transfers",
                ("case", "day", "outcome", "reason"),
                tuple(
                    (f.case_id, f.day.isoformat(), f.outcome, f.outcome_reason or "")
                    for f in sorted(hits, key=lambda f: (f.day, f.case_id))
                ),
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
