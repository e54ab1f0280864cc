"""The centre's day run forward in simulated time, many times over (simulation room).

One simulated day (SimPy): each room takes its booked cases in order. A patient arrives
around their booked time (`arrival`), is ready for the room after pre-op (`preop`), and
goes in when the room is free again (after the case before it and the turnover). The
procedure takes its sampled time, never less than the pathway's floor (the engine's
cement rest: `daycase.sim.probe`); then the patient needs a recovery bay, and waits for
one *in the room*, which stays blocked (the classic recovery bottleneck). Recovery lasts
until the discharge criteria are met (never sooner than the pathway's floor, the engine's
hour in recovery) and then until the patient has gone (`going`); the bay is then free.
A booked case is cancelled on the day with the centre's own rate.

Replications are independent: a year of days per replication, its figures summed, and
each figure's 95 % interval taken across replications (Student's t). Replications run on
every core (processes), each with its own seeded generator, so a seed gives the same
answer however many cores there are.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import simpy

from daycase.sim.fit import Durations

DAY_MIN = 24 * 60


@dataclass(frozen=True, slots=True)
class Centre:
    """What is simulated: rooms, their hours (minutes after midnight), recovery bays, and
    the day's bookings: `cases_per_room` booked every `slot_min` from opening."""

    rooms: int
    bays: int
    opens_min: int
    closes_min: int
    cases_per_room: int
    slot_min: int
    days: int = 250


@dataclass(frozen=True, slots=True)
class Model:
    """The durations and the pathway's floors (by levels) a simulation draws from."""

    durations: Durations
    procedure_floor: dict[int, float]
    recovery_floor: dict[int, float]


@dataclass(slots=True)
class Tally:
    """Sums over simulated days (one replication)."""

    days: int = 0
    booked: int = 0
    done: int = 0
    room_busy: float = 0.0
    room_blocked: float = 0.0
    bay_busy: float = 0.0
    waited: int = 0
    wait_total: float = 0.0
    days_overflowed: int = 0
    overtime: float = 0.0
    last_discharges: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Figure:
    """A result: the mean over replications and its 95 % interval."""

    name: str
    unit: str
    mean: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Result:
    centre: Centre
    replications: int
    figures: list[Figure]
    last_discharge_quantiles: dict[str, float]  # p5, p50, p95 over every simulated day


class Stay(NamedTuple):
    """One simulated patient's day, minutes after midnight: arrived, ready for the room,
    into it, the procedure over, out of it (into a recovery bay, after any wait in the
    room), discharge criteria met, gone."""

    case: int
    arrived: float
    ready_for_room: float
    went_in: float
    done: float  # the procedure over: ready to leave the room
    came_out: float
    ready: float
    gone: float


@dataclass(frozen=True, slots=True)
class Bookings:
    """A real day's bookings: per case its room (0-based), booked start (minutes after
    midnight) and levels (3: three or more), each room's cases in their booked order."""

    room: Sequence[int]
    booked: Sequence[float]
    levels: Sequence[int]


