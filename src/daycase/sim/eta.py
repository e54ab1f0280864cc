"""When a patient's next milestone is likely, from the centre's own durations (simulation
room).

Where a case is now says which stretch it is in and for how long it has been in it: in
the room since 10:05, say. The next milestone is then the stretch's fitted distribution
*given that it has already lasted that long* (a stretch that has run 40 min is not
expected to take its median from now), never shorter than the pathway's floor. The
estimate is its median, with an 80 % interval (the 10th to the 90th percentile). A
board shows it only when that interval is narrow enough to be useful.

`calibrate` replays past cases: at regular moments in each stretch it makes the estimate
a board would have shown, and counts how often the real time fell inside the interval.
For an honest 80 % interval that is 80 % of the time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist
from typing import Literal

import numpy as np

from daycase.reports.facts import CaseFacts
from daycase.sim.fit import Fitted
from daycase.sim.model import Model

Milestone = Literal["recovery", "ready", "home"]
LOW, MIDDLE, HIGH = 0.1, 0.5, 0.9
# Past this far into a stretch's tail the fit has nothing left to say: no estimate.
TAIL = 1e-3
_NORMAL = NormalDist()
STAY_DRAWS = 4000
STAY_SEED = 20261203


@dataclass(frozen=True, slots=True)
class Eta:
    """The next milestone: out of the room into `recovery`, discharge criteria met
    (`ready`), or gone `home`; its likely time and the 80 % interval around it."""

    milestone: Milestone
    at: datetime
    low: datetime
    high: datetime
    from_history: bool = True  # False: the pathway's expectation, for want of history

    @property
    def spread_min(self) -> float:
        return (self.high - self.low).total_seconds() / 60


def remaining(fitted: Fitted, floor: float, elapsed: float) -> tuple[float, float, float] | None:
    """(10th, 50th, 90th percentile) of a stretch's whole length in minutes, given it has
    lasted `elapsed` already and never ends before `floor`; None deep in the tail."""
    if fitted.kind != "lognormal":
        raise ValueError(f"{fitted.name}: a stretch's length is lognormal")

    def quantile(p: float) -> float:
        return math.exp(fitted.mu + fitted.sigma * _NORMAL.inv_cdf(p))

    if elapsed < floor:  # the floor is still ahead: nothing is learnt yet
        low, middle, high = (max(floor, quantile(p)) for p in (LOW, MIDDLE, HIGH))
        return low, middle, high
    below = _NORMAL.cdf((math.log(elapsed) - fitted.mu) / fitted.sigma) if elapsed > 0 else 0.0
    tail = 1.0 - below
    if tail < TAIL:
        return None
    low, middle, high = (quantile(below + p * tail) for p in (LOW, MIDDLE, HIGH))
    return low, middle, high


def stay_remaining(
    recovery: Fitted, floor: float, going: Fitted, elapsed: float
) -> tuple[float, float, float] | None:
    """(10th, 50th, 90th percentile) of a whole stay in recovery, from out of the room to
    gone (criteria met, never before the floor, then the going), given it has lasted
    `elapsed`: the sum has no closed form, so it is drawn (a fixed seed, so a board shows
    the same time on every refresh). None when too few stays last that long."""
    rng = np.random.default_rng(STAY_SEED)
    total = np.maximum(recovery.sample(rng, STAY_DRAWS), floor) + going.sample(rng, STAY_DRAWS)
    kept = total[total > elapsed]
    if len(kept) < STAY_DRAWS * TAIL * 10:
        return None
    low, middle, high = np.percentile(kept, (100 * LOW, 100 * MIDDLE, 100 * HIGH))
    return float(low), float(middle), float(high)


def next_eta(
    model: Model,
    *,
    phase: str,
    levels: int,
    in_room_at: datetime | None,
    out_of_room_at: datetime | None,
    phase_since: datetime | None,
    now: datetime,
) -> Eta | None:
    """The next milestone of a case in the room (out of it), in recovery (criteria met),
    or in its discharge steps (gone)."""
    group = min(3, max(1, levels))
    d = model.durations
    start: datetime | None
    if phase == "procedure" and in_room_at is not None and out_of_room_at is None:
        milestone: Milestone = "recovery"
        room = d.room_time.get(group, d.procedure[group])
        fitted, floor, start = room, model.procedure_floor[group], in_room_at
    elif phase == "recovery" and out_of_room_at is not None:
        milestone = "ready"
        fitted, floor, start = d.recovery, model.recovery_floor[group], out_of_room_at
    elif phase == "discharge" and out_of_room_at is not None:
        # The discharge steps begin before the criteria are met: gone is the whole stay
        # from out of the room, never the going alone from the first of them.
        start = out_of_room_at
        elapsed = max(0.0, (now - start).total_seconds() / 60)
        stay = stay_remaining(d.recovery, model.recovery_floor[group], d.going, elapsed)
        if stay is None:
            return None
        low, middle, high = (start + timedelta(minutes=m) for m in stay)
        known = d.recovery.source == "history" and d.going.source == "history"
        return Eta("home", middle, low, high, known)
    else:
        return None
    elapsed = max(0.0, (now - start).total_seconds() / 60)
    found = remaining(fitted, floor, elapsed)
    if found is None:
        return None
    low, middle, high = (start + timedelta(minutes=m) for m in found)
    return Eta(milestone, middle, low, high, fitted.source == "history")


@dataclass(frozen=True, slots=True)
class Calibration:
    """How often past 80 % intervals held the real time: all of them, and those narrow
    enough (`spread_max_min`) to have been shown."""

    predictions: int
    inside: int
    shown: int
    shown_inside: int
    spread_max_min: float

    @property
    def coverage(self) -> float | None:
        return 100 * self.inside / self.predictions if self.predictions else None

    @property
    def shown_coverage(self) -> float | None:
        return 100 * self.shown_inside / self.shown if self.shown else None


def calibrate(
    model: Model, facts: Sequence[CaseFacts], *, every_min: float = 10, spread_max_min: float = 30
) -> Calibration:
    """Replay each case's stretches: every `every_min` minutes within one, the estimate a
    board would have made then, set against what happened."""
    counts = [0, 0, 0, 0]
    for f in facts:
        levels = len(f.levels_planned)
        went_in, came_out = f.times.get("in_room"), f.times.get("out_of_room")
        # The boards' discharge phase begins with its first steps, a little before the
        # criteria are met: its estimates are checked from 10 min before that.
        leaving = f.ready_at - timedelta(minutes=10) if f.ready_at is not None else None
        if leaving is not None and came_out is not None:
            leaving = max(leaving, came_out)
        stretches: list[tuple[str, datetime | None, datetime | None]] = [
            ("procedure", went_in, came_out),
            ("recovery", came_out, f.ready_at),
            ("discharge", leaving, f.outcome_at if f.outcome == "discharged" else None),
        ]
        for phase, start, end in stretches:
            if start is None or end is None or end <= start:
                continue
            now = start
            while now < end:
                eta = next_eta(
                    model,
                    phase=phase,
                    levels=levels,
                    in_room_at=went_in,
                    out_of_room_at=came_out if phase != "procedure" else None,
                    phase_since=start,
                    now=now,
                )
                if eta is not None:
                    held = int(eta.low <= end <= eta.high)
                    counts[0] += 1
                    counts[1] += held
                    if eta.spread_min <= spread_max_min:
                        counts[2] += 1
                        counts[3] += held
                now += timedelta(minutes=every_min)
    return Calibration(counts[0], counts[1], counts[2], counts[3], spread_max_min)
