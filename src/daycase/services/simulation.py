"""The centre's simulation, fitted to its own history (service room).

Reads the report facts of the chosen days (the same folded rows the quality reports
count), the rooms the schedule placed cases in, and the centre's set-up; asks the engine
for the pathway's floors (`daycase.sim.probe`); fits the durations (`daycase.sim.fit`);
and describes the centre as it is booked today (`daycase.sim.model.Centre`).
"""

from __future__ import annotations

import itertools
import math
import statistics
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

import numpy as np

from daycase.pathways.schema import Pathway
from daycase.reports.facts import CaseFacts
from daycase.reports.measures import Context
from daycase.reports.model import BarChart
from daycase.services.centre_setup import CentreSetup
from daycase.sim.check import DayCheck, check_day, turnovers
from daycase.sim.eta import Calibration, calibrate
from daycase.sim.fit import Durations, fit
from daycase.sim.model import Centre, Model
from daycase.sim.probe import Floors, floors

if TYPE_CHECKING:
    from daycase.services.runtime import Runtime

# A case of each number of levels the probe asks the engine about.
REPRESENTATIVE_LEVELS = {1: ["L1"], 2: ["T12", "L1"], 3: ["L1", "L2", "L3"]}
DEFAULT_CASES_PER_ROOM = 4
MIN_GAPS = 10  # bookings in a room one after another, before their spacing is the centre's


class CannotSimulate(ValueError):
    """The centre cannot be simulated as set up (no rooms, no recovery bays): named."""


@dataclass(frozen=True, slots=True)
class Fitted:
    """What a simulation of this centre draws from, and what it was fitted on."""

    model: Model
    centre: Centre
    floors: dict[int, Floors]
    first: date
    last: date
    cases: int
    facts: list[CaseFacts] = field(default_factory=list, repr=False, compare=False)


def curve_chart(points: Sequence[tuple[int, float, float, float]], rooms: int) -> BarChart:
    """The bays curve as a report chart: the share of patients who wait, per number of
    bays (and bays per room, where the knee shows)."""
    return BarChart(
        title="Patients who wait for a recovery bay, by number of bays",
        description=(
            "The share of patients who wait in the procedure room for a recovery bay, for "
            "each number of bays, with today's rooms and bookings."
        ),
        unit="%",
        bars=tuple(
            (f"{count} bay{'s' if count > 1 else ''} ({count / rooms:.2g} a room)", round(mean, 1))
            for count, mean, _, _ in points
        ),
    )


_FLOORS: dict[tuple[str, str, str], dict[int, Floors]] = {}
_FLOORS_LOCK = threading.Lock()


def pathway_floors(pathway: Pathway) -> dict[int, Floors]:
    """The shortest stretches the pathway allows, by levels, from the engine itself: asked
    once per process for each definition (its digest), as they follow from it alone."""
    key = (pathway.id, pathway.version, pathway.digest)
    with _FLOORS_LOCK:
        found = _FLOORS.get(key)
        if found is None:
            found = {k: floors(pathway, levels) for k, levels in REPRESENTATIVE_LEVELS.items()}
            _FLOORS[key] = found
        return found


def model_of(
    pathway: Pathway, setup: CentreSetup, facts: list[CaseFacts], turnovers: list[float]
) -> tuple[Model, dict[int, Floors]]:
    """The durations fitted on `facts` and the pathway's floors: what a simulation and
    the boards' estimated times draw from (no rooms or bays needed)."""
    try:
        found = pathway_floors(pathway)
    except ValueError as unknown:  # a pathway whose day the simulation does not know
        raise CannotSimulate(str(unknown)) from None
    durations: Durations = fit(
        pathway,
        facts,
        turnovers,
        turnover_target=setup.turnover_target_min,
        recovery_floor=found[1].recovery,
        bays=len(setup.recovery_bays) or None,
    )
    model = Model(
        durations,
        procedure_floor={k: f.procedure for k, f in found.items()},
        recovery_floor={k: f.recovery for k, f in found.items()},
    )
    return model, found


