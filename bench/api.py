"""API benchmark: a real `daycase serve` under concurrent staff clients and stream subscribers.

For each backend (a SQLite file in a temporary folder, then a fresh PostgreSQL database
when one is reachable) it starts `daycase serve` in its own process, adds one user per
role, and drives the server over loopback from this process (asyncio, uvloop when
installed, one keep-alive HTTP/1.1 connection per client):

1. Throughput. `--clients` clients each open a case of their own (front desk), record a
   whole scripted day on it (`daycase.demo.day_script`, its variants in turn, each step
   by the role the script names), then open the next case, until `--seconds` have
   passed (after `--warmup` seconds that are not counted). The day is back-charted: a
   case opened at T has its arrival at T minus the length of its script, so every
   clinical time lies in the past, inside the pathway's window, and every gate (cement
   rest, an hour in recovery) is met by the clinical times themselves. Every answer must
   be 201; anything else is counted and printed as an error. Figures: accepted step
   events per second (case openings not counted) and latency p50/p99 of those POSTs.

2. Stream. `--subscribers` staff streams (`GET /api/v1/stream`) connect and each must
   receive `hello`; then a writer records `--sse-rate` events per second for
   `--sse-seconds` seconds, spread over `--sse-rate` cases (each case gets one POST per
   second, never two in flight). The matching event of a POST on case C, at one
   subscriber, is the first `case` event with `row.case_id == C` that this subscriber
   reads after the POST was sent; its delay is from the moment the POST's 201 was read
   to the moment the event was read (0 if the event came first). sse_p99_ms is the 99th
   percentile over every (subscriber, POST) pair; a pair whose event never came within
   `--sse-grace` seconds counts with the delay it had waited and is reported as missing.

Prints figures per backend (with CPU seconds used by the server and by this load
generator, as both share the machine), then as the last line one JSON object:
{"sqlite": {"events_per_s", "p50_ms", "p99_ms", "sse_p99_ms"}, "postgres": {...} | null}.
Exit status 1 when any request was refused or any stream event went missing.

    python bench/api.py [--seconds 20] [--clients 32] [--subscribers 500]
                        [--backend sqlite|postgres|both] [--profile DIR]

PostgreSQL: $DAYCASE_TEST_POSTGRES_URL, else postgresql+psycopg://postgres@127.0.0.1:5432/test;
a database is created for the run and dropped afterwards. `--profile DIR` runs each
server under py-spy (when installed) and leaves collapsed stacks in DIR/<backend>.txt.
Everything is bounded: per-request timeouts, a deadline per phase and an alarm over the
whole run; server processes, the database and temporary files are removed on any exit.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from daycase.config import Settings
from daycase.demo import LEVEL_SETS, VARIANTS
from daycase.services.runtime import open_runtime
from daycase.sim.day import Planned, day_script
from daycase.store.factory import migrate

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ROLES = ["front_desk", "nurse", "anesthesia", "proceduralist", "admin", "viewer"]
PASSWORD = "bench horse battery staple"
HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 30.0
T = TypeVar("T")


class BenchAbort(Exception):
    """The run was stopped (SIGTERM, or the overall alarm); clean up and leave."""


# --- a minimal keep-alive HTTP/1.1 client over asyncio streams ---------------------------


class HttpError(Exception):
    pass


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HttpError(f"bad status line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_chunk(reader: asyncio.StreamReader) -> bytes:
    """One chunk of a chunked body; b"" for the last one."""
    size_line = await reader.readuntil(b"\r\n")
    size = int(size_line.split(b";", 1)[0].strip(), 16)
    if size == 0:
        await reader.readuntil(b"\r\n")
        return b""
    data = await reader.readexactly(size + 2)
    return data[:-2]


class Connection:
    """One keep-alive connection, as a staff device's HTTP client holds one open."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, bytes]:
        return await asyncio.wait_for(
            self._request(method, path, token, body, content_type), REQUEST_TIMEOUT_S
        )

    async def _request(
        self, method: str, path: str, token: str | None, body: bytes | None, content_type: str
    ) -> tuple[int, bytes]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(HOST, self.port)
        reader, writer = self._reader, self._writer
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        if body is not None:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"\r\n" + (body or b""))
        status, headers = await _read_head(reader)
        if "content-length" in headers:
            payload = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while chunk := await _read_chunk(reader):
                chunks.append(chunk)
            payload = b"".join(chunks)
        else:
            raise HttpError(f"{method} {path}: answer without length ({status})")
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, payload

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


