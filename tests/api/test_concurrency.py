"""Many writers on one case at the same moment, on SQLite and PostgreSQL (issue 3, item 5).

Writers race through `CaseService` in several processes of several threads, and over HTTP
through real `daycase serve` processes sharing one database. Each entry carries a marker
of its own, so the stored history can be checked entry by entry: every accepted entry is
stored exactly once, `seq` runs 1..N without a gap, each writer's entries keep their order,
and `daycase verify` (a real process) finds every hash chain intact.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import random
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from multiprocessing.synchronize import Barrier as ProcessBarrier
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from daycase.engine.commands import Actor, OpenCase, RecordStep, Refusal, RescheduleCase
from daycase.engine.events import CaseOpened, Event, StepRecorded
from daycase.services.cases import CaseService
from daycase.sim.day import ScriptClock, day_script
from daycase.store.base import (
    CaseSummary,
    ChainProblem,
    ConcurrencyError,
    EventStore,
    FamilyCodeTaken,
    IdempotencyKey,
    Subscriber,
)
from daycase.store.factory import open_store
from daycase.store.sql import (
    PG_DAY_LOCK,
    SqlEventStore,
    case_index_row,
    cases_table,
    day_lock_key,
    events_table,
    make_engine,
)
from daycase.types import JSONObject
from tests.factories import opened, recorded
from tests.support.clock import suite_now
from tests.support.databases import BACKENDS, database
from tests.support.server import Server, run_server

PROCESSES = 4
THREADS_PER_PROCESS = 8
RECORDS_PER_THREAD = 5  # 4 x 8 x 5 = 160 entries through the service
HTTP_CLIENTS = 16
RECORDS_PER_CLIENT = 8  # 16 x 8 = 128 entries over HTTP
LEVELS = ["L1"]
T = TypeVar("T")

# A writer's marker: (heart_rate, bp_systolic) is unique to one writer and one entry.
Marker = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Accepted:
    """What a writer was told: its entry went in as `event_id` at `seq`."""

    marker: Marker
    event_id: str
    seq: int


def vitals(writer: int, entry: int) -> JSONObject:
    """Plausible recovery vitals whose heart rate names the writer and systolic the entry."""
    return {
        "heart_rate": 60 + writer,
        "bp_systolic": 110 + entry,
        "bp_diastolic": 70,
        "spo2": 97,
        "resp_rate": 14,
        "temperature_c": 36.8,
        "pain_score": entry % 11,
        "sedation": 0,
    }


def marker_of(data: JSONObject) -> Marker:
    heart_rate, systolic = data["heart_rate"], data["bp_systolic"]
    assert isinstance(heart_rate, int | float)
    assert isinstance(systolic, int | float)
    return int(heart_rate), int(systolic)


def booking(mrn: str, start: datetime) -> OpenCase:
    """The front desk's booking of one patient (Ada Lane) for `start`."""
    return OpenCase(
        actor=Actor("desk", "front_desk"),
        pathway_id="kyphoplasty",
        mrn=mrn,
        given_name="Ada",
        family_name="Lane",
        birth_date=date(1944, 5, 17),
        sex="female",
        levels=LEVELS,
        scheduled_start=start,
    )


def seed_case(url: str, *, stop_before: str, mrn: str) -> tuple[str, int]:
    """A case replayed through the demo's day script up to (not including) `stop_before`.

    The day started three hours ago, so later entries at the suite's clock pass every gate.
    Answers the case id and how many events it has.
    """
    start = suite_now().replace(microsecond=0) - timedelta(hours=2)
    clock = ScriptClock(start - timedelta(hours=2))
    store = open_store(url)
    try:
        service = CaseService(store, clock=clock)
        case = service.open_case(booking(mrn, start))
        assert not isinstance(case, Refusal), case
        arrival = start - timedelta(minutes=60)
        for planned in day_script(LEVELS, arrival, random.Random(mrn)):
            if planned.step == stop_before:
                break
            clock.now = arrival + timedelta(minutes=planned.minute)
            result = service.record(
                case.case_id,
                RecordStep(
                    actor=Actor(f"seed-{planned.role}", planned.role),
                    step=planned.step,
                    at=clock.now,
                    data=planned.data,
                ),
            )
            assert not isinstance(result, Refusal), (planned.step, result)
        return case.case_id, len(store.load(case.case_id))
    finally:
        store.close()


