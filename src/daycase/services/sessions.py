"""Signed-in sessions: who a token is, the idle timeout and a per-process cache (service room).

A token is refused once revoked, past its shift-long expiry, or unused for
`session_idle_minutes`. Use is remembered in memory and written to the database by a
background thread, at most once a minute per token, so no request waits for (or fails
on) that write; the cache never serves a token past its idle time.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from daycase.config import Settings
from daycase.services.cases import Clock
from daycase.store.accounts import SqlAccounts

log = logging.getLogger(__name__)
_CACHE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(slots=True)
class _Seen:
    """A token this process checked: when, and the latest use it knows of."""

    user: User
    expires_at: datetime
    checked: float
    seen_at: datetime


class Sessions:
    def __init__(self, accounts: SqlAccounts, *, settings: Settings, clock: Clock) -> None:
        self.accounts = accounts
        self.clock = clock
        self.idle = timedelta(minutes=settings.session_idle_minutes)
        # Use is written at most this often per token, by the background flush.
        self.touch_every = min(timedelta(minutes=1), self.idle / 4)
        self._cache_s = settings.token_cache_seconds
        self._cache: dict[str, _Seen] = {}
        self._pending: dict[str, datetime] = {}
        self._flusher: threading.Thread | None = None
        self._lock = threading.Lock()

    def cached_user(self, token: str, *, active: bool = True) -> User | None:
        """The user for a token this process checked moments ago, without asking the database.

        None means "ask `user_for_token`", not "refused": async callers use this to skip a
        thread hop on the hot path. `active` counts the call as use of the session.
        """
        now = self.clock()
        with self._lock:
            seen = self._cache.get(token_hash(token))
            if (
                seen is None
                or seen.expires_at <= now
                or time.monotonic() - seen.checked >= self._cache_s
                or now - seen.seen_at > self.idle
            ):
                return None
            if active:
                seen.seen_at = max(seen.seen_at, now)
            return seen.user

    def user_for_token(self, token: str, *, active: bool = True) -> User | None:
        """The signed-in user for a token, or None (unknown, expired, idle, revoked, disabled).

        `active=False` checks without counting as use (a live stream's periodic re-check).
        """
        cached = self.cached_user(token, active=active)
        if cached is not None:
            return cached
        user, _ = self._check(token, active=active)
        return user

    def ended_because(self, token: str) -> str | None:
        """Returns "idle" when the session ended unused, so a page can say why; else None."""
        user, why = self._check(token, active=False)
        return why if user is None and why == "idle" else None

    def _check(self, token: str, *, active: bool) -> tuple[User | None, str]:
        digest = token_hash(token)
        now = self.clock()
        found = self.accounts.token_user(digest)
        with self._lock:
            known = self._cache.pop(digest, None)
        if found is None:
            return None, "unknown"
        if found.revoked or found.expires_at <= now or found.user.disabled:
            return None, "ended"
        last = max(found.last_seen_at, known.seen_at) if known else found.last_seen_at
        if now - last > self.idle:
            return None, "idle"
        seen = now if active else last
        user = User(found.user.name, found.user.role)
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[digest] = _Seen(user, found.expires_at, time.monotonic(), seen)
            if seen - found.last_seen_at >= self.touch_every:
                self._pending[digest] = seen
                self._start_flusher()
        return user, "ok"

    def _start_flusher(self) -> None:
        """Activity goes to the database from a background thread, so no request waits for
        (or fails on) that write; it runs while there is something to write."""
        if self._flusher is None or not self._flusher.is_alive():
            self._flusher = threading.Thread(
                target=self._flush_loop, name="daycase-activity", daemon=True
            )
            self._flusher.start()

    def _flush_loop(self) -> None:
        pause_s = min(5.0, self.touch_every.total_seconds() / 4)
        while True:
            time.sleep(pause_s)
            with self._lock:
                pending, self._pending = self._pending, {}
                if not pending:
                    self._flusher = None
                    return
            for digest, at in pending.items():
                try:
                    self.accounts.touch_token(digest, at=at)
                except Exception:  # a busy or gone database: the next use writes it again
                    log.warning("could not record a session's activity", exc_info=True)

    def forget(self, digest: str) -> None:
        """Drop a signed-out token from this process at once."""
        with self._lock:
            self._cache.pop(digest, None)
            self._pending.pop(digest, None)

    def forget_user(self, name: str) -> None:
        """Drop every token of a disabled user from this process at once."""
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v.user.name != name}
