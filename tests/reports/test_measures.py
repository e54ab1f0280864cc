"""Each measure against days computed by hand: one case changed, the number moves (reports)."""

from __future__ import annotations

import statistics
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daycase.reports.facts import CaseFacts
from daycase.reports.measures import MEASURES, Context, Placement, build
from daycase.reports.model import BoxChart, Filters, Measure, RunChart
from daycase.reports.stats import clopper_pearson, proportion, summary

TZ = ZoneInfo("America/New_York")
DAY = date(2026, 3, 2)
FILTERS = Filters(date(2026, 1, 1), date(2026, 3, 31))


def at(hour: int, minute: int = 0, *, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


def case(n: int, *, day: date = DAY, start_h: int = 8, **changes: object) -> CaseFacts:
    """An ordinary one-level case on `day`: in the room at its booked start, home at noon."""
    s = at(start_h, day=day)
    times = {
        "check_in": s - timedelta(minutes=60),
        "antibiotic_given": s - timedelta(minutes=10),
        "sign_in": s - timedelta(minutes=5),
        "in_room": s,
        "anesthesia_start": s + timedelta(minutes=5),
        "time_out": s + timedelta(minutes=10),
        "incision": s + timedelta(minutes=15),
        "sign_out": s + timedelta(minutes=40),
        "anesthesia_end": s + timedelta(minutes=42),
        "out_of_room": s + timedelta(minutes=45),
        "pacu_arrival": s + timedelta(minutes=50),
    }
    base = CaseFacts(
        case_id=f"c{n:03d}",
        seq=40,
        pathway_id="kyphoplasty",
        pathway_version="2.0",
        day=day,
        scheduled_start=s,
        levels_planned=("L1",),
        levels_treated=("L1",),
        proceduralist="dr.kim",
        anesthesia_type="local_sedation",
        antibiotic_drug="cefazolin",
        times=times,
        ready_at=s + timedelta(minutes=110),
        outcome="discharged",
        outcome_at=s + timedelta(minutes=125),
        warm_on_arrival=True,
        leakage=(("L1", "none", None),),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def run(
    measure: str, facts: list[CaseFacts], *, now: datetime | None = None, **context: object
) -> Measure:
    ctx = Context(now=now or at(12, day=date(2026, 4, 1)), tz=TZ, **context)  # type: ignore[arg-type]
    return build(facts, FILTERS, ctx, only=measure).measures[0]


def counts(m: Measure) -> tuple[int, int]:
    assert m.proportion is not None
    return m.proportion.numerator, m.proportion.denominator


def day_of(n: int) -> list[CaseFacts]:
    return [case(i) for i in range(n)]


# --- CMS ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("measure", "kind"), [("asc1_burn", "burn"), ("asc2_fall", "fall")])
def test_burns_and_falls_count_admissions_with_that_complication(measure: str, kind: str) -> None:
    cases = day_of(4)
    assert counts(run(measure, cases)) == (0, 4)
    cases[2] = replace(cases[2], complications=((kind, "minor"), ("nausea", "minor")))
    cases[3] = replace(cases[3], complications=(("nausea", "minor"),))
    m = run(measure, cases)
    assert counts(m) == (1, 4)
    assert m.cases == ("c002",)
    assert m.proportion is not None
    assert m.proportion.rate == pytest.approx(250.0)
    assert m.reference is not None
    # A case cancelled before check-in is no admission.
    not_arrived = case(9, times={}, outcome="cancelled", outcome_at=at(7))
    assert counts(run(measure, [*cases, not_arrived])) == (1, 4)


def test_wrong_site_is_the_alert_or_a_level_treated_that_was_not_planned() -> None:
    cases = day_of(3)
    cases[0] = replace(cases[0], alerts={"wrong_level": 1})
    cases[1] = replace(cases[1], levels_planned=("L1",), levels_treated=("L1", "L2"))
    m = run("asc3_wrong_site", cases)
    assert counts(m) == (2, 3)
    assert m.cases == ("c000", "c001")


def test_transfer_or_admission_counts_both_and_nothing_else() -> None:
    cases = day_of(5)
    cases[0] = replace(cases[0], outcome="admitted", outcome_reason="pain")
    cases[1] = replace(cases[1], outcome="transferred", outcome_reason="chest pain (to City)")
    cases[2] = replace(cases[2], outcome="cancelled")
    assert counts(run("asc4_transfer", cases)) == (2, 5)
    table = run("admissions_transfers", cases).tables[0]
    assert [row[2:] for row in table.rows] == [
        ("admitted", "pain"),
        ("transferred", "chest pain (to City)"),
    ]


def test_normothermia_takes_general_anesthesia_of_an_hour_or_more_only() -> None:
    a = case(0, anesthesia_type="general")
    a = replace(
        a, times={**a.times, "anesthesia_end": a.times["anesthesia_start"] + timedelta(minutes=60)}
    )
    b = replace(a, case_id="c001", warm_on_arrival=False)
    c = replace(a, case_id="c002", warm_on_arrival=None)  # no temperature in 15 min: not met
    short = case(3, anesthesia_type="general")  # 37 min of anesthesia
    sedation = replace(a, case_id="c004", anesthesia_type="local_sedation")
    m = run("asc13_normothermia", [a, b, c, short, sedation])
    assert counts(m) == (1, 3)
    assert m.proportion is not None
    assert m.proportion.per == 100


# --- safety process -----------------------------------------------------------------------


def test_antibiotic_on_time_is_an_incision_without_the_timing_alert() -> None:
    cases = day_of(3)
    cases[1] = replace(cases[1], alerts={"antibiotic_timing": 1})
    no_incision = case(3, times={"check_in": at(7)})
    assert counts(run("antibiotic_timing", [*cases, no_incision])) == (2, 3)


def test_checklist_parts_count_when_recorded_before_the_moment_they_guard() -> None:
    cases = day_of(2)
    late = dict(cases[1].times)
    late["time_out"] = late["incision"] + timedelta(minutes=1)
    cases[1] = replace(cases[1], times=late)
    m = run("who_checklist", cases)
    assert [row[:3] for row in m.tables[0].rows] == [
        ("WHO Sign In", 2, 2),
        ("Time-out", 1, 2),
        ("WHO Sign Out", 2, 2),
    ]
    assert counts(m) == (5, 6)
    assert m.cases == ("c001",)


def test_overrides_corrections_late_entries_and_allergies_by_case() -> None:
    cases = day_of(4)
    cases[0] = replace(
        cases[0],
        overrides=(
            ("out_of_room", "proceduralist", "restless"),
            ("discharged", "anesthesia", "ok"),
        ),
    )
    cases[1] = replace(
        cases[1], corrections=(("amended", "pacu_vitals"), ("voided", "pacu_vitals"))
    )
    cases[2] = replace(cases[2], alerts={"late_entry": 2, "antibiotic_allergy": 1})
    assert counts(run("overrides", cases)) == (1, 4)
    assert run("overrides", cases).tables[0].rows == (  # most first, ties by name
        ("discharged", "anesthesia", "ok", 1),
        ("out_of_room", "proceduralist", "restless", 1),
    )
    assert counts(run("corrections", cases)) == (1, 4)
    assert run("corrections", cases).tables[0].rows == (("pacu_vitals", 1, 1),)
    late = run("late_entries", cases)
    assert counts(late) == (1, 4)
    assert late.tables[0].rows == (("entries", 2), ("cases", 1))
    assert counts(run("allergy_alerts", cases)) == (1, 4)


def test_blood_thinners_not_held_are_counted_by_how_they_were_settled() -> None:
    cases = day_of(4)
    cases[0] = replace(cases[0], antithrombotic_resolution="went ahead by override")
    cases[1] = replace(cases[1], antithrombotic_resolution="cancelled")
    cases[2] = replace(cases[2], antithrombotic_resolution="cancelled")
    m = run("antithrombotic_holds", cases)
    assert counts(m) == (3, 4)
    assert m.tables[0].rows == (("cancelled", 2), ("went ahead by override", 1))


# --- flow ---------------------------------------------------------------------------------


def two_rooms() -> tuple[list[CaseFacts], dict[str, Placement]]:
    """Room A: c000 at 08:00, c001 at 09:00; room B: c002 at 08:00."""
    cases = [case(0), case(1, start_h=9), case(2)]
    placements = {
        "c000": Placement("A", 0),
        "c001": Placement("A", 1),
        "c002": Placement("B", 0),
    }
    return cases, placements


def test_first_case_on_time_uses_the_grace_and_names_the_delay_reasons() -> None:
    cases, placements = two_rooms()
    late = dict(cases[2].times)
    late["in_room"] = cases[2].scheduled_start + timedelta(minutes=10)
    cases[2] = replace(cases[2], times=late)
    m = run("first_case_on_time", cases, placements=placements)
    assert counts(m) == (1, 2)  # c001 is no first case
    assert m.cases == ("c002",)
    assert m.tables[0].rows == (("No reason given", 1),)
    m = run(
        "first_case_on_time",
        cases,
        placements=placements,
        delays={"c002": ("Patient late",)},
        grace_min=10,
    )
    assert counts(m) == (2, 2)
    m = run("first_case_on_time", cases, placements=placements, delays={"c002": ("Patient late",)})
    assert m.tables[0].rows == (("Patient late", 1),)


def test_turnover_is_out_to_next_in_per_room_and_long_gaps_are_excluded() -> None:
    cases, placements = two_rooms()  # A: out 08:45, next in 09:00 -> 15 min
    m = run("turnover", cases, placements=placements, room_names={"A": "Room A"})
    assert m.tables[0].rows == (("Room A", 1, 15.0, 15.0, 15.0, 0.0),)
    later = case(1, start_h=10)  # out 08:45 -> in 10:00: 75 min, not a turnover
    m = run("turnover", [cases[0], later, cases[2]], placements=placements)
    assert m.tables[0].rows == ()
    assert "1 gaps excluded" in m.notes[0]


def test_room_minutes_by_levels_treated() -> None:
    one = case(0)
    two = case(1, levels_planned=("L1", "L2"), levels_treated=("L1", "L2"))
    two = replace(
        two, times={**two.times, "out_of_room": two.times["in_room"] + timedelta(minutes=75)}
    )
    m = run("room_minutes", [one, two])
    assert m.tables[0].rows == (
        ("1 level", 1, 45.0, 45.0, 45.0, 0.0),
        ("2 levels", 1, 75.0, 75.0, 75.0, 0.0),
    )
    chart = m.charts[0]
    assert isinstance(chart, BoxChart)
    assert [label for label, _ in chart.boxes] == [
        "1 level",
        "2 levels",
    ]


def test_recovery_intervals_and_discharges_before_the_criteria_held() -> None:
    a = case(0)  # arrival 08:50, ready 09:50, home 10:05
    b = case(1, ready_at=None, outcome_override=True)
    m = run("recovery_intervals", [a, b])
    rows = {row[0]: row[1:3] for row in m.tables[0].rows}
    assert rows == {
        "arrival to ready": (1, 60.0),
        "ready to discharged": (1, 15.0),
        "arrival to discharged": (2, 75.0),
    }
    assert m.cases == ("c001",)


def test_same_day_discharge_counts_ended_cases_that_went_home_that_day() -> None:
    cases = day_of(3)
    cases[0] = replace(cases[0], outcome_at=at(9, day=date(2026, 3, 3)))
    cases[1] = replace(cases[1], outcome="admitted")
    open_case = case(3, outcome=None, outcome_at=None)
    assert counts(run("same_day_discharge", [*cases, open_case])) == (1, 3)


def test_day_of_cancellations_by_reason_and_delays() -> None:
    cases = day_of(4)
    cases[0] = replace(
        cases[0], times={}, outcome="cancelled", outcome_at=at(7), outcome_reason="ill"
    )
    cases[1] = replace(cases[1], times={}, outcome="cancelled", outcome_at=at(7))
    # Cancelled the day before: not a day-of cancellation.
    cases[2] = replace(
        cases[2], times={}, outcome="cancelled", outcome_at=at(15, day=date(2026, 3, 1))
    )
    m = run(
        "cancellations_delays",
        cases,
        cancellations={"c001": "Patient unwell"},
        delays={"c003": ("Equipment", "Equipment")},
    )
    assert counts(m) == (2, 4)
    assert sorted(m.tables[0].rows) == [("Patient unwell", 1), ("ill", 1)]
    assert m.tables[1].rows == (("Equipment", 2),)


# --- outcomes -----------------------------------------------------------------------------


def test_complications_by_kind_and_severity() -> None:
    cases = day_of(3)
    cases[0] = replace(cases[0], complications=(("bleeding", "minor"), ("bleeding", "major")))
    cases[1] = replace(cases[1], complications=(("nausea", "minor"),))
    m = run("complications", cases)
    assert counts(m) == (2, 3)
    assert m.tables[0].rows == (("bleeding", 1, 1), ("nausea", 1, 0))


def test_cement_leakage_per_level_by_site_and_level_count() -> None:
    a = case(
        0, levels_treated=("L1", "L2"), leakage=(("L1", "minor", "venous"), ("L2", "none", None))
    )
    b = case(1, leakage=(("L1", "major", "epidural"),))
    m = run("cement_leakage", [a, b, case(2)])
    assert counts(m) == (2, 4)
    assert sorted(m.tables[0].rows) == [("epidural", 1), ("venous", 1)]
    assert m.tables[1].rows == (("1 level", 2, 0, 1), ("2 levels", 2, 1, 0))


def test_next_day_calls_due_when_the_pathway_says_reached_late_missed_and_red_flags() -> None:
    home = at(10, day=DAY)
    due = home + timedelta(hours=36)  # the facts carry it from the pathway's own rule
    cases = [case(i, outcome_at=home, call_due_at=due) for i in range(5)]
    cases[0] = replace(cases[0], first_reached_call_at=home + timedelta(hours=24), calls_tried=1)
    cases[1] = replace(cases[1], first_reached_call_at=home + timedelta(hours=40), calls_tried=2)
    cases[2] = replace(cases[2], calls_tried=3)
    cases[3] = replace(
        cases[3], first_reached_call_at=home + timedelta(hours=20), alerts={"follow_up_red_flag": 1}
    )
    m = run("next_day_calls", cases, now=home + timedelta(hours=48))
    assert counts(m) == (2, 5)
    assert {row[0]: row[1] for row in m.tables[0].rows} == {
        "due": 5,
        "reached in time": 2,
        "reached later": 1,
        "not reached (missed)": 2,
        "tried but not reached": 1,
        "red flag found": 1,
    }
    # Before the call is due nobody counts yet; nor a case whose pathway has no such rule.
    assert counts(run("next_day_calls", cases, now=due - timedelta(minutes=1))) == (0, 0)
    no_rule = [replace(c, call_due_at=None) for c in cases]
    assert counts(run("next_day_calls", no_rule, now=home + timedelta(hours=48))) == (0, 0)


# --- the arithmetic -----------------------------------------------------------------------


def test_clopper_pearson_matches_published_values() -> None:
    # Exact intervals as tabulated (e.g. R's binom.test): 0/10, 5/10, 10/10.
    assert clopper_pearson(0, 10) == pytest.approx((0.0, 0.3084971), abs=1e-6)
    assert clopper_pearson(5, 10) == pytest.approx((0.1870860, 0.8129140), abs=1e-6)
    assert clopper_pearson(10, 10) == pytest.approx((0.6915029, 1.0), abs=1e-6)


def test_a_rate_says_when_its_count_is_too_small_to_mean_anything() -> None:
    assert proportion(0, 29).too_small
    assert not proportion(0, 30).too_small
    # 0.788 per 1,000: 1,269 admissions before an average centre expects one.
    assert proportion(0, 1000, per=1000, expected_rate=0.000788).too_small
    assert not proportion(0, 1300, per=1000, expected_rate=0.000788).too_small
    assert proportion(0, 0).rate is None


def test_summary_quartiles_are_those_of_the_values() -> None:
    s = summary([10, 20, 30, 40, 50])
    assert s is not None
    assert (s.n, s.low, s.q1, s.median, s.q3, s.high) == (5, 10, 20, 30, 40, 50)
    assert summary([]) is None


@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=60))
def test_summary_quartiles_are_the_inclusive_method(values: list[float]) -> None:
    s = summary(values)
    assert s is not None
    expected = statistics.quantiles(values, n=4, method="inclusive")
    assert [s.q1, s.median, s.q3] == pytest.approx(expected, rel=1e-12, abs=1e-9)
    assert (s.n, s.low, s.high) == (len(values), min(values), max(values))


