"""FHIR export benchmark: resources per second, from stored events to JSON text.

1. Records `--days` real days of `--patients` cases each into a fresh SQLite file through
   the store contract (`daycase.demo.seed_day`: the demo's scripted days and variants,
   every case to its end).
2. Exports every case of those days `--repeat` times as `daycase fhir export --day`
   does (`FhirService.day`: each case's events read and folded, its schedule room
   looked up, every resource built) and serialises each case's Bundle to JSON text.
3. Validates one day's bundles (R4B models and our own checks), untimed, so a fast
   export is never a wrong one.

Prints the figures, then as the last line one JSON object:
{"resources_per_s", "resources", "cases", "seconds"} (the median run).

    python -m bench.fhir [--days 3] [--patients 40] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

from daycase.config import Settings
from daycase.demo import seed_day
from daycase.fhir.export import bundle
from daycase.fhir.validate import bundle_problems
from daycase.services.fhir import DEFAULT_BASE
from daycase.services.runtime import open_runtime
from daycase.store.factory import migrate

TZ = ZoneInfo("America/New_York")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    first = date.today() - timedelta(days=args.days + 1)
    days = [first + timedelta(days=n) for n in range(args.days)]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'fhir.db'}"
        migrate(url)
        runtime = open_runtime(Settings(db=url, timezone=str(TZ)))
        try:
            t0 = time.perf_counter()
            for i, day in enumerate(days):
                seed_day(
                    runtime.store,
                    day=day,
                    tz=TZ,
                    patients=args.patients,
                    seed=100 + i,
                    until=datetime.combine(day, clock_time(23, 0), TZ),
                )
            seeded_s = time.perf_counter() - t0
            runs: list[float] = []
            resources = cases = 0
            for _ in range(args.repeat):
                resources = cases = 0
                t0 = time.perf_counter()
                for day in days:
                    for _case_id, found in runtime.fhir.day(day):
                        json.dumps(bundle(found, base=DEFAULT_BASE))
                        resources += len(found)
                        cases += 1
                runs.append(time.perf_counter() - t0)
            checked = [
                p
                for _case_id, found in runtime.fhir.day(days[0])
                for p in bundle_problems(bundle(found, base=DEFAULT_BASE))
            ]
        finally:
            runtime.close()
    if checked:
        print(f"validation failed: {checked[:5]}", file=sys.stderr)
        return 1
    seconds = statistics.median(runs)
    rate = resources / seconds
    print(
        f"{cases} cases over {args.days} days (seeded in {seeded_s:.1f} s): {resources:,} "
        f"resources exported in {seconds:.2f} s (median of {args.repeat}: "
        f"{', '.join(f'{r:.2f}' for r in runs)}), {rate:,.0f} resources/s; "
        f"{days[0]}'s bundles valid",
        flush=True,
    )
    print(
        json.dumps(
            {
                "resources_per_s": round(rate),
                "resources": resources,
                "cases": cases,
                "seconds": round(seconds, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
