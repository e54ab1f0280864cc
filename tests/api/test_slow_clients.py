"""Slow and idle clients cannot take `daycase serve` down (issue 8, item 4).

A real server is held by a thousand connections that never finish their request (half a
request head, or nothing at all): a signed-in nurse still reads the board at once, the
slow connections are closed when the header timeout passes, a live stream outlasts that
timeout, and a server short of file descriptors closes the longest-waiting connection to
make room instead of refusing everyone.
"""

from __future__ import annotations

import os
import resource
import selectors
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.clock import centre_now
from tests.support.databases import database
from tests.support.server import Server, run_server

SLOW = 1000
PARTIAL_HEAD = b"GET /api/v1/cases HTTP/1.1\r\nHost: x\r\n"
HEADER_TIMEOUT_S = 5.0  # room for a busy machine to open 1,000 sockets before the check
BODY_TIMEOUT_S = 3.0
HEARTBEAT_S = 0.5
NURSE_WITHIN_S = 2.0


@pytest.fixture(scope="module", autouse=True)
def enough_descriptors() -> None:
    """This process holds the slow sockets: make sure its own limit allows them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * SLOW + 512
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"needs {wanted} file descriptors (ulimit -n is {hard})")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Short timeouts, and room for every slow connection, so only the timeouts act."""
    tmp_path = tmp_path_factory.mktemp("slow-clients")
    env = {
        "DAYCASE_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT_S),
        "DAYCASE_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_S),
        "DAYCASE_HEARTBEAT_SECONDS": str(HEARTBEAT_S),
        "DAYCASE_MAX_CONNECTIONS": str(2 * SLOW),
    }
    with database("sqlite", tmp_path) as url, run_server(url, tmp_path, env=env) as found:
        yield found


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def descriptors(server: Server) -> int:
    return len(os.listdir(f"/proc/{server.process.pid}/fd"))


@dataclass
class Slow:
    """One slow client: its socket, what it sent, when it connected."""

    sock: socket.socket
    sent: bytes
    opened_at: float


@contextmanager
def slow_clients(server: Server, count: int) -> Iterator[list[Slow]]:
    """`count` connections: every other one sends half a request head, the rest nothing."""
    with ExitStack() as stack:
        held: list[Slow] = []
        for i in range(count):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port_of(server))))
            sent = PARTIAL_HEAD if i % 2 == 0 else b""
            sock.sendall(sent)
            held.append(Slow(sock, sent, time.monotonic()))
        yield held


def wait_until_accepted(server: Server, count: int, *, within_s: float = 10) -> None:
    """The server itself holds the connections, not just the kernel's queue."""
    deadline = time.monotonic() + within_s
    while descriptors(server) < count:
        assert time.monotonic() < deadline, f"server holds {descriptors(server)} descriptors"
        time.sleep(0.05)


def closed_by_server(held: list[Slow], *, within_s: float) -> dict[int, tuple[bytes, float]]:
    """Read each socket to its end: index → (what the server sent, when it closed)."""
    found: dict[int, tuple[bytes, float]] = {}
    received: dict[int, bytes] = {}
    with selectors.DefaultSelector() as selector:
        for i, slow in enumerate(held):
            slow.sock.setblocking(False)
            selector.register(slow.sock, selectors.EVENT_READ, i)
        deadline = time.monotonic() + within_s
        while len(found) < len(held) and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(timeout=min(left, 0.5)):
                i = key.data
                try:
                    data = held[i].sock.recv(4096)
                except ConnectionResetError:
                    data = b""
                received[i] = received.get(i, b"") + data
                if not data:
                    found[i] = (received[i], time.monotonic())
                    selector.unregister(key.fileobj)
    return found


def board_read(server: Server, token: str) -> tuple[int, float]:
    """A nurse's board read on a fresh connection: status and seconds taken."""
    day = centre_now().date().isoformat()
    started = time.monotonic()
    with server.client(token) as nurse:
        r = nurse.get("/api/v1/cases", params={"date": day})
    return r.status_code, time.monotonic() - started


def heartbeats(response: httpx.Response) -> Iterator[float]:
    """When each heartbeat of an open live stream arrives."""
    for line in response.iter_lines():
        if line == "event: heartbeat":
            yield time.monotonic()


