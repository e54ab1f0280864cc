"""Invariants of the engine, checked with Hypothesis over small random days.

Folding is deterministic; amending then folding equals folding the corrected history; no
entry is accepted after a terminal step (but the aftercare call); `seq` strictly grows by
one. Each holds on every released version of the pathway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daycase.engine.commands import Refusal
from daycase.engine.evaluate import Evaluation, evaluate
from daycase.engine.events import StepRecorded
from daycase.engine.fold import CaseState, apply, fold
from daycase.engine.gates import terminal_entry
from daycase.engine.load import builtin_pathway, builtin_versions
from tests.engine.builders import Day, data_for, t

VERSIONS = builtin_versions("kyphoplasty")
LATEST = builtin_pathway("kyphoplasty")
STEPS = [s.id for s in LATEST.steps]
TERMINALS = [s.id for s in LATEST.terminal_steps]
ROLES = ["front_desk", "nurse", "anesthesia", "proceduralist"]
SMALL = settings(max_examples=50, deadline=None)


@dataclass(frozen=True, slots=True)
class Op:
    """One random command: a record (most often), an amendment or a void."""

    kind: str
    step: str
    role: str
    level: str
    override: bool
    gap_min: int
    back_min: int
    target: int


ops = st.lists(
    st.builds(
        Op,
        kind=st.sampled_from(["record"] * 6 + ["amend", "void"]),
        step=st.sampled_from(STEPS + TERMINALS * 4),  # terminals often, so cases close
        role=st.sampled_from(ROLES + ["proceduralist"] * 2),
        level=st.sampled_from(["L1", "T12", "L2"]),
        override=st.booleans(),
        gap_min=st.integers(0, 20),
        back_min=st.integers(0, 90),
        target=st.integers(0, 40),
    ),
    max_size=25,
)


@dataclass(slots=True)
class Outcome:
    """A command's result and what the case looked like just before it."""

    op: Op
    result: object
    count_before: int
    closed_before: bool


def play(day: Day, commands: list[Op]) -> list[Outcome]:
    """Run random commands from 06:20 on; overrides let many of them pass their gates.

    Steps the day's version does not have are refused as invalid, like any unknown step.
    """
    pathway = builtin_pathway("kyphoplasty", day.version)
    minute = -100.0
    accepted: list[str] = []
    outcomes: list[Outcome] = []
    for op in commands:
        minute += op.gap_min
        before = day.events()
        closed = terminal_entry(pathway, fold(before)) is not None
        result: object
        if op.kind == "record" or not accepted:
            step = LATEST.step(op.step)
            level = op.level if step.when == "per_level" else None
            result = day.record(
                op.role,
                op.step,
                minute,
                data_for(op.step, level, version=day.version),
                occurred_at=minute - op.back_min,
                override_reason="patient safety" if op.override else None,
            )
            if isinstance(result, StepRecorded):
                accepted.append(result.event_id)
        elif op.kind == "amend":
            target = accepted[op.target % len(accepted)]
            result = day.amend(op.role, target, minute, corrected_at=minute - op.back_min)
        else:
            result = day.void(op.role, accepted[op.target % len(accepted)], minute)
        outcomes.append(Outcome(op, result, len(before), closed))
    return outcomes


def evaluations(day: Day, state: CaseState, nows: list[float]) -> list[Evaluation]:
    pathway = builtin_pathway("kyphoplasty", day.version)
    return [evaluate(pathway, state, t(now)) for now in nows]


NOWS = [-100.0, -30.0, 0.0, 45.0, 120.0, 300.0]


