"""When each step of a day may first happen, asked of the engine itself (simulation room).

The simulation does not carry a second copy of the pathway's rules. It replays the day of
actions (`daycase.sim.day`) on an in-memory case, and for each step asks the engine's own
`decide_record` for the earliest minute it accepts: a gate such as "cement injected at
least 5 min ago" or "60 min in recovery" is found, not written down here. What comes out
are the shortest stretches the pathway allows (`Floors`): a sampled duration shorter than
its floor is lifted to it. Change the pathway file and the floors follow.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from daycase.engine.check import decide_open, decide_record
from daycase.engine.commands import Actor, OpenCase, RecordStep, Refusal
from daycase.engine.evaluate import evaluate
from daycase.engine.events import StepRecorded
from daycase.engine.fold import CaseState, apply, fold
from daycase.pathways.schema import Pathway
from daycase.sim.day import Planned, day_script

# A fixed day far from any clock: the probe's answers must not depend on when it runs.
ARRIVAL = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
HORIZON_MIN = 24 * 60


@dataclass(frozen=True, slots=True)
class Floors:
    """The shortest stretches the pathway allows a case with this many levels, minutes."""

    levels: int
    procedure: float  # in the room: in_room -> out_of_room
    recovery: float  # out of the room -> the discharge criteria first met (ready)
    earliest: dict[str, float]  # each step's earliest minute after check-in


def earliest_steps(pathway: Pathway, levels: list[str]) -> dict[str, float]:
    """Each step of the uneventful day at the first whole minute the engine accepts it,
    every earlier step having been recorded at its own earliest minute."""
    now = ARRIVAL - timedelta(hours=1)
    opened = decide_open(
        pathway,
        OpenCase(
            actor=Actor("sim", pathway.open_roles[0]),
            pathway_id=pathway.id,
            pathway_version=pathway.version,
            mrn="SIM",
            given_name="Sim",
            family_name="Case",
            birth_date=ARRIVAL.date().replace(year=1950),
            sex="unknown",
            levels=levels,
            scheduled_start=ARRIVAL,
        ),
        case_id="sim",
        event_id="sim-1",
        now=now,
        family_code="SIM",
    )
    if isinstance(opened, Refusal):
        raise ValueError(f"the pathway refused the probe's case: {'; '.join(opened.messages)}")
    state = fold([opened])
    script = day_script(levels, ARRIVAL, random.Random(0), version=pathway.version)
    # Checks the day repeats (recovery vitals, neuro checks) are kept up as a prompt team
    # keeps them: again when the engine says one is overdue, not at the script's times.
    counts = Counter(p.step for p in script if "level" not in p.data)
    recurring = {p.step: p for p in script if counts[p.step] > 1}
    found: dict[str, float] = {}
    last = 0.0
    for planned in script:
        if planned.step == "level_abandoned" or (
            planned.step in recurring and planned.step in found
        ):
            continue
        minute, event = _earliest(pathway, state, planned, last, recurring)
        if event is None:
            continue
        apply(state, event)
        last = minute
        found.setdefault(planned.step, minute)
        if "level" in planned.data:
            found[f"{planned.step}@{planned.data['level']}"] = minute
    return found


def floors(pathway: Pathway, levels: list[str]) -> Floors:
    """The procedure and recovery floors of a case with these levels."""
    steps = earliest_steps(pathway, levels)
    missing = [s for s in ("in_room", "out_of_room") if s not in steps]
    if missing:  # the day of actions is kyphoplasty's: another pathway's day is not in it
        raise ValueError(
            f"pathway {pathway.id} {pathway.version}: the day of actions never reached "
            f"{' or '.join(missing)}, so its minimum times cannot be asked of the engine"
        )
    out, ready = steps["out_of_room"], _ready(steps)
    return Floors(
        levels=len(levels),
        procedure=out - steps["in_room"],
        recovery=max(0.0, ready - out),
        earliest=steps,
    )


def _ready(steps: dict[str, float]) -> float:
    """The discharge criteria are met when the patient may first be discharged."""
    return steps.get("discharged", max(steps.values()))


def _earliest(
    pathway: Pathway,
    state: CaseState,
    planned: Planned,
    after: float,
    recurring: dict[str, Planned],
) -> tuple[float, StepRecorded | None]:
    """The first whole minute from `after` the engine accepts the step, the repeated
    checks kept up meanwhile; None when it is refused for a reason time does not cure."""
    minute = after
    # The script's own minute is one the step is accepted at on its day; an hour past it
    # (or past `after`) the gate is not one time will lift.
    limit = min(HORIZON_MIN, max(after, planned.minute) + 60)
    while minute <= limit:
        _keep_up(pathway, state, minute, recurring)
        found = _try(pathway, state, planned, minute)
        if not isinstance(found, Refusal):
            return minute, found
        if found.kind != "gate":
            return after, None
        minute += 1
    return after, None


def _keep_up(
    pathway: Pathway, state: CaseState, minute: float, recurring: dict[str, Planned]
) -> None:
    """Record each repeated check the moment the engine's alert says it fell due."""
    at = ARRIVAL + timedelta(minutes=minute)
    for _ in range(len(recurring) + 1):
        due = [
            a
            for a in evaluate(pathway, state, at).active_alerts
            if a.step in recurring and a.started_at <= at
        ]
        if not due:
            return
        for alert in due:
            when = (alert.started_at - ARRIVAL).total_seconds() / 60
            done = _try(pathway, state, recurring[alert.step], when)
            if isinstance(done, Refusal):
                return
            apply(state, done)


def _try(
    pathway: Pathway, state: CaseState, planned: Planned, minute: float
) -> StepRecorded | Refusal:
    at = ARRIVAL + timedelta(minutes=minute)
    return decide_record(
        pathway,
        state,
        RecordStep(actor=Actor("sim", planned.role), step=planned.step, at=at, data=planned.data),
        event_id=f"sim-{state.last_seq + 1}",
        now=at,
    )