class CountingStore:
    """An event store that counts appends refused as stale (each one a lost race).

    With `hold`, the first append waits there until every writer sharing the barrier has
    decided, so they all decide on the same state and then race to append.
    """

    def __init__(self, inner: EventStore, *, hold: threading.Barrier | None = None) -> None:
        self.inner = inner
        self.conflicts = 0
        self._hold = hold
        self._lock = threading.Lock()

    def append(
        self,
        events: Sequence[Event],
        *,
        expected_seq: int,
        idempotency: IdempotencyKey | None = None,
    ) -> None:
        if self._hold is not None:
            self._hold.wait(timeout=30)
            self._hold = None
        try:
            self.inner.append(events, expected_seq=expected_seq, idempotency=idempotency)
        except ConcurrencyError:
            with self._lock:
                self.conflicts += 1
            raise

    async def append_async(
        self,
        events: Sequence[Event],
        *,
        expected_seq: int,
        idempotency: IdempotencyKey | None = None,
    ) -> None:
        self.append(events, expected_seq=expected_seq, idempotency=idempotency)

    def replay(self, key: str) -> tuple[str, Event] | None:
        return self.inner.replay(key)

    def load(self, case_id: str) -> list[Event]:
        return self.inner.load(case_id)

    def cases(self, *, on: date | None = None) -> list[CaseSummary]:
        return self.inner.cases(on=on)

    def case(self, case_id: str) -> CaseSummary | None:
        return self.inner.case(case_id)

    def family_codes(self, *, on: date) -> set[str]:
        return self.inner.family_codes(on=on)

    def day_signature(self, *, on: date) -> tuple[int, int, int]:
        return self.inner.day_signature(on=on)

    def cases_between(self, first: date, last: date) -> list[CaseSummary]:
        return self.inner.cases_between(first, last)

    def changed_since(self, since: datetime) -> list[str]:
        return self.inner.changed_since(since)

    def subscribe(self, subscriber: Subscriber) -> None:
        self.inner.subscribe(subscriber)

    def verify(self) -> list[ChainProblem]:
        return self.inner.verify()

    def close(self) -> None:
        self.inner.close()


class RacedCodes(CountingStore):
    """A store whose next read of a day's family codes is followed, at once, by `then()`:
    another process's write landing between this process's read and its append."""

    def __init__(self, inner: EventStore) -> None:
        super().__init__(inner)
        self.then: Callable[[], None] | None = None

    def family_codes(self, *, on: date) -> set[str]:
        codes = self.inner.family_codes(on=on)
        then, self.then = self.then, None
        if then is not None:
            then()
        return codes


def race(count: int, body: Callable[[int], T]) -> list[T]:
    """`body(0)` … `body(count - 1)` on threads released together; re-raise the first failure."""
    start = threading.Barrier(count)
    results: dict[int, T] = {}
    failures: list[BaseException] = []

    def run(i: int) -> None:
        try:
            start.wait()
            results[i] = body(i)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return [results[i] for i in range(count)]


def service_writer(
    url: str,
    case_id: str,
    process_no: int,
    ready: ProcessBarrier,
    results: multiprocessing.Queue[tuple[list[Accepted], list[str], int]],
) -> None:
    """One writer process (started by spawn): its own store and service, many threads.

    Its threads share the service as a server's requests do, so they take turns on the
    case inside the process, and race the other processes through the store.
    """
    store = CountingStore(open_store(url))
    service = CaseService(store, clock=suite_now)
    accepted: list[Accepted] = []
    problems: list[str] = []

    def thread_body(thread_no: int) -> None:
        writer = process_no * THREADS_PER_PROCESS + thread_no
        for entry in range(RECORDS_PER_THREAD):
            data = vitals(writer, entry)
            result = service.record(
                case_id,
                RecordStep(
                    actor=Actor(f"nurse-{writer}", "nurse"),
                    step="pacu_vitals",
                    at=service.clock(),
                    data=data,
                ),
            )
            if isinstance(result, Refusal):
                problems.append(f"writer {writer} entry {entry}: {result}")
            else:
                accepted.append(Accepted(marker_of(data), result.event_id, result.seq))

    try:
        ready.wait(timeout=60)
        race(THREADS_PER_PROCESS, thread_body)
    except BaseException as exc:
        problems.append(f"process {process_no}: {exc!r}")
    finally:
        store.close()
    results.put((accepted, problems, store.conflicts))


