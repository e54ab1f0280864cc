"""Users, sign-in and bearer tokens (service room).

Passwords are hashed with argon2. Tokens are random, stored only as a SHA-256, expire
after a shift and are revoked at sign-out. Failed sign-ins are counted per user name
typed, whether or not that user exists, so the answers never tell which names exist:
after a few failures each answer is slowed, after more the name is refused for a while.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from daycase.config import Settings
from daycase.services.cases import Clock
from daycase.store.accounts import FailureRow, SqlAccounts, UserExists, UserRow

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
MIN_PASSWORD = 8
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user name is unknown, so both answers take the same time.

    Made on first use, not at import: hashing costs a fifth of a second, and every CLI
    command and server start imports this module.
    """
    return _HASHER.hash("daycase-no-such-user")


class AccountError(ValueError):
    """A user command that cannot be done; the message says why, in plain words."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class Token:
    access_token: str
    expires_at: datetime
    user: User


@dataclass(frozen=True, slots=True)
class SignInRefused:
    """`locked` answers 429 with `retry_after_s`; otherwise 401. `delay_s` slows either."""

    locked: bool
    delay_s: float
    retry_after_s: int = 0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def failure_key(name: str) -> str:
    """The row failed sign-ins are counted under: the name itself, when a user may have it.

    Any other text typed (control characters, NUL bytes, 60 KiB of it) is counted under a
    digest that no user name can equal, so it is throttled the same way without storing it.
    """
    if NAME_RE.match(name):
        return name
    return "~" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


class AccountService:
    def __init__(
        self, accounts: SqlAccounts, *, settings: Settings, roles: set[str], clock: Clock
    ) -> None:
        self.accounts = accounts
        self.settings = settings
        self.roles = roles
        self.clock = clock
        self._cache: dict[str, tuple[User, datetime, float]] = {}
        self._lock = threading.Lock()

    def prepare(self) -> None:
        """Make the stand-in hash now, so the first unknown name is not answered faster."""
        _dummy_hash()

    def add_user(self, name: str, *, role: str, password: str) -> User:
        if not NAME_RE.match(name):
            raise AccountError(
                "user name: 1 to 64 letters, digits, dots, dashes or underscores, starting "
                "with a letter or digit"
            )
        if role not in self.roles:
            raise AccountError(f"role: must be one of {', '.join(sorted(self.roles))}")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"password: at least {MIN_PASSWORD} characters")
        try:
            self.accounts.add_user(
                name=name, role=role, password_hash=_HASHER.hash(password), created_at=self.clock()
            )
        except UserExists as exc:
            raise AccountError(f"user {name} already exists") from exc
        return User(name, role)

    def set_password(self, name: str, password: str) -> None:
        """Give an existing user a new password (and enable them again)."""
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"password: at least {MIN_PASSWORD} characters")
        if not self.accounts.set_password(name, password_hash=_HASHER.hash(password)):
            raise AccountError(f"no user {name}")

    def users(self) -> list[UserRow]:
        return self.accounts.users()

    def disable(self, name: str) -> None:
        """Disable a user and end every sign-in they have."""
        if not self.accounts.set_disabled(name, disabled=True):
            raise AccountError(f"no user {name}")
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v[0].name != name}

    def sign_in(self, name: str, password: str) -> Token | SignInRefused:
        now = self.clock()
        s = self.settings
        key = failure_key(name)
        failures = self.accounts.failures(key)
        locked = self._locked(failures, now)
        if locked is not None:
            return locked
        # A name no user can have is not looked up (PostgreSQL refuses NUL bytes in text),
        # but it is verified and counted like any other unknown name.
        user = self.accounts.user(name) if NAME_RE.match(name) else None
        if not _verify(user.password_hash if user else _dummy_hash(), password) or not user:
            return self._failed(key, failures, now)
        if user.disabled:
            return self._failed(key, failures, now)
        if failures:
            self.accounts.clear_failures(key)
        token = secrets.token_urlsafe(32)
        expires = now + timedelta(hours=s.token_ttl_hours)
        self.accounts.add_token(
            token_hash=token_hash(token), user_name=name, issued_at=now, expires_at=expires
        )
        return Token(token, expires, User(user.name, user.role))

    def check_guess(self, key: str) -> SignInRefused | None:
        """For other guessable look-ups (a family code with a birth date): refused while
        `key` is locked, else None. Record a wrong guess with `note_failure`."""
        return self._locked(self.accounts.failures(failure_key(key)), self.clock())

    def note_failure(self, key: str) -> SignInRefused:
        """Count a wrong guess for `key` exactly as a failed sign-in is counted."""
        digest = failure_key(key)
        return self._failed(digest, self.accounts.failures(digest), self.clock())

    @staticmethod
    def _locked(failures: FailureRow | None, now: datetime) -> SignInRefused | None:
        if failures and failures.locked_until and failures.locked_until > now:
            retry = int((failures.locked_until - now).total_seconds()) + 1
            return SignInRefused(locked=True, delay_s=0, retry_after_s=retry)
        return None

    def _failed(self, name: str, before: FailureRow | None, now: datetime) -> SignInRefused:
        s = self.settings
        # A quiet spell resets the count, so one typo a week never locks anybody out.
        stale = before is None or now - before.last_failed_at > timedelta(
            minutes=s.login_lock_minutes
        )
        count = 1 if stale or before is None else before.failures + 1
        locked_until = None
        if count >= s.login_lock_after:
            locked_until = now + timedelta(minutes=s.login_lock_minutes)
        self.accounts.save_failures(name, FailureRow(count, now, locked_until))
        delay = (
            0.0
            if count < s.login_slow_after
            else min(0.25 * 2 ** (count - s.login_slow_after), 2.0)
        )
        if locked_until is not None:
            retry = int((locked_until - now).total_seconds())
            return SignInRefused(locked=True, delay_s=delay, retry_after_s=retry)
        return SignInRefused(locked=False, delay_s=delay)

    def cached_user(self, token: str) -> User | None:
        """The user for a token this process checked moments ago, without asking the database.

        None means "ask `user_for_token`", not "refused": async callers use this to skip a
        thread hop on the hot path.
        """
        with self._lock:
            cached = self._cache.get(token_hash(token))
        if (
            cached
            and cached[1] > self.clock()
            and time.monotonic() - cached[2] < self.settings.token_cache_seconds
        ):
            return cached[0]
        return None

    def user_for_token(self, token: str) -> User | None:
        """The signed-in user for a bearer token, or None (unknown, expired, revoked, disabled)."""
        cached = self.cached_user(token)
        if cached is not None:
            return cached
        digest = token_hash(token)
        now = self.clock()
        found = self.accounts.token_user(digest)
        if found is None:
            return None
        row, expires, revoked = found
        if revoked or expires <= now or row.disabled:
            with self._lock:
                self._cache.pop(digest, None)
            return None
        user = User(row.name, row.role)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (user, expires, time.monotonic())
        return user

    def sign_out(self, token: str) -> None:
        digest = token_hash(token)
        self.accounts.revoke_token(digest, at=self.clock())
        with self._lock:
            self._cache.pop(digest, None)


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
