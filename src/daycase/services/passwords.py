"""Password policy, argon2 hashing and the small thread pool it runs on (service room).

The policy follows NIST SP 800-63B: at least 12 characters, no upper limit short of
absurd, no composition rules, and a refusal of passwords found in breach corpora (an
offline list of 20,000, see data/NOTICE.md) or built from the user name. It applies when a
password is set; a user whose older password predates it still signs in.

Hashing is deliberately slow, so it runs on its own bounded pool: a flood of sign-ins
queues there (and beyond the queue is refused at once) instead of in the threads that
answer clinical requests.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import resources
from typing import ParamSpec, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
_HASHER = PasswordHasher()

P = ParamSpec("P")
T = TypeVar("T")


@functools.cache
def common_passwords() -> frozenset[str]:
    """The vendored list, lowercased; read on first use (it is 20,000 lines)."""
    data = resources.files("daycase.services").joinpath("data/common-passwords.txt.gz")
    text = gzip.decompress(data.read_bytes()).decode("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def password_problem(password: str, *, user_name: str = "") -> str | None:
    """Why this password may not be set, in words for the person choosing it; None if fine."""
    if len(password) < MIN_PASSWORD:
        return f"password: at least {MIN_PASSWORD} characters (a few words make a good one)"
    if len(password) > MAX_PASSWORD:
        return f"password: at most {MAX_PASSWORD} characters"
    lowered = password.lower()
    if lowered in common_passwords():
        return "password: this is one of the most common passwords, which are guessed first"
    if len(set(lowered)) < 4:
        return "password: uses too few different characters to be hard to guess"
    if len(user_name) >= 3 and user_name.lower() in lowered:
        return "password: must not contain the user name"
    if "daycase" in lowered:
        return "password: must not contain the name of this system"
    return None


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def dummy_hash() -> str:
    """Verified against when the user name is unknown, so both answers take the same time.

    Made on first use, not at import: hashing costs a fifth of a second, and every CLI
    command and server start imports this module.
    """
    return _HASHER.hash("daycase-no-such-user")


class HashingBusy(Exception):
    """Every password-checking thread is busy and the queue before them is full."""

    retry_after_s = 2


class HashPool:
    """`workers` threads for password checks, and room for `queue` more waiting.

    A caller beyond that is refused at once (`HashingBusy`) rather than queued: the
    answer to a flood is a quick 503, not a backlog that outlives it.
    """

    def __init__(self, *, workers: int, queue: int) -> None:
        self._workers = workers
        self._slots = threading.BoundedSemaphore(workers + queue)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        if not self._slots.acquire(blocking=False):
            raise HashingBusy
        try:
            future = self._executor().submit(fn, *args, **kwargs)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return future

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` on the pool and wait without holding any request thread."""
        return await asyncio.wrap_future(self.submit(fn, *args, **kwargs))

    def _executor(self) -> ThreadPoolExecutor:
        # Made on first use: CLI commands that never check a password start no thread.
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="daycase-hash")
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
