"""Capacity simulation benchmark: a year of a 4-room centre, 100 replications.

The example centre's set-up (4 rooms, 6 recovery bays), the built-in kyphoplasty pathway
with its floors asked of the engine (`daycase.sim.probe`) and its own expectations as the
durations (no history), 6 cases booked per room a day, 250 days per replication: what
`daycase simulate` runs, timed from the model to the summarised figures, on every core.
Goal on this 2-core machine: 15 s or less.

Prints the figures, then as the last line one JSON object:
{"seconds", "replications", "cases_per_s", "days", "rooms"}.

    python -m bench.simulate [--reps 100] [--days 250] [--cases-per-room 6]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

from daycase.services.catalog import PathwayCatalog
from daycase.services.centre_setup import example_yaml, setup_from_yaml
from daycase.services.simulation import model_from
from daycase.sim.model import run


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--cases-per-room", type=int, default=6)
    args = parser.parse_args()
    t0 = time.perf_counter()
    model, centre, _ = model_from(
        PathwayCatalog().get("kyphoplasty", None),
        setup_from_yaml(example_yaml()),
        [],
        [],
        placed={},
        days=args.days,
    )
    centre = replace(centre, cases_per_room=args.cases_per_room)
    probed = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = run(centre, model, replications=args.reps, seed=1)
    seconds = time.perf_counter() - t1
    cases = args.reps * args.days * centre.rooms * centre.cases_per_room
    print(
        f"{centre.rooms} rooms, {centre.bays} bays, {centre.cases_per_room} cases a room, "
        f"{args.days} days x {args.reps} replications: {seconds:.2f} s "
        f"({cases / seconds:,.0f} cases/s); the engine's floors took {probed:.2f} s"
    )
    for f in result.figures:
        print(f"  {f.name:42} {f.mean:9.2f} [{f.low:.2f}, {f.high:.2f}] {f.unit}")
    print(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "replications": args.reps,
                "cases_per_s": round(cases / seconds),
                "days": args.days,
                "rooms": centre.rooms,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
