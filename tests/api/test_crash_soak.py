"""kill -9 under concurrent writes, on SQLite and PostgreSQL (issue 8, item 4).

A real `daycase serve` takes steps from several writers, each on cases of its own, and is
killed with SIGKILL at random moments and started again on the same database. A writer
sends an `Idempotency-Key` with each write and sends the same request and key again after
any connection error or 5xx, until it has an answer. Then, one property per test: every
acknowledged (201) event is stored exactly once; `daycase verify` finds every chain intact;
no write is stored twice; every stored write was acknowledged to its writer (a retry of a
write that went through is answered with it, never stored again).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from daycase.demo import LEVEL_SETS, VARIANTS
from daycase.engine.events import StepRecorded
from daycase.sim.day import day_script
from daycase.store.factory import open_store
from tests.support.clock import suite_now
from tests.support.databases import BACKENDS, database
from tests.support.server import Server, run_server

WRITERS = 6
CASES_PER_WRITER = 8
KILLS = 3
ACKS_BEFORE_KILL = 20  # each server process takes writes before it is killed ...
KILL_WITHIN_S = 1.0  # ... and is killed at a random moment within this much more load
LOAD_AFTER_LAST_S = 1.0
RETRY_PAUSE_S = 0.05
WRITE_DEADLINE_S = 60.0
ROLES = ["front_desk", "nurse", "anesthesia", "proceduralist"]

# A write, as stored: the case, the step and its clinical time (unique within a script).
WriteId = tuple[str, str, datetime]


@dataclass
class Write:
    """One logical write: the request sent (again, byte for byte, on every retry) and its fate."""

    case_id: str
    step: str
    at: datetime
    role: str
    body: bytes
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    attempts: int = 0
    status: int | None = None  # the final answer's status
    answer: Any = None
    generation: int = -1  # which server process gave the final answer

    @property
    def ident(self) -> WriteId:
        return (self.case_id, self.step, self.at)

    @property
    def event_id(self) -> str | None:
        return str(self.answer["event_id"]) if self.status == 201 else None


class Current:
    """The live server: writers read its address on every attempt, the killer swaps it."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.generation = 0
        self.lock = threading.Lock()

    def swap(self, server: Server) -> None:
        with self.lock:
            self.server = server
            self.generation += 1

    def get(self) -> tuple[str, int]:
        with self.lock:
            return self.server.url, self.generation


@dataclass
class Soak:
    url: str
    case_ids: list[str]
    writes: list[Write]
    problems: list[str]
    seed: int

    def acknowledged(self) -> list[Write]:
        return [w for w in self.writes if w.status == 201]


def planned_day(n: int, rng: random.Random) -> tuple[dict[str, Any], list[tuple[str, str, Any]]]:
    """Case n's opening and its day back-charted to end now, so every gate is met in time.

    Answers the opening body and (role, step, request body) per step in clinical order.
    """
    levels = LEVEL_SETS[n % len(LEVEL_SETS)]
    variant = VARIANTS[n % len(VARIANTS)]
    now = suite_now()
    state = rng.getstate()
    length = max(p.minute for p in day_script(levels, now, rng, variant=variant))
    rng.setstate(state)
    arrival = (now - timedelta(minutes=length + 2)).replace(microsecond=0)
    opening = {
        "pathway": "kyphoplasty",
        "patient": {
            "mrn": f"SOAK-{n}-{rng.randrange(10**6)}",
            "given_name": "Soak",
            "family_name": f"Patient{n}",
            "birth_date": date(1940 + n % 30, 1 + n % 12, 1 + n % 28).isoformat(),
            "sex": rng.choice(["female", "male"]),
        },
        "levels": levels,
        "scheduled_start": (arrival + timedelta(minutes=60)).isoformat(),
    }
    steps = []
    for p in day_script(levels, arrival, rng, variant=variant):
        body: dict[str, Any] = {
            "step": p.step,
            "at": (arrival + timedelta(minutes=p.minute)).isoformat(),
            "data": p.data,
        }
        if p.override_reason:
            body["override_reason"] = p.override_reason
        steps.append((p.role, p.step, body))
    return opening, steps


def send(client: httpx.Client, current: Current, write: Write, tokens: dict[str, str]) -> None:
    """Send the write until it has an answer: retried as it was after errors and 5xx."""
    deadline = time.monotonic() + WRITE_DEADLINE_S
    headers = {
        "Authorization": f"Bearer {tokens[write.role]}",
        "Content-Type": "application/json",
        "Idempotency-Key": write.key,
    }
    while time.monotonic() < deadline:
        base, generation = current.get()
        write.attempts += 1
        try:
            r = client.post(
                f"{base}/api/v1/cases/{write.case_id}/events", content=write.body, headers=headers
            )
        except httpx.TransportError:
            time.sleep(RETRY_PAUSE_S)
            continue
        if r.status_code >= 500:
            time.sleep(RETRY_PAUSE_S)
            continue
        write.status, write.answer, write.generation = r.status_code, r.json(), generation
        return
    raise TimeoutError(f"no answer in {WRITE_DEADLINE_S} s to {write.step} on {write.case_id}")


