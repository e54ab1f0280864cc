"""The hospital's schedule as a FHIR transaction: bookings, the same booking again, a new
room, a cancellation, refusals that store nothing, what a hospital really sends, and the
round trip to the export (fhir room, SQLite)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from daycase.config import Settings
from daycase.engine.check import decide_open
from daycase.engine.commands import Actor, OpenCase, RecordStep
from daycase.engine.events import CaseOpened, CaseRescheduled, StepRecorded
from daycase.fhir import codes
from daycase.services.accounts import User
from daycase.services.centre_setup import example_yaml, setup_from_yaml
from daycase.services.fhir import ImportRefused, import_schedule
from daycase.services.runtime import Runtime, open_runtime
from tests.engine.builders import data_for, role_of, uneventful_path
from tests.fhir.cases import START, SYSTEM, TZ, schedule
from tests.support.databases import database

DESK = User("fd.lee", "front_desk")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def centre(tmp_path: Path) -> Iterator[tuple[Runtime, Clock]]:
    clock = Clock(START - timedelta(days=1))
    with database("sqlite", tmp_path) as url:
        rt = open_runtime(Settings(db=url, timezone=str(TZ)), clock=clock)
        try:
            rt.change_setup(
                setup_from_yaml(example_yaml()), by=User("ann", "admin"), expected_version=0
            )
            yield rt, clock
        finally:
            rt.close()


def cases_on_the_day(rt: Runtime) -> list[str]:
    return [c.case_id for c in rt.store.cases(on=START.date())]


def test_a_booking_makes_a_case_in_its_room(centre: tuple[Runtime, Clock]) -> None:
    rt, _ = centre
    imported = import_schedule(rt, schedule({"levels": ("T12", "L1")}), by=DESK)
    [(entry, what, case_id)] = imported.outcomes
    assert (entry, what) == (3, "booked")
    assert case_id is not None
    state = rt.cases.state(case_id)
    assert state.opened is not None
    assert state.opened.patient.mrn == "H-0"
    assert state.opened.levels == ("T12", "L1")
    assert state.opened.scheduled_start == START
    assert state.opened.actor == "fd.lee"
    assert rt.fhir.room_of(case_id) == rt.setup.current().setup.rooms[0].id


def test_the_same_booking_again_is_the_same_case(centre: tuple[Runtime, Clock]) -> None:
    rt, _ = centre
    bundle = schedule({}, {"mrn": "H-9", "start": (START + timedelta(hours=1)).isoformat()})
    first = import_schedule(rt, bundle, by=DESK)
    again = import_schedule(rt, bundle, by=User("nurse.kim", "nurse"))
    assert [w for _, w, _ in again.outcomes] == ["unchanged", "unchanged"]
    assert [c for _, _, c in again.outcomes] == [c for _, _, c in first.outcomes]
    assert len(cases_on_the_day(rt)) == 2


def test_a_new_room_moves_the_case(centre: tuple[Runtime, Clock]) -> None:
    rt, _ = centre
    [(_, _, case_id)] = import_schedule(rt, schedule({}), by=DESK).outcomes
    assert case_id is not None
    [(_, what, same)] = import_schedule(rt, schedule({"room": "IR suite 1"}), by=DESK).outcomes
    assert (what, same) == ("moved", case_id)
    rooms = {r.name: r.id for r in rt.setup.current().setup.rooms}
    assert rt.fhir.room_of(case_id) == rooms["IR suite 1"]


def test_a_cancelled_appointment_cancels_the_case(centre: tuple[Runtime, Clock]) -> None:
    rt, _ = centre
    [(_, _, case_id)] = import_schedule(rt, schedule({}), by=DESK).outcomes
    assert case_id is not None
    [(_, what, _)] = import_schedule(rt, schedule({"status": "cancelled"}), by=DESK).outcomes
    assert what == "cancelled"
    [cancelled] = rt.cases.state(case_id).by_step["cancelled"]
    assert cancelled.data["reason"] == "Patient has a chest infection"
    [(_, again, _)] = import_schedule(rt, schedule({"status": "cancelled"}), by=DESK).outcomes
    assert again == "unchanged"


def test_a_new_time_moves_the_case_among_its_rooms_cases(centre: tuple[Runtime, Clock]) -> None:
    rt, _ = centre
    first, second = (
        {"ident": "A-0", "mrn": "H-0"},
        {"ident": "A-1", "mrn": "H-1", "start": (START + timedelta(hours=1)).isoformat()},
    )
    [(_, _, moving), (_, _, other)] = import_schedule(rt, schedule(first, second), by=DESK).outcomes
    assert moving is not None
    assert other is not None
    later = START + timedelta(hours=2)
    moved = {**first, "start": later.isoformat()}
    [(_, what, same), (_, kept, _)] = import_schedule(rt, schedule(moved, second), by=DESK).outcomes
    assert (what, same, kept) == ("moved", moving, "unchanged")
    state = rt.cases.state(moving)
    assert state.opened is not None
    assert state.opened.scheduled_start == later
    [move] = [e for e in state.history if isinstance(e, CaseRescheduled)]
    assert (move.actor, move.reason) == ("fd.lee", "Moved by the hospital's schedule")
    room = rt.setup.current().setup.rooms[0].id
    [plan] = [r for r in rt.schedule.plan(START.date()).rooms if r.room_id == room]
    assert [s.case_id for s in plan.slots] == [other, moving]  # in booked order now
    again = import_schedule(rt, schedule(moved, second), by=DESK).outcomes
    assert [w for _, w, _ in again] == ["unchanged", "unchanged"]
    assert sum(isinstance(e, CaseRescheduled) for e in rt.cases.state(moving).history) == 1


def test_a_new_day_takes_the_case_and_its_room_to_that_day(
    centre: tuple[Runtime, Clock],
) -> None:
    rt, _ = centre
    [(_, _, case_id)] = import_schedule(rt, schedule({"room": "IR suite 1"}), by=DESK).outcomes
    assert case_id is not None
    next_day = START + timedelta(days=1, hours=1)
    [(_, what, _)] = import_schedule(
        rt, schedule({"start": next_day.isoformat(), "room": "IR suite 1"}), by=DESK
    ).outcomes
    assert what == "moved"
    assert cases_on_the_day(rt) == []
    assert [c.case_id for c in rt.store.cases(on=next_day.date())] == [case_id]
    rooms = {r.name: r.id for r in rt.setup.current().setup.rooms}
    assert rt.schedule.plan(START.date()).slot(case_id) is None
    assert rt.fhir.room_of(case_id) == rooms["IR suite 1"]
    [left] = [e for e in rt.schedule.history(START.date()) if '"move"' in e.change]
    assert next_day.date().isoformat() in left.change
    assert rt.store.verify() == []
    encounter = rt.fhir.case_bundle(case_id)["entry"][1]["resource"]
    assert encounter["resourceType"] == "Encounter"
    assert encounter["period"]["start"] == next_day.isoformat()


def test_a_case_that_has_begun_keeps_its_time_and_nothing_changes(
    centre: tuple[Runtime, Clock],
) -> None:
    rt, clock = centre
    [(_, _, case_id)] = import_schedule(rt, schedule({}), by=DESK).outcomes
    assert case_id is not None
    clock.now = START - timedelta(minutes=50)
    arrived = rt.cases.record(
        case_id,
        RecordStep(
            actor=Actor("nurse.kim", "nurse"),
            step="check_in",
            at=clock.now,
            data=data_for("check_in", None, version="2.0"),
        ),
    )
    assert isinstance(arrived, StepRecorded)
    later = (START + timedelta(hours=2)).isoformat()
    with pytest.raises(ImportRefused) as refused:
        import_schedule(rt, schedule({"start": later, "room": "IR suite 1"}), by=DESK)
    assert refused.value.problems == [
        "entry[3] Appointment.start: The case has begun (Check-in at 07:10); a booking moves "
        "only before anything is recorded. Add a delay on the schedule, or cancel the case "
        "and book it again"
    ]
    state = rt.cases.state(case_id)
    assert state.opened is not None
    assert state.opened.scheduled_start == START
    assert rt.fhir.room_of(case_id) == rt.setup.current().setup.rooms[0].id


def test_a_booking_sent_again_may_not_change_its_patient_or_levels(
    centre: tuple[Runtime, Clock],
) -> None:
    rt, _ = centre
    import_schedule(rt, schedule({}), by=DESK)
    with pytest.raises(ImportRefused) as refused:
        import_schedule(rt, schedule({"mrn": "H-77", "levels": ("L2",)}), by=DESK)
    assert refused.value.problems == [
        "entry[3] Appointment's Patient: the case is booked for MRN H-0, not H-77; a booking "
        "cannot change its patient",
        "entry[3] Appointment.basedOn: the case is booked for L1, not L2; change planned "
        "levels in daycase",
    ]


def test_a_bad_bundle_names_each_problem_and_stores_nothing(
    centre: tuple[Runtime, Clock],
) -> None:
    rt, _ = centre
    bundle = schedule(
        {"ident": "OK"},
        {"ident": "B", "levels": ("Z9",)},
        {"ident": "C", "room": "Garage"},
        {"ident": "D"},
    )
    del bundle["entry"][15]["resource"]["start"]
    del bundle["entry"][12]["resource"]["birthDate"]
    with pytest.raises(ImportRefused) as refused:
        import_schedule(rt, bundle, by=DESK)
    problems = refused.value.problems
    assert any("entry[7] Appointment.basedOn ServiceRequest.bodySite: 'Z9'" in p for p in problems)
    assert any("entry[11] Appointment.participant: no room named 'Garage'" in p for p in problems)
    assert any(p.startswith("entry[15] Appointment.start: needs a date and time") for p in problems)
    assert any("entry[15] Appointment's Patient.birthDate" in p for p in problems)
    assert len(problems) == 4, problems
    assert cases_on_the_day(rt) == []  # the good booking was not made either


@pytest.mark.parametrize(
    ("bundle", "words"),
    [
        ([], "the body is not a FHIR Bundle"),
        (
            {"resourceType": "Bundle", "type": "batch", "entry": []},
            "a schedule comes as a transaction",
        ),
        ({"resourceType": "Bundle", "type": "transaction"}, "Bundle.entry: missing"),
        (
            {"resourceType": "Bundle", "type": "transaction", "entry": [1, {"resource": 2}]},
            "no Appointment",
        ),
    ],
)
def test_what_is_not_a_schedule_is_named(
    centre: tuple[Runtime, Clock], bundle: Any, words: str
) -> None:
    rt, _ = centre
    with pytest.raises(ImportRefused) as refused:
        import_schedule(rt, bundle, by=DESK)
    assert any(words in p for p in refused.value.problems), refused.value.problems


def test_a_role_that_may_not_book_is_refused_by_the_pathway(
    centre: tuple[Runtime, Clock],
) -> None:
    rt, _ = centre
    with pytest.raises(ImportRefused) as refused:
        import_schedule(rt, schedule({}), by=User("dr.kim", "proceduralist"))
    assert refused.value.problems == [
        "entry[3] Appointment: A Proceduralist user may not open cases"
    ]


def test_what_a_hospital_sends_besides_is_ignored(centre: tuple[Runtime, Clock]) -> None:
    rt, _ = centre
    imported = import_schedule(rt, schedule({}, extras=True), by=DESK)
    assert [w for _, w, _ in imported.outcomes] == ["booked"]


def test_import_then_the_day_then_export(centre: tuple[Runtime, Clock]) -> None:
    """The round trip: booked from FHIR, run through the services, exported as FHIR."""
    rt, clock = centre
    [(_, _, case_id)] = import_schedule(rt, schedule({"mrn": "H-42"}), by=DESK).outcomes
    assert case_id is not None
    for planned in uneventful_path(["L1"], version="2.0"):
        clock.now = START + timedelta(minutes=planned.minute)
        step = planned.step
        result = rt.cases.record(
            case_id,
            RecordStep(
                actor=Actor(f"{role_of(step)}.user", role_of(step)),
                step=step,
                at=clock.now,
                data=data_for(step, planned.level, version="2.0"),
            ),
        )
        assert isinstance(result, StepRecorded), (step, result)
    resources = rt.fhir.case(case_id)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    [patient] = by_type["Patient"]
    assert patient["identifier"][0]["value"] == "H-42"
    [encounter] = by_type["Encounter"]
    assert encounter["location"][0]["location"]["display"] == "Procedure room 1"
    assert encounter["location"][1]["location"]["display"] == "Recovery"
    [procedure] = by_type["Procedure"]
    assert procedure["status"] == "completed"
    assert procedure["bodySite"][0]["coding"] == [{"system": codes.SNOMED, "code": "66794005"}]
    assert procedure["code"]["coding"] == [{"system": codes.CPT, "code": "22514"}]
    assert copy.deepcopy(procedure)["performedPeriod"]["start"].startswith("2026-11-26T08:")


def test_a_case_in_its_room_is_not_moved(centre: tuple[Runtime, Clock]) -> None:
    rt, clock = centre
    [(_, _, case_id)] = import_schedule(rt, schedule({}), by=DESK).outcomes
    assert case_id is not None
    for planned in uneventful_path(["L1"], version="2.0"):
        clock.now = START + timedelta(minutes=planned.minute)
        step = planned.step
        rt.cases.record(
            case_id,
            RecordStep(
                actor=Actor("u", role_of(step)),
                step=step,
                at=clock.now,
                data=data_for(step, planned.level, version="2.0"),
            ),
        )
        if step == "in_room":
            break
    with pytest.raises(ImportRefused) as refused:
        import_schedule(rt, schedule({"room": "IR suite 1"}), by=DESK)
    assert refused.value.problems == [
        "entry[3] Appointment.participant: Ada Lane is in Procedure room 1 now; a case that "
        "has started stays where it is"
    ]


def test_two_hundred_appointments_in_one_bundle_and_again(centre: tuple[Runtime, Clock]) -> None:
    """A hospital's fortnight for four rooms in one transaction; sent again, nothing moves."""
    rt, _ = centre
    rooms = ["Procedure room 1", "Procedure room 2", "IR suite 1", "IR suite 2"]
    bookings = [
        {
            "ident": f"F-{n}",
            "mrn": f"H-{n}",
            "room": rooms[n % 4],
            "levels": (("L1",), ("T12", "L1"), ("L2",))[n % 3],
            "start": (START + timedelta(days=n // 20, minutes=75 * (n % 20 // 4))).isoformat(),
        }
        for n in range(200)
    ]
    first = import_schedule(rt, schedule(*bookings), by=DESK)
    assert [w for _, w, _ in first.outcomes] == ["booked"] * 200
    assert first.entries == 800  # with each booking's Patient, ServiceRequest and Location
    events = sum(len(rt.store.load(c)) for _, _, c in first.outcomes if c)
    again = import_schedule(rt, schedule(*bookings), by=DESK)
    assert [w for _, w, _ in again.outcomes] == ["unchanged"] * 200
    assert [c for _, _, c in again.outcomes] == [c for _, _, c in first.outcomes]
    assert sum(len(rt.store.load(c)) for _, _, c in again.outcomes if c) == events == 200
    plan = rt.schedule.plan(START.date())
    assert [len(r.slots) for r in plan.rooms] == [5, 5, 5, 5]


def booked_with_code(rt: Runtime, mrn: str, start: datetime, code: str) -> str:
    """A case opened as the pathway opens one, with the family code given."""
    pathway = rt.centre.pathway()
    made = decide_open(
        pathway,
        OpenCase(
            actor=Actor("fd.lee", "front_desk"),
            pathway_id=pathway.id,
            pathway_version=pathway.version,
            mrn=mrn,
            given_name="Ada",
            family_name="Lane",
            birth_date=date(1944, 5, 17),
            sex="female",
            levels=["L1"],
            scheduled_start=start,
        ),
        case_id=f"case-{mrn}",
        event_id=f"event-{mrn}",
        now=START - timedelta(days=1),
        family_code=code,
    )
    assert isinstance(made, CaseOpened)
    rt.store.append([made], expected_seq=0)
    return made.case_id


def test_a_move_onto_a_day_that_holds_its_family_code_is_refused_whole(
    centre: tuple[Runtime, Clock],
) -> None:
    """The clash is known before anything is written: nothing of the bundle is stored."""
    rt, _ = centre
    next_day = START + timedelta(days=1)
    case_id = booked_with_code(rt, "H-0", START, "KQ7RTX")
    rt.fhir.bookings.add(f"{SYSTEM}|A-0", case_id, START - timedelta(days=1))
    booked_with_code(rt, "H-5", next_day, "KQ7RTX")
    moved = {"start": (next_day + timedelta(hours=2)).isoformat()}
    new = {"ident": "A-9", "mrn": "H-9"}
    with pytest.raises(ImportRefused) as refused:
        import_schedule(rt, schedule(moved, new), by=DESK)
    assert refused.value.problems == [
        f"entry[3] Appointment.start: another case on {next_day.date()} already has this "
        "case's family code KQ7RTX; cancel this booking and book the patient again for "
        "that day"
    ]
    assert cases_on_the_day(rt) == [case_id]
    assert [c.case_id for c in rt.store.cases(on=next_day.date())] == ["case-H-5"]


def test_a_move_the_new_days_schedule_would_refuse_moves_nothing(
    centre: tuple[Runtime, Clock],
) -> None:
    """The patient is booked in another room at the new time: the case stays where it was,
    with no move in its history and none on either day's schedule."""
    rt, _ = centre
    next_day = START + timedelta(days=1)
    here = {"ident": "A-0", "mrn": "H-0"}
    there = {"ident": "A-1", "mrn": "H-0", "start": next_day.isoformat(), "room": "IR suite 1"}
    [(_, _, case_id), _] = import_schedule(rt, schedule(here, there), by=DESK).outcomes
    assert case_id is not None
    versions = [len(rt.schedule.history(d)) for d in (START.date(), next_day.date())]
    with pytest.raises(ImportRefused) as refused:
        import_schedule(rt, schedule({**here, "start": next_day.isoformat()}, there), by=DESK)
    [problem] = refused.value.problems
    assert problem.startswith("entry[3] Appointment.start: Ada Lane")
    state = rt.cases.state(case_id)
    assert not any(isinstance(e, CaseRescheduled) for e in state.history)
    assert cases_on_the_day(rt) == [case_id]
    assert [len(rt.schedule.history(d)) for d in (START.date(), next_day.date())] == versions
