"""Whole recorded days for the report tests: a demo script through the real case service."""

from __future__ import annotations

import itertools
import random
from datetime import date, datetime, timedelta

from daycase.engine.commands import Actor, OpenCase, RecordStep, Refusal
from daycase.engine.events import CaseOpened, StepRecorded
from daycase.engine.fold import fold
from daycase.reports.facts import CaseFacts, case_facts
from daycase.services.cases import CaseService
from daycase.sim.day import Planned, day_script
from daycase.store.base import EventStore
from tests.engine.builders import EST


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def service_on(store: EventStore, start: datetime, prefix: str = "") -> tuple[CaseService, Clock]:
    clock = Clock(start - timedelta(hours=3))
    ids = itertools.count()
    return CaseService(store, clock=clock, new_id=lambda: f"{prefix}{next(ids)}"), clock


def open_case(
    service: CaseService, clock: Clock, start: datetime, *, levels: tuple[str, ...] = ("L1",)
) -> str:
    clock.now = start - timedelta(hours=2)
    opened = service.open_case(
        OpenCase(
            actor=Actor("fd", "front_desk"),
            pathway_id="kyphoplasty",
            pathway_version="2.0",
            mrn=f"H-{start:%H%M}{len(levels)}",
            given_name="Ada",
            family_name="Lane",
            birth_date=date(1944, 5, 17),
            sex="female",
            levels=list(levels),
            scheduled_start=start,
        )
    )
    assert isinstance(opened, CaseOpened), opened
    return opened.case_id


def record_script(
    service: CaseService, clock: Clock, case_id: str, script: list[Planned], arrival: datetime
) -> dict[str, str]:
    """Record every planned step at its own time; the event id of each step's last entry."""
    ids: dict[str, str] = {}
    for planned in script:
        clock.now = arrival + timedelta(minutes=planned.minute)
        result = service.record(
            case_id,
            RecordStep(
                actor=Actor(f"demo-{planned.role}", planned.role),
                step=planned.step,
                at=clock.now,
                data=planned.data,
                override_reason=planned.override_reason,
            ),
        )
        assert not isinstance(result, Refusal), (planned.step, result)
        assert isinstance(result, StepRecorded)
        ids[planned.step] = result.event_id
    return ids


def whole_day(
    service: CaseService,
    clock: Clock,
    start: datetime,
    *,
    levels: tuple[str, ...] = ("L1",),
    variant: str = "",
    seed: int = 3,
) -> tuple[str, dict[str, str], datetime]:
    """One case through the demo's script: (case id, event ids by step, arrival)."""
    case_id = open_case(service, clock, start, levels=levels)
    arrival = start - timedelta(minutes=60)
    script = day_script(list(levels), arrival, random.Random(seed), variant=variant)
    return case_id, record_script(service, clock, case_id, script, arrival), arrival


def facts_of(service: CaseService, case_id: str) -> CaseFacts:
    state = fold(service.store.load(case_id))
    return case_facts(service.catalog.get("kyphoplasty", "2.0"), state)


START = datetime(2027, 3, 1, 9, 0, tzinfo=EST)