def verify_with_cli(url: str) -> None:
    """`daycase verify --db URL` as a real process: exit 0 and every chain intact."""
    done = subprocess.run(
        [sys.executable, "-m", "daycase", "verify", "--db", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every hash chain intact" in done.stdout


def assert_stored_exactly_once(
    url: str, case_id: str, accepted: list[Accepted], *, before: int
) -> None:
    """The stored history holds each accepted entry once, in a gapless, ordered seq."""
    store = open_store(url)
    try:
        events = store.load(case_id)
    finally:
        store.close()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len({e.event_id for e in events}) == len(events)
    assert len(events) == before + len(accepted)
    new = events[before:]
    assert all(isinstance(e, StepRecorded) and e.step == "pacu_vitals" for e in new)
    stored = {marker_of(e.data): (e.event_id, e.seq) for e in new if isinstance(e, StepRecorded)}
    counts = Counter(marker_of(e.data) for e in new if isinstance(e, StepRecorded))
    assert max(counts.values()) == 1, [m for m, n in counts.items() if n > 1]
    assert stored == {a.marker: (a.event_id, a.seq) for a in accepted}
    # A writer's own entries keep the order in which it made them ...
    by_writer: dict[int, list[tuple[int, int]]] = {}
    for (heart_rate, systolic), (_, seq) in sorted(stored.items(), key=lambda kv: kv[1][1]):
        by_writer.setdefault(heart_rate, []).append((systolic, seq))
    for entries in by_writer.values():
        assert [systolic for systolic, _ in entries] == sorted(systolic for systolic, _ in entries)
    # ... and seq order is the order of decision: each entry was decided on its predecessor.
    decided_at = [e.recorded_at for e in new]
    assert decided_at == sorted(decided_at)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def test_processes_and_threads_racing_through_the_service_lose_and_duplicate_nothing(
    db_url: str,
) -> None:
    case_id, before = seed_case(db_url, stop_before="pacu_vitals", mrn="H-race-service")
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(PROCESSES)
    results: multiprocessing.Queue[tuple[list[Accepted], list[str], int]] = context.Queue()
    processes = [
        context.Process(target=service_writer, args=(db_url, case_id, p, ready, results))
        for p in range(PROCESSES)
    ]
    for p in processes:
        p.start()
    accepted: list[Accepted] = []
    problems: list[str] = []
    conflicts = 0
    try:
        for _ in processes:
            got, trouble, lost_races = results.get(timeout=120)
            accepted += got
            problems += trouble
            conflicts += lost_races
    finally:
        for p in processes:
            p.join(timeout=30)
        results.close()
        results.join_thread()
    assert [p.exitcode for p in processes] == [0] * PROCESSES
    assert problems == []
    assert len(accepted) == PROCESSES * THREADS_PER_PROCESS * RECORDS_PER_THREAD
    # The processes really raced: some appends were refused as stale and decided again.
    assert conflicts > 0
    assert_stored_exactly_once(db_url, case_id, accepted, before=before)
    verify_with_cli(db_url)


def record(service: CaseService, case_id: str, step: str, data: JSONObject | None = None) -> Any:
    return service.record(
        case_id,
        RecordStep(actor=Actor("nurse", "nurse"), step=step, at=service.clock(), data=data or {}),
    )


def load(url: str, case_id: str) -> list[Event]:
    store = open_store(url)
    try:
        return store.load(case_id)
    finally:
        store.close()


def test_a_once_step_raced_by_two_writers_is_accepted_exactly_once(db_url: str) -> None:
    """Two stores (as two processes have) both decide `in_room` on the same state."""
    case_id, before = seed_case(db_url, stop_before="in_room", mrn="H-once")
    hold = threading.Barrier(2)
    stores = [CountingStore(open_store(db_url), hold=hold) for _ in range(2)]
    services = [CaseService(store, clock=suite_now) for store in stores]
    try:
        outcomes = race(2, lambda i: record(services[i], case_id, "in_room"))
    finally:
        for store in stores:
            store.close()
    accepted = [o for o in outcomes if isinstance(o, StepRecorded)]
    assert len(accepted) == 1, outcomes
    # The loser's append was refused as stale; decided again on fresh state, it is a duplicate.
    assert sorted(store.conflicts for store in stores) == [0, 1]
    refused = [(o.kind, o.messages) for o in outcomes if isinstance(o, Refusal)]
    at = accepted[0].at
    assert refused == [
        ("duplicate", (f"In room is already recorded (at {at:%H:%M}); amend it instead",))
    ]
    events = load(db_url, case_id)
    assert [e.seq for e in events] == list(range(1, before + 2))
    assert events[-1].event_id == accepted[0].event_id


def test_an_opening_waits_for_another_servers_opening_of_its_day(db_url: str) -> None:
    """Another server's opening, not yet committed, holds its code: an opening of the same
    day with the same code waits for it and is then refused, never stored beside it."""
    start = datetime(2026, 6, 2, 9, tzinfo=suite_now().tzinfo)
    theirs, mine = opened("theirs", scheduled_start=start), opened("mine", scheduled_start=start)
    mine = dataclasses.replace(mine, family_code=theirs.family_code)
    engine = make_engine(db_url)
    store = open_store(db_url)
    outcome: list[BaseException | None] = []

    def open_mine() -> None:
        try:
            store.append([mine], expected_seq=0)
            outcome.append(None)
        except BaseException as error:  # handed to the test's own thread
            outcome.append(error)

    try:
        with engine.begin() as conn:  # the other server's transaction, as its store runs it
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(PG_DAY_LOCK, (day_lock_key(start.date().isoformat()),))
            row = {"case_id": "theirs", **case_index_row(theirs), "last_seq": 1, "last_hash": "0"}
            conn.execute(cases_table.insert(), row)
            opener = threading.Thread(target=open_mine)
            opener.start()
            opener.join(0.5)
            assert opener.is_alive()  # waiting for the other transaction
        opener.join(15)
        assert len(outcome) == 1
        assert isinstance(outcome[0], FamilyCodeTaken)
        assert [c.case_id for c in store.cases(on=start.date())] == ["theirs"]
    finally:
        store.close()
        engine.dispose()


def test_a_move_raced_onto_a_day_that_takes_its_code_is_refused_and_not_stored(
    db_url: str,
) -> None:
    """The service reads the new day's codes before a move; another process opening a case
    there with the same code right after that read is caught by the store, and the move is
    refused in the same words."""
    start = suite_now().replace(microsecond=0) + timedelta(hours=2)
    tomorrow = start + timedelta(days=1)
    mine, theirs = RacedCodes(open_store(db_url)), open_store(db_url)
    try:
        service = CaseService(mine, clock=suite_now)
        case = service.open_case(booking("H-move", start))
        assert isinstance(case, CaseOpened)
        clashing = opened("theirs", scheduled_start=tomorrow, family_code=case.family_code)
        mine.then = lambda: theirs.append([clashing], expected_seq=0)
        refused = service.reschedule(
            case.case_id,
            RescheduleCase(
                actor=Actor("desk", "front_desk"),
                scheduled_start=tomorrow + timedelta(hours=1),
                reason="the hospital moved the list",
            ),
        )
    finally:
        mine.close()
        theirs.close()
    assert isinstance(refused, Refusal)
    assert refused.fields == {
        "scheduled_start": f"another case on {tomorrow.date()} already has this case's family "
        f"code {case.family_code}; cancel this booking and book the patient again for that day"
    }
    assert len(load(db_url, case.case_id)) == 1


def test_two_processes_drawing_one_family_code_for_a_day_give_two_codes(db_url: str) -> None:
    """The code is checked in the opening's own transaction, not read beforehand: a second
    store (as another process has) that draws a code the day already holds is refused
    there and draws again."""
    start = suite_now().replace(microsecond=0) + timedelta(hours=2)
    stores = [open_store(db_url) for _ in range(2)]
    try:
        # The same seed: both draw the same first code.
        services = [CaseService(s, clock=suite_now, rng=random.Random(7)) for s in stores]
        cases = [
            service.open_case(booking(f"H-code-{n}", start + timedelta(minutes=30 * n)))
            for n, service in enumerate(services)
        ]
    finally:
        for store in stores:
            store.close()
    first, second = cases
    assert not isinstance(first, Refusal)
    assert not isinstance(second, Refusal)
    seeded, alphabet = random.Random(7), "ACDEFGHJKMNPQRTUVWXY34679"
    assert first.family_code == "".join(seeded.choice(alphabet) for _ in first.family_code)
    assert second.family_code != first.family_code
    assert len(load(db_url, second.case_id)) == 1


def test_a_writer_behind_another_process_is_not_refused_on_its_stale_copy(db_url: str) -> None:
    """A gate met by another process's write counts, though this process has not seen it."""
    case_id, _ = seed_case(db_url, stop_before="sign_in", mrn="H-stale")
    script = {p.step: p.data for p in day_script(LEVELS, suite_now(), random.Random(0))}
    here, there = open_store(db_url), open_store(db_url)
    try:
        mine, theirs = CaseService(here, clock=suite_now), CaseService(there, clock=suite_now)
        # This process's copy of the case is warm after its own write ...
        assert isinstance(
            record(mine, case_id, "preop_vitals", script["preop_vitals"]), StepRecorded
        )
        # ... and falls behind when another process records the WHO Sign In.
        assert isinstance(record(theirs, case_id, "sign_in", script["sign_in"]), StepRecorded)
        entered = record(mine, case_id, "in_room")
        assert isinstance(entered, StepRecorded), entered
        # And the reverse: a duplicate made elsewhere is refused here, not stored twice.
        again = record(theirs, case_id, "in_room")
        assert isinstance(again, Refusal)
        assert again.kind == "duplicate"
    finally:
        here.close()
        there.close()
    assert [e.seq for e in load(db_url, case_id)][-2:] == [entered.seq - 1, entered.seq]


def test_a_remembered_chain_end_that_never_committed_is_not_chained_onto(db_url: str) -> None:
    """A store skips reading the chain's end when it wrote it last; the database checks it.

    Store A's append of seq 2 is undone as a failed COMMIT would leave it, store B (another
    process) then stores a different seq 2, and A goes on from what it remembers: the
    index row's hash must refuse that, or the chain would fork.
    """
    case_id = "race-remembered"
    first, second = SqlEventStore(make_engine(db_url)), SqlEventStore(make_engine(db_url))
    try:
        first.append([opened(case_id)], expected_seq=0)
        opened_hash = _index(db_url, case_id)
        first.append([recorded(case_id, 2, eid="a-2")], expected_seq=1)
        with first.engine.begin() as conn:  # as if that COMMIT had failed
            conn.execute(
                events_table.delete().where(
                    events_table.c.case_id == case_id, events_table.c.seq == 2
                )
            )
            conn.execute(
                cases_table.update()
                .where(cases_table.c.case_id == case_id)
                .values(last_seq=1, last_hash=opened_hash)
            )
        second.append([recorded(case_id, 2, eid="b-2")], expected_seq=1)
        with pytest.raises(ConcurrencyError):
            first.append([recorded(case_id, 3, eid="a-3")], expected_seq=2)
        first.append([recorded(case_id, 3, eid="a-3")], expected_seq=2)  # reads the end now
        assert [e.event_id for e in first.load(case_id)] == [f"{case_id}-e1", "b-2", "a-3"]
        assert first.verify() == []
    finally:
        first.close()
        second.close()


def _index(url: str, case_id: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.select(cases_table.c.last_hash).where(cases_table.c.case_id == case_id)
            ).scalar_one()
    finally:
        engine.dispose()
    return str(found)


@pytest.fixture(params=BACKENDS, scope="module")
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Server]]:
    """`daycase serve` on a SQLite file; two of them on one PostgreSQL database.

    One module-wide database per backend keeps the servers' start-up out of each test;
    every test works on cases of its own.
    """
    tmp_path = tmp_path_factory.mktemp(f"servers-{request.param}")
    with database(request.param, tmp_path) as url, ExitStack() as stack:
        found = [stack.enter_context(run_server(url, tmp_path))]
        if request.param == "postgres":
            found.append(stack.enter_context(run_server(url, tmp_path, users=False)))
        yield found


