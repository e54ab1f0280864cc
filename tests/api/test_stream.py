"""Live updates over Server-Sent Events against real servers (issue 3, item 6).

A staff stream carries board rows, a viewer's only family rows, both within a second of
the write; idle streams carry heartbeats; only a bearer header signs a stream in. On
PostgreSQL two `daycase serve` processes share one database and each delivers what was
recorded through the other (LISTEN/NOTIFY).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import BACKENDS, database
from tests.support.recovery import in_recovery_since
from tests.support.server import Server, run_server

HEARTBEAT_S = 0.25
FAMILY_KEYS = {"family_code", "status", "colour", "minutes_in_status", "note"}


@dataclass(frozen=True, slots=True)
class Sse:
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class EventStream:
    """Reads one open SSE response event by event, with deadlines."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.iter_lines()
        self.hello: Any = None

    def next(self, *, within_s: float) -> Sse:
        deadline = time.monotonic() + within_s
        event, data = "message", list[str]()
        for line in self._lines:
            if line == "":
                if data:
                    return Sse(event, "\n".join(data))
                event = "message"
            elif not line.startswith(":"):  # a comment (sse-starlette's keep-alive ping)
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)
            if time.monotonic() > deadline:
                raise AssertionError(f"no complete event within {within_s} s")
        raise EOFError("the server ended the stream")

    def rest(self, *, within_s: float) -> list[Sse]:
        """Every event until the server ends the stream; fails if it is still open in time."""
        deadline = time.monotonic() + within_s
        seen: list[Sse] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                seen.append(self.next(within_s=left))
            except EOFError:
                return seen
        raise AssertionError(f"the stream stayed open for {within_s} s; saw {seen}")

    def until(self, wanted: Callable[[Sse], bool], *, within_s: float) -> Sse:
        """The first event that is `wanted`; fails when none comes in time."""
        deadline = time.monotonic() + within_s
        seen: list[Sse] = []
        while (left := deadline - time.monotonic()) > 0:
            sse = self.next(within_s=left)
            if wanted(sse):
                return sse
            seen.append(sse)
        raise AssertionError(f"nothing wanted within {within_s} s; saw {seen}")


