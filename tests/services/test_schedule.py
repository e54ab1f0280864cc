"""The day's schedule through the services on SQLite and PostgreSQL: bookings, moves and
reorders stored as versions with who and what, a cancellation that records the case's own
step, durations only from the proceduralist, and two schedulers in separate processes that
neither lose a change nor book one patient into two rooms."""

from __future__ import annotations

import multiprocessing
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from multiprocessing.synchronize import Barrier as ProcessBarrier
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from daycase.config import Settings
from daycase.services.accounts import User
from daycase.services.centre_setup import parse_setup
from daycase.services.runtime import Runtime, open_runtime
from daycase.services.schedule_plan import (
    AddDelay,
    Cancel,
    Place,
    ScheduleRefused,
    SetDuration,
    conflicts,
)
from daycase.store.audit_writer import flush_writer
from daycase.store.tables import audit_table
from tests.factories import open_one_level
from tests.support.clock import suite_now
from tests.support.databases import BACKENDS, database

NURSE = User("charge.nurse", "nurse")
DOC = User("dr.bone", "proceduralist")
MANAGER = User("manager.ann", "admin")
# A fixed instant the day before the cases: nothing has started, whatever the hour now.
NOW = suite_now().replace(hour=12, minute=0, second=0, microsecond=0)
DAY = (NOW + timedelta(days=1)).date()


def fixed_clock() -> datetime:
    return NOW


def start(hour: int, minute: int = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=NOW.tzinfo)


def open_runtime_at(url: str) -> Runtime:
    return open_runtime(Settings(db=url, timezone="UTC"), clock=fixed_clock)


def book(runtime: Runtime, *, mrn: str, at: datetime, name: str = "Lane") -> str:
    return open_one_level(runtime.cases, start=at, mrn=mrn, family_name=name).case_id


def set_up_rooms(runtime: Runtime, *, pairs: int = 0) -> None:
    """Rooms 1 and 2, and `pairs` pairs of empty rooms (A0/B0, …) for booking races."""
    spare = [
        {"id": f"{side}{i}", "name": f"Spare {side}{i}"} for i in range(pairs) for side in "AB"
    ]
    setup = parse_setup(
        {
            "rooms": [
                {"id": "PR1", "name": "Room 1", "opens": "07:00", "closes": "12:00"},
                {"id": "PR2", "name": "Room 2", "opens": "07:00", "closes": "17:00"},
                *spare,
            ],
            "turnover_target_min": 15,
        }
    )
    runtime.change_setup(setup, by=MANAGER, expected_version=0)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def runtime(db_url: str) -> Iterator[Runtime]:
    found = open_runtime_at(db_url)
    set_up_rooms(found)
    try:
        yield found
    finally:
        found.close()


def test_bookings_moves_and_reorders_are_versions_with_who_and_what(runtime: Runtime) -> None:
    a = book(runtime, mrn="H-1", at=start(7), name="Adams")
    b = book(runtime, mrn="H-2", at=start(8), name="Baker")
    c = book(runtime, mrn="H-3", at=start(9), name="Clark")
    assert [r.case_id for r in runtime.schedule.plan(DAY).unplaced] == [a, b, c]
    for case_id in (a, b, c):
        runtime.change_schedule(Place(case_id, "PR1"), by=NURSE)
    changed = runtime.change_schedule(Place(c, "PR1", 1), by=NURSE)
    room = changed.plan.rooms[0]
    assert [s.case_id for s in room.slots] == [c, a, b]
    assert [changed.plan.hm(s.expected_start) for s in room.slots if s.expected_start] == [
        "09:00",
        "10:15",
        "11:30",
    ]
    assert changed.warnings == [
        "Room 1: the last case is expected to end at 12:30, after the room closes at 12:00"
    ]
    moved = runtime.change_schedule(Place(b, "PR2"), by=NURSE)
    assert moved.warnings == []
    assert [s.case_id for s in moved.plan.rooms[1].slots] == [b]
    history = runtime.schedule.history(DAY)
    assert [h.version for h in history] == [1, 2, 3, 4, 5]
    assert {h.changed_by for h in history} == {"charge.nurse"}
    assert '"position": 1' in history[3].change
    assert '"room": "PR2"' in history[4].change
    # The family code and the board row follow the case: they are the case's, not the slot's.
    rows = runtime.boards.case(b, now=NOW)
    assert rows is not None
    assert rows[0].case_id == b
    assert rows[0].family_code == moved.plan.slot(b).row.family_code  # type: ignore[union-attr]
    assert flush_writer(runtime.store.engine)  # audit rows are written behind the change
    with runtime.store.engine.connect() as conn:
        audited = conn.execute(
            sa.select(audit_table.c.case_id).where(audit_table.c.action == "schedule")
        ).all()
    assert len(audited) == 5