def test_clients_racing_over_http_lose_and_duplicate_nothing(servers: list[Server]) -> None:
    """Sixteen clients at once; on PostgreSQL split across two server processes."""
    db_url = servers[0].db_url
    case_id, before = seed_case(db_url, stop_before="pacu_vitals", mrn="H-race-http")
    tokens = [server.token("nurse") for server in servers]
    accepted: list[Accepted] = []

    def client_body(writer: int) -> None:
        server = servers[writer % len(servers)]
        token = tokens[writer % len(servers)]
        with server.client(token) as client:
            for entry in range(RECORDS_PER_CLIENT):
                data = vitals(writer, entry)
                r = client.post(
                    f"/api/v1/cases/{case_id}/events",
                    json={"step": "pacu_vitals", "at": suite_now().isoformat(), "data": data},
                )
                assert r.status_code == 201, r.text
                body = r.json()
                accepted.append(Accepted(marker_of(data), body["event_id"], body["seq"]))

    race(HTTP_CLIENTS, client_body)
    assert len(accepted) == HTTP_CLIENTS * RECORDS_PER_CLIENT
    assert_stored_exactly_once(db_url, case_id, accepted, before=before)
    # Every server answers the same history.
    for server in servers:
        with server.client(server.token("nurse")) as client:
            r = client.get(f"/api/v1/cases/{case_id}/events")
        assert [e["event_id"] for e in r.json()[before:]] == [
            a.event_id for a in sorted(accepted, key=lambda a: a.seq)
        ]
    verify_with_cli(db_url)