def simulate_day(
    centre: Centre,
    model: Model,
    rng: np.random.Generator,
    tally: Tally,
    *,
    bookings: Bookings | None = None,
    stays: list[Stay] | None = None,
) -> None:
    """One day of the centre, added to `tally`: its template day (`centre.cases_per_room`
    booked every `centre.slot_min` from opening), or a real day's `bookings`. With
    `stays`, each patient's day is appended to it."""
    d = model.durations
    rooms: list[Sequence[int]]
    if bookings is None:
        n = centre.rooms * centre.cases_per_room
        levels = rng.choice([1, 2, 3], size=n, p=[d.levels_mix.get(k, 0.0) for k in (1, 2, 3)])
        per_room = centre.cases_per_room
        booked = centre.opens_min + (np.arange(n) % per_room) * float(centre.slot_min)
        rooms = [range(r * per_room, (r + 1) * per_room) for r in range(centre.rooms)]
    else:
        n = len(bookings.booked)
        levels = np.asarray(bookings.levels, dtype=int)
        booked = np.asarray(bookings.booked, dtype=float)
        by_room: dict[int, list[int]] = {}
        for i, r in enumerate(bookings.room):
            by_room.setdefault(r, []).append(i)
        rooms = [by_room[r] for r in sorted(by_room)]
    arrival = d.arrival.sample(rng, n)
    preop = d.preop.sample(rng, n)
    floor = np.asarray([0.0, *(model.recovery_floor[k] for k in (1, 2, 3))])
    recovery = np.maximum(d.recovery.sample(rng, n), floor[levels])
    going = d.going.sample(rng, n)
    turnover = d.turnover.sample(rng, n)
    cancelled = rng.random(n) < d.cancel_rate
    procedure = np.empty(n)
    for k in (1, 2, 3):
        chosen = levels == k
        count = int(chosen.sum())
        if count:
            procedure[chosen] = np.maximum(
                d.procedure[k].sample(rng, count), model.procedure_floor[k]
            )
    env = simpy.Environment(initial_time=centre.opens_min)
    bays = simpy.Resource(env, capacity=centre.bays)
    day = _Day(stays=stays)
    waited_before = tally.waited
    for cases in rooms:
        env.process(
            _room(
                env,
                bays,
                tally,
                day,
                centre,
                cases,
                booked=booked,
                arrival=arrival,
                preop=preop,
                procedure=procedure,
                recovery=recovery,
                going=going,
                turnover=turnover,
                cancelled=cancelled,
            )
        )
    env.run()
    tally.days += 1
    tally.booked += n
    tally.days_overflowed += tally.waited > waited_before
    tally.last_discharges.append(day.last_discharge)


@dataclass(slots=True)
class _Day:
    """What only one day keeps: when its last patient left, and each stay if asked."""

    last_discharge: float = 0.0
    stays: list[Stay] | None = None


def _room(
    env: simpy.Environment,
    bays: simpy.Resource,
    tally: Tally,
    day: _Day,
    centre: Centre,
    cases: Sequence[int],
    *,
    booked: np.ndarray,
    arrival: np.ndarray,
    preop: np.ndarray,
    procedure: np.ndarray,
    recovery: np.ndarray,
    going: np.ndarray,
    turnover: np.ndarray,
    cancelled: np.ndarray,
) -> simpy.events.ProcessGenerator:
    """One room's day: its cases in booked order, counted into the replication's tally."""
    ended = float(centre.opens_min)
    for i in cases:
        if cancelled[i]:
            continue
        ready = booked[i] + arrival[i] + preop[i]
        if ready > env.now:
            yield env.timeout(ready - env.now)
        began = env.now
        yield env.timeout(procedure[i])
        done = env.now
        request = bays.request()
        yield request
        waited = env.now - done
        if waited > 1e-9:
            tally.waited += 1
            tally.wait_total += waited
            tally.room_blocked += waited
        stay = recovery[i] + going[i]
        tally.bay_busy += stay
        tally.room_busy += env.now - began
        tally.done += 1
        gone = env.now + stay
        if gone > day.last_discharge:
            day.last_discharge = gone
        if day.stays is not None:
            arrived = booked[i] + arrival[i]
            day.stays.append(
                Stay(i, arrived, ready, began, done, env.now, env.now + recovery[i], gone)
            )
        env.timeout(stay).callbacks.append(_releaser(bays, request))
        ended = env.now
        yield env.timeout(turnover[i])
    tally.overtime += max(0.0, ended - centre.closes_min)


def _releaser(
    bays: simpy.Resource, request: simpy.resources.resource.Request
) -> Callable[[simpy.Event], None]:
    """Frees the bay when the patient has gone: a callback, cheaper than a process."""

    def release(_: simpy.Event) -> None:
        bays.release(request)

    return release


def replicate(centre: Centre, model: Model, seed: int) -> Tally:
    """One replication: `centre.days` independent days, from its own seeded generator."""
    rng = np.random.default_rng(seed)
    tally = Tally()
    for _ in range(centre.days):
        simulate_day(centre, model, rng, tally)
    return tally


