"""Ingest benchmark: step events through the service into SQLite vs raw sqlite3 inserts.

Both sides use a fresh file in WAL mode with synchronous=FULL and one transaction per
event, as in real use, and they take turns every ten cases so that both meet the disk in
the same state (fsync time varies a lot from minute to minute on a shared machine).
Also times `evaluate` on complete one-day cases. Prints figures, then one JSON line:
events_per_s, raw_sqlite_events_per_s, ratio, evaluate_p50_ms, evaluate_p99_ms.

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

from daycase.engine.commands import Actor, OpenCase, RecordStep, Refusal
from daycase.engine.evaluate import evaluate
from daycase.engine.fold import CaseState
from daycase.engine.load import builtin_pathway
from daycase.services.cases import CaseService
from daycase.sim.day import ScriptClock, day_script
from daycase.store.factory import migrate, open_store

TZ = ZoneInfo("America/New_York")
LEVELS = [["L1"], ["T12", "L1"], ["T11"], ["L2", "L3"]]


def scripted_days(target: int, *, version: str) -> list[tuple[OpenCase, list[RecordStep]]]:
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
            pathway_version=version,
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
            for p in day_script(levels, arrival, rng, version=version)
        ]
        days.append((opening, steps))
        total += len(steps)
    return days


class RawInserter:
    """The baseline: the same event rows inserted with the sqlite3 module, one transaction
    each, into a fresh migrated file at the same durability (WAL, synchronous=FULL)."""

    def __init__(self, source: Path, dest: Path) -> None:
        migrate(f"sqlite:///{dest}")
        self.source = sqlite3.connect(source)
        self.conn = sqlite3.connect(dest, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.copied_id = 0
        self.rows = 0
        self.seconds = 0.0

    def catch_up(self) -> None:
        """Insert the service's new rows (its case rows untimed, its events timed)."""
        cases = self.source.execute("SELECT * FROM cases").fetchall()
        if cases:
            marks = ", ".join("?" * len(cases[0]))
            self.conn.executemany(f"INSERT OR IGNORE INTO cases VALUES ({marks})", cases)
        rows = self.source.execute(
            "SELECT id, case_id, seq, event_id, kind, recorded_at, body, prev_hash, hash "
            "FROM events WHERE kind = 'StepRecorded' AND id > ? ORDER BY id",
            (self.copied_id,),
        ).fetchall()
        started = time.perf_counter()
        for row in rows:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                "INSERT INTO events (case_id, seq, event_id, kind, recorded_at, body, "
                "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row[1:],
            )
            self.conn.execute("COMMIT")
        self.seconds += time.perf_counter() - started
        self.rows += len(rows)
        if rows:
            self.copied_id = rows[-1][0]

    def close(self) -> None:
        self.source.close()
        self.conn.close()


def interleaved(
    db: Path, raw_db: Path, target: int, *, version: str
) -> tuple[int, float, int, float, list[str]]:
    """Record whole days through the service and, after every few days, insert the same
    rows raw: both sides meet the same disk in the same minutes, so the ratio is fair.

    The clock follows each entry's clinical time, as if staff charted it as it happened.
    Returns (service events, service seconds, raw rows, raw seconds, case ids).
    """
    url = f"sqlite:///{db}"
    migrate(url)
    store = open_store(url)
    raw = RawInserter(db, raw_db)
    days = scripted_days(target, version=version)
    clock = ScriptClock(datetime(2026, 11, 26, 6, tzinfo=TZ))
    service = CaseService(store, clock=clock, rng=random.Random(2))
    recorded, case_ids, seconds = 0, [], 0.0
    for n, (opening, steps) in enumerate(days, start=1):
        started = time.perf_counter()
        clock.now = opening.scheduled_start - timedelta(hours=2)
        opened = service.open_case(opening)
        assert not isinstance(opened, Refusal), opened
        case_ids.append(opened.case_id)
        for cmd in steps:
            clock.now = cmd.at
            result = service.record(opened.case_id, cmd)
            assert not isinstance(result, Refusal), (cmd.step, result)
            recorded += 1
        seconds += time.perf_counter() - started
        if n % 10 == 0 or n == len(days):
            raw.catch_up()
    store.close()
    raw.close()
    return recorded, seconds, raw.rows, raw.seconds, case_ids


def evaluate_times(
    db: Path, case_ids: list[str], *, version: str, cases: int = 50, rounds: int = 20
) -> list[float]:
    """Milliseconds to evaluate complete one-day cases (state already folded)."""
    store = open_store(f"sqlite:///{db}")
    service = CaseService(store)
    pathway = builtin_pathway("kyphoplasty", version)
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
    parser.add_argument(
        "--pathway-version", default="2.0", help="the kyphoplasty version the days run on"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        service_db, raw_db = Path(tmp) / "service.db", Path(tmp) / "raw.db"
        n, secs, raw_n, raw_secs, case_ids = interleaved(
            service_db, raw_db, args.events, version=args.pathway_version
        )
        times = evaluate_times(service_db, case_ids, version=args.pathway_version)
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
