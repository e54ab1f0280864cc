"""The capacity simulation: floors asked of the engine, durations fitted from history, a
pathway change that moves the results with no simulation code changed, real booked days,
and reproducible replications (simulation room)."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from datetime import date, datetime, timedelta

import numpy as np
import pytest

from daycase.engine.load import parse_pathway
from daycase.pathways.loader import builtin_text
from daycase.pathways.schema import Pathway
from daycase.reports.facts import CaseFacts
from daycase.services.catalog import PathwayCatalog
from daycase.services.centre_setup import example_yaml, setup_from_yaml
from daycase.services.simulation import CannotSimulate, model_from
from daycase.sim.fit import MIN_SAMPLES, fit
from daycase.sim.model import Bookings, Centre, Stay, Tally, run, simulate_day
from daycase.sim.probe import floors
from tests.engine.builders import EST

SETUP = setup_from_yaml(example_yaml())
DAY = date(2026, 3, 2)


def kyphoplasty(version: str = "2.0") -> Pathway:
    return PathwayCatalog().get("kyphoplasty", version)


def with_recovery_hour(minutes: int) -> Pathway:
    """The built-in 2.0 with another time in recovery before discharge: a pathway file
    change, nothing else."""
    text = builtin_text("kyphoplasty-2.0.yaml")
    old = "minutes_since: {step: pacu_arrival, at_least: 60}"
    assert text.count(old) == 1
    changed = text.replace(old, f"minutes_since: {{step: pacu_arrival, at_least: {minutes}}}")
    return parse_pathway(changed, source="a changed 2.0")


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_the_floors_are_the_engines_gates(version: str) -> None:
    for levels in (["L1"], ["T12", "L1"]):
        found = floors(kyphoplasty(version), levels)
        assert (found.procedure, found.recovery) == (5.0, 60.0)  # cement rest; the hour


def test_a_longer_hour_in_recovery_in_the_file_is_a_longer_floor() -> None:
    assert floors(with_recovery_hour(90), ["L1"]).recovery == 90.0


def synthetic(n: int, rng: np.random.Generator) -> list[CaseFacts]:
    """Cases whose stretches are drawn from known distributions."""
    facts = []
    for i in range(n):
        start = datetime(2026, 3, 2, 8, 0, tzinfo=EST) + timedelta(days=i % 40)
        check_in = start + timedelta(minutes=float(rng.normal(-45, 15)))
        in_room = check_in + timedelta(minutes=float(rng.lognormal(math.log(50), 0.25)))
        levels = ("L1",) if i % 4 else ("T12", "L1")
        median = 40 if len(levels) == 1 else 70
        out = in_room + timedelta(minutes=float(rng.lognormal(math.log(median), 0.2)))
        ready = out + timedelta(minutes=float(rng.lognormal(math.log(80), 0.15)))
        gone = ready + timedelta(minutes=float(rng.lognormal(math.log(20), 0.4)))
        facts.append(
            CaseFacts(
                case_id=f"c{i}",
                seq=20,
                pathway_id="kyphoplasty",
                pathway_version="2.0",
                day=start.date(),
                scheduled_start=start,
                levels_planned=levels,
                times={"check_in": check_in, "in_room": in_room, "out_of_room": out},
                ready_at=ready,
                outcome="discharged",
                outcome_at=gone,
            )
        )
    return facts


def test_the_fit_recovers_the_parameters_history_was_drawn_from() -> None:
    rng = np.random.default_rng(11)
    turnovers = list(rng.lognormal(math.log(25), 0.3, 3000))
    d = fit(kyphoplasty(), synthetic(4000, rng), turnovers, turnover_target=15, recovery_floor=60)
    expected = {
        "preop": (50, 0.25),
        "procedure_1_level": (40, 0.2),
        "procedure_2_levels": (70, 0.2),
        "recovery": (80, 0.15),
        "going": (20, 0.4),
        "turnover": (25, 0.3),
    }
    by_name = {f.name: f for f in d.all()}
    for name, (median, sigma) in expected.items():
        found = by_name[name]
        assert found.source == "history", name
        assert found.median == pytest.approx(median, rel=0.03), name
        assert found.sigma == pytest.approx(sigma, rel=0.08), name
    assert by_name["arrival"].mu == pytest.approx(-45, abs=1.5)
    assert by_name["arrival"].sigma == pytest.approx(15, rel=0.08)
    assert by_name["procedure_3_levels"].source == "pathway"  # none in this history
    assert d.levels_mix[1] == pytest.approx(0.75)
    assert d.cancel_rate == 0.0


def test_thin_history_stands_on_the_pathways_own_expectations() -> None:
    d = fit(
        kyphoplasty(),
        synthetic(MIN_SAMPLES - 1, np.random.default_rng(1)),
        [],
        turnover_target=15,
        recovery_floor=60,
    )
    assert {f.source for f in d.all()} == {"pathway"}
    # The running-long rule's expectation: 60 min, 30 more per further level.
    assert [round(d.procedure[k].median) for k in (1, 2, 3)] == [60, 90, 120]
    assert round(d.turnover.median) == 15
    assert round(d.recovery.median) == 90  # the floor and half an hour


def test_a_pathway_change_moves_recovery_with_no_simulation_code_changed() -> None:
    """90 instead of 60 minutes in recovery, in the pathway file alone: the floors come
    from the engine, so recovery fills up and patients wait for bays."""
    facts = synthetic(400, np.random.default_rng(3))
    results = {}
    for minutes in (60, 90):
        model, centre, found = model_from(
            with_recovery_hour(minutes), SETUP, facts, [20.0] * 50, placed={}, days=20
        )
        assert found[1].recovery == minutes
        centre = replace(centre, cases_per_room=6)
        results[minutes] = {f.name: f for f in run(centre, model, replications=8, seed=4).figures}
    bays = [results[m]["recovery bay use, of opening hours"] for m in (60, 90)]
    waits = [results[m]["patients waiting for a bay"] for m in (60, 90)]
    assert bays[1].low > bays[0].high
    assert waits[1].mean > waits[0].mean


def test_the_same_seed_gives_the_same_answer_on_any_number_of_cores() -> None:
    model, centre, _ = model_from(kyphoplasty(), SETUP, [], [], placed={}, days=5)
    one = run(centre, model, replications=6, seed=9, workers=1)
    two = run(centre, model, replications=6, seed=9, workers=2)
    assert one == two
    assert run(centre, model, replications=6, seed=10, workers=1) != one


def test_a_real_day_runs_as_booked() -> None:
    """Three cases booked in one room and one bay: each waits its turn, nothing is lost."""
    model, _, _ = model_from(kyphoplasty(), SETUP, [], [], placed={}, days=1)
    model = replace(model, durations=replace(model.durations, cancel_rate=0.0))
    centre = Centre(rooms=1, bays=1, opens_min=420, closes_min=1080, cases_per_room=3, slot_min=60)
    tally, stays = Tally(), list[Stay]()
    booked = Bookings(room=[0, 0, 0], booked=[480, 540, 600], levels=[1, 2, 1])
    simulate_day(centre, model, np.random.default_rng(2), tally, bookings=booked, stays=stays)
    assert (tally.done, tally.booked, len(stays)) == (3, 3, 3)
    for before, after in itertools.pairwise(stays):
        assert after.came_out >= before.gone - 1e-9  # one bay: the next when the last left
    assert all(s.ready - s.came_out >= 60 for s in stays)  # the pathway's hour at least


def test_a_centre_without_bays_cannot_be_simulated() -> None:
    with pytest.raises(CannotSimulate, match="no recovery bays"):
        model_from(
            kyphoplasty(), SETUP.model_copy(update={"recovery_bays": []}), [], [], placed={}, days=1
        )


def test_a_pathway_whose_day_the_simulation_does_not_know_is_named() -> None:
    """The day of actions is kyphoplasty's: another pathway's steps are refused by name,
    never a traceback."""
    text = builtin_text("kyphoplasty-2.0.yaml").replace("out_of_room", "left_the_room")
    other = parse_pathway(text, source="another pathway")
    with pytest.raises(CannotSimulate, match="never reached out_of_room"):
        model_from(other, SETUP, [], [], placed={}, days=1)
