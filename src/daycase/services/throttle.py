"""Guessing throttles and device cookies, after OWASP's "device cookies" (service room).

A browser that signed in as a user before carries a device cookie signed for that user:
its attempts are judged on their own and never refused because of other people's
failures. Everyone else (untrusted clients) is counted per user name and per client
address. Counts are leaky buckets: a failure adds one, time forgives them at one per
`lock_s / lock_after` seconds; from `slow_after` answers slow down, at `lock_after` the key
is refused for `lock_s`. Only failures against real users are stored (one row a user, by
the account service); everything else is counted here, in bounded per-process memory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachetools import TTLCache

from daycase.services.cases import Clock
from daycase.store.accounts import FailureRow

MAX_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    slow_after: int
    lock_after: int
    lock_s: float

    def level(self, row: FailureRow | None, now: datetime) -> int:
        """The count `row` stands at now, after time has forgiven what it may."""
        if row is None:
            return 0
        forgiven = (now - row.last_failed_at).total_seconds() * self.lock_after / self.lock_s
        return max(0, math.ceil(row.failures - forgiven))

    def fail(self, row: FailureRow | None, now: datetime) -> FailureRow:
        """The row after one more failure: locked for `lock_s` when it reaches `lock_after`."""
        count = self.level(row, now) + 1
        locked = now + timedelta(seconds=self.lock_s) if count >= self.lock_after else None
        return FailureRow(count, now, locked)

    def delay_s(self, row: FailureRow | None, now: datetime) -> float:
        level = self.level(row, now)
        return 0.0 if level < self.slow_after else min(0.25 * 2 ** (level - self.slow_after), 2.0)


def locked_for_s(row: FailureRow | None, now: datetime) -> int:
    """Whole seconds left of the row's lock (0 when it is not locked)."""
    if row is None or row.locked_until is None or row.locked_until <= now:
        return 0
    return math.ceil((row.locked_until - now).total_seconds())


class Counts:
    """Failure rows per key in a bounded LRU that forgets a key after a quiet `lock_s`.

    Per process: several server processes each count on their own, which a centre's one
    `daycase serve` does not notice; the rows that matter most (real users) are shared.
    """

    def __init__(self, limits: Limits, *, clock: Clock, max_keys: int = MAX_KEYS) -> None:
        self.limits = limits
        self._clock = clock
        self._rows: TTLCache[str, FailureRow] = TTLCache(
            maxsize=max_keys, ttl=limits.lock_s, timer=lambda: clock().timestamp()
        )
        self._lock = threading.Lock()

    def get(self, key: str) -> FailureRow | None:
        with self._lock:
            return self._rows.get(key)

    def fail(self, key: str) -> FailureRow:
        now = self._clock()
        with self._lock:
            row = self.limits.fail(self._rows.get(key), now)
            self._rows[key] = row
        return row

    def clear(self, key: str) -> None:
        with self._lock:
            self._rows.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)


@dataclass(frozen=True, slots=True)
class DeviceCookie:
    value: str
    nonce: str


class DeviceCookies:
    """Signed cookies `issued.nonce.signature` bound to a purpose and a subject (a user
    name, a family code) with an HMAC key the server keeps; they expire after `ttl`."""

    def __init__(self, key: bytes, *, ttl: timedelta) -> None:
        self._key = key
        self._ttl = ttl

    def issue(self, purpose: str, subject: str, now: datetime) -> DeviceCookie:
        nonce = secrets.token_urlsafe(12)
        body = f"{int(now.timestamp())}.{nonce}"
        return DeviceCookie(f"{body}.{self._sign(purpose, subject, body)}", nonce)

    def check(self, purpose: str, subject: str, value: str | None, now: datetime) -> str | None:
        """The cookie's nonce if it is genuine, for this subject and still in date."""
        if not value or len(value) > 200:
            return None
        issued, _, rest = value.partition(".")
        nonce, _, signature = rest.partition(".")
        if not (issued.isdigit() and nonce and signature):
            return None
        body = f"{issued}.{nonce}"
        if not hmac.compare_digest(signature, self._sign(purpose, subject, body)):
            return None
        age = now.timestamp() - int(issued)
        return nonce if -86_400 < age < self._ttl.total_seconds() else None

    def _sign(self, purpose: str, subject: str, body: str) -> str:
        message = f"{purpose}\x00{subject}\x00{body}".encode("utf-8", "surrogatepass")
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
