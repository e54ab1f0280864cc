"""`next_change_at`: between now and the instant it names, a board sees nothing change.

The board read model re-evaluates a case only when its rows can change by the clock
alone; a change it failed to name would leave a stale alert (or a missing one) on every
open board. So the day is walked change to change, and each stretch is probed just
before its end and inside it, over random histories (Hypothesis) and the uneventful one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings

from daycase.engine.changes import next_change_at
from daycase.engine.evaluate import evaluate
from daycase.engine.fold import CaseState
from daycase.engine.load import builtin_pathway
from daycase.pathways.schema import Pathway
from tests.engine.builders import Day, t
from tests.engine.test_properties import VERSIONS, Op, ops, play

JUST_BEFORE = timedelta(microseconds=1)


def visible(pathway: Pathway, state: CaseState, now: datetime) -> tuple[object, ...]:
    """What a board row shows of a case at `now`, its minutes in phase aside."""
    ev = evaluate(pathway, state, now)
    return (
        ev.phase,
        ev.phase_since,
        tuple(ev.next_due),
        tuple((a.code, a.current_severity, a.message) for a in ev.active_alerts),
        ev.family_word,
        ev.family_colour,
        ev.running_long,
        bool(ev.overrides),
    )


def walk(pathway: Pathway, state: CaseState, *, start: datetime, end: datetime) -> int:
    """Step from change to change over [start, end]; the number of changes named."""
    now, named = start, 0
    while now < end:
        seen = visible(pathway, state, now)
        change = next_change_at(pathway, state, now)
        assert change is None or change > now, (now, change)
        horizon = min(change, end) if change is not None else end
        for probe in (now + (horizon - now) / 3, horizon - JUST_BEFORE):
            if probe > now:
                assert visible(pathway, state, probe) == seen, (now, probe, change)
        if change is None:
            return named
        now, named = change, named + 1
        assert named < 5000, "changes named too often to be useful"
    return named


def test_the_uneventful_day_is_constant_between_the_changes_it_names() -> None:
    day = Day(("L1",), version="2.0")
    day.advance_to("pacu_arrival")
    pathway = builtin_pathway("kyphoplasty", "2.0")

    named = walk(pathway, day.state(), start=t(-200), end=t(8 * 60))

    # Recovery vitals fall overdue and the hour in recovery passes with nobody charting.
    assert named > 0


def test_overdue_vitals_are_named_at_the_instant_they_fall_due() -> None:
    """Recovery vitals fall overdue more than 15 min after arrival with none taken: the
    change named from arrival on is the first instant past that, not a minute later."""
    day = Day(("L1",), version="2.0")
    arrival = day.advance_to("pacu_arrival")
    pathway = builtin_pathway("kyphoplasty", "2.0")
    state = day.state()
    now = t(arrival)
    while True:
        change = next_change_at(pathway, state, now)
        assert change is not None
        codes = {a.code for a in evaluate(pathway, state, change).active_alerts}
        if "vitals_overdue" in codes:
            break
        now = change

    assert change == t(arrival + 15) + timedelta(microseconds=1)
    assert "vitals_overdue" not in {
        a.code for a in evaluate(pathway, state, t(arrival + 15)).active_alerts
    }


@pytest.mark.parametrize("version", VERSIONS)
@settings(max_examples=40, deadline=None)
@given(commands=ops)
def test_random_days_are_constant_between_the_changes_they_name(
    version: str, commands: list[Op]
) -> None:
    day = Day(("L1", "T12"), version=version)
    play(day, commands)
    pathway = builtin_pathway("kyphoplasty", version)

    walk(pathway, day.state(), start=t(-200), end=t(5 * 60))
