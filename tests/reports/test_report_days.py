"""A server keeps each day's tallies: a report after any change equals one made from
nothing, and the change shows in it (SQLite and PostgreSQL).

What a day's tallies are made from moves in four ways: an event on one of its cases, its
schedule, the centre's set-up, and the clock (a next-day call falling due). Each is made
here between two reports; the second must equal a cold report (nothing kept) and differ
from the first where the change should show.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from daycase.config import Settings
from daycase.engine.commands import Actor, RecordStep
from daycase.engine.events import StepRecorded
from daycase.reports.measures import MEASURES, Context, Tally, build, finish, tally
from daycase.reports.model import Filters, Measure, Report
from daycase.services.accounts import User
from daycase.services.reports import ReportFactsProjection, ReportService, report_filters
from daycase.services.runtime import Runtime, open_runtime
from daycase.services.schedule_plan import AddDelay
from tests.engine.builders import data_for
from tests.reports.test_measures import TZ, case
from tests.support.databases import database
from tests.support.report_days import record_days

DAYS = [date(2026, 3, 2), date(2026, 3, 3)]
ADMIN = User("ann", "admin")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def centre(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Runtime, Clock]]:
    """Two recorded days of eight cases in two rooms; the clock the morning after."""
    clock = Clock(datetime.combine(DAYS[1] + timedelta(days=1), time(8, 0), TZ))
    with database(request.param, tmp_path) as url:
        rt = open_runtime(Settings(db=url, timezone=str(TZ)), clock=clock)
        try:
            record_days(rt, DAYS, TZ, untouched=1)
            yield rt, clock
        finally:
            rt.close()


def exact(rt: Runtime, filters: Filters) -> Report:
    """The report as the server keeps it, checked against one made from nothing (a
    service that has kept nothing)."""
    kept = rt.reports.report(filters)
    r = rt.reports
    fresh = ReportService(r.facts, r.schedules, r.setup, r.catalog, r.clock, r.tz)
    assert fresh.report(filters) == kept
    # A new process: the days' tallies kept in the database, where they still hold.
    restarted = ReportService(r.facts, r.schedules, r.setup, r.catalog, r.clock, r.tz, r.days)
    assert restarted.report(filters) == kept
    for m in kept.measures:
        assert len(set(m.cases)) == len(m.cases), m.id  # each case listed once
    return kept


def by_id(report: Report) -> dict[str, Measure]:
    return {m.id: m for m in report.measures}


WHOLE = Filters(DAYS[0], DAYS[1])


def test_an_event_on_one_case_moves_only_its_day(centre: tuple[Runtime, Clock]) -> None:
    rt, _ = centre
    before = exact(rt, WHOLE)
    exact(rt, Filters(DAYS[1], DAYS[1]))  # the other day is kept as it was
    (untouched,) = [f.case_id for f in rt.reports.read(DAYS[0], DAYS[0]) if not f.arrived]
    checked_in = rt.cases.record(
        untouched,
        RecordStep(
            actor=Actor("frontdesk", "front_desk"),
            step="check_in",
            at=datetime.combine(DAYS[0], time(14, 0), TZ),
            data=data_for("check_in", version="2.0"),
        ),
    )
    assert isinstance(checked_in, StepRecorded), checked_in
    after = exact(rt, WHOLE)
    admissions = [by_id(r)["asc1_burn"].proportion for r in (before, after)]
    assert admissions[0] is not None
    assert admissions[1] is not None
    assert admissions[1].denominator == admissions[0].denominator + 1


def test_a_booking_moved_to_another_day_leaves_its_old_day(
    centre: tuple[Runtime, Clock],
) -> None:
    """Each day alone, kept before the move, then read after it: the case is counted on
    its new day only (its facts row went with the move)."""
    rt, _ = centre
    for day in DAYS:
        exact(rt, Filters(day, day))
    (moving,) = [f.case_id for f in rt.reports.read(DAYS[0], DAYS[0]) if not f.arrived]
    new_start = datetime.combine(DAYS[1], time(16, 0), TZ)
    rt.move_booking(moving, new_start, reason="list moved", by=ADMIN)
    first = exact(rt, Filters(DAYS[0], DAYS[0]))  # the old day alone, first
    assert moving not in {f.case_id for f in rt.reports.read(DAYS[0], DAYS[0])}
    second = exact(rt, Filters(DAYS[1], DAYS[1]))
    [fact] = [f for f in rt.reports.read(DAYS[1], DAYS[1]) if f.case_id == moving]
    assert (fact.day, fact.scheduled_start) == (DAYS[1], new_start)
    assert first != second
    exact(rt, WHOLE)


def test_a_schedule_change_shows(centre: tuple[Runtime, Clock]) -> None:
    rt, _ = centre
    before = by_id(exact(rt, WHOLE))["cancellations_delays"]
    case_id = rt.schedule.plan(DAYS[1]).rooms[1].slots[0].row.case_id
    rt.change_schedule(AddDelay(case_id, "labs_pending", "potassium"), by=ADMIN)
    after = by_id(exact(rt, WHOLE))["cancellations_delays"]
    counts = [{row[0]: int(row[1] or 0) for row in m.tables[1].rows} for m in (before, after)]
    assert counts[1].get("Labs pending", 0) == counts[0].get("Labs pending", 0) + 1


def test_a_set_up_change_shows(centre: tuple[Runtime, Clock]) -> None:
    rt, _ = centre
    exact(rt, WHOLE)
    current = rt.setup.current()
    rooms = [r.model_copy(update={"name": f"{r.name} (east)"}) for r in current.setup.rooms]
    rt.change_setup(
        current.setup.model_copy(update={"rooms": rooms}),
        by=ADMIN,
        expected_version=current.version,
    )
    turnover = by_id(exact(rt, WHOLE))["turnover"]
    names = {row[0] for row in turnover.tables[0].rows}
    assert names
    assert all(str(name).endswith("(east)") for name in names)


def test_a_call_falling_due_shows_without_an_event(centre: tuple[Runtime, Clock]) -> None:
    rt, clock = centre
    before = by_id(exact(rt, WHOLE))["next_day_calls"].proportion
    clock.now += timedelta(days=2)
    after = by_id(exact(rt, WHOLE))["next_day_calls"].proportion
    assert before is not None
    assert after is not None
    assert after.denominator > before.denominator  # the second day's calls are now due


def test_each_set_of_filters_is_kept_apart(centre: tuple[Runtime, Clock]) -> None:
    rt, _ = centre
    room = rt.setup.current().setup.rooms[0].id
    one_room = report_filters(today=DAYS[1], start=DAYS[0], end=DAYS[1], room=room)
    whole, narrow = exact(rt, WHOLE), exact(rt, one_room)
    assert rt.reports.report(WHOLE) == whole
    assert rt.reports.report(one_room) == narrow
    assert 0 < narrow.cases < whole.cases


def test_days_add_up_to_the_whole() -> None:
    """The tallies of each day, added, finish as the report over all the days at once."""
    days = [date(2026, 3, 2) + timedelta(days=n) for n in range(5)]
    variants: list[dict[str, Any]] = [
        {},
        {"outcome": "admitted", "outcome_reason": "pain"},
        {"complications": (("burn", "minor"),)},
        {"overrides": (("discharge", "proceduralist", "ride waiting"),)},
        {"corrections": (("amended", "vitals"),), "ready_at": None},
    ]
    facts = [
        case(n + 10 * i, day=day, start_h=8 + n, **changes)
        for i, day in enumerate(days)
        for n, changes in enumerate(variants[: 1 + i])
    ]
    ctx = Context(now=datetime(2026, 4, 1, tzinfo=TZ), tz=TZ)
    filters = Filters(days[0], days[-1])
    total = {m: Tally() for m in MEASURES}
    for day in days:
        for m, t in tally([f for f in facts if f.day == day], ctx).items():
            total[m].add(t)
    assert finish(total, len(facts), filters, ctx) == build(facts, filters, ctx)


def test_kept_days_that_no_longer_fit_are_made_again(centre: tuple[Runtime, Clock]) -> None:
    """A kept day of another daycase's measures is counted again; a rebuild drops them."""
    rt, _ = centre
    kept = exact(rt, WHOLE)
    days = rt.reports.days
    assert days is not None
    stored = days.get([d.isoformat() for d in DAYS])
    assert set(stored) == {d.isoformat() for d in DAYS}
    days.put([replace(row, body='{"asc1_burn": [[], [], [], []]}') for row in stored.values()])
    r = rt.reports
    restarted = ReportService(r.facts, r.schedules, r.setup, r.catalog, r.clock, r.tz, days)
    assert restarted.report(WHOLE) == kept
    assert (
        days.get([DAYS[0].isoformat()])[DAYS[0].isoformat()].body
        == stored[DAYS[0].isoformat()].body
    )  # written again, as it should be
    ReportFactsProjection(rt.cases.catalog).rebuild(rt.store.engine, write=True)
    assert days.get([d.isoformat() for d in DAYS]) == {}
