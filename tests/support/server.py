"""A real `daycase serve` process for API, SSE and page tests.

The server runs in its own process exactly as a centre would run it; tests talk to it
over loopback with httpx. Users are added straight through the account service on the
same database, which is what `daycase user add` does too.
"""

from __future__ import annotations

import functools
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from daycase.config import Settings
from daycase.services.passwords import hash_password
from daycase.services.runtime import open_runtime
from tests.support.clock import OFFSET, OFFSET_ENV, suite_now

PASSWORD = "correct horse battery"
# Every test client comes from 127.0.0.1, and a standard user's sign-in is kept for the
# whole suite (longer than a shift's idle timeout): the tests of those limits set their own.
SUITE_ENV = {"DAYCASE_SESSION_IDLE_MINUTES": "720", "DAYCASE_LOGIN_ADDRESS_LOCK_AFTER": "100000"}
ROLES = ["front_desk", "nurse", "anesthesia", "proceduralist", "admin", "viewer"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@functools.cache
def password_hash(password: str) -> str:
    """One argon2 hash per password for the whole suite: a hash takes a tenth of a second,
    and every server a test starts has six users (a fresh salt each proves nothing more)."""
    return hash_password(password)


def add_users(db_url: str, users: dict[str, str], *, password: str = PASSWORD) -> None:
    """Add users (name → role) to the database behind a server, as `daycase user add`
    stores them (the account service's own checks are tested in their own right)."""
    runtime = open_runtime(Settings(db=db_url, clock_offset_seconds=OFFSET.total_seconds()))
    try:
        for name, role in users.items():
            runtime.accounts.accounts.add_user(
                name=name,
                role=role,
                password_hash=password_hash(password),
                created_at=runtime.accounts.clock(),
            )
    finally:
        runtime.close()


@dataclass
class Server:
    url: str
    db_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, token: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]

    def sign_in(self, name: str, password: str = PASSWORD) -> str:
        with self.client() as c:
            r = c.post("/api/v1/auth/token", data={"username": name, "password": password})
        r.raise_for_status()
        token: str = r.json()["access_token"]
        return token

    def token(self, name: str) -> str:
        """A cached sign-in for one of the standard users (named after their role)."""
        if name not in self.tokens:
            self.tokens[name] = self.sign_in(name)
        return self.tokens[name]

    def now(self) -> datetime:
        """The server's clock: the suite's clock, unless the test gave it another offset."""
        return suite_now()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def run_server(
    db_url: str,
    log_dir: Path,
    *,
    env: dict[str, str] | None = None,
    users: bool = True,
    nofile: int | None = None,
) -> Iterator[Server]:
    """Start `daycase serve` on a free port; one user per role, named after the role.

    `nofile` caps the server's file descriptors (soft and hard), as a small host would.
    """
    if users:
        add_users(db_url, {role: role for role in ROLES})
    port = free_port()
    log_path = log_dir / f"server-{port}.log"
    full_env = {**os.environ, **OFFSET_ENV, **SUITE_ENV, **(env or {}), "DAYCASE_DB": db_url}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daycase", "serve", "--port", str(port), "--db", db_url],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            preexec_fn=None if nofile is None else _descriptor_limit(nofile),
        )
    server = Server(
        url=f"http://127.0.0.1:{port}", db_url=db_url, process=process, log_path=log_path
    )
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _descriptor_limit(nofile: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    return limit


def _wait_until_up(server: Server, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/openapi.json", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start:\n{server.log()}")
