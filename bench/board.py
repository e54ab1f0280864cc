"""Board benchmark: a 600-case day (100 rooms x 6) served by a real `daycase serve`.

For each backend (a SQLite file, then a fresh PostgreSQL database when one is reachable):

1. Seeds the day straight through `CaseService` with the demo's own seeding
   (`daycase.demo.seed_day`, its scripted days and variants in turn): 100 rooms with 6
   cases each, spread over today so that at the moment of the run some cases are done,
   some in recovery, some in the room and some not yet arrived; every entry is
   back-charted up to now.
2. Starts the server (it evaluates today's board once at start), signs a nurse in, and
   for `--seconds` runs `--clients` clients that each GET `/api/v1/board?date=today` one
   after another: latency p50/p99 as the client saw it (the whole body read).
3. The same for the staff board page (`GET /board`, the session cookie): time to the
   first byte of the answer, and to its last.
4. Opens `--subscribers` staff streams and runs `bench/api.py`'s stream phase (a writer
   records `--sse-rate` events/s): delay from each write's 201 to its `case` event at
   every subscriber.

Prints figures per backend, then as the last line one JSON object, per backend:
{"sqlite": {"board_p99_ms", "page_p99_ms", "sse_p99_ms_2000", "cases"}, "postgres": … | null}
(`sse_p99_ms_2000` is measured at `--subscribers`, 2,000 by default).

    python bench/board.py [--backend sqlite|postgres|both] [--seconds 10] [--clients 4]
                          [--subscribers 2000] [--rooms 100] [--per-room 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.api import (
    HOST,
    ROLES,
    Connection,
    Cpu,
    Server,
    _read_head,
    _run_async,
    add_users,
    all_of,
    database,
    percentile,
    postgres_reachable,
    postgres_server,
    run_server,
    sign_in,
    stream_phase,
)
from daycase.config import Settings
from daycase.demo import seed_day
from daycase.store.factory import open_store


def seed(url: str, tz: ZoneInfo, *, rooms: int, per_room: int) -> tuple[date, int, int]:
    """The day's cases, written through the service (the demo's day, rooms side by side);
    (day, cases, entries written)."""
    now = datetime.now(tz).replace(microsecond=0)
    day = now.date()
    first = datetime.combine(day, clock_time(0, 5), tz)
    last = datetime.combine(day, clock_time(22, 0), tz)
    # Slots 80 min apart around now, kept inside today whatever the hour.
    starts = [
        min(max(now - timedelta(hours=4) + timedelta(minutes=80 * slot + room % 20), first), last)
        for room in range(rooms)
        for slot in range(per_room)
    ]
    store = open_store(url)
    try:
        seed_day(
            store,
            day=day,
            tz=tz,
            patients=len(starts),
            seed=2026,
            until=now,
            starts=starts,
        )
        entries = sum(len(store.load(case.case_id)) - 1 for case in store.cases(on=day))
    finally:
        store.close()
    return day, len(starts), entries


@dataclass
class Latency:
    first_ms: list[float] = field(default_factory=list)
    whole_ms: list[float] = field(default_factory=list)
    rows: int = 0
    errors: list[str] = field(default_factory=list)
    cpu: Cpu = field(default_factory=Cpu)


async def _reader(port: int, token: str, day: date, until: float, result: Latency) -> None:
    conn = Connection(port)
    payload = b"[]"
    try:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            status, payload = await conn.request(
                "GET", f"/api/v1/board?date={day.isoformat()}", token=token
            )
            result.whole_ms.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                result.errors.append(f"board: {status} {payload[:200]!r}")
                return
    finally:
        await conn.close()
    # Parsed once, after the phase: parsing 600 rows (~3 ms) inside the loop held up the
    # other clients sharing this event loop, and their waits were counted as the server's.
    result.rows = len(json.loads(payload))


async def _page_reader(port: int, token: str, day: date, until: float, result: Latency) -> None:
    """The staff board page with the session cookie, on one keep-alive connection."""
    reader, writer = await asyncio.open_connection(HOST, port)
    request = (
        f"GET /board?date={day.isoformat()} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Cookie: daycase_session={token}\r\n\r\n"
    ).encode()
    try:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            writer.write(request)
            first_byte = await reader.readexactly(1)
            result.first_ms.append((time.perf_counter() - t0) * 1000)
            status, headers = await _read_head(_Prefixed(first_byte, reader))  # type: ignore[arg-type]
            body = await reader.readexactly(int(headers["content-length"]))
            result.whole_ms.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                result.errors.append(f"page: {status} {body[:200]!r}")
                return
    finally:
        writer.close()


class _Prefixed:
    """A stream reader whose first byte was already read (to time it)."""

    def __init__(self, prefix: bytes, reader: asyncio.StreamReader) -> None:
        self._prefix = prefix
        self._reader = reader

    async def readuntil(self, separator: bytes) -> bytes:
        rest = await self._reader.readuntil(separator)
        prefix, self._prefix = self._prefix, b""
        return prefix + rest


async def read_phase(
    server: Server, token: str, day: date, *, clients: int, seconds: float, page: bool
) -> Latency:
    result = Latency()
    until = time.perf_counter() + seconds
    worker = _page_reader if page else _reader
    with result.cpu.measure(server):
        await all_of(
            (worker(server.port, token, day, until, result) for _ in range(clients)),
            seconds + 60,
        )
    return result


@dataclass
class Options:
    seconds: float
    clients: int
    subscribers: int
    sse_rate: float
    sse_seconds: float
    rooms: int
    per_room: int


def run_backend(backend: str, o: Options) -> dict[str, float]:
    tz = ZoneInfo(Settings().timezone)
    with tempfile.TemporaryDirectory(prefix="daycase-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with database(backend, tmp) as url:
            add_users(url)
            t0 = time.perf_counter()
            day, cases, events = seed(url, tz, rooms=o.rooms, per_room=o.per_room)
            print(
                f"{backend}: seeded {cases} cases ({o.rooms} rooms x {o.per_room}) with "
                f"{events:,} entries in {time.perf_counter() - t0:.1f} s"
            )
            with run_server(url, tmp, backend, None) as server:
                try:
                    return _drive(backend, server, tz, day, cases, o)
                except Exception:
                    print(f"{backend}: server log (tail):\n{server.log_tail()}", file=sys.stderr)
                    raise


def _drive(
    backend: str, server: Server, tz: ZoneInfo, day: date, cases: int, o: Options
) -> dict[str, float]:
    async def signed_in() -> dict[str, str]:
        return {role: await sign_in(server.port, role) for role in ROLES}

    tokens = _run_async(signed_in)
    nurse = tokens["nurse"]

    async def first() -> float:
        conn = Connection(server.port)
        t0 = time.perf_counter()
        await conn.request("GET", f"/api/v1/board?date={day.isoformat()}", token=nurse)
        await conn.close()
        return (time.perf_counter() - t0) * 1000

    first_ms = _run_async(first)
    api = _run_async(
        lambda: read_phase(server, nurse, day, clients=o.clients, seconds=o.seconds, page=False)
    )
    board_p50, board_p99 = percentile(api.whole_ms, 50), percentile(api.whole_ms, 99)
    print(f"  first GET /api/v1/board after start: {first_ms:.1f} ms")
    print(
        f"  GET /api/v1/board ({api.rows} rows), {o.clients} clients for {o.seconds:g} s: "
        f"{len(api.whole_ms):,} answers, p50 {board_p50:.1f} ms, p99 {board_p99:.1f} ms"
    )
    print(f"  {api.cpu.describe(backend)}")
    page = _run_async(
        lambda: read_phase(server, nurse, day, clients=o.clients, seconds=o.seconds, page=True)
    )
    page_p99 = percentile(page.first_ms, 99)
    print(
        f"  GET /board page, {o.clients} clients: first byte p50 "
        f"{percentile(page.first_ms, 50):.1f} ms, p99 {page_p99:.1f} ms; whole page p99 "
        f"{percentile(page.whole_ms, 99):.1f} ms ({len(page.first_ms):,} answers)"
    )
    print(f"  {page.cpu.describe(backend)}")
    stream = _run_async(
        lambda: stream_phase(
            server,
            tokens,
            tz,
            subscribers=o.subscribers,
            rate=o.sse_rate,
            seconds=o.sse_seconds,
            grace=15,
        )
    )
    sse_p99 = percentile(stream.delays_ms, 99)
    print(
        f"  stream: {stream.subscribers} subscribers said hello in {stream.connect_s:.1f} s; "
        f"{len(stream.posts)} writes at {o.sse_rate:g}/s; write -> every subscriber: p50 "
        f"{percentile(stream.delays_ms, 50):.1f} ms, p99 {sse_p99:.1f} ms, "
        f"missing {stream.missing}"
    )
    print(f"  {stream.cpu.describe(backend)}")
    for error in [*api.errors, *page.errors, *stream.errors][:5]:
        print(f"  REFUSED {error}")
    if api.errors or page.errors or stream.errors or stream.missing:
        raise RuntimeError(f"{backend}: requests refused or stream events missing")
    return {
        "board_p99_ms": round(board_p99, 2),
        "page_p99_ms": round(page_p99, 2),
        "sse_p99_ms_2000": round(sse_p99, 2),
        "cases": cases,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=10.0, help="per read phase (s)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent board readers")
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--sse-rate", type=float, default=10.0, help="writes/s in the stream")
    parser.add_argument("--sse-seconds", type=float, default=10.0)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--per-room", type=int, default=6)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 2 * args.subscribers + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    # The server holds at most DAYCASE_MAX_CONNECTIONS (1,000 by default) open and closes
    # the longest-waiting one beyond that: a centre with 2,000 screens raises it, as here.
    os.environ["DAYCASE_MAX_CONNECTIONS"] = str(args.subscribers + 200)
    options = Options(
        seconds=args.seconds,
        clients=args.clients,
        subscribers=args.subscribers,
        sse_rate=args.sse_rate,
        sse_seconds=args.sse_seconds,
        rooms=args.rooms,
        per_room=args.per_room,
    )
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results: dict[str, dict[str, float] | None] = {}
    for backend in backends:
        if backend == "postgres" and not postgres_reachable(postgres_server()):
            print("postgres: not reachable; skipped")
            results[backend] = None
            continue
        results[backend] = run_backend(backend, options)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
