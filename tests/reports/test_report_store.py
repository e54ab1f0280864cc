"""The report facts read model on real databases: kept rows equal a fold from the events,
and the CMS counts equal a brute-force count over the raw events (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daycase.config import Settings
from daycase.engine.commands import Actor, AmendEvent, RecordStep, VoidEvent
from daycase.engine.events import Event, EventAmended, EventVoided, StepRecorded
from daycase.engine.fold import fold
from daycase.reports.facts import case_facts
from daycase.reports.measures import build
from daycase.reports.model import Filters, Report
from daycase.services.reports import ReportFactsProjection
from daycase.services.runtime import Runtime, open_runtime
from daycase.store.factory import migrate
from daycase.store.tables import report_facts_table
from tests.engine.builders import EST, data_for, role_of, uneventful_path
from tests.factories import open_one_level

PG_VARIABLE = "DAYCASE_TEST_POSTGRES_URL"
_days = itertools.count()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"], scope="module")
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('reports') / 'reports.db'}"
        migrate(url)
        yield url
        return
    if not os.environ.get(PG_VARIABLE):
        pytest.skip(f"set {PG_VARIABLE} to run the PostgreSQL report tests")
    server = sa.make_url(os.environ[PG_VARIABLE])
    name = f"daycase_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="module")
def runtime(database: str) -> Iterator[tuple[Runtime, Clock]]:
    clock = Clock(datetime(2027, 1, 4, 6, 0, tzinfo=EST))
    rt = open_runtime(Settings(db=database, timezone="America/New_York"), clock=clock)
    yield rt, clock
    rt.close()


@dataclass(frozen=True, slots=True)
class Act:
    kind: str
    case: int
    minutes: int
    target: int


acts = st.lists(
    st.builds(
        Act,
        kind=st.sampled_from(["step"] * 6 + ["complication", "amend", "void", "end", "report"]),
        case=st.integers(0, 2),
        minutes=st.integers(0, 40),
        target=st.integers(0, 30),
    ),
    min_size=1,
    max_size=45,
)
KINDS = ["burn", "fall", "bleeding"]
ENDS = [("admitted", {"reason": "pain"}), ("transferred", {"destination": "City", "reason": "x"})]


def brute_force(events: list[Event]) -> dict[str, int]:
    """Counts straight from a case's raw events, apart from the fold: what is voided is
    gone, an amendment's data replaces the entry's."""
    voided = {e.target_event_id for e in events if isinstance(e, EventVoided)}
    data = {e.event_id: e.data for e in events if isinstance(e, StepRecorded)}
    for e in events:
        if isinstance(e, EventAmended) and e.data is not None:
            data[e.target_event_id] = e.data
    valid = [e for e in events if isinstance(e, StepRecorded) and e.event_id not in voided]
    steps = {e.step for e in valid}
    kinds = {str(data[e.event_id].get("kind")) for e in valid if e.step == "complication"}
    return {
        "arrived": int("check_in" in steps),
        "burn": int("check_in" in steps and "burn" in kinds),
        "fall": int("check_in" in steps and "fall" in kinds),
        "transfer": int("check_in" in steps and bool(steps & {"admitted", "transferred"})),
        "corrections": sum(isinstance(e, EventAmended | EventVoided) for e in events),
        "overrides": sum(1 for e in valid if e.override),
    }


def check(rt: Runtime, day: date, case_ids: list[str]) -> Report:
    filters = Filters(day, day)
    kept = rt.reports.report(filters)
    fresh = []
    for case_id in case_ids:
        state = fold(rt.store.load(case_id))
        fresh.append(case_facts(rt.cases.catalog.get("kyphoplasty", "2.0"), state))
    again = build(fresh, filters, rt.reports.context(day, day))
    for mine, theirs in zip(kept.measures, again.measures, strict=True):
        assert mine == theirs, mine.id
    assert kept == again
    counts = [brute_force(rt.store.load(c)) for c in case_ids]
    by_id = {m.id: m for m in kept.measures}
    for measure, key in (
        ("asc1_burn", "burn"),
        ("asc2_fall", "fall"),
        ("asc4_transfer", "transfer"),
    ):
        proportion = by_id[measure].proportion
        assert proportion is not None
        assert (proportion.numerator, proportion.denominator) == (
            sum(c[key] for c in counts),
            sum(c["arrived"] for c in counts),
        )
    corrections = by_id["corrections"].tables[0].rows
    assert sum(int(r[1] or 0) + int(r[2] or 0) for r in corrections) == sum(
        c["corrections"] for c in counts
    )
    override_rows = by_id["overrides"].tables[0].rows
    assert sum(int(r[3] or 0) for r in override_rows) == sum(c["overrides"] for c in counts)
    return kept


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=acts)
def test_every_report_equals_a_fold_and_a_brute_force_count(
    runtime: tuple[Runtime, Clock], script: list[Act]
) -> None:
    rt, clock = runtime
    day = date(2027, 1, 4) + timedelta(days=next(_days))
    clock.now = datetime.combine(day, datetime.min.time(), EST) + timedelta(hours=6)
    service = rt.cases
    case_ids = [
        open_one_level(
            service, start=clock.now + timedelta(hours=2 + i), mrn=f"H-{i}", family_name=f"L{i}"
        ).case_id
        for i in range(3)
    ]
    path = uneventful_path(["L1"], version="2.0")
    done = [0, 0, 0]
    accepted: list[list[str]] = [[], [], []]
    doctor = Actor("dr.kim", "proceduralist")
    for act in script:
        i = act.case
        case_id = case_ids[i]
        clock.now += timedelta(minutes=1)
        result: object = None
        if act.kind == "report":
            check(rt, day, case_ids)
        elif act.kind == "step" and done[i] < len(path):
            planned = path[done[i]]
            done[i] += 1
            result = service.record(
                case_id,
                RecordStep(
                    actor=Actor("user", role_of(planned.step)),
                    step=planned.step,
                    at=clock.now,
                    data=data_for(planned.step, planned.level, version="2.0"),
                    override_reason="clinical need",
                ),
            )
        elif act.kind == "complication":
            result = service.record(
                case_id,
                RecordStep(
                    actor=doctor,
                    step="complication",
                    at=clock.now,
                    data={"kind": KINDS[act.target % 3], "severity": "minor"},
                    override_reason="clinical need",
                ),
            )
        elif act.kind == "end":
            step, data = ENDS[act.target % 2]
            result = service.record(
                case_id,
                RecordStep(
                    actor=doctor, step=step, at=clock.now, data=data, override_reason="need"
                ),
            )
        elif act.kind in ("amend", "void") and accepted[i]:
            target = accepted[i][act.target % len(accepted[i])]
            if act.kind == "amend":
                result = service.amend(
                    case_id,
                    AmendEvent(
                        actor=doctor,
                        target_event_id=target,
                        reason="charted late",
                        at=clock.now - timedelta(minutes=act.minutes),
                    ),
                )
            else:
                result = service.void(
                    case_id, VoidEvent(actor=doctor, target_event_id=target, reason="wrong")
                )
        if isinstance(result, StepRecorded):
            accepted[i].append(result.event_id)
    check(rt, day, case_ids)
    rebuilt = ReportFactsProjection(rt.cases.catalog).rebuild(rt.store.engine, write=False)
    assert rebuilt.corrected == []
    assert rebuilt.filled == 0


def test_a_rebuild_corrects_a_changed_row_and_refills_a_lost_one(
    runtime: tuple[Runtime, Clock], tmp_path: Path
) -> None:
    rt, clock = runtime
    day = date(2028, 2, 1)
    clock.now = datetime(2028, 2, 1, 6, 0, tzinfo=EST)
    a = open_one_level(rt.cases, start=clock.now + timedelta(hours=2), mrn="H-a").case_id
    b = open_one_level(rt.cases, start=clock.now + timedelta(hours=3), mrn="H-b").case_id
    before = rt.reports.report(Filters(day, day))
    assert before.cases == 2
    t = report_facts_table.c
    with rt.store.engine.begin() as conn:
        conn.execute(report_facts_table.update().where(t.case_id == a).values(body='{"v": 1}'))
        conn.execute(report_facts_table.delete().where(t.case_id == b))
    projection = ReportFactsProjection(rt.cases.catalog)
    found = projection.rebuild(rt.store.engine, write=False)
    assert found.corrected == [a]
    assert found.filled == 1  # b: a row not made (yet, or any more) is folded, not "wrong"
    projection.rebuild(rt.store.engine, write=True)
    assert projection.rebuild(rt.store.engine, write=False).corrected == []
    assert rt.reports.report(Filters(day, day)) == before