def machine_cpu_seconds() -> float:
    """CPU seconds spent by every process on the machine so far (Linux /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return math.nan
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class Cpu:
    """CPU used during a phase: by the server, this load generator, and everything else."""

    server_s: float = 0.0
    client_s: float = 0.0
    machine_s: float = 0.0
    wall_s: float = 0.0

    @contextlib.contextmanager
    def measure(self, server: Server) -> Iterator[None]:
        s0, c0, m0 = server.cpu_seconds(), time.process_time(), machine_cpu_seconds()
        w0 = time.perf_counter()
        try:
            yield
        finally:
            self.wall_s += time.perf_counter() - w0
            self.server_s += server.cpu_seconds() - s0
            self.client_s += time.process_time() - c0
            self.machine_s += machine_cpu_seconds() - m0

    def describe(self, backend: str) -> str:
        seconds = self.wall_s or math.nan
        other = max(0.0, self.machine_s - self.server_s - self.client_s)
        who = "PostgreSQL and other processes" if backend == "postgres" else "other processes"
        text = (
            f"CPU: server {self.server_s / seconds:.2f} cores, load generator "
            f"{self.client_s / seconds:.2f}, {who} {other / seconds:.2f} "
            f"(of {os.cpu_count()})"
        )
        if backend == "sqlite" and other / seconds > 0.2:
            text += "  <- the machine was busy with other work: figures disturbed"
        return text


async def all_of(coros: Iterable[Coroutine[Any, Any, None]], timeout_s: float) -> None:
    """Run the coroutines together; the first failure, or the time limit, stops them all."""
    async with asyncio.timeout(timeout_s), asyncio.TaskGroup() as group:
        for coro in coros:
            group.create_task(coro)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


# --- the server process, its database and its users --------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def add_users(db_url: str) -> None:
    """One user per role, named after the role (what `daycase user add` does)."""
    runtime = open_runtime(Settings(db=db_url))
    try:
        for role in ROLES:
            runtime.accounts.add_user(role, role=role, password=PASSWORD)
    finally:
        runtime.close()


def postgres_server() -> str:
    return os.environ.get("DAYCASE_TEST_POSTGRES_URL") or DEFAULT_POSTGRES


def postgres_reachable(url: str) -> bool:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


@contextlib.contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    """A migrated database URL: a SQLite file in `tmp`, or a fresh PostgreSQL database."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'bench.db'}"
        migrate(url)
        yield url
        return
    server = postgres_server()
    name = f"daycase_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        sa.make_url(server), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            url = sa.make_url(server).set(database=name).render_as_string(hide_password=False)
            migrate(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    profiled: bool = False

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def pid(self) -> int:
        """The Python server's pid (under py-spy it is py-spy's child)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        with contextlib.suppress(OSError, ValueError):
            found = children.read_text().split()
            if found and self.profiled:
                return int(found[0])
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server process so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.pid()}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def run_server(db_url: str, tmp: Path, backend: str, profile: Path | None) -> Iterator[Server]:
    """`daycase serve` in its own session; stopped (and its group killed) on any exit."""
    port = free_port()
    log_path = tmp / f"server-{backend}.log"
    command = [sys.executable, "-m", "daycase", "serve", "--port", str(port), "--db", db_url]
    if profile is not None:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(py_spy).exists():
            raise SystemExit("--profile needs py-spy (pip install py-spy)")
        profile.mkdir(parents=True, exist_ok=True)
        out = profile / f"{backend}.txt"
        command = [py_spy, "record", "--nonblocking", "--threads", "--format", "raw"]
        command += [
            "--rate",
            os.environ.get("BENCH_PY_SPY_RATE", "100"),
            "-o",
            str(out),
            *os.environ.get("BENCH_PY_SPY", "").split(),
        ]
        command += ["--"]
        command += [sys.executable, "-m", "daycase", "serve", "--port", str(port)]
        command += ["--db", db_url]
    env = {**os.environ, "DAYCASE_DB": db_url}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = Server(port=port, process=process, log_path=log_path, profiled=profile is not None)
    try:
        _wait_until_up(server)
        yield server
    finally:
        _stop(process, profiled=profile is not None)


def _wait_until_up(server: Server, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{server.port}/openapi.json", timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"server did not start:\n{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes], *, profiled: bool) -> None:
    if process.poll() is not None:
        return
    # py-spy writes its profile when interrupted; uvicorn shuts down on either signal.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT if profiled else signal.SIGTERM)
    try:
        process.wait(timeout=30 if profiled else 10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # anything left in the group


async def sign_in(port: int, role: str) -> str:
    conn = Connection(port)
    try:
        body = urlencode({"username": role, "password": PASSWORD}).encode()
        status, payload = await conn.request(
            "POST",
            "/api/v1/auth/token",
            body=body,
            content_type="application/x-www-form-urlencoded",
        )
    finally:
        await conn.close()
    if status != 200:
        raise RuntimeError(f"sign-in as {role} refused: {status} {payload[:200]!r}")
    token: str = json.loads(payload)["access_token"]
    return token


# --- the scripted day, back-charted so that it ends now ----------------------------------


@dataclass
class Day:
    case_body: bytes
    steps: list[tuple[str, bytes]]  # (role, JSON body) in clinical order


def scripted_day(n: int, rng: random.Random, tz: ZoneInfo, *, variant: str) -> Day:
    """Case n's opening and its whole day, arrival set so the last step lies just in the past."""
    levels = LEVEL_SETS[n % len(LEVEL_SETS)]
    now = datetime.now(tz)
    state = rng.getstate()
    length = max(p.minute for p in day_script(levels, now, rng, variant=variant))
    rng.setstate(state)  # the same day again, now placed in time
    arrival = (now - timedelta(minutes=length + 2)).replace(microsecond=0)
    planned: list[Planned] = day_script(levels, arrival, rng, variant=variant)
    opening = {
        "pathway": "kyphoplasty",
        "patient": {
            "mrn": f"BENCH-{n}-{rng.randrange(10**6)}",
            "given_name": "Bench",
            "family_name": f"Patient{n}",
            "birth_date": date(1940 + n % 30, 1 + n % 12, 1 + n % 28).isoformat(),
            "sex": rng.choice(["female", "female", "male"]),
        },
        "levels": levels,
        "scheduled_start": (arrival + timedelta(minutes=60)).isoformat(),
    }
    steps: list[tuple[str, bytes]] = []
    for p in planned:
        body: dict[str, Any] = {
            "step": p.step,
            "at": (arrival + timedelta(minutes=p.minute)).isoformat(),
            "data": p.data,
        }
        if p.override_reason:
            body["override_reason"] = p.override_reason
        steps.append((p.role, json.dumps(body).encode()))
    return Day(json.dumps(opening).encode(), steps)


# --- phase 1: throughput and latency -------------------------------------------------------


@dataclass
class Throughput:
    clients: int
    seconds: float
    events: int = 0
    cases: int = 0
    event_ms: list[float] = field(default_factory=list)
    open_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu: Cpu = field(default_factory=Cpu)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class Counter:
    def __init__(self) -> None:
        self.n = 0


async def _open_case(
    conn: Connection, token: str, day: Day, result: Throughput | None
) -> str | None:
    t0 = time.perf_counter()
    status, payload = await conn.request("POST", "/api/v1/cases", token=token, body=day.case_body)
    elapsed = (time.perf_counter() - t0) * 1000
    if status != 201:
        if result is not None:
            result.errors.append(f"open case: {status} {payload[:300]!r}")
        return None
    if result is not None:
        result.open_ms.append(elapsed)
        result.cases += 1
    case_id: str = json.loads(payload)["id"]
    return case_id


async def _client(
    i: int,
    port: int,
    tokens: dict[str, str],
    tz: ZoneInfo,
    until: float,
    result: Throughput | None,
    serial: Counter,
) -> None:
    """Open a case, record its day step by step, repeat until `until` (perf_counter)."""
    conn = Connection(port)
    rng = random.Random(i)
    try:
        while time.perf_counter() < until:
            serial.n += 1
            n = serial.n
            day = scripted_day(n, rng, tz, variant=VARIANTS[n % len(VARIANTS)])
            case_id = await _open_case(conn, tokens["front_desk"], day, result)
            if case_id is None:
                if result is None:
                    raise RuntimeError("case refused during warm-up")
                continue
            path = f"/api/v1/cases/{case_id}/events"
            for role, body in day.steps:
                if time.perf_counter() >= until:
                    break
                t0 = time.perf_counter()
                status, payload = await conn.request("POST", path, token=tokens[role], body=body)
                elapsed = (time.perf_counter() - t0) * 1000
                if status != 201:
                    message = f"{json.loads(body)['step']}: {status} {payload[:300]!r}"
                    if result is None:
                        raise RuntimeError(f"refused during warm-up: {message}")
                    result.errors.append(message)
                    break  # the rest of this day would only meet its gates unmet
                if result is not None:
                    result.event_ms.append(elapsed)
                    result.events += 1
    finally:
        await conn.close()


async def throughput_phase(
    server: Server,
    tokens: dict[str, str],
    tz: ZoneInfo,
    *,
    clients: int,
    seconds: float,
    warmup: float,
) -> Throughput:
    serial = Counter()
    if warmup > 0:
        until = time.perf_counter() + warmup
        await all_of(
            (_client(-1 - i, server.port, tokens, tz, until, None, serial) for i in range(clients)),
            warmup + REQUEST_TIMEOUT_S + 10,
        )
    result = Throughput(clients=clients, seconds=seconds)
    with result.cpu.measure(server):
        started = time.perf_counter()
        until = started + seconds
        await all_of(
            (_client(i, server.port, tokens, tz, until, result, serial) for i in range(clients)),
            seconds + REQUEST_TIMEOUT_S + 10,
        )
        result.seconds = time.perf_counter() - started
    return result


# --- phase 2: stream delivery delay --------------------------------------------------------


@dataclass
class Subscriber:
    received: dict[str, list[float]] = field(default_factory=dict)  # case id -> read times
    hello: asyncio.Event = field(default_factory=asyncio.Event)


def _parse_events(buffer: bytes, sub: Subscriber, at: float) -> bytes:
    """Take whole SSE messages off `buffer`; note each `case` event's case id and time."""
    buffer = buffer.replace(b"\r\n", b"\n")
    *messages, rest = buffer.split(b"\n\n")
    for message in messages:
        kind, data = "message", b""
        for line in message.split(b"\n"):
            if line.startswith(b"event:"):
                kind = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data += line[5:].strip()
        if kind == "hello":
            sub.hello.set()
        elif kind == "case":
            case_id = json.loads(data)["row"]["case_id"]
            sub.received.setdefault(case_id, []).append(at)
    return rest


async def _subscribe(port: int, token: str, sub: Subscriber) -> None:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 30)
    try:
        writer.write(
            f"GET /api/v1/stream HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        status, headers = await asyncio.wait_for(_read_head(reader), 30)
        if status != 200:
            raise HttpError(f"stream answered {status}")
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        buffer = b""
        while True:
            data = await _read_chunk(reader) if chunked else await reader.read(65536)
            if not data:
                return
            buffer = _parse_events(buffer + data, sub, time.perf_counter())
    finally:
        writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await writer.wait_closed()


@dataclass
class Post:
    case_id: str
    sent: float
    answered: float


@dataclass
class Stream:
    subscribers: int
    connect_s: float = 0.0
    posts: list[Post] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    delays_ms: list[float] = field(default_factory=list)
    missing: int = 0
    errors: list[str] = field(default_factory=list)
    cpu: Cpu = field(default_factory=Cpu)
    seconds: float = 0.0


async def _writer_case(
    index: int,
    port: int,
    tokens: dict[str, str],
    tz: ZoneInfo,
    start: float,
    every: float,
    count: int,
    result: Stream,
) -> None:
    """One case's POSTs, one every `every` seconds from `start`; one in flight at a time."""
    conn = Connection(port)
    try:
        day = scripted_day(10_000 + index, random.Random(10_000 + index), tz, variant="")
        case_id = await _open_case(conn, tokens["front_desk"], day, None)
        if case_id is None:
            raise RuntimeError("writer's case refused")
        path = f"/api/v1/cases/{case_id}/events"
        for k, (role, body) in enumerate(day.steps[:count]):
            await asyncio.sleep(max(0.0, start + k * every - time.perf_counter()))
            sent = time.perf_counter()
            status, payload = await conn.request("POST", path, token=tokens[role], body=body)
            answered = time.perf_counter()
            if status != 201:
                result.errors.append(f"{json.loads(body)['step']}: {status} {payload[:300]!r}")
                return
            result.posts.append(Post(case_id, sent, answered))
            result.post_ms.append((answered - sent) * 1000)
    finally:
        await conn.close()


async def stream_phase(
    server: Server,
    tokens: dict[str, str],
    tz: ZoneInfo,
    *,
    subscribers: int,
    rate: float,
    seconds: float,
    grace: float,
) -> Stream:
    result = Stream(subscribers=subscribers)
    subs = [Subscriber() for _ in range(subscribers)]
    started = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    for sub in subs:
        tasks.append(asyncio.create_task(_subscribe(server.port, tokens["nurse"], sub)))
        if len(tasks) % 50 == 0:
            await asyncio.sleep(0.01)  # stay well inside the listen backlog
    try:
        waiting: asyncio.Future[Any] = asyncio.ensure_future(
            asyncio.gather(*(s.hello.wait() for s in subs))
        )
        # Until every stream said hello, or one of them failed, or a minute passed.
        await asyncio.wait([waiting, *tasks], timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if not all(s.hello.is_set() for s in subs):
            failed = [t for t in tasks if t.done()]
            why = repr(failed[0].exception()) if failed and failed[0].exception() else "timeout"
            waiting.cancel()
            raise RuntimeError(
                f"only {sum(s.hello.is_set() for s in subs)} of {subscribers} "
                f"streams said hello: {why}"
            )
        result.connect_s = time.perf_counter() - started

        cases = max(1, math.ceil(rate))
        every = cases / rate  # seconds between two POSTs on one case
        per_case = max(1, round(seconds / every))
        begin = time.perf_counter() + 1.0  # the cases' openings reach the streams first
        with result.cpu.measure(server):
            writers = [
                _writer_case(c, server.port, tokens, tz, begin + c / rate, every, per_case, result)
                for c in range(cases)
            ]
            await all_of(writers, seconds + REQUEST_TIMEOUT_S + 10)
            # Wait (bounded) until every stream has read, for each of the writer's cases,
            # one event for its opening and one per POST.
            expected: dict[str, int] = {}
            for post in result.posts:
                expected[post.case_id] = expected.get(post.case_id, 1) + 1
            deadline = time.perf_counter() + grace
            while time.perf_counter() < deadline and not all(
                len(sub.received.get(case_id, ())) >= n
                for sub in subs
                for case_id, n in expected.items()
            ):
                await asyncio.sleep(0.05)
            end = time.perf_counter()
            result.seconds = end - begin
        for sub in subs:
            for post in result.posts:
                times = sub.received.get(post.case_id, [])
                at = bisect.bisect_left(times, post.sent)
                if at < len(times):
                    result.delays_ms.append(max(0.0, times[at] - post.answered) * 1000)
                else:
                    result.missing += 1
                    result.delays_ms.append((end - post.answered) * 1000)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return result


# --- one backend, start to end -------------------------------------------------------------


@dataclass
class Options:
    seconds: float
    warmup: float
    clients: int
    subscribers: int
    sse_rate: float
    sse_seconds: float
    sse_grace: float
    profile: Path | None


def _run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(factory())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(factory())


def run_backend(backend: str, options: Options) -> dict[str, float] | None:
    tz = ZoneInfo(Settings().timezone)
    with tempfile.TemporaryDirectory(prefix="daycase-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with database(backend, tmp) as url:
            add_users(url)
            with run_server(url, tmp, backend, options.profile) as server:
                try:
                    return _drive(backend, server, tz, options)
                except Exception:
                    print(f"{backend}: server log (tail):\n{server.log_tail()}", file=sys.stderr)
                    raise


def _drive(backend: str, server: Server, tz: ZoneInfo, o: Options) -> dict[str, float]:
    async def signed_in() -> dict[str, str]:
        return {role: await sign_in(server.port, role) for role in ROLES}

    tokens = _run_async(signed_in)
    tput = _run_async(
        lambda: throughput_phase(
            server, tokens, tz, clients=o.clients, seconds=o.seconds, warmup=o.warmup
        )
    )
    p50, p99 = percentile(tput.event_ms, 50), percentile(tput.event_ms, 99)
    print(
        f"{backend}: throughput, {tput.clients} clients for {tput.seconds:.1f} s "
        f"(after {o.warmup:g} s warm-up)"
        + ("; the goal names at least 32 clients" if tput.clients < 32 else "")
    )
    print(
        f"  {tput.events:,} step events accepted = {tput.events_per_s:,.0f} events/s "
        f"({tput.cases} cases opened, {len(tput.errors)} refused)"
    )
    print(
        f"  POST /cases/{{id}}/events latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"max {max(tput.event_ms, default=math.nan):.1f} ms"
    )
    print(
        f"  POST /cases latency: p50 {percentile(tput.open_ms, 50):.1f} ms, "
        f"p99 {percentile(tput.open_ms, 99):.1f} ms"
    )
    print(f"  {tput.cpu.describe(backend)}")
    for error in tput.errors[:5]:
        print(f"  REFUSED {error}")

    stream = _run_async(
        lambda: stream_phase(
            server,
            tokens,
            tz,
            subscribers=o.subscribers,
            rate=o.sse_rate,
            seconds=o.sse_seconds,
            grace=o.sse_grace,
        )
    )
    sse_p50 = percentile(stream.delays_ms, 50)
    sse_p99 = percentile(stream.delays_ms, 99)
    print(
        f"{backend}: stream, {stream.subscribers} subscribers said hello in "
        f"{stream.connect_s:.1f} s; {len(stream.posts)} events at {o.sse_rate:g}/s"
    )
    print(
        f"  POST -> case event, over {len(stream.delays_ms):,} (subscriber, event) pairs: "
        f"p50 {sse_p50:.1f} ms, p99 {sse_p99:.1f} ms, "
        f"max {max(stream.delays_ms, default=math.nan):.1f} ms, missing {stream.missing}"
    )
    print(
        f"  writer's POST latency: p50 {percentile(stream.post_ms, 50):.1f} ms, "
        f"p99 {percentile(stream.post_ms, 99):.1f} ms"
    )
    print(f"  {stream.cpu.describe(backend)}")
    for error in stream.errors[:5]:
        print(f"  REFUSED {error}")
    problems = len(tput.errors) + len(stream.errors) + stream.missing
    return {
        "events_per_s": round(tput.events_per_s, 1),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "sse_p99_ms": round(sse_p99, 2),
        "problems": problems,
    }


def _abort(signum: int, _frame: FrameType | None) -> None:
    raise BenchAbort(signal.Signals(signum).name)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured load (s)")
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted load first (s)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--sse-rate", type=float, default=20.0, help="events/s while streaming")
    parser.add_argument("--sse-seconds", type=float, default=10.0)
    parser.add_argument("--sse-grace", type=float, default=5.0, help="wait for late events (s)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--profile", type=Path, help="py-spy each server into DIR/<backend>.txt")
    args = parser.parse_args()
    if not (0 < args.seconds <= 600 and 0 <= args.warmup <= 60 and 0 < args.sse_seconds <= 120):
        parser.error("--seconds 0..600, --warmup 0..60, --sse-seconds 0..120")
    if not (1 <= args.clients <= 1000 and 1 <= args.subscribers <= 5000):
        parser.error("--clients 1..1000, --subscribers 1..5000")
    if not 0 < args.sse_rate <= 200:
        parser.error("--sse-rate 0..200")
    options = Options(
        seconds=args.seconds,
        warmup=args.warmup,
        clients=args.clients,
        subscribers=args.subscribers,
        sse_rate=args.sse_rate,
        sse_seconds=args.sse_seconds,
        sse_grace=args.sse_grace,
        profile=args.profile,
    )
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    budget = 180 + 3 * (args.warmup + args.seconds + args.sse_seconds + args.sse_grace)
    signal.signal(signal.SIGTERM, _abort)
    signal.signal(signal.SIGALRM, _abort)
    signal.alarm(int(budget * len(backends)))
    results: dict[str, dict[str, float] | None] = {"sqlite": None, "postgres": None}
    problems = 0
    try:
        for backend in backends:
            if backend == "postgres" and not postgres_reachable(postgres_server()):
                print(f"postgres: not reachable at {postgres_server()}; skipped")
                continue
            figures = run_backend(backend, options)
            if figures is not None:
                problems += int(figures.pop("problems"))
                results[backend] = figures
    except KeyboardInterrupt:
        print("interrupted: server stopped, database and files removed", file=sys.stderr)
        return 130
    except BenchAbort as stop:
        print(f"stopped by {stop}: server stopped, database and files removed", file=sys.stderr)
        return 2
    finally:
        signal.alarm(0)
    print(json.dumps(results))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
