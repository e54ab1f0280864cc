"""The centre's own durations, fitted from its history (simulation room).

Each stretch of a case's day is a distribution fitted to what the centre's past cases
took: lognormal by default (durations are positive and skewed right), fitted by maximum
likelihood with scipy with the location held at zero; arrival against the booked time
is normal (patients come early and late). Where history is thin (fewer than
`MIN_SAMPLES` cases), the pathway's own expectation stands in, and says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np

from daycase.pathways.schema import Pathway
from daycase.reports.facts import CaseFacts

MIN_SAMPLES = 20
# A stretch this close to the pathway's floor ended because the floor did (censored).
FLOOR_TOLERANCE_MIN = 2.0
# No real stretch is exactly as long every time: a spread below this is a fit of a
# handful of identical values, kept from being zero so estimates never divide by it.
MIN_SIGMA = 0.01
# Where history is thin: the spread (sigma of the log) of a typical surgical duration.
PRIOR_SIGMA = 0.3
LEVEL_GROUPS = (1, 2, 3)  # 3 stands for three or more

Kind = Literal["lognormal", "normal"]


@dataclass(frozen=True, slots=True)
class Fitted:
    """One stretch's distribution: lognormal (`mu`, `sigma` of the log, minutes) or normal
    (`mu`, `sigma`, minutes); `n` cases behind it, `source` history or pathway."""

    name: str
    kind: Kind
    mu: float
    sigma: float
    n: int
    source: Literal["history", "pathway"]

    @property
    def median(self) -> float:
        return math.exp(self.mu) if self.kind == "lognormal" else self.mu

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if self.kind == "lognormal":
            return rng.lognormal(self.mu, self.sigma, size)
        return rng.normal(self.mu, self.sigma, size)

    def scaled_to(self, median: float) -> Fitted:
        """The same spread around another median (a what-if's turnover target)."""
        mu = math.log(median) if self.kind == "lognormal" else median
        return Fitted(self.name, self.kind, mu, self.sigma, self.n, self.source)

    def describe(self) -> str:
        if self.kind == "lognormal":
            return (
                f"lognormal, median {self.median:.1f} min (mu {self.mu:.3f}, sigma "
                f"{self.sigma:.3f}), {self.n} cases, from {self.source}"
            )
        return (
            f"normal, mean {self.mu:.1f} min, sd {self.sigma:.1f}, {self.n} cases, "
            f"from {self.source}"
        )


@dataclass(frozen=True, slots=True)
class Durations:
    """Every stretch of the centre's day, and how often a booked case is cancelled."""

    arrival: Fitted  # check-in minus booked start (negative: early)
    preop: Fitted  # check-in -> in the room (the patient ready: the earliest they go in)
    procedure: dict[int, Fitted]  # in -> out of the room, by levels (3: three or more)
    recovery: Fitted  # out of the room -> discharge criteria met
    going: Fitted  # criteria met -> gone home (the ride, the paperwork)
    turnover: Fitted  # out of the room -> the next case in, same room
    cancel_rate: float
    levels_mix: dict[int, float] = field(default_factory=dict)
    # Time in the room as the record has it, any wait for a bay included: what a board's
    # estimate of "out of the room" must expect, where the simulation adds waits itself.
    room_time: dict[int, Fitted] = field(default_factory=dict)

    def all(self) -> list[Fitted]:
        return [
            self.arrival,
            self.preop,
            *(self.procedure[n] for n in sorted(self.procedure)),
            self.recovery,
            self.going,
            self.turnover,
        ]


def fit_lognormal(
    name: str, values: Iterable[float], prior_median: float, *, floor: float | None = None
) -> Fitted:
    """Maximum likelihood (scipy, location 0) on the positive values; the prior when
    fewer than `MIN_SAMPLES` remain.

    With a `floor` (the pathway's shortest stretch), a value at the floor (within
    `FLOOR_TOLERANCE_MIN`) says only that the patient was ready by then: the stretch
    would have been that long or shorter. Such values are censored in the likelihood,
    not taken as lengths; taken as lengths they pile up at the floor and make the fitted
    spread too narrow, and the intervals built on it too confident."""
    data = np.asarray([v for v in values if v > 0], dtype=float)
    if len(data) < MIN_SAMPLES:
        return Fitted(name, "lognormal", math.log(prior_median), PRIOR_SIGMA, len(data), "pathway")
    from scipy import stats  # half a second to import: every server and command would pay it

    sigma, _, scale = stats.lognorm.fit(data, floc=0)
    mu = math.log(scale)
    if floor is not None:
        bound = floor + FLOOR_TOLERANCE_MIN
        at_floor = data <= bound
        if at_floor.any() and not at_floor.all():
            mu, sigma = _censored(
                np.log(data[~at_floor]), int(at_floor.sum()), math.log(bound), mu, sigma
            )
    return Fitted(name, "lognormal", float(mu), max(float(sigma), MIN_SIGMA), len(data), "history")


def _censored(
    seen: np.ndarray, below: int, bound: float, mu: float, sigma: float
) -> tuple[float, float]:
    """The normal (of the logs) that best explains `seen` exactly and `below` values known
    only to lie at or under the one `bound` (every value that close to the floor, the
    same way, whatever it was): maximum likelihood from the plain fit's start, which
    stands if the search does not converge."""
    from scipy import optimize, stats

    def minus_log_likelihood(theta: np.ndarray) -> float:
        m, s = float(theta[0]), math.exp(float(theta[1]))
        return -float(stats.norm.logpdf(seen, m, s).sum() + below * stats.norm.logcdf(bound, m, s))

    start = np.asarray([mu, math.log(max(sigma, MIN_SIGMA))])
    found = optimize.minimize(minus_log_likelihood, start, method="Nelder-Mead")
    if not found.success:
        return mu, sigma
    return float(found.x[0]), math.exp(float(found.x[1]))


def fit_normal(name: str, values: Iterable[float], prior_mean: float, prior_sd: float) -> Fitted:
    data = np.asarray(list(values), dtype=float)
    if len(data) < MIN_SAMPLES:
        return Fitted(name, "normal", prior_mean, prior_sd, len(data), "pathway")
    from scipy import stats

    mean, sd = stats.norm.fit(data)
    return Fitted(name, "normal", float(mean), max(float(sd), MIN_SIGMA), len(data), "history")


def expected_procedure(pathway: Pathway, levels: int) -> float:
    """The pathway's own expectation of time in the room (its running-long rule's base and
    per-level minutes); 60 + 30 per further level when it has none."""
    for alert in pathway.alerts:
        params = alert.params
        if alert.rule == "overrun" and "base_min" in params:
            return float(params["base_min"]) + float(params.get("per_extra_level_min", 0)) * (
                levels - 1
            )
    return 60.0 + 30.0 * (levels - 1)


def fit(
    pathway: Pathway,
    facts: Sequence[CaseFacts],
    turnovers: Sequence[float],
    *,
    turnover_target: float,
    recovery_floor: float,
    bays: int | None = None,
) -> Durations:
    """The centre's durations from its past cases (`facts`) and room turnovers.

    What the record shows of a stretch may hold a queue the simulation adds itself, so
    each is read where the queue is not in it: pre-op ends at the WHO sign-in (the patient
    ready), not at the room's door, which waits for the room; time in the room is taken
    from cases that did not wait in it for a recovery bay (fewer than `bays` patients in
    recovery when they were signed out)."""

    def gaps(start: str, end: str, cases: Iterable[CaseFacts]) -> list[float]:
        return [m for f in cases if (m := f.minutes(start, end)) is not None]

    arrived = [f for f in facts if f.arrived]
    arrival = fit_normal(
        "arrival",
        [(f.times["check_in"] - f.scheduled_start).total_seconds() / 60 for f in arrived],
        prior_mean=-60.0,
        prior_sd=20.0,
    )
    free = _bay_was_free(facts, bays)
    procedure = _in_room(pathway, "procedure", free)
    room_time = _in_room(pathway, "room_time", facts)
    ready = [f for f in facts if "sign_in" in f.times]
    preop = (
        gaps("check_in", "sign_in", ready)
        if len(ready) >= MIN_SAMPLES
        else gaps("check_in", "in_room", facts)
    )
    home = [f for f in facts if f.outcome == "discharged"]
    booked = [f for f in facts if f.outcome is not None]
    cancelled = [f for f in booked if f.outcome == "cancelled"]
    counts = {n: sum(1 for f in facts if _group(f) == n) for n in LEVEL_GROUPS}
    total = sum(counts.values())
    return Durations(
        arrival=arrival,
        preop=fit_lognormal("preop", preop, 60.0),
        procedure=procedure,
        recovery=fit_lognormal(
            "recovery",
            gaps("out_of_room", "ready", facts),
            recovery_floor + 30,
            floor=recovery_floor,
        ),
        going=fit_lognormal("going", gaps("ready", "outcome", home), 15.0),
        turnover=fit_lognormal("turnover", turnovers, turnover_target),
        cancel_rate=len(cancelled) / len(booked) if len(booked) >= MIN_SAMPLES else 0.03,
        levels_mix=(
            {n: c / total for n, c in counts.items()}
            if total >= MIN_SAMPLES
            else {1: 0.75, 2: 0.2, 3: 0.05}
        ),
        room_time=room_time,
    )


def _in_room(pathway: Pathway, name: str, cases: Sequence[CaseFacts]) -> dict[int, Fitted]:
    """Time in the room for each group of levels. A group with too few cases goes at the
    centre's own pace: its one-level time scaled by the pathway's expectations."""
    found = {
        n: fit_lognormal(
            f"{name}_{n}_level{'s' if n > 1 else ''}",
            [
                m
                for f in cases
                if _group(f) == n and (m := f.minutes("in_room", "out_of_room")) is not None
            ],
            expected_procedure(pathway, n),
        )
        for n in LEVEL_GROUPS
    }
    one = found[1]
    if one.source == "history":
        for n in LEVEL_GROUPS[1:]:
            if found[n].source == "pathway":
                scale = expected_procedure(pathway, n) / expected_procedure(pathway, 1)
                mu = one.mu + math.log(scale)
                found[n] = Fitted(found[n].name, "lognormal", mu, one.sigma, found[n].n, "pathway")
    return found


def _bay_was_free(facts: Sequence[CaseFacts], bays: int | None) -> list[CaseFacts]:
    """The cases that found a recovery bay free when signed out (all, when the number of
    bays is not known, or the sign-out was not recorded)."""
    if bays is None:
        return list(facts)
    by_day: dict[date, list[CaseFacts]] = {}
    for f in facts:
        by_day.setdefault(f.day, []).append(f)
    free = []
    for cases in by_day.values():
        stays = [
            (f.times["out_of_room"], f.outcome_at)
            for f in cases
            if "out_of_room" in f.times and f.outcome_at is not None
        ]
        for f in cases:
            signed_out = f.times.get("sign_out")
            if signed_out is None or (
                sum(1 for into, gone in stays if into <= signed_out < gone) < bays
            ):
                free.append(f)
    return free


def _group(f: CaseFacts) -> int:
    return min(3, max(1, len(f.levels_planned)))
