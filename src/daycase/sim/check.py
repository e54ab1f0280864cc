"""The simulation checked against what happened, day by day (simulation room).

A day that is over is simulated as it was booked (its rooms in their order, booked
times, levels) many times; what happened is then set beside the simulated 5-95 % band:
the last patient home, and the recovery census at each full hour. Over a month, the
share of days (and hours) inside their band says whether the model can be trusted; the
goal is 90 %. Waits for a bay are not judged: the record does not say how long a patient
waited in the room for one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from daycase.reports.facts import CaseFacts
from daycase.reports.measures import Context, room_gaps
from daycase.sim.model import Bookings, Centre, Model, Stay, Tally, simulate_day

BAND = (5.0, 95.0)
# A case that went in more than this after its booked time found its room still busy.
LATE_MIN = 2.0


@dataclass(frozen=True, slots=True)
class DayCheck:
    """One predicted day: what happened beside the simulated 5-95 % band."""

    day: date
    cases: int
    last_discharge: float | None  # the last patient out of recovery, minutes after midnight
    band: tuple[float, float]
    census_inside: int  # hours whose recovery census fell inside its band
    census_hours: int

    @property
    def inside(self) -> bool:
        return self.last_discharge is not None and (
            self.band[0] <= self.last_discharge <= self.band[1]
        )


def coverage(days: Sequence[DayCheck]) -> tuple[float | None, float | None]:
    """(% of judged days whose last discharge was inside its band, % of census hours)."""
    judged = [d for d in days if d.last_discharge is not None]
    hours = sum(d.census_hours for d in days)
    return (
        100 * sum(d.inside for d in judged) / len(judged) if judged else None,
        100 * sum(d.census_inside for d in days) / hours if hours else None,
    )


def turnovers(facts: Sequence[CaseFacts], context: Context) -> list[float]:
    """The gaps between cases in a room that are the room turning over: those before a
    patient who was ready (signed in) by the time the case before left, so the room, not
    the patient, was what they waited for. Where sign-in was not recorded, those before a
    case that went in after its booked time. Any other gap may hold the room waiting for
    its next patient, which is no turnover."""
    found = []
    for _, _, gap, after in room_gaps(facts, context):
        went_in = after.times.get("in_room")
        if gap is None or went_in is None:
            continue
        ready = after.times.get("sign_in")
        if ready is not None:
            if ready <= went_in - timedelta(minutes=gap):
                found.append(gap)
        elif (went_in - after.scheduled_start).total_seconds() / 60 > LATE_MIN:
            found.append(gap)
    return found


def minutes(at: datetime, tz: ZoneInfo) -> float:
    """Minutes after the centre's midnight."""
    local = at.astimezone(tz)
    return local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 6e7


def check_day(
    day: date,
    cases: Sequence[CaseFacts],
    context: Context,
    *,
    centre: Centre,
    model: Model,
    replications: int,
    rng: np.random.Generator,
) -> DayCheck:
    """One day, simulated `replications` times as it was booked, beside what happened."""
    placed = [f for f in cases if f.case_id in context.placements]
    placed.sort(
        key=lambda f: (context.placements[f.case_id].room, context.placements[f.case_id].position)
    )
    rooms = sorted({context.placements[f.case_id].room for f in placed})
    bookings = Bookings(
        room=[rooms.index(context.placements[f.case_id].room) for f in placed],
        booked=[minutes(f.scheduled_start, context.tz) for f in placed],
        levels=[min(3, max(1, len(f.levels_planned))) for f in placed],
    )
    hours = np.arange(centre.opens_min // 60, centre.closes_min // 60 + 4) * 60.0
    lasts = np.zeros(replications)
    census = np.zeros((replications, len(hours)))
    for r in range(replications):
        tally, stays = Tally(), list[Stay]()
        simulate_day(centre, model, rng, tally, bookings=bookings, stays=stays)
        lasts[r] = tally.last_discharges[-1] if stays else np.nan  # every case cancelled
        census[r] = _census([(s.came_out, s.gone) for s in stays], hours)
    observed = [
        (minutes(f.times["out_of_room"], context.tz), minutes(f.outcome_at, context.tz))
        for f in placed
        if "out_of_room" in f.times and f.outcome_at is not None
    ]
    # The last patient out of recovery, as simulated: home, admitted or transferred.
    home = [gone for came_out, gone in observed]
    low, high = np.percentile(census, BAND, axis=0)
    seen = _census(observed, hours)
    return DayCheck(
        day=day,
        cases=len(placed),
        last_discharge=max(home) if home else None,
        band=(float(np.nanpercentile(lasts, BAND[0])), float(np.nanpercentile(lasts, BAND[1]))),
        census_inside=int(np.sum((low <= seen) & (seen <= high))),
        census_hours=len(hours),
    )


def _census(stays: Sequence[tuple[float, float]], hours: np.ndarray) -> np.ndarray:
    """Patients in recovery at each hour: in at or before it, not yet gone."""
    if not stays:
        return np.zeros(len(hours))
    spans = np.asarray(stays)
    inside = (spans[:, 0][:, None] <= hours[None, :]) & (hours[None, :] < spans[:, 1][:, None])
    counts: np.ndarray = inside.sum(axis=0)
    return counts