def _replicate(args: tuple[Centre, Model, int]) -> Tally:
    return replicate(*args)


def run(
    centre: Centre,
    model: Model,
    *,
    replications: int,
    seed: int = 0,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Result:
    """`replications` independent replications (on `workers` processes; 1: in this one)."""
    seeds = np.random.SeedSequence(seed).generate_state(replications)
    jobs = [(centre, model, int(s)) for s in seeds]
    workers = workers or min(os.cpu_count() or 1, replications)
    tallies: list[Tally] = []
    if workers <= 1:
        for job in jobs:
            tallies.append(_replicate(job))
            if progress is not None:
                progress(1)
    else:
        with ProcessPoolExecutor(workers) as pool:
            for tally in pool.map(
                _replicate, jobs, chunksize=max(1, replications // (workers * 4))
            ):
                tallies.append(tally)
                if progress is not None:
                    progress(1)
    return summarise(centre, tallies)


def summarise(centre: Centre, tallies: Sequence[Tally]) -> Result:
    """Each figure per replication, then its mean and 95 % interval across them."""
    open_min = centre.closes_min - centre.opens_min

    def per_day(get: Callable[[Tally], float]) -> list[float]:
        return [get(t) / t.days for t in tallies]

    rows: list[tuple[str, str, list[float]]] = [
        ("cases done a day", "cases", per_day(lambda t: t.done)),
        ("cancelled on the day", "cases a day", per_day(lambda t: t.booked - t.done)),
        (
            "room use, of opening hours",
            "%",
            [100 * t.room_busy / (t.days * centre.rooms * open_min) for t in tallies],
        ),
        (
            "recovery bay use, of opening hours",
            "%",
            [100 * t.bay_busy / (t.days * centre.bays * open_min) for t in tallies],
        ),
        (
            "patients waiting for a bay",
            "%",
            [100 * t.waited / max(1, t.done) for t in tallies],
        ),
        (
            "mean wait for a bay, of those who waited",
            "min",
            # Runs where nobody waited say nothing of how long a wait is.
            [t.wait_total / t.waited for t in tallies if t.waited] or [0.0],
        ),
        ("days recovery overflows", "%", [100 * t.days_overflowed / t.days for t in tallies]),
        ("room time blocked by a full recovery", "min a day", per_day(lambda t: t.room_blocked)),
        ("overtime past closing, all rooms", "min a day", per_day(lambda t: t.overtime)),
        (
            "last discharge",
            "min after midnight",
            [float(np.mean(t.last_discharges)) for t in tallies],
        ),
    ]
    figures = [Figure(name, unit, *_interval(values)) for name, unit, values in rows]
    every = np.concatenate([np.asarray(t.last_discharges) for t in tallies])
    quantiles = {f"p{q}": float(np.percentile(every, q)) for q in (5, 50, 95)}
    return Result(centre, len(tallies), figures, quantiles)


def _interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and the 95 % Student's t interval of the mean (the mean alone for one value),
    never below zero: every figure here is a count, a share or a duration."""
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if len(data) < 2 or float(data.std(ddof=1)) == 0.0:
        return mean, mean, mean
    from scipy import stats  # imported when needed: a server's start would pay half a second

    half = float(stats.t.ppf(0.975, len(data) - 1)) * float(data.std(ddof=1)) / math.sqrt(len(data))
    return mean, max(0.0, mean - half), mean + half


def bays_curve(
    centre: Centre,
    model: Model,
    *,
    bays: Sequence[int],
    replications: int,
    seed: int = 0,
    workers: int | None = None,
) -> list[tuple[int, float, float, float]]:
    """(bays, chance a patient waits for one, its interval) for each number of bays: where
    the knee is."""
    found = []
    for count in bays:
        result = run(
            replace(centre, bays=count),
            model,
            replications=replications,
            seed=seed,
            workers=workers,
        )
        wait = next(f for f in result.figures if f.name == "patients waiting for a bay")
        found.append((count, wait.mean, wait.low, wait.high))
    return found