def test_durations_are_the_proceduralists_and_cancelling_records_the_case_step(
    runtime: Runtime,
) -> None:
    a = book(runtime, mrn="H-1", at=start(7))
    b = book(runtime, mrn="H-2", at=start(8))
    runtime.change_schedule(Place(a, "PR2"), by=NURSE)
    runtime.change_schedule(Place(b, "PR2"), by=NURSE)
    with pytest.raises(ScheduleRefused, match="Only the proceduralist sets"):
        runtime.change_schedule(SetDuration(a, 120), by=NURSE)
    longer = runtime.change_schedule(SetDuration(a, 120), by=DOC)
    b_slot = longer.plan.slot(b)
    assert b_slot is not None
    assert b_slot.expected_start == start(9, 15)
    runtime.change_schedule(AddDelay(b, "labs_pending", "INR redraw"), by=NURSE)
    with pytest.raises(ScheduleRefused, match="note: say what the reason was"):
        runtime.change_schedule(Cancel(a, "other"), by=NURSE)
    assert runtime.cases.state(a).latest("cancelled") is None  # nothing stored
    cancelled = runtime.change_schedule(Cancel(a, "no_ride_home", "daughter's car"), by=NURSE)
    entry = runtime.cases.state(a).latest("cancelled")
    assert entry is not None
    assert entry.data == {"reason": "No ride home: daughter's car"}
    slot = cancelled.plan.slot(a)
    assert slot is not None
    assert slot.state == "cancelled"
    assert slot.cancellation is not None
    assert slot.cancellation.reason == "no_ride_home"
    b_after = cancelled.plan.slot(b)
    assert b_after is not None
    assert b_after.expected_start == start(8)
    assert [d.note for d in b_after.delays] == ["INR redraw"]
    with pytest.raises(ScheduleRefused, match="Only staff change the schedule"):
        runtime.change_schedule(Place(b, "PR1"), by=User("tv", "viewer"))


# --- two schedulers, two processes ---------------------------------------------------------

ROUNDS = 12


def scheduler(
    url: str,
    who: int,
    cases: list[str],
    twins: list[tuple[str, str]],
    barrier: ProcessBarrier,
    results: Any,
) -> None:
    """One scheduler in its own process: random moves and reorders, and in each round a
    race with the other scheduler to book one of a patient's two cases into a room."""
    runtime = open_runtime_at(url)
    rng = random.Random(who)
    done: list[tuple[str, int]] = []
    refused: list[str] = []
    try:
        for round_ in range(ROUNDS):
            barrier.wait(timeout=60)
            first, second = twins[round_]
            mine = first if who == 0 else second
            # Each alone in an empty room at the same booked time: the two always clash.
            room = f"A{round_}" if who == 0 else f"B{round_}"
            try:
                changed = runtime.change_schedule(Place(mine, room), by=User(f"s{who}", "nurse"))
                done.append((f"twin:{mine}", changed.plan.version))
            except ScheduleRefused as exc:
                refused.append(str(exc))
            for _ in range(3):
                case_id = rng.choice(cases)
                move = Place(case_id, rng.choice(["PR1", "PR2"]), rng.choice([None, 1]))
                try:
                    changed = runtime.change_schedule(move, by=User(f"s{who}", "nurse"))
                    done.append((case_id, changed.plan.version))
                except ScheduleRefused as exc:
                    refused.append(str(exc))
        results.put((who, (done, refused)))
    finally:
        runtime.close()


def test_two_schedulers_in_two_processes_lose_nothing_and_double_book_no_one(db_url: str) -> None:
    runtime = open_runtime_at(db_url)
    try:
        set_up_rooms(runtime, pairs=ROUNDS)
        cases = [book(runtime, mrn=f"H-{i}", at=start(7 + i % 8)) for i in range(8)]
        twins = [
            (
                book(runtime, mrn=f"T-{r}", at=start(7 + r % 8)),
                book(runtime, mrn=f"T-{r}", at=start(7 + r % 8)),
            )
            for r in range(ROUNDS)
        ]
    finally:
        runtime.close()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    workers = [
        context.Process(target=scheduler, args=(db_url, who, cases, twins, barrier, results))
        for who in (0, 1)
    ]
    for worker in workers:
        worker.start()
    answers = dict(results.get(timeout=240) for _ in workers)
    reports = {who: done for who, (done, _) in answers.items()}
    # The only refusals are a patient's second room, never a lost race.
    for _, refused in answers.values():
        assert all("cannot be in two places" in text for text in refused), refused
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    runtime = open_runtime_at(db_url)
    try:
        versions = [v for done in reports.values() for _, v in done]
        history = runtime.schedule.history(DAY)
        # Every change a scheduler was told succeeded is one version; none is lost.
        assert sorted(versions) == [h.version for h in history] == list(range(1, len(versions) + 1))
        plan = runtime.schedule.plan(DAY)
        placed = [s.case_id for room in plan.rooms for s in room.slots]
        assert len(placed) == len(set(placed))
        # No patient is expected in two places, after any version, not only the last.
        assert conflicts(plan) == {}
        won = [c for done in reports.values() for c, _ in done if c.startswith("twin:")]
        # Each round's race had exactly one winner: the loser was refused, not lost.
        assert len(won) == ROUNDS
    finally:
        runtime.close()


def test_a_case_id_out_of_shape_is_no_case_and_never_reaches_the_database(
    runtime: Runtime,
) -> None:
    """A form's case id with a NUL byte: PostgreSQL would answer with an error (a 500)."""
    for bad in ("a\x00b", "", "x" * 200, "../boards"):
        with pytest.raises(ScheduleRefused) as refused:
            runtime.change_schedule(Place(bad, "PR1"), by=NURSE)
        assert refused.value.kind == "not_found"
    assert runtime.schedule.history(DAY) == []