def model_from(
    pathway: Pathway,
    setup: CentreSetup,
    facts: list[CaseFacts],
    turnovers: list[float],
    *,
    placed: dict[tuple[str, date], int],
    days: int,
    booked_every: float | None = None,
) -> tuple[Model, Centre, dict[int, Floors]]:
    """The model and the centre as booked, from facts and the set-up (pure: tests give
    synthetic history here). The template day books each room's cases `booked_every`
    minutes apart (the centre's own median gap between bookings in a room), or, with no
    such history, the expected time in the room and the median turnover."""
    if not setup.rooms:
        raise CannotSimulate("the centre's set-up has no rooms: add them on the Centre page")
    if not setup.recovery_bays:
        raise CannotSimulate(
            "the centre's set-up has no recovery bays: add them on the Centre page"
        )
    model, found = model_of(pathway, setup, facts, turnovers)
    durations = model.durations
    opens = min(r.opens.hour * 60 + r.opens.minute for r in setup.rooms)
    closes = max(r.closes.hour * 60 + r.closes.minute for r in setup.rooms)
    per_room = round(sum(placed.values()) / len(placed)) if placed else DEFAULT_CASES_PER_ROOM
    mix = durations.levels_mix
    in_room = sum(mix.get(k, 0.0) * durations.procedure[k].median for k in (1, 2, 3))
    slot = 5 * math.ceil((booked_every or in_room + durations.turnover.median) / 5)
    centre = Centre(
        rooms=len(setup.rooms),
        bays=len(setup.recovery_bays),
        opens_min=opens,
        closes_min=closes,
        cases_per_room=max(1, per_room),
        slot_min=slot,
        days=days,
    )
    return model, centre, found


def history(runtime: Runtime, first: date, last: date) -> tuple[list[CaseFacts], Context]:
    """The report facts of the cases booked from `first` to `last`, and their schedule."""
    runtime.reports.refresh(first, last)
    return runtime.reports.read(first, last), runtime.reports.context(first, last)


def eta_model(runtime: Runtime, facts: list[CaseFacts], context: Context) -> Model:
    """What the boards' estimated times draw from: fitted on these cases."""
    model, _ = model_of(
        runtime.centre.pathway(), runtime.setup.current().setup, facts, turnovers(facts, context)
    )
    return model


def fitted(runtime: Runtime, *, first: date, last: date, days: int = 250) -> Fitted:
    """The centre's model fitted on the cases booked from `first` to `last`."""
    facts, context = history(runtime, first, last)
    gaps = turnovers(facts, context)
    placed = Counter(
        (p.room, f.day) for f in facts if (p := context.placements.get(f.case_id)) is not None
    )
    starts: dict[tuple[str, date], list[datetime]] = {}
    for f in facts:
        if (p := context.placements.get(f.case_id)) is not None:
            starts.setdefault((p.room, f.day), []).append(f.scheduled_start)
    gaps_booked = [
        (b - a).total_seconds() / 60
        for times in starts.values()
        for a, b in itertools.pairwise(sorted(times))
        if b > a
    ]
    model, centre, found = model_from(
        runtime.centre.pathway(),
        runtime.setup.current().setup,
        facts,
        gaps,
        placed=dict(placed),
        days=days,
        booked_every=statistics.median(gaps_booked) if len(gaps_booked) >= MIN_GAPS else None,
    )
    return Fitted(model, centre, found, first, last, len(facts), facts)


# --- checking the simulation against what happened --------------------------------------


@dataclass(frozen=True, slots=True)
class Validation:
    fitted: Fitted
    days: list[DayCheck]
    replications: int
    etas: Calibration


def validate(
    runtime: Runtime,
    *,
    fit_first: date,
    fit_last: date,
    first: date,
    last: date,
    replications: int = 200,
    seed: int = 0,
) -> Validation:
    """Fit on `fit_first`..`fit_last`, then check each day from `first` to `last` that is
    over (`daycase.sim.check`)."""
    found = fitted(runtime, first=fit_first, last=fit_last)
    runtime.reports.refresh(first, last)
    facts = runtime.reports.read(first, last)
    context = runtime.reports.context(first, last)
    today = runtime.today()
    by_day: dict[date, list[CaseFacts]] = {}
    for f in facts:  # days that are over: a day still running has no last discharge yet
        if f.day < today and f.case_id in context.placements:
            by_day.setdefault(f.day, []).append(f)
    rng = np.random.default_rng(seed)
    checks = [
        check_day(
            day,
            by_day[day],
            context,
            centre=found.centre,
            model=found.model,
            replications=replications,
            rng=rng,
        )
        for day in sorted(by_day)
    ]
    judged = [f for cases in by_day.values() for f in cases]
    return Validation(
        found,
        checks,
        replications,
        calibrate(found.model, judged, spread_max_min=runtime.settings.eta_spread_minutes),
    )
