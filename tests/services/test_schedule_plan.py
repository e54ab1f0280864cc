"""The plan of a room's day, pure: expected starts from order, durations and turnovers; late
first cases; pace; turnover in progress; and changes refused with the reason."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from daycase.engine.evaluate import evaluate
from daycase.services.board import BoardRow, RoomFacts, room_facts
from daycase.services.cases import CaseService
from daycase.services.centre_setup import CentreSetup, Room
from daycase.services.schedule_plan import (
    AddDelay,
    Cancel,
    DayPlan,
    DaySchedule,
    Place,
    ScheduleRefused,
    SetDuration,
    apply,
    conflicts,
    plan_day,
)
from daycase.store.memory import MemoryEventStore
from tests.factories import DAY, at, open_one_level

TZ = ZoneInfo("Europe/London")  # +01:00 on DAY, as tests.factories' times
SETUP = CentreSetup(
    rooms=[Room(id="PR1", name="Room 1"), Room(id="PR2", name="Room 2", closes=at(12).time())],
    turnover_target_min=15,
    first_case_grace_min=5,
)


def case(
    case_id: str,
    start: datetime,
    *,
    mrn: str | None = None,
    levels: int = 1,
    checked_in: datetime | None = None,
    in_room: datetime | None = None,
    out: datetime | None = None,
    phase: str = "scheduled",
) -> tuple[BoardRow, RoomFacts]:
    row = BoardRow(
        case_id=case_id,
        family_code=f"F{case_id}",
        patient_name=f"Patient {case_id}",
        levels=tuple(f"L{i + 1}" for i in range(levels)),
        scheduled_start=start,
        phase=phase,
        phase_title=phase.title(),
        phase_since=None,
        minutes_in_phase=None,
        next_due=[],
        alerts=[],
        override=False,
        family_word="",
        family_colour="grey",
        running_long=False,
    )
    facts = RoomFacts(
        patient_key=mrn or f"MRN-{case_id}",
        checked_in_at=checked_in,
        in_room_at=in_room,
        out_of_room_at=out,
        expected_min=60 + 30 * (levels - 1),
        grace_min=30,
        closed=phase in ("cancelled", "discharged"),
        cancelled=phase == "cancelled",
    )
    return row, facts


def plan(schedule: DaySchedule, cases: list[tuple[BoardRow, RoomFacts]], now: datetime) -> DayPlan:
    return plan_day(
        schedule,
        day=DAY,
        version=1,
        setup=SETUP,
        cases={row.case_id: (row, facts) for row, facts in cases},
        now=now,
        tz=TZ,
    )


def starts(found: DayPlan, room: str = "PR1") -> list[str]:
    slots = next(r for r in found.rooms if r.room_id == room).slots
    return [f"{s.case_id}@{found.hm(s.expected_start)}" for s in slots if s.expected_start]


def test_a_room_runs_its_cases_one_after_another_with_the_turnover_between() -> None:
    cases = [case("a", at(7)), case("b", at(8), levels=2), case("c", at(8))]
    schedule = DaySchedule(rooms={"PR1": ["a", "b", "c"]})
    found = plan(schedule, cases, now=at(6))
    # a 07:00-08:00, +15 turnover; b two levels 08:15-09:45; c 10:00.
    assert starts(found) == ["a@07:00", "b@08:15", "c@10:00"]
    assert found.rooms[0].ends_at == at(11)
    assert found.warnings == []


def test_a_patient_who_has_not_arrived_is_not_expected_before_their_booked_time() -> None:
    schedule = DaySchedule(rooms={"PR1": ["a", "b"]})
    booked_late = [case("a", at(7)), case("b", at(10))]
    assert starts(plan(schedule, booked_late, now=at(6))) == ["a@07:00", "b@10:00"]
    arrived = [case("a", at(7)), case("b", at(10), checked_in=at(7, 30))]
    assert starts(plan(schedule, arrived, now=at(6))) == ["a@07:00", "b@08:15"]


def test_live_times_push_the_rest_of_the_day_and_the_pace_shows_an_overrun() -> None:
    schedule = DaySchedule(rooms={"PR1": ["a", "b"]})
    cases = [case("a", at(7), checked_in=at(6, 30), in_room=at(7, 10)), case("b", at(8))]
    found = plan(schedule, cases, now=at(8, 30))
    first, second = found.rooms[0].slots
    assert (first.state, first.elapsed_min, first.pace) == ("in_room", 80, "amber")
    assert first.expected_end == at(8, 30)
    assert second.expected_start == at(8, 45)
    assert second.late_min == 30
    assert second.not_arrived
    red = plan(schedule, cases, now=at(8, 41)).rooms[0].slots[0]
    assert (red.pace, red.pace_pct) == ("red", 100)


def test_first_case_on_time_counts_the_centres_grace_and_asks_for_a_reason_when_late() -> None:
    schedule = DaySchedule(rooms={"PR1": ["a"], "PR2": ["b"]})
    cases = [
        case("a", at(7), checked_in=at(6, 30), in_room=at(7, 5)),
        case("b", at(7), checked_in=at(6, 30), in_room=at(7, 6)),
    ]
    found = plan(schedule, cases, now=at(7, 30))
    a, b = found.slot("a"), found.slot("b")
    assert a is not None
    assert b is not None
    assert (a.first, a.on_time, a.needs_reason) == (True, True, False)
    assert (b.first, b.on_time, b.needs_reason) == (True, False, True)
    waiting = plan(DaySchedule(rooms={"PR1": ["c"]}), [case("c", at(7))], now=at(7, 6)).slot("c")
    assert waiting is not None
    assert waiting.on_time is False
    late = [case("c", at(7), checked_in=at(6, 30))]
    delay = DaySchedule(rooms={"PR1": ["c"]}, delays={"c": []})
    noted = apply(
        delay,
        AddDelay("c", "patient_late", "traffic"),
        by="nurse.ada",
        at=at(7, 6),
        setup=SETUP,
        plan=plan(delay, late, now=at(7, 6)),
    )
    answered = plan(noted, late, now=at(7, 6)).slot("c")
    assert answered is not None
    assert not answered.needs_reason
    assert answered.delays[0].reason == "patient_late"


def test_a_turnover_in_progress_is_timed_against_the_target() -> None:
    schedule = DaySchedule(rooms={"PR1": ["a", "b"]})
    cases = [
        case("a", at(7), in_room=at(7), out=at(8), phase="recovery"),
        case("b", at(8), checked_in=at(7)),
    ]
    room = plan(schedule, cases, now=at(8, 20)).rooms[0]
    assert (room.turnover_min, room.turnover_over) == (20, True)
    assert room.next is not None
    assert room.next.case_id == "b"


def test_a_day_past_closing_is_warned_not_refused() -> None:
    schedule = DaySchedule(rooms={"PR2": ["a", "b", "c"]})
    cases = [case("a", at(9)), case("b", at(10)), case("c", at(11))]
    found = plan(schedule, cases, now=at(6))
    assert starts(found, "PR2") == ["a@09:00", "b@10:15", "c@11:30"]
    assert found.warnings == [
        "Room 2: the last case is expected to end at 12:30, after the room closes at 12:00"
    ]


def test_moves_and_reorders_keep_started_cases_where_they_are() -> None:
    schedule = DaySchedule(rooms={"PR1": ["a", "b", "c"]})
    cases = [
        case("a", at(7), in_room=at(7)),
        case("b", at(8)),
        case("c", at(9)),
        case("d", at(9)),
    ]
    now = at(7, 30)
    before = plan(schedule, cases, now)

    def change(what: Place | SetDuration | Cancel) -> DaySchedule:
        return apply(schedule, what, by="ann", at=now, setup=SETUP, plan=before)

    assert change(Place("c", "PR1", 2)).rooms == {"PR1": ["a", "c", "b"]}
    assert change(Place("b", "PR2")).rooms == {"PR1": ["a", "c"], "PR2": ["b"]}
    assert change(Place("d", "PR1", 4)).rooms == {"PR1": ["a", "b", "c", "d"]}
    refusals: list[tuple[Place | SetDuration | Cancel, str]] = [
        (Place("c", "PR1", 1), "Room 1 has 1 case(s) that have started or ended"),
        (Place("a", "PR2"), "Patient a is in Room 1 now; a case that has started stays"),
        (Place("b", "PR9"), "room: PR9 is not a room of the centre's set-up"),
        (Place("b", "PR1", 9), "position: between 1 and 3 in Room 1"),
        (SetDuration("b", 5), "minutes: between 15 and 480"),
        (Cancel("b", "thirsty"), "reason: choose one of the centre's reasons"),
        (Cancel("b", "other"), "note: say what the reason was when it is 'Other'"),
        (Place("zz", "PR1"), "case zz: not a case of 2025-06-02"),
    ]
    for bad, words in refusals:
        with pytest.raises(ScheduleRefused) as refused:
            change(bad)
        assert words in str(refused.value), (bad, refused.value)


def test_one_patient_cannot_be_expected_in_two_rooms_at_once() -> None:
    cases = [case("a", at(7), mrn="H-1"), case("b", at(7, 30), mrn="H-1"), case("c", at(7))]
    overlapping = plan(DaySchedule(rooms={"PR1": ["a"], "PR2": ["b"]}), cases, now=at(6))
    assert conflicts(overlapping) == {
        ("a", "b"): "Patient a would be expected in Room 1 from 07:00 to 08:00 and in Room 2 "
        "from 07:30 to 08:30; one patient cannot be in two places at once"
    }
    later = [case("a", at(7), mrn="H-1"), case("b", at(9), mrn="H-1"), case("c", at(7))]
    apart = plan(DaySchedule(rooms={"PR1": ["a"], "PR2": ["b"]}), later, now=at(6))
    assert conflicts(apart) == {}
    # Putting c first in Room 1 pushes a to 08:15-09:15, into b's time in Room 2.
    pushed = plan(DaySchedule(rooms={"PR1": ["c", "a"], "PR2": ["b"]}), later, now=at(6))
    assert list(conflicts(pushed)) == [("a", "b")]


def test_cancelled_cases_leave_the_timeline_but_stay_listed() -> None:
    schedule = DaySchedule(rooms={"PR1": ["a", "b"]})
    cases = [case("a", at(7), phase="cancelled"), case("b", at(7))]
    found = plan(schedule, cases, now=at(6))
    a, b = found.rooms[0].slots
    assert (a.state, a.expected_start) == ("cancelled", None)
    assert (b.expected_start, b.first) == (at(7), True)
    assert found.unplaced == []
    assert [r.case_id for r in plan(DaySchedule(), cases, now=at(6)).unplaced] == ["a", "b"]


def test_expected_end_follows_a_proceduralists_duration() -> None:
    schedule = DaySchedule(rooms={"PR1": ["a", "b"]}, durations={"a": 120})
    found = plan(schedule, [case("a", at(7)), case("b", at(7))], now=at(6))
    assert starts(found) == ["a@07:00", "b@09:15"]
    assert found.rooms[0].slots[0].duration_set
    assert timedelta(minutes=found.rooms[0].slots[1].duration_min) == timedelta(hours=1)


def test_a_pathway_without_a_running_long_rule_still_gives_room_facts() -> None:
    """A site's own pathway need not time the room: an hour is expected, no room times."""
    service = CaseService(MemoryEventStore(), clock=lambda: at(7))
    opened = open_one_level(service, start=at(9))
    state = service.state(opened.case_id)
    pathway = service.pathway_of(state)
    untimed = pathway.model_copy(
        update={"alerts": [a for a in pathway.alerts if a.rule != "overrun"]}
    )
    facts = room_facts(untimed, state, evaluate(untimed, state, at(8)))
    assert (facts.expected_min, facts.in_room_at, facts.out_of_room_at) == (60, None, None)
    assert room_facts(pathway, state, evaluate(pathway, state, at(8))).expected_min == 60
