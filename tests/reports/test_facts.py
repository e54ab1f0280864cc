"""A case's facts row, folded from a recorded day: times, ready, outcome, corrections (reports)."""

from __future__ import annotations

import random
from datetime import timedelta

from daycase.engine.commands import Actor, AmendEvent, RecordStep, VoidEvent
from daycase.engine.events import EventAmended, EventVoided, StepRecorded
from daycase.reports.facts import from_json, to_json
from daycase.sim.day import day_script
from daycase.store.memory import MemoryEventStore
from tests.reports.days import START, facts_of, open_case, record_script, service_on, whole_day

NURSE = Actor("nurse.ada", "nurse")


def test_an_ordinary_day_gives_its_milestones_and_is_ready_an_hour_after_arrival() -> None:
    service, clock = service_on(MemoryEventStore(), START)
    case_id, _, arrival = whole_day(service, clock, START, levels=("T12", "L1"))
    f = facts_of(service, case_id)
    assert f.day == START.date()
    assert f.levels_planned == f.levels_treated == ("T12", "L1")
    assert f.times["check_in"] == arrival
    assert f.times["in_room"] == arrival + timedelta(minutes=60)
    assert f.proceduralist == "demo-proceduralist"
    assert f.anesthesia_type == "local_sedation"
    assert f.outcome == "discharged"
    assert not f.outcome_override
    # Every criterion is met by the 60 min vitals and neuro check, and the hour has passed.
    assert f.ready_at == f.times["pacu_arrival"] + timedelta(minutes=60)
    assert f.outcome_at is not None
    assert f.ready_at <= f.outcome_at
    assert f.warm_on_arrival is True
    # The call is due 36 h after going home: the pathway's follow_up_call_missed rule.
    assert f.call_due_at == f.outcome_at + timedelta(hours=36)
    assert f.complications == ()
    assert f.overrides == ()
    assert f.corrections == ()
    assert len(f.leakage) == 2
    assert from_json(to_json(f)) == f


def test_an_admission_keeps_its_complication_and_reason_and_is_never_ready() -> None:
    service, clock = service_on(MemoryEventStore(), START)
    case_id, _, _ = whole_day(service, clock, START, variant="admitted")
    f = facts_of(service, case_id)
    assert f.outcome == "admitted"
    assert f.outcome_reason == "Observation overnight for new back pain"
    assert f.complications == (("new_back_pain", "major"),)
    assert f.alerts.get("complication_major") == 1
    assert f.ready_at is None


def test_an_override_is_kept_with_its_step_role_and_reason() -> None:
    service, clock = service_on(MemoryEventStore(), START)
    case_id, _, _ = whole_day(service, clock, START, variant="override")
    f = facts_of(service, case_id)
    assert f.overrides == (
        (
            "out_of_room",
            "proceduralist",
            "Patient restless; moving to recovery with the anaesthetist",
        ),
    )


def test_corrections_change_the_facts_they_touch_and_are_counted() -> None:
    service, clock = service_on(MemoryEventStore(), START)
    case_id = open_case(service, clock, START)
    arrival = START - timedelta(minutes=60)
    script = day_script(["L1"], arrival, random.Random(3))
    before = [p for p in script if p.step != "discharged"]
    ids = record_script(service, clock, case_id, before, arrival)
    # A burn charted 70 min after it happened (in the room), then found to be
    # another patient's and voided; the first recovery temperature was 34.9 °C.
    burn = service.record(
        case_id,
        RecordStep(
            actor=NURSE,
            step="complication",
            at=clock.now - timedelta(minutes=70),
            data={"kind": "burn", "severity": "minor"},
        ),
    )
    assert isinstance(burn, StepRecorded), burn
    first_vitals = next(
        e
        for e in service.store.load(case_id)
        if isinstance(e, StepRecorded) and e.step == "pacu_vitals"
    )
    amended = service.amend(
        case_id,
        AmendEvent(
            actor=NURSE,
            target_event_id=first_vitals.event_id,
            reason="typo",
            data={**first_vitals.data, "temperature_c": 34.9},
        ),
    )
    assert isinstance(amended, EventAmended), amended
    f = facts_of(service, case_id)
    assert f.warm_on_arrival is False
    assert f.complications == (("burn", "minor"),)
    assert f.alerts.get("late_entry") == 1
    assert f.outcome is None
    voided = service.void(
        case_id, VoidEvent(actor=NURSE, target_event_id=burn.event_id, reason="wrong patient")
    )
    assert isinstance(voided, EventVoided), voided
    f = facts_of(service, case_id)
    assert f.complications == ()
    assert f.corrections == (("amended", "pacu_vitals"), ("voided", "complication"))
    assert f.seq == len(service.store.load(case_id))
    assert "transport_confirmed" in ids
