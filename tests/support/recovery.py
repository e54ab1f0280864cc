"""A case already in recovery, written straight into a served database (test support).

Tests of things that happen by the clock (an alert that starts with nobody recording)
need a case whose uneventful day reached recovery at a chosen instant; it is written by
the test process through the case service, as a second writer would.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from daycase.engine.commands import Actor, RecordStep
from daycase.engine.events import StepRecorded
from daycase.services.cases import CaseService
from daycase.sim.day import ScriptClock
from daycase.store.factory import open_store
from tests.engine.builders import data_for, role_of, uneventful_path
from tests.factories import open_one_level


def in_recovery_since(db_url: str, arrival_at: datetime, *, mrn: str = "H-tick-1") -> str:
    """A one-level 2.0 case that reached recovery at `arrival_at` (minute 30 of its day)."""
    store = open_store(db_url)
    clock = ScriptClock(arrival_at)
    start = arrival_at - timedelta(minutes=30)
    try:
        service = CaseService(store, clock=clock)
        clock.now = start - timedelta(hours=3)
        opened = open_one_level(service, start=start, mrn=mrn)
        for planned in uneventful_path(["L1"], version="2.0"):
            clock.now = start + timedelta(minutes=planned.minute)
            recorded = service.record(
                opened.case_id,
                RecordStep(
                    actor=Actor("user", role_of(planned.step)),
                    step=planned.step,
                    at=clock.now,
                    data=data_for(planned.step, planned.level, version="2.0"),
                ),
            )
            assert isinstance(recorded, StepRecorded), recorded
        return opened.case_id
    finally:
        store.close()
