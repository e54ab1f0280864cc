"""Report benchmark: a year's full quality report over years of history, cold and warm.

For each backend (a SQLite file, then a fresh PostgreSQL database when one is reachable):

1. Records `--template-days` real days through the store contract (`CaseService` and the
   demo's scripted days and variants, `--rooms` rooms side by side, eight cases each),
   books them into rooms on the schedule and folds their report facts rows.
2. Grows the history to `--sqlite-cases` / `--postgres-cases` cases over `--years` years
   ending yesterday: each further case is a copy of a recorded case's facts row, moved to
   its own day (every time shifted with it) under its own case id, with its case index
   row; every day gets the schedule of a recorded day. The events of the copies are not
   written (a million cases of events would take hours here): reports read the facts
   rows and the case index only, which is what is timed.
3. Times the full report (every measure) over the last 365 days, as `daycase report all`
   computes it (`ReportService.report`: the freshness check, the schedule, the rows,
   every measure), three ways, `--repeat` runs of each:
   - first: nothing kept anywhere (every row parsed, every day counted and stored);
   - restart: a new process (nothing in memory; each day's tallies read from
     `report_days`), which is what every `daycase report` run is;
   - warm: the same report again in the same process (each day's tallies in memory).

Prints figures per backend, then as the last line one JSON object:
{"sqlite_100k_s", "postgres_1m_s", "cases": {"sqlite", "postgres"},
 "restart": {...}, "first": {...}}
where the `_s` figures are the warm report's median seconds (null when not run).

    python -m bench.report [--backend sqlite|postgres|both] [--sqlite-cases 100000]
                           [--postgres-cases 1000000] [--years 3] [--template-days 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from rich.progress import Progress

from bench.api import database, postgres_reachable, postgres_server
from daycase.config import Settings
from daycase.demo import _book_rooms, seed_day
from daycase.reports.facts import CaseFacts, from_json, to_json
from daycase.reports.model import Filters
from daycase.services.accounts import User
from daycase.services.centre_setup import example_yaml, setup_from_yaml
from daycase.services.reports import ReportService
from daycase.services.runtime import Runtime, open_runtime
from daycase.store.tables import cases_table, report_facts_table, schedule_table

TZ = ZoneInfo("America/New_York")
BATCH = 5_000


def record_templates(runtime: Runtime, *, days: list[date], rooms: int) -> list[CaseFacts]:
    """Real days through the case service, booked on the schedule; their facts rows."""
    for i, day in enumerate(days):
        first = datetime.combine(day, clock_time(7, 30), TZ)
        starts = [first + timedelta(minutes=80 * (n // rooms)) for n in range(8 * rooms)]
        seed_day(
            runtime.store,
            day=day,
            tz=TZ,
            patients=len(starts),
            seed=1000 + i,
            until=datetime.combine(day, clock_time(23, 0), TZ),
            starts=starts,
        )
        _book_rooms(runtime, day, rooms_used=rooms)
    runtime.reports.refresh(days[0], days[-1])
    rows = runtime.reports.facts.between(days[0], days[-1])
    return [f for r in rows if (f := from_json(r.body)) is not None]


def moved(facts: CaseFacts, case_id: str, delta: timedelta) -> CaseFacts:
    def at(value: datetime | None) -> datetime | None:
        return None if value is None else value + delta

    return replace(
        facts,
        case_id=case_id,
        day=facts.day + delta,
        scheduled_start=facts.scheduled_start + delta,
        times={k: v + delta for k, v in facts.times.items()},
        ready_at=at(facts.ready_at),
        outcome_at=at(facts.outcome_at),
        first_reached_call_at=at(facts.first_reached_call_at),
    )


def grow(
    engine: sa.Engine,
    templates: list[CaseFacts],
    *,
    cases: int,
    first: date,
    last: date,
    progress: Progress,
) -> int:
    """Copies of the recorded cases spread evenly over the days from `first` to `last`,
    with the case index rows and the schedule a report reads; how many were written."""
    by_day: dict[date, list[CaseFacts]] = {}
    for f in templates:
        by_day.setdefault(f.day, []).append(f)
    source_days = sorted(by_day)
    with engine.connect() as conn:
        schedules = {
            row.day: row
            for row in conn.execute(sa.select(schedule_table).where(schedule_table.c.version == 1))
        }
    span = (last - first).days + 1
    per_day = max(1, cases // span)
    task = progress.add_task("Growing the history", total=cases)
    written = 0
    cases_rows: list[dict[str, object]] = []
    facts_rows: list[dict[str, object]] = []
    schedule_rows: list[dict[str, object]] = []

    def flush() -> None:
        with engine.begin() as conn:
            if cases_rows:
                conn.execute(cases_table.insert(), cases_rows)
                conn.execute(report_facts_table.insert(), facts_rows)
            if schedule_rows:
                conn.execute(schedule_table.insert(), schedule_rows)
        progress.advance(task, len(cases_rows))
        cases_rows.clear()
        facts_rows.clear()
        schedule_rows.clear()

    day = first
    while written < cases and day <= last:
        source = source_days[day.toordinal() % len(source_days)]
        delta = timedelta(days=(day - source).days)
        want = min(per_day, cases - written) if day < last else cases - written
        names: dict[str, str] = {}
        for n in range(want):
            template = by_day[source][n % len(by_day[source])]
            case_id = uuid.uuid4().hex
            names.setdefault(template.case_id, case_id)
            f = moved(template, case_id, delta)
            cases_rows.append(
                {
                    "case_id": case_id,
                    "pathway_id": f.pathway_id,
                    "pathway_version": f.pathway_version,
                    "pathway_digest": "0" * 64,
                    "scheduled_start": f.scheduled_start.isoformat(),
                    "scheduled_date": f.day.isoformat(),
                    "family_code": "BENCH",
                    "opened_at": f.scheduled_start.isoformat(),
                    "last_seq": f.seq,
                    "last_hash": "0" * 64,
                }
            )
            facts_rows.append(
                {"case_id": case_id, "seq": f.seq, "day": f.day.isoformat(), "body": to_json(f)}
            )
        kept = schedules.get(source.isoformat())
        if kept is not None:
            body = kept.body
            for old, new in names.items():
                body = body.replace(old, new)
            schedule_rows.append(
                {
                    "day": day.isoformat(),
                    "version": 1,
                    "body": body,
                    "changed_by": "bench",
                    "changed_at": kept.changed_at,
                    "change": kept.change,
                }
            )
        written += want
        if len(cases_rows) >= BATCH:
            flush()
        day += timedelta(days=1)
    flush()
    return written


def timed(reports: ReportService, filters: Filters) -> float:
    t0 = time.perf_counter()
    report = reports.report(filters)
    seconds = time.perf_counter() - t0
    assert report.measures
    return seconds


def run_backend(
    backend: str, *, cases: int, years: int, template_days: int, rooms: int, repeat: int
) -> dict[str, float | int]:
    today = datetime.now(TZ).date()
    last = today - timedelta(days=1)
    first = last - timedelta(days=round(365.25 * years) - 1)
    template = [today + timedelta(days=30 + n) for n in range(template_days)]
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        runtime = open_runtime(Settings(db=url, timezone=str(TZ)))
        try:
            runtime.change_setup(
                setup_from_yaml(example_yaml()), by=User("bench", "admin"), expected_version=0
            )
            t0 = time.perf_counter()
            templates = record_templates(runtime, days=template, rooms=rooms)
            recorded_s = time.perf_counter() - t0
            with Progress(transient=True) as progress:
                t0 = time.perf_counter()
                written = grow(
                    runtime.store.engine,
                    templates,
                    cases=cases,
                    first=first,
                    last=last,
                    progress=progress,
                )
                grown_s = time.perf_counter() - t0
            if backend == "postgres":
                # As autovacuum leaves a table after a load: statistics, and the visibility
                # map that lets a report read its rows' seqs from the index alone.
                engine = runtime.store.engine.execution_options(isolation_level="AUTOCOMMIT")
                with engine.connect() as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE")
            year = Filters(last - timedelta(days=364), last)
            first_s: list[float] = []
            restart: list[float] = []
            warm: list[float] = []
            kept_days = runtime.reports.days
            assert kept_days is not None
            for _ in range(repeat):
                kept_days.clear()
                runtime.reports.forget()
                first_s.append(timed(runtime.reports, year))
                runtime.reports.forget()
                restart.append(timed(runtime.reports, year))
                warm.append(timed(runtime.reports, year))
            in_year = len(runtime.reports.facts.seqs_between(year.start, year.end))
        finally:
            runtime.close()
    figures = {
        "cases": written + len(templates),
        "cases_in_year": in_year,
        "first_s": round(statistics.median(first_s), 3),
        "restart_s": round(statistics.median(restart), 3),
        "warm_s": round(statistics.median(warm), 3),
    }

    def runs(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    print(
        f"{backend}: {len(templates)} cases recorded in {recorded_s:.1f} s, grown to "
        f"{figures['cases']:,} over {years} years in {grown_s:.1f} s; a year's report over "
        f"{in_year:,} cases (median of {repeat}): first {figures['first_s']} s "
        f"({runs(first_s)}), restart {figures['restart_s']} s ({runs(restart)}), "
        f"warm {figures['warm_s']} s ({runs(warm)})",
        flush=True,
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--sqlite-cases", type=int, default=100_000)
    parser.add_argument("--postgres-cases", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--template-days", type=int, default=4)
    parser.add_argument("--rooms", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, dict[str, float | int] | None] = {"sqlite": None, "postgres": None}
    for backend in ["sqlite", "postgres"] if args.backend == "both" else [args.backend]:
        if backend == "postgres" and not postgres_reachable(postgres_server()):
            print("postgres: not reachable; skipped")
            continue
        results[backend] = run_backend(
            backend,
            cases=args.sqlite_cases if backend == "sqlite" else args.postgres_cases,
            years=args.years,
            template_days=args.template_days,
            rooms=args.rooms,
            repeat=args.repeat,
        )
    sq, pg = results["sqlite"], results["postgres"]
    print(
        json.dumps(
            {
                "sqlite_100k_s": sq["warm_s"] if sq else None,
                "postgres_1m_s": pg["warm_s"] if pg else None,
                "cases": {
                    "sqlite": sq["cases"] if sq else None,
                    "postgres": pg["cases"] if pg else None,
                },
                "restart": {
                    "sqlite": sq["restart_s"] if sq else None,
                    "postgres": pg["restart_s"] if pg else None,
                },
                "first": {
                    "sqlite": sq["first_s"] if sq else None,
                    "postgres": pg["first_s"] if pg else None,
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