@pytest.mark.parametrize("version", VERSIONS)
@SMALL
@given(commands=ops)
def test_folding_is_deterministic(version: str, commands: list[Op]) -> None:
    day = Day(("T12", "L1"), version=version)
    play(day, commands)
    events = day.events()

    first, second = fold(events), fold(events)
    incremental = fold(events[: len(events) // 2])
    for event in events[len(events) // 2 :]:
        apply(incremental, event)

    assert first == second == incremental
    assert (
        evaluations(day, first, NOWS)
        == evaluations(day, second, NOWS)
        == evaluations(day, incremental, NOWS)
    )


@pytest.mark.parametrize("version", VERSIONS)
@SMALL
@given(commands=ops)
def test_no_entry_is_accepted_after_a_terminal_step(version: str, commands: list[Op]) -> None:
    day = Day(("T12", "L1"), version=version)

    outcomes = play(day, commands)

    for outcome in outcomes:
        aftercare = LATEST.step(outcome.op.step).aftercare
        if outcome.closed_before and outcome.op.kind == "record" and not aftercare:
            assert isinstance(outcome.result, Refusal), outcome
            assert outcome.result.kind in {"role", "invalid", "closed"}, outcome


@pytest.mark.parametrize("version", VERSIONS)
@SMALL
@given(commands=ops)
def test_seq_strictly_grows_by_one(version: str, commands: list[Op]) -> None:
    day = Day(("T12", "L1"), version=version)

    outcomes = play(day, commands)

    assert [e.seq for e in day.events()] == list(range(1, day.count() + 1))
    for outcome in outcomes:
        seq = getattr(outcome.result, "seq", None)
        if isinstance(outcome.result, Refusal):
            assert seq is None
        else:
            assert seq == outcome.count_before + 1


# ------------------------------------------------------------ amend ≡ corrected history


@st.composite
def vitals(draw: st.DrawFn) -> dict[str, Any]:
    """A valid recovery vitals set, often out of range (the alerts are what we compare)."""
    systolic = draw(st.integers(60, 200))
    return data_for(
        "pacu_vitals",
        heart_rate=draw(st.sampled_from([40, 74, 130])),
        bp_systolic=systolic,
        bp_diastolic=draw(st.integers(20, min(120, systolic - 1))),
        spo2=draw(st.sampled_from([85, 90, 97])),
        temperature_c=draw(st.sampled_from([35.5, 36.8, 38.2])),
        sedation=draw(st.integers(0, 3)),
    )


def projected(evaluation: Evaluation) -> tuple[str, dict[str, str], list[tuple[Any, ...]]]:
    """Phase, statuses and active alerts, without event ids."""
    active = [
        (a.code, a.severity, a.step, a.message, a.started_at)
        for a in evaluation.alerts
        if a.active and a.code != "late_entry"
    ]
    return evaluation.phase, evaluation.steps, active


def history_of(evaluation: Evaluation) -> set[tuple[Any, ...]]:
    return {
        (a.code, a.severity, a.step, a.message, a.active, a.started_at, a.ended_at)
        for a in evaluation.alerts
        if a.code != "late_entry"
    }


def entries_of(state: CaseState) -> list[tuple[str, datetime, Any, str | None]]:
    return [(e.step, e.at, e.data, e.level) for e in state.valid]


@pytest.mark.parametrize("version", VERSIONS)
@SMALL
@given(
    original=vitals(),
    corrected=vitals(),
    recorded_min=st.integers(0, 40),
    corrected_min=st.integers(0, 45),
    amend_after_min=st.integers(0, 60),
)
def test_amending_then_folding_equals_folding_the_corrected_history(
    version: str,
    original: dict[str, Any],
    corrected: dict[str, Any],
    recorded_min: int,
    corrected_min: int,
    amend_after_min: int,
) -> None:
    corrected_min = min(corrected_min, recorded_min + 5)  # the window: recorded_at + 5 min
    amended, direct = Day(version=version), Day(version=version)
    arrival = amended.advance_to("pacu_arrival")
    direct.advance_to("pacu_arrival")

    target = amended.ok("nurse", "pacu_vitals", arrival + recorded_min, original).event_id
    direct.ok(
        "nurse",
        "pacu_vitals",
        arrival + recorded_min,
        corrected,
        occurred_at=arrival + corrected_min,
    )
    amendment = amended.amend(
        "nurse",
        target,
        arrival + recorded_min + amend_after_min,
        data=corrected,
        corrected_at=arrival + corrected_min,
    )
    for day in (amended, direct):
        day.step("pacu_vitals", arrival + 50)

    assert not isinstance(amendment, Refusal), amendment
    assert entries_of(amended.state()) == entries_of(direct.state())
    for now in [arrival + m for m in (10, 16, 31, 46, 61, 95)]:
        with_amendment, corrected_history = amended.evaluate(now), direct.evaluate(now)
        assert projected(with_amendment) == projected(corrected_history)
        # The amended case also keeps alerts the amendment removed, ended at the amendment.
        assert history_of(corrected_history) <= history_of(with_amendment)
