"""The simulation checked against history it did not see (simulation room).

The history here is made by the simulation itself from known durations, with its rooms
queueing and its recovery bays filling up, then recorded as report facts the way a
centre's record holds them (out of the room only once a bay was free). The model fitted
on its first weeks must then predict the weeks after: the last patient out of recovery
and the hourly recovery census inside the simulated 5-95 % band on about 90 % of days
and hours, the goal `daycase simulate validate` reports against.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from daycase.reports.facts import CaseFacts
from daycase.reports.measures import Context, Placement
from daycase.services.catalog import PathwayCatalog
from daycase.services.centre_setup import example_yaml, setup_from_yaml
from daycase.services.simulation import model_from, model_of
from daycase.sim.check import check_day, coverage, turnovers
from daycase.sim.eta import calibrate
from daycase.sim.model import Bookings, Centre, Stay, Tally, simulate_day
from tests.sim.models import known_model, lognormal
from tests.support.clock import CENTRE_TZ

FIRST = date(2026, 1, 5)


TRUE = known_model(
    procedure=(45, 70, 95),
    sigma=0.25,
    recovery=80,
    recovery_floor=60,
    going=lognormal("going", 15, 0.5),
    cancel_rate=0.04,
    levels_mix={1: 0.7, 2: 0.25, 3: 0.05},
)
CENTRE = Centre(
    rooms=2, bays=3, opens_min=7 * 60, closes_min=17 * 60, cases_per_room=5, slot_min=75
)


def history(days: int, rng: np.random.Generator) -> tuple[list[CaseFacts], dict[str, Placement]]:
    """`days` simulated days as a centre's record would hold them."""
    facts: list[CaseFacts] = []
    placements: dict[str, Placement] = {}
    mix = TRUE.durations.levels_mix
    for d in range(days):
        day = FIRST + timedelta(days=d)
        n = CENTRE.rooms * CENTRE.cases_per_room
        rooms = [i // CENTRE.cases_per_room for i in range(n)]
        booked = [
            CENTRE.opens_min + (i % CENTRE.cases_per_room) * CENTRE.slot_min for i in range(n)
        ]
        levels = list(rng.choice([1, 2, 3], size=n, p=[mix[k] for k in (1, 2, 3)]))
        stays: list[Stay] = []
        simulate_day(
            CENTRE, TRUE, rng, Tally(), bookings=Bookings(rooms, booked, levels), stays=stays
        )
        by_case = {s.case: s for s in stays}
        midnight = datetime.combine(day, datetime.min.time(), CENTRE_TZ)

        def at(minutes: float, midnight: datetime = midnight) -> datetime:
            return (midnight + timedelta(minutes=minutes)).astimezone(UTC)

        for i in range(n):
            case_id = f"{day}-{i}"
            placements[case_id] = Placement(f"R{rooms[i]}", i % CENTRE.cases_per_room)
            common = CaseFacts(
                case_id=case_id,
                seq=30,
                pathway_id="kyphoplasty",
                pathway_version="2.0",
                day=day,
                scheduled_start=at(booked[i]),
                levels_planned=("L1", "L2", "L3")[: int(levels[i])],
            )
            s = by_case.get(i)
            if s is None:
                facts.append(replace(common, outcome="cancelled", outcome_at=at(booked[i])))
                continue
            facts.append(
                replace(
                    common,
                    times={
                        "check_in": at(s.arrived),
                        "sign_in": at(s.ready_for_room),
                        "in_room": at(s.went_in),
                        "sign_out": at(s.done),
                        "out_of_room": at(s.came_out),
                    },
                    ready_at=at(s.ready),
                    outcome="discharged",
                    outcome_at=at(s.gone),
                )
            )
    return facts, placements


def test_a_model_fitted_on_weeks_of_history_predicts_the_weeks_after() -> None:
    rng = np.random.default_rng(2026)
    fit_days, predict_days = 40, 60
    facts, placements = history(fit_days + predict_days, rng)
    context = Context(now=datetime(2026, 6, 1, tzinfo=UTC), tz=CENTRE_TZ, placements=placements)
    fitted_on = [f for f in facts if f.day < FIRST + timedelta(days=fit_days)]
    placed = Counter((placements[f.case_id].room, f.day) for f in fitted_on)
    setup = setup_from_yaml(example_yaml())
    setup = setup.model_copy(
        update={"rooms": setup.rooms[:2], "recovery_bays": setup.recovery_bays[:3]}
    )
    model, centre, _ = model_from(
        PathwayCatalog().get("kyphoplasty", "2.0"),
        setup,
        fitted_on,
        turnovers(fitted_on, context),
        placed=dict(placed),
        days=1,
    )
    d = model.durations
    assert d.turnover.source == "history"
    # Gaps before a late case still hold some waiting for the patient: a little long.
    assert d.turnover.median == pytest.approx(20, rel=0.25)
    assert d.recovery.median == pytest.approx(80, rel=0.05)
    assert (centre.rooms, centre.bays, centre.cases_per_room) == (2, 3, 5)
    checks = []
    for n in range(fit_days, fit_days + predict_days):
        day = FIRST + timedelta(days=n)
        cases = [f for f in facts if f.day == day]
        checks.append(
            check_day(day, cases, context, centre=centre, model=model, replications=200, rng=rng)
        )
    last, census = coverage(checks)
    assert last is not None
    assert census is not None
    # A 5-95 % band holds the truth on 90 % of days; over 60 days that is 90 % give or
    # take 4 (one standard error), so less than 85 % would say the model is off.
    assert last >= 85, [(c.day, c.last_discharge, c.band) for c in checks if not c.inside]
    assert census >= 85


def test_estimated_times_are_calibrated_on_history_they_did_not_see() -> None:
    """At every 10 min of each held-out stretch, the estimate a board would have made:
    its 80 % interval holds the real time 80 % of the time, give or take 5."""
    rng = np.random.default_rng(7)
    facts, placements = history(70, rng)
    context = Context(now=datetime(2026, 6, 1, tzinfo=UTC), tz=CENTRE_TZ, placements=placements)
    cut = FIRST + timedelta(days=40)
    fitted_on = [f for f in facts if f.day < cut]
    setup = setup_from_yaml(example_yaml())
    model, _ = model_of(
        PathwayCatalog().get("kyphoplasty", "2.0"), setup, fitted_on, turnovers(fitted_on, context)
    )
    found = calibrate(model, [f for f in facts if f.day >= cut], spread_max_min=30)
    assert found.predictions > 3000
    assert found.coverage is not None
    assert 75 <= found.coverage <= 85
    # Those narrow enough to show are a few hundred, of a few hundred stretches: looser.
    assert found.shown_coverage is not None
    assert 70 <= found.shown_coverage <= 90