def race_in_room_over_http(servers: list[Server], case_id: str) -> list[tuple[int, Any]]:
    """Two clients (one per server where there are two) record `in_room` at the same instant."""
    with ExitStack() as stack:
        clients = [
            stack.enter_context(s.client(s.token("nurse"))) for s in (servers[0], servers[-1])
        ]

        def post(i: int) -> tuple[int, Any]:
            r = clients[i].post(
                f"/api/v1/cases/{case_id}/events",
                json={"step": "in_room", "at": suite_now().isoformat()},
            )
            return r.status_code, r.json()

        return race(len(clients), post)


def test_a_once_step_raced_over_http_is_accepted_exactly_once(servers: list[Server]) -> None:
    db_url = servers[0].db_url
    for attempt in range(3):
        case_id, before = seed_case(db_url, stop_before="in_room", mrn=f"H-once-http-{attempt}")
        answers = race_in_room_over_http(servers, case_id)
        assert sorted(status for status, _ in answers) == [201, 409], answers
        stored = next(body for status, body in answers if status == 201)
        assert stored["seq"] == before + 1
        at = datetime.fromisoformat(stored["at"])
        refusal = next(body for status, body in answers if status == 409)
        assert refusal == {
            "kind": "duplicate",
            "messages": [f"In room is already recorded (at {at:%H:%M}); amend it instead"],
            "fields": {},
        }
    store = open_store(db_url)
    try:
        assert store.verify() == []
    finally:
        store.close()


def test_a_gate_met_through_one_server_holds_on_the_other(servers: list[Server]) -> None:
    """Each server keeps a warm copy of the case; the other's writes still count at once."""
    if len(servers) < 2:
        pytest.skip("two server processes share a database on PostgreSQL")
    db_url = servers[0].db_url
    case_id, _ = seed_case(db_url, stop_before="sign_in", mrn="H-two-servers")
    script = {p.step: p.data for p in day_script(LEVELS, suite_now(), random.Random(0))}
    first, second = servers

    def post(server: Server, step: str) -> Any:
        with server.client(server.token("nurse")) as client:
            at = suite_now().isoformat()
            return client.post(
                f"/api/v1/cases/{case_id}/events",
                json={"step": step, "at": at, "data": script.get(step, {})},
            )

    assert post(first, "preop_vitals").status_code == 201  # the first server's copy is warm
    assert post(second, "sign_in").status_code == 201
    r = post(first, "in_room")
    assert r.status_code == 201, r.text
    r = post(second, "in_room")
    assert r.status_code == 409
    assert r.json()["kind"] == "duplicate"