def test_a_nurse_is_answered_while_a_thousand_slow_connections_are_held(server: Server) -> None:
    token = server.token("nurse")
    with slow_clients(server, SLOW) as held:
        wait_until_accepted(server, SLOW)
        status, took_s = board_read(server, token)
        assert status == 200
        assert took_s < NURSE_WITHIN_S, f"the nurse waited {took_s:.2f} s"
        # The read was answered while every slow connection was still held ...
        with selectors.DefaultSelector() as selector:
            for slow in held:
                selector.register(slow.sock, selectors.EVENT_READ)
            assert selector.select(timeout=0) == []
        # ... and the header timeout then closes each of them, a 408 where a head was begun.
        closed = closed_by_server(held, within_s=HEADER_TIMEOUT_S + 10)
        assert len(closed) == SLOW, f"{SLOW - len(closed)} slow connections still open"
        for i, (answer, closed_at) in closed.items():
            waited_s = closed_at - held[i].opened_at
            assert waited_s > HEADER_TIMEOUT_S - 0.5, (i, waited_s)
            if held[i].sent:
                assert answer.startswith(b"HTTP/1.1 408 "), (i, answer)
                assert b"connection: close" in answer.lower()
            else:
                assert answer == b"", (i, answer)
    assert descriptors(server) < 100


def test_a_live_stream_outlasts_the_header_timeout(server: Server) -> None:
    """A stream has sent its whole head: no timeout of the server's ends it."""
    headers = {"Authorization": f"Bearer {server.token('nurse')}"}
    timeout = httpx.Timeout(10, read=5)
    with (
        httpx.Client(base_url=server.url, headers=headers, timeout=timeout) as client,
        client.stream("GET", "/api/v1/stream") as response,
    ):
        assert response.status_code == 200
        started = time.monotonic()
        for beat_at in heartbeats(response):
            if beat_at - started > max(HEADER_TIMEOUT_S, BODY_TIMEOUT_S) + 1:
                break
        else:
            pytest.fail("the stream ended before outlasting the timeouts")


def test_a_body_that_never_comes_is_cut_after_the_body_timeout(server: Server) -> None:
    head = (
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port_of(server))) as sock:
        sock.sendall(head + b"username=nurse&pass")
        held = [Slow(sock, head, time.monotonic())]
        closed = closed_by_server(held, within_s=BODY_TIMEOUT_S + 10)
    assert list(closed) == [0]
    _, closed_at = closed[0]
    assert closed_at - held[0].opened_at > BODY_TIMEOUT_S - 0.5


def test_an_oversized_request_head_is_refused_with_431(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as sock:
        sock.sendall(PARTIAL_HEAD + b"X-Padding: " + b"a" * 40_000)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]


def test_a_server_short_of_descriptors_makes_room_instead_of_failing(tmp_path: Path) -> None:
    """400 descriptors and a thousand idle connections: the oldest idle ones are closed.

    The header timeout is long here, so only the connection cap can save the server; a
    live stream (busy, not waiting on its client) is never the one closed.
    """
    env = {"DAYCASE_HEADER_TIMEOUT_SECONDS": "120", "DAYCASE_HEARTBEAT_SECONDS": str(HEARTBEAT_S)}
    with (
        database("sqlite", tmp_path) as url,
        run_server(url, tmp_path, env=env, nofile=400) as small,
    ):
        token = small.token("nurse")
        headers = {"Authorization": f"Bearer {token}"}
        timeout = httpx.Timeout(10, read=5)
        with (
            httpx.Client(base_url=small.url, headers=headers, timeout=timeout) as client,
            client.stream("GET", "/api/v1/stream") as response,
            slow_clients(small, SLOW) as held,
        ):
            status, took_s = board_read(small, token)
            assert status == 200
            assert took_s < NURSE_WITHIN_S, f"the nurse waited {took_s:.2f} s"
            assert next(heartbeats(response)) > 0
            assert small.process.poll() is None
            assert descriptors(small) <= 400
            # 400 descriptors, 100 of them kept back for the database and files.
            assert "file descriptors allow only 300 connections" in small.log()
            # The oldest idle connections made room; the newest are still held.
            closed = closed_by_server(held, within_s=2)
            assert len(closed) >= SLOW - 400
            assert max(closed) < SLOW - 100
