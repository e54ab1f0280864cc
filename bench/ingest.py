"""Ingest benchmark: step events through the service into SQLite vs raw sqlite3 inserts.

Both sides use a fresh file in WAL mode with synchronous=FULL and one transaction per
event, as in real use. Also times `evaluate` on complete one-day cases. Prints figures,
then one JSON line: events_per_s, raw_sqlite_events_per_s, ratio, evaluate_p50_ms, p99.

    python bench/ingest.py [--events 20000]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from daycase.demo import ScriptClock, day_script
from daycase.engine.commands import Actor, OpenCase, RecordStep, Refusal
from daycase.engine.evaluate import evaluate
from daycase.engine.fold import CaseState
from daycase.pathways.loader import builtin_pathway
from daycase.services.cases import CaseService
from daycase.store.factory import migrate, open_store

TZ = ZoneInfo("America/New_York")
LEVELS = [["L1"], ["T12", "L1"], ["T11"], ["L2", "L3"]]


def scripted_days(target: int) -> list[tuple[OpenCase, list[RecordStep]]]:
    """Whole days, prepared before timing, until they hold `target` step events."""
    rng = random.Random(1)
    days: list[tuple[OpenCase, list[RecordStep]]] = []
    total = 0
    while total < target:
        n = len(days)
        levels = LEVELS[n % len(LEVELS)]
        start = datetime(2026, 11, 26, 8, tzinfo=TZ) + timedelta(
            days=n // 20, minutes=(n % 20) * 30
        )
        opening = OpenCase(
            actor=Actor("desk", "front_desk"),
            pathway_id="kyphoplasty",
            mrn=f"B-{n}",
            given_name="Bench",
            family_name=f"Patient{n}",
            birth_date=date(1945, 1, 1),
            sex="female",
            levels=levels,
            scheduled_start=start,
        )
        arrival = start - timedelta(minutes=60)
        steps = [
            RecordStep(
                actor=Actor(p.role, p.role),
                step=p.step,
                at=arrival + timedelta(minutes=p.minute),
                data=p.data,
                override_reason=p.override_reason,
            )
            for p in day_script(levels, arrival, rng)
        ]
        days.append((opening, steps))
        total += len(steps)
    return days


def through_service(db: Path, target: int) -> tuple[int, float, list[str]]:
    """Record whole days through the service; (step events, seconds, case ids).

    The clock follows each entry's clinical time, as if staff charted it as it happened.
    """
    url = f"sqlite:///{db}"
    migrate(url)
    store = open_store(url)
    days = scripted_days(target)
    clock = ScriptClock(datetime(2026, 11, 26, 6, tzinfo=TZ))
    service = CaseService(store, clock=clock, rng=random.Random(2))
    recorded, case_ids = 0, []
    started = time.perf_counter()
    for opening, steps in days:
        clock.now = opening.scheduled_start - timedelta(hours=2)
        opened = service.open_case(opening)
        assert not isinstance(opened, Refusal), opened
        case_ids.append(opened.case_id)
        for cmd in steps:
            clock.now = cmd.at
            result = service.record(opened.case_id, cmd)
            assert not isinstance(result, Refusal), (cmd.step, result)
            recorded += 1
    elapsed = time.perf_counter() - started
    store.close()
    return recorded, elapsed, case_ids


def raw_sqlite(source: Path, dest: Path) -> tuple[int, float]:
    """Insert the same event rows with the sqlite3 module, one transaction each."""
    migrate(f"sqlite:///{dest}")
    with sqlite3.connect(source) as src:
        case_rows = src.execute("SELECT * FROM cases").fetchall()
        rows = src.execute(
            "SELECT case_id, seq, event_id, kind, recorded_at, body, prev_hash, hash "
            "FROM events WHERE kind = 'StepRecorded' ORDER BY id"
        ).fetchall()
    src.close()
    conn = sqlite3.connect(dest, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    marks = ",".join("?" * len(case_rows[0]))
    conn.executemany(f"INSERT INTO cases VALUES ({marks})", case_rows)
    started = time.perf_counter()
    for row in rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO events (case_id, seq, event_id, kind, recorded_at, body, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows), elapsed


def evaluate_times(
    db: Path, case_ids: list[str], *, cases: int = 50, rounds: int = 20
) -> list[float]:
    """Milliseconds to evaluate complete one-day cases (state already folded)."""
    store = open_store(f"sqlite:///{db}")
    service = CaseService(store)
    pathway = builtin_pathway("kyphoplasty")
    states: list[CaseState] = [service.state(c) for c in case_ids[:cases]]
    store.close()
    times: list[float] = []
    for _ in range(rounds):
        for state in states:
            assert state.opened is not None
            now = state.opened.scheduled_start + timedelta(hours=5)
            t0 = time.perf_counter()
            ev = evaluate(pathway, state, now)
            times.append((time.perf_counter() - t0) * 1000)
            assert ev.phase in ("discharged", "admitted")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        service_db, raw_db = Path(tmp) / "service.db", Path(tmp) / "raw.db"
        n, secs, case_ids = through_service(service_db, args.events)
        raw_n, raw_secs = raw_sqlite(service_db, raw_db)
        times = evaluate_times(service_db, case_ids)
    events_per_s = n / secs
    raw_per_s = raw_n / raw_secs
    qs = statistics.quantiles(times, n=100)
    p50, p99 = statistics.median(times), qs[98]
    print(f"service: {n} step events in {secs:.2f} s = {events_per_s:,.0f} events/s")
    print(f"  ({len(case_ids)} one-day cases, one transaction per event)")
    print(f"raw sqlite3: {raw_n} rows in {raw_secs:.2f} s = {raw_per_s:,.0f} rows/s")
    print(f"ratio service/raw: {events_per_s / raw_per_s:.2f}")
    print(f"evaluate a complete day: p50 {p50:.3f} ms, p99 {p99:.3f} ms over {len(times)} runs")
    print(
        json.dumps(
            {
                "events_per_s": round(events_per_s, 1),
                "raw_sqlite_events_per_s": round(raw_per_s, 1),
                "ratio": round(events_per_s / raw_per_s, 3),
                "evaluate_p50_ms": round(p50, 4),
                "evaluate_p99_ms": round(p99, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