def test_monthly_run_charts_leave_a_gap_for_a_month_without_cases() -> None:
    cases = [case(0, day=date(2026, 1, 5)), case(1, day=date(2026, 3, 2))]
    cases[1] = replace(cases[1], outcome="admitted")
    chart = run("asc4_transfer", cases).charts[0]
    assert isinstance(chart, RunChart)
    assert chart.points == (("2026-01", 0.0), ("2026-02", None), ("2026-03", 1000.0))
    assert chart.reference == pytest.approx(0.788)


def test_every_measure_is_defined_and_builds_on_no_cases() -> None:
    report = build([], FILTERS, Context(now=at(12), tz=TZ))
    assert [m.id for m in report.measures] == list(MEASURES)
    for m in report.measures:
        assert m.definition
        assert m.title
        assert m.proportion is None or m.proportion.rate is None


def test_when_the_first_booked_case_is_cancelled_the_next_one_opens_the_room() -> None:
    cases, placements = two_rooms()
    cases[0] = replace(cases[0], times={}, outcome="cancelled", outcome_at=at(7))
    late = dict(cases[1].times)
    late["in_room"] = cases[1].scheduled_start + timedelta(minutes=20)
    cases[1] = replace(cases[1], times=late)
    m = run("first_case_on_time", cases, placements=placements)
    assert counts(m) == (1, 2)
    assert m.cases == ("c001",)