def stream_client(server: Server, token: str | None) -> httpx.Client:
    """A client whose reads give up soon: heartbeats keep a healthy stream talking."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=httpx.Timeout(10, read=5))


@contextmanager
def subscribe(server: Server, token: str) -> Iterator[EventStream]:
    """An open stream whose `hello` has arrived: from here on it receives every change."""
    with (
        stream_client(server, token) as client,
        client.stream("GET", "/api/v1/stream") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = EventStream(response)
        hello = stream.next(within_s=5)
        assert hello.event == "hello"
        stream.hello = hello.json()
        yield stream


def open_and_check_in(server: Server, *, mrn: str) -> tuple[str, str, float]:
    """A new case checked in through `server`: its id, family code, and when the answer came."""
    now = server.now()
    with server.client(server.token("front_desk")) as desk:
        r = desk.post(
            "/api/v1/cases",
            json={
                "patient": {
                    "mrn": mrn,
                    "given_name": "Ada",
                    "family_name": "Lane",
                    "birth_date": "1944-05-17",
                    "sex": "female",
                },
                "levels": ["T12"],
                "scheduled_start": (now + timedelta(hours=1)).isoformat(),
            },
        )
        assert r.status_code == 201, r.text
        case_id, family_code = r.json()["id"], r.json()["family_code"]
        r = desk.post(
            f"/api/v1/cases/{case_id}/events",
            json={
                "step": "check_in",
                "at": now.isoformat(),
                "data": {
                    "identity_confirmed": True,
                    "consent_signed": True,
                    "last_solids_at": (now - timedelta(hours=10)).isoformat(),
                    "last_clear_fluids_at": (now - timedelta(hours=3)).isoformat(),
                },
            },
        )
        assert r.status_code == 201, r.text
    return case_id, family_code, time.monotonic()


def is_heartbeat(sse: Sse) -> bool:
    return sse.event == "heartbeat"


def checked_in(case_id: str) -> Callable[[Sse], bool]:
    def wanted(sse: Sse) -> bool:
        if sse.event != "case":
            return False
        row = sse.json()["row"]
        return bool(row["case_id"] == case_id and row["phase"] == "pre_op")

    return wanted


@pytest.fixture(params=BACKENDS, scope="module")
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Server]]:
    """One server on SQLite; two on one PostgreSQL database (changes cross processes there)."""
    tmp_path: Path = tmp_path_factory.mktemp(f"stream-{request.param}")
    env = {"DAYCASE_HEARTBEAT_SECONDS": str(HEARTBEAT_S)}
    with database(request.param, tmp_path) as url, ExitStack() as stack:
        found = [stack.enter_context(run_server(url, tmp_path, env=env))]
        if request.param == "postgres":
            found.append(stack.enter_context(run_server(url, tmp_path, env=env, users=False)))
        yield found


def test_a_recorded_step_reaches_a_staff_stream_within_a_second(servers: list[Server]) -> None:
    server = servers[0]
    with subscribe(server, server.token("nurse")) as stream:
        assert stream.hello == {"audience": "staff"}
        case_id, family_code, answered_at = open_and_check_in(server, mrn="H-stream-1")
        sse = stream.until(checked_in(case_id), within_s=5)
        delay_s = time.monotonic() - answered_at
    assert delay_s < 1.0
    body = sse.json()
    assert body["type"] == "case"
    row = body["row"]
    assert row["patient_name"] == "Ada Lane"
    assert row["family_code"] == family_code
    assert row["levels"] == ["T12"]
    assert row["phase_title"] == "Pre-op"
    assert row["family_status"] == "Getting ready"
    assert body["date"] == row["scheduled_start"][:10]


def test_an_idle_stream_sends_heartbeats(servers: list[Server]) -> None:
    server = servers[0]
    with subscribe(server, server.token("anesthesia")) as stream:
        started = time.monotonic()
        beats = [stream.until(is_heartbeat, within_s=2) for _ in range(3)]
        elapsed_s = time.monotonic() - started
    for beat in beats:
        assert datetime.fromisoformat(beat.data).tzinfo is not None
    # Spaced by the setting (the default is 15 s), not sent back to back.
    assert 2 * HEARTBEAT_S <= elapsed_s < 3.0


def test_a_viewer_stream_carries_only_family_rows(servers: list[Server]) -> None:
    server = servers[0]
    with server.client(server.token("viewer")) as viewer:
        r = viewer.get("/api/v1/board")
        assert r.status_code == 403  # the staff board is not for the waiting room
    with subscribe(server, server.token("viewer")) as stream:
        assert stream.hello == {"audience": "family"}
        case_id, family_code, _ = open_and_check_in(server, mrn="H-stream-secret-77")
        seen: list[Sse] = []

        def getting_ready(sse: Sse) -> bool:
            seen.append(sse)
            row = sse.json()["row"] if sse.event == "case" else {}
            return bool(row.get("family_code") == family_code and row["status"] == "Getting ready")

        stream.until(getting_ready, within_s=5)
    cases = [s for s in seen if s.event == "case"]
    assert cases
    for sse in cases:
        body = sse.json()
        assert set(body) == {"type", "date", "row"}
        assert set(body["row"]) == FAMILY_KEYS
        for secret in (case_id, "Ada", "Lane", "H-stream-secret-77", "T12", "1944", "alert"):
            assert secret not in sse.data
    assert {s.event for s in seen} <= {"case", "heartbeat"}


def test_a_stream_needs_a_bearer_token_never_one_in_the_url(servers: list[Server]) -> None:
    server = servers[0]
    token = server.token("nurse")
    attempts: list[tuple[str | None, str]] = [
        (None, "/api/v1/stream"),
        ("not-a-real-token", "/api/v1/stream"),
        (None, f"/api/v1/stream?token={token}"),
        (None, f"/api/v1/stream?access_token={token}"),
        (None, f"/api/v1/stream?authorization=Bearer%20{token}"),
    ]
    for bearer, path in attempts:
        with (
            stream_client(server, bearer) as client,
            client.stream("GET", path) as response,
        ):
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == "Bearer"
            response.read()
            assert response.json()["kind"] == "auth"


def test_a_stream_ends_when_its_sign_in_does(servers: list[Server]) -> None:
    server = servers[0]
    token = server.sign_in("nurse")
    with subscribe(server, token) as stream:
        assert stream.next(within_s=2).event == "heartbeat"
        with server.client(token) as client:
            assert client.post("/api/v1/auth/logout").status_code == 204
        signed_out_at = time.monotonic()
        last = stream.rest(within_s=3)
        # Checked again within a heartbeat interval or so, busy or idle.
        assert time.monotonic() - signed_out_at < 4 * HEARTBEAT_S + 1.0
        assert {sse.event for sse in last} <= {"heartbeat"}


def test_both_servers_deliver_a_change_recorded_through_either(servers: list[Server]) -> None:
    if len(servers) < 2:
        pytest.skip("changes cross server processes on PostgreSQL (LISTEN/NOTIFY) only")
    first, second = servers
    with (
        subscribe(first, first.token("nurse")) as on_first,
        subscribe(second, second.token("proceduralist")) as on_second,
    ):
        for writer in (first, second):
            case_id, _, answered_at = open_and_check_in(writer, mrn=f"H-both-{writer.url}")
            for stream in (on_first, on_second):
                stream.until(checked_in(case_id), within_s=5)
                assert time.monotonic() - answered_at < 1.0


def alert_codes(sse: Sse) -> set[str]:
    return {alert["code"] for alert in sse.json()["row"]["alerts"]}


def test_an_alert_that_starts_by_the_clock_reaches_an_open_board(servers: list[Server]) -> None:
    """Nobody records anything: recovery vitals fall overdue and the board hears of it."""
    server = servers[-1]
    # Vitals are overdue more than 15 min after arrival in recovery: in 6 s from now.
    arrival_at = server.now() - timedelta(minutes=15) + timedelta(seconds=6)
    case_id = in_recovery_since(server.db_url, arrival_at)
    day = (arrival_at - timedelta(minutes=30)).date().isoformat()
    with subscribe(server, server.token("nurse")) as stream:
        with server.client(server.token("nurse")) as client:
            r = client.get("/api/v1/board", params={"date": day})
        assert r.status_code == 200, r.text
        (row,) = [row for row in r.json() if row["case_id"] == case_id]
        assert "vitals_overdue" not in {alert["code"] for alert in row["alerts"]}

        sse = stream.until(
            lambda e: (
                e.event == "case"
                and e.json()["row"]["case_id"] == case_id
                and "vitals_overdue" in alert_codes(e)
            ),
            within_s=20,
        )
        arrived_s = (server.now() - arrival_at).total_seconds()

    assert sse.json()["date"] == day
    # Within about a tick (one second) of the instant it started, 15 min after arrival.
    assert 15 * 60 <= arrived_s < 15 * 60 + 5