def writer(
    current: Current,
    tokens: dict[str, str],
    days: list[tuple[str, list[tuple[str, str, Any]]]],
    stop: threading.Event,
    writes: list[Write],
    problems: list[str],
) -> None:
    """Record each of its cases' days step by step until told to stop."""
    try:
        with httpx.Client(timeout=10) as client:
            for case_id, steps in days:
                for role, step, body in steps:
                    if stop.is_set():
                        return
                    at = datetime.fromisoformat(body["at"])
                    write = Write(case_id, step, at, role, json.dumps(body).encode())
                    writes.append(write)
                    send(client, current, write, tokens)
                    if write.status != 201 and not is_duplicate(write):
                        problems.append(f"{step} on {case_id}: {write.status} {write.answer}")
                        break  # the rest of this day would meet its gates unmet
    except Exception as exc:
        problems.append(f"writer failed: {exc!r}")


def is_duplicate(write: Write) -> bool:
    """A retry refused because its first attempt was stored (no Idempotency-Key honoured)."""
    return write.status == 409 and write.attempts > 1


def open_cases(server: Server, count: int, rng: random.Random) -> list[tuple[str, list[Any]]]:
    days = []
    with server.client(server.token("front_desk")) as desk:
        for n in range(count):
            opening, steps = planned_day(n, rng)
            r = desk.post("/api/v1/cases", json=opening)
            assert r.status_code == 201, r.text
            days.append((r.json()["id"], steps))
    return days


def under_load(writes: list[Write], generation: int) -> None:
    """Wait until the server process of this generation has acknowledged some writes."""
    deadline = time.monotonic() + WRITE_DEADLINE_S
    while sum(w.generation == generation and w.status == 201 for w in writes) < ACKS_BEFORE_KILL:
        assert time.monotonic() < deadline, f"server {generation} took no writes"
        time.sleep(0.02)


def run_soak(url: str, tmp_path: Path) -> Soak:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    writes: list[Write] = []
    problems: list[str] = []
    with ExitStack() as stack:
        first = stack.enter_context(run_server(url, tmp_path))
        tokens = {role: first.token(role) for role in ROLES}
        days = open_cases(first, WRITERS * CASES_PER_WRITER, rng)
        current = Current(first)
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=writer,
                args=(current, tokens, days[i::WRITERS], stop, writes, problems),
            )
            for i in range(WRITERS)
        ]
        for t in threads:
            t.start()
        try:
            for generation in range(KILLS):
                under_load(writes, generation)
                time.sleep(rng.uniform(0, KILL_WITHIN_S))
                victim = current.server.process
                victim.send_signal(signal.SIGKILL)
                victim.wait(timeout=10)
                current.swap(stack.enter_context(run_server(url, tmp_path, users=False)))
            time.sleep(LOAD_AFTER_LAST_S)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=WRITE_DEADLINE_S + 10)
    return Soak(url, [case_id for case_id, _ in days], writes, problems, seed)


@pytest.fixture(params=BACKENDS, scope="module")
def soak(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Soak]:
    tmp_path = tmp_path_factory.mktemp(f"soak-{request.param}")
    with database(request.param, tmp_path) as url:
        yield run_soak(url, tmp_path)


def stored_steps(soak: Soak) -> list[StepRecorded]:
    store = open_store(soak.url)
    try:
        return [
            e
            for case_id in soak.case_ids
            for e in store.load(case_id)
            if isinstance(e, StepRecorded)
        ]
    finally:
        store.close()


def test_every_acknowledged_event_is_stored_exactly_once(soak: Soak) -> None:
    assert soak.problems == [], f"seed {soak.seed}"
    acknowledged = soak.acknowledged()
    # The writes really crossed the kills: each server process acknowledged some, and
    # some writes were sent again.
    assert {w.generation for w in acknowledged} == set(range(KILLS + 1)), f"seed {soak.seed}"
    assert any(w.attempts > 1 for w in soak.writes)
    stored = stored_steps(soak)
    by_id = {e.event_id: e for e in stored}
    counts = Counter(e.event_id for e in stored)
    for w in acknowledged:
        event_id = str(w.answer["event_id"])
        assert counts[event_id] == 1, (event_id, counts[event_id], f"seed {soak.seed}")
        event = by_id[event_id]
        assert (event.case_id, event.step, event.at) == w.ident


def test_the_history_verifies_after_the_kills(soak: Soak) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "daycase", "verify", "--db", soak.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every hash chain intact" in done.stdout


def test_no_write_is_stored_twice(soak: Soak) -> None:
    """Each stored step is one the writers sent, and no write is stored more than once."""
    sent = {w.ident for w in soak.writes}
    stored = Counter((e.case_id, e.step, e.at) for e in stored_steps(soak))
    assert [ident for ident in stored if ident not in sent] == []
    twice = {ident: n for ident, n in stored.items() if n > 1}
    assert twice == {}, f"{len(twice)} writes stored more than once (seed {soak.seed})"


def test_every_stored_write_was_acknowledged(soak: Soak) -> None:
    """A retry of a write that went through before the kill is answered with that write.

    Without the Idempotency-Key honoured, such a retry is refused as a duplicate (a step
    done once) or stored again (a repeated step), and its writer never learns the event.
    """
    acknowledged = {w.event_id for w in soak.acknowledged()}
    unacknowledged = [e for e in stored_steps(soak) if e.event_id not in acknowledged]
    refused = [f"{w.step}: {w.status} {w.answer}" for w in soak.writes if is_duplicate(w)]
    assert (len(unacknowledged), refused) == (0, []), f"seed {soak.seed}"
