"""The board read model against a fold of every case, on each store backend (contract tests).

`BoardModel` keeps each case's rows and re-evaluates only what moved on or came due. After
random days (several cases, steps, corrections, voids, the clock moving on, reads in
between) its rows must equal a board folded afresh from the events: the rebuilt
projection equals the incrementally kept one. Mixed into each backend's store suite.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daycase.engine.commands import (
    Actor,
    AmendEvent,
    RecordStep,
    Refusal,
    RescheduleCase,
    VoidEvent,
)
from daycase.engine.events import CaseRescheduled, StepRecorded
from daycase.services.access import Reader
from daycase.services.board import BoardRow, board, family_board
from daycase.services.board_model import BoardModel
from daycase.services.cases import CaseService
from daycase.services.views import board_row_json
from daycase.store.base import EventStore
from daycase.store.projections import CaseIndex
from daycase.store.sql import SqlEventStore
from tests.engine.builders import EST, data_for, role_of, uneventful_path
from tests.factories import open_one_level

READERS = (
    Reader("nurse", "clinical", frozenset()),
    Reader("front_desk", "desk", frozenset({"Check-in"})),
)
# Each Hypothesis example gets a day of its own in the test's one database.
_days = itertools.count()


@dataclass(frozen=True, slots=True)
class Act:
    kind: str
    case: int
    minutes: int
    target: int


acts = st.lists(
    st.builds(
        Act,
        kind=st.sampled_from(["step"] * 5 + ["amend", "void", "wait", "read"]),
        case=st.integers(0, 2),
        minutes=st.integers(0, 40),
        target=st.integers(0, 30),
    ),
    min_size=1,
    max_size=40,
)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class ProjectionContract:
    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            # One method, mixed into each backend's class: each class is its own run.
            HealthCheck.differing_executors,
        ],
    )
    @given(script=acts)
    def test_the_kept_board_equals_the_board_folded_afresh(
        self, store: EventStore, script: list[Act]
    ) -> None:
        day = date(2027, 1, 4) + timedelta(days=next(_days))
        clock = _Clock(datetime.combine(day, datetime.min.time(), EST) + timedelta(hours=6))
        ids = itertools.count()
        service = CaseService(store, clock=clock, new_id=lambda: f"{day}-{next(ids)}")
        model = BoardModel(service, clock=clock)
        case_ids: list[str] = []
        for i in range(3):
            opened = open_one_level(
                service,
                start=clock.now + timedelta(hours=2 + i),
                mrn=f"H-{i}",
                family_name=f"Lane{i}",
            )
            case_ids.append(opened.case_id)
        path = uneventful_path(["L1"], version="2.0")
        done = [0, 0, 0]
        accepted: list[list[str]] = [[], [], []]

        def check() -> None:
            fresh = board(service, on=day, now=clock.now)
            assert model.board(day, now=clock.now) == fresh
            assert model.family_board(day, now=clock.now) == family_board(
                service, on=day, now=clock.now
            )
            for reader in READERS:  # the API's JSON, as each kind of reader gets it
                text, ids = model.board_json(day, now=clock.now, reader=reader)
                assert json.loads(text) == [
                    {**board_row_json(reader.board_row(r)), "withheld": reader.withheld}
                    for r in fresh
                ]
                assert ids == [r.case_id for r in fresh]

        for act in script:
            case_id, i = case_ids[act.case], act.case
            result: object = None
            if act.kind == "wait":
                clock.now += timedelta(minutes=act.minutes)
            elif act.kind == "read":
                check()
            elif act.kind == "step" and done[i] < len(path):
                planned = path[done[i]]
                done[i] += 1
                clock.now += timedelta(minutes=1)
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
                if isinstance(result, StepRecorded):
                    accepted[i].append(result.event_id)
            elif act.kind in ("amend", "void") and accepted[i]:
                target = accepted[i][act.target % len(accepted[i])]
                actor = Actor("nurse.user", "nurse")
                if act.kind == "amend":
                    result = service.amend(
                        case_id,
                        AmendEvent(
                            actor=actor,
                            target_event_id=target,
                            reason="charted late",
                            at=clock.now - timedelta(minutes=act.minutes),
                        ),
                    )
                else:
                    result = service.void(
                        case_id, VoidEvent(actor=actor, target_event_id=target, reason="wrong")
                    )
        check()
        clock.now += timedelta(hours=3)  # what the clock alone changes, with nobody writing
        model.refresh_due(clock.now)
        check()
        if isinstance(store, SqlEventStore):  # the case index, rebuilt from the events
            rebuilt = CaseIndex().rebuild(store.engine, write=False)
            assert (rebuilt.corrected, rebuilt.refused) == ([], [])
            assert rebuilt.checked == len(store.cases())

    def test_the_kept_board_sees_writes_made_around_it(self, store: EventStore) -> None:
        """Another writer (a second process, the CLI) moves a case on: the next read shows it."""
        day = date(2027, 6, 1)
        clock = _Clock(datetime(2027, 6, 1, 6, 0, tzinfo=EST))
        service = CaseService(store, clock=clock)
        other = CaseService(store, clock=clock)
        model = BoardModel(service, clock=clock)
        opened = open_one_level(other, start=clock.now + timedelta(hours=2))
        first = model.board(day, now=clock.now)
        assert [r.case_id for r in first] == [opened.case_id]

        clock.now += timedelta(minutes=5)
        recorded = other.record(
            opened.case_id,
            RecordStep(
                actor=Actor("n", "nurse"),
                step="check_in",
                at=clock.now,
                data=data_for("check_in", version="2.0"),
            ),
        )
        assert isinstance(recorded, StepRecorded), recorded

        again = model.board(day, now=clock.now)
        assert again == board(service, on=day, now=clock.now)
        assert again != first
        assert model.case(opened.case_id, now=clock.now) is not None
        assert model.case("nobody", now=clock.now) is None

    def test_a_moved_booking_leaves_one_days_board_for_another(self, store: EventStore) -> None:
        """Kept boards of both days follow a booking moved by another writer, the case's
        warm state judges by the new start, and the index rebuilt from events agrees."""
        first_day, second_day = date(2027, 6, 1), date(2027, 6, 2)
        clock = _Clock(datetime(2027, 6, 1, 6, 0, tzinfo=EST))
        service = CaseService(store, clock=clock)
        other = CaseService(store, clock=clock)
        model = BoardModel(service, clock=clock)
        opened = open_one_level(service, start=clock.now + timedelta(hours=2))
        assert [r.case_id for r in model.board(first_day, now=clock.now)] == [opened.case_id]
        assert model.board(second_day, now=clock.now) == []
        new_start = datetime(2027, 6, 2, 9, 30, tzinfo=EST)
        moved = other.reschedule(
            opened.case_id,
            RescheduleCase(actor=Actor("fd", "front_desk"), scheduled_start=new_start, reason="x"),
        )
        assert isinstance(moved, CaseRescheduled), moved
        assert model.board(first_day, now=clock.now) == []
        [row] = model.board(second_day, now=clock.now)
        assert (row.case_id, row.scheduled_start) == (opened.case_id, new_start)
        assert model.board(second_day, now=clock.now) == board(
            service, on=second_day, now=clock.now
        )
        # Check-in is judged by the new start: 27.5 h before it is too early, whatever
        # the warm copy in `service` held before the other writer moved the case.
        early = service.record(
            opened.case_id,
            RecordStep(
                actor=Actor("n", "nurse"),
                step="check_in",
                at=clock.now,
                data=data_for("check_in", version="2.0"),
            ),
        )
        assert isinstance(early, Refusal)
        assert early.fields == {"at": "is more than 24 h before the scheduled start"}
        if isinstance(store, SqlEventStore):
            rebuilt = CaseIndex().rebuild(store.engine, write=False)
            assert (rebuilt.corrected, rebuilt.refused, rebuilt.checked) == ([], [], 1)

    def test_a_kept_day_is_served_again_only_while_nothing_it_shows_changed(
        self, store: EventStore
    ) -> None:
        """The day's JSON and a page's rows are made once and served again: until a write
        (by anyone), a row's time coming, or a row's minutes in phase turning over."""
        day = date(2027, 7, 1)
        clock = _Clock(datetime(2027, 7, 1, 6, 0, 10, tzinfo=EST))
        service = CaseService(store, clock=clock)
        other = CaseService(store, clock=clock)
        model = BoardModel(service, clock=clock)
        opened = open_one_level(service, start=clock.now + timedelta(hours=1))
        other.record(
            opened.case_id,
            RecordStep(
                actor=Actor("n", "nurse"),
                step="check_in",
                at=clock.now,
                data=data_for("check_in", version="2.0"),
            ),
        )
        rendered: list[str] = []

        def render(row: BoardRow) -> str:
            rendered.append(row.case_id)
            return f"{row.case_id}|{row.phase}|{row.minutes_in_phase}"

        def rows() -> list[str]:
            texts, _ = model.rows_text(day, now=clock.now, key="test", render=render)
            return texts

        def same_as_fresh() -> None:
            fresh = board(service, on=day, now=clock.now)
            assert rows() == [
                f"{r.case_id}|{r.phase}|{'' if r.minutes_in_phase is None else r.minutes_in_phase}"
                for r in fresh
            ]
            text, _ = model.board_json(day, now=clock.now, reader=READERS[0])
            assert json.loads(text) == [
                {**board_row_json(READERS[0].board_row(r)), "withheld": READERS[0].withheld}
                for r in fresh
            ]

        same_as_fresh()
        clock.now += timedelta(seconds=40)  # 0 min 40 s in pre-op: nothing shown changed
        same_as_fresh()
        clock.now += timedelta(seconds=25)  # 1 min 5 s: the minutes turned over...
        same_as_fresh()
        assert rows()[0].endswith("|1")
        assert len(rendered) == 1  # ...and were put into the row rendered once
        other.record(  # another writer: the next read sees it, rendered afresh
            opened.case_id,
            RecordStep(
                actor=Actor("n", "nurse"),
                step="preop_vitals",
                at=clock.now,
                data=data_for("preop_vitals", version="2.0"),
            ),
        )
        same_as_fresh()
        assert len(rendered) == 2
