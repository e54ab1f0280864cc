"""Users, sign-in, sessions and the guess throttle (service room).

Passwords are hashed with argon2 (`daycase.services.passwords`, on its own small pool).
Tokens are random, stored only as a SHA-256, expire after a shift, end after
`session_idle_minutes` unused, and are revoked at sign-out. Failed sign-ins are throttled
without letting a stranger lock out the owner (`daycase.services.throttle`): a browser
holding the user's device cookie is judged on its own; others are counted per user name
and per address, answers slowing and then refused for a while. The answers never tell
which user names exist.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from daycase.config import Settings
from daycase.services.cases import Clock
from daycase.services.passwords import (
    HashPool,
    dummy_hash,
    hash_password,
    password_problem,
    verify_password,
)
from daycase.services.sessions import Sessions, token_hash
from daycase.services.sessions import User as User  # the signed-in user, known by this name
from daycase.services.throttle import Counts, DeviceCookies, Limits, locked_for_s
from daycase.store.accounts import FailureRow, SqlAccounts, UserExists, UserRow

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
# Audit actions of sign-in (user_name is the account concerned; who acted is in detail).
SIGN_IN = "sign_in"
SIGN_IN_REFUSED = "sign_in_refused"
SIGN_IN_LOCKED = "sign_in_locked"
SIGN_IN_UNLOCKED = "sign_in_unlocked"
SIGN_OUT = "sign_out"


class AccountError(ValueError):
    """A user command that cannot be done; the message says why, in plain words."""


@dataclass(frozen=True, slots=True)
class Token:
    access_token: str
    expires_at: datetime
    user: User
    device_cookie: str = ""


@dataclass(frozen=True, slots=True)
class SignInRefused:
    """`locked` answers 429 with `retry_after_s`; otherwise 401. `delay_s` slows either.

    `by_address` tells a lock of the client's address from a lock of the user name.
    """

    locked: bool
    delay_s: float
    retry_after_s: int = 0
    by_address: bool = False


@dataclass(frozen=True, slots=True)
class Client:
    """Who is trying: their address and the device cookie they sent for this name or code."""

    address: str = "local"
    device: str | None = None


def csrf_for(session_token: str) -> str:
    """The CSRF value that goes with a session: another site can neither read nor guess it."""
    return hashlib.sha256(f"csrf:{session_token}".encode()).hexdigest()[:32]


def failure_key(name: str) -> str:
    """The key a typed name is counted under in memory: the name itself when a user may
    have it, else a digest (control characters, NUL bytes, 60 KiB of text are not kept)."""
    if NAME_RE.match(name):
        return name
    return "~" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def device_cookie_name(purpose: str, subject: str) -> str:
    """One cookie per user name (or family code) a browser was trusted for; the name
    carries a digest, so any typed text makes a valid cookie name and shows nothing."""
    digest = hashlib.sha256(f"{purpose}:{subject}".encode("utf-8", "surrogatepass"))
    return f"daycase_{purpose}_{digest.hexdigest()[:16]}"


class AccountService:
    def __init__(
        self, accounts: SqlAccounts, *, settings: Settings, roles: set[str], clock: Clock
    ) -> None:
        self.accounts = accounts
        self.settings = settings
        self.roles = roles
        self.clock = clock
        s = settings
        lock_s = s.login_lock_minutes * 60
        self.limits = Limits(s.login_slow_after, s.login_lock_after, lock_s)
        address = Limits(
            max(s.login_slow_after, s.login_address_lock_after // 2),
            s.login_address_lock_after,
            lock_s,
        )
        self.unknown_names = Counts(self.limits, clock=clock)
        self.devices = Counts(self.limits, clock=clock)
        self.addresses = Counts(address, clock=clock)
        self.lookups = Counts(address, clock=clock)
        self.hashing = HashPool(workers=s.hash_workers, queue=s.hash_queue)
        self.sessions = Sessions(accounts, settings=settings, clock=clock)
        self._cookies: DeviceCookies | None = None

    def prepare(self) -> None:
        """Make the stand-in hash now, so the first unknown name is not answered faster."""
        dummy_hash()

    # ------------------------------------------------------------ users

    def add_user(self, name: str, *, role: str, password: str) -> User:
        if not NAME_RE.match(name):
            raise AccountError(
                "user name: 1 to 64 letters, digits, dots, dashes or underscores, starting "
                "with a letter or digit"
            )
        if role not in self.roles:
            raise AccountError(f"role: must be one of {', '.join(sorted(self.roles))}")
        _check_password(password, name)
        try:
            self.accounts.add_user(
                name=name, role=role, password_hash=hash_password(password), created_at=self.clock()
            )
        except UserExists as exc:
            raise AccountError(f"user {name} already exists") from exc
        return User(name, role)

    def set_password(self, name: str, password: str) -> None:
        """Give an existing user a new password (and enable them again)."""
        _check_password(password, name)
        if not self.accounts.set_password(name, password_hash=hash_password(password)):
            raise AccountError(f"no user {name}")

    def users(self) -> list[UserRow]:
        return self.accounts.users()

    def locked_until(self) -> dict[str, datetime]:
        """Users whose sign-in from new browsers is refused now, and until when."""
        now = self.clock()
        return {
            name: row.locked_until
            for name, row in self.accounts.all_failures().items()
            if row.locked_until is not None and row.locked_until > now
        }

    def disable(self, name: str) -> None:
        """Disable a user and end every sign-in they have."""
        if not self.accounts.set_disabled(name, disabled=True):
            raise AccountError(f"no user {name}")
        self.sessions.forget_user(name)

    def change_role(self, name: str, role: str) -> None:
        """Give a user another role; every sign-in they have ends (sign in again)."""
        if role not in self.roles:
            raise AccountError(f"role: must be one of {', '.join(sorted(self.roles))}")
        if not self.accounts.set_role(name, role=role):
            raise AccountError(f"no user {name}")
        self.sessions.forget_user(name)

    def unlock(self, name: str, *, by: str) -> bool:
        """Let new browsers sign in as `name` again at once; whether it was locked or counted."""
        user = self.accounts.user(name) if NAME_RE.match(name) else None
        if user is None:
            raise AccountError(f"no user {name}")
        cleared = self.accounts.clear_failures(name)
        self._audit(user.name, user.role, SIGN_IN_UNLOCKED, f"by {by}")
        return cleared

    # ------------------------------------------------------------ sign-in

    def sign_in(
        self, name: str, password: str, *, client: Client | None = None
    ) -> Token | SignInRefused:
        """Check a password (slow: run it on `self.hashing` when serving)."""
        client = client or Client()
        now = self.clock()
        real = NAME_RE.match(name) is not None
        nonce = self._trusted(name, client.device, now) if real else None
        user = self.accounts.user(name) if real else None
        row = None
        if nonce is None:
            wait = locked_for_s(self.addresses.get(client.address), now)
            if wait:
                return SignInRefused(locked=True, delay_s=0, retry_after_s=wait, by_address=True)
            row = (
                self.accounts.failures(name) if user else self.unknown_names.get(failure_key(name))
            )
            wait = locked_for_s(row, now)
            if wait:
                return SignInRefused(locked=True, delay_s=0, retry_after_s=wait)
        if not verify_password(user.password_hash if user else dummy_hash(), password):
            return self._failed(name, user, row, client, nonce, "wrong password")
        if user is None or user.disabled:
            return self._failed(name, user, row, client, nonce, "account disabled")
        if nonce is not None:
            self.devices.clear(nonce)
        elif row is not None:
            self.accounts.clear_failures(name)
        token = secrets.token_urlsafe(32)
        expires = now + timedelta(hours=self.settings.token_ttl_hours)
        self.accounts.add_token(
            token_hash=token_hash(token), user_name=name, issued_at=now, expires_at=expires
        )
        known = "a browser it signed in on before" if nonce else "a new browser"
        self._audit(user.name, user.role, SIGN_IN, f"from {client.address}, {known}")
        cookie = self._device_cookies().issue("device", name, now).value
        return Token(token, expires, User(user.name, user.role), cookie)

    def _trusted(self, name: str, device: str | None, now: datetime) -> str | None:
        """The nonce of a genuine device cookie for `name` that has not itself been locked."""
        nonce = self._device_cookies().check("device", name, device, now) if device else None
        if nonce is None or locked_for_s(self.devices.get(nonce), now):
            return None
        return nonce

    def _failed(
        self,
        name: str,
        user: UserRow | None,
        before: FailureRow | None,
        client: Client,
        nonce: str | None,
        why: str,
    ) -> SignInRefused:
        now = self.clock()
        if nonce is not None:
            # A trusted browser's failures count against that browser alone.
            row = self.devices.fail(nonce)
            delay, by_address = self.limits.delay_s(row, now), False
        else:
            address = self.addresses.fail(client.address)
            if user is not None:
                row = self.limits.fail(before, now)
                self.accounts.save_failures(name, row)
            else:
                row = self.unknown_names.fail(failure_key(name))
            delay = max(self.limits.delay_s(row, now), self.addresses.limits.delay_s(address, now))
            by_address = bool(locked_for_s(address, now)) and not locked_for_s(row, now)
            row = row if not by_address else address
        wait = locked_for_s(row, now)
        if user is not None:
            self._audit(user.name, user.role, SIGN_IN_REFUSED, f"{why}, from {client.address}")
            if wait and nonce is None and not by_address:
                self._audit(
                    user.name,
                    user.role,
                    SIGN_IN_LOCKED,
                    f"new browsers refused for {wait} s after {row.failures} failed sign-ins",
                )
        return SignInRefused(
            locked=bool(wait), delay_s=delay, retry_after_s=wait, by_address=by_address
        )

    # ------------------------------------------------------------ guessable look-ups

    def lookup_refused(self, subject: str, client: Client) -> SignInRefused | None:
        """Refused while the client's address is locked, unless its device cookie proves it
        found `subject` (a family code) before; a subject itself is never locked."""
        now = self.clock()
        if self._lookup_trusted(subject, client, now):
            return None
        wait = locked_for_s(self.lookups.get(client.address), now)
        return SignInRefused(True, 0.0, wait, by_address=True) if wait else None

    def lookup_failed(self, subject: str, client: Client) -> SignInRefused:
        """Count a wrong guess against the client (its device cookie, or its address)."""
        now = self.clock()
        nonce = self._lookup_trusted(subject, client, now)
        if nonce is not None:
            row = self.devices.fail(nonce)
            return SignInRefused(False, self.limits.delay_s(row, now))
        row = self.lookups.fail(client.address)
        wait = locked_for_s(row, now)
        return SignInRefused(bool(wait), self.lookups.limits.delay_s(row, now), wait, True)

    def lookup_found(self, subject: str) -> str:
        """A device cookie value for a client that found `subject`."""
        return self._device_cookies().issue("family", subject, self.clock()).value

    def _lookup_trusted(self, subject: str, client: Client, now: datetime) -> str | None:
        if not client.device:
            return None
        nonce = self._device_cookies().check("family", subject, client.device, now)
        if nonce is None or locked_for_s(self.devices.get(nonce), now):
            return None
        return nonce

    def _device_cookies(self) -> DeviceCookies:
        if self._cookies is None:
            key = self.accounts.server_key(
                "device-cookies", make=lambda: secrets.token_hex(32), at=self.clock()
            )
            ttl = timedelta(days=self.settings.device_cookie_days)
            self._cookies = DeviceCookies(bytes.fromhex(key), ttl=ttl)
        return self._cookies

    # ------------------------------------------------------------ sessions

    def cached_user(self, token: str, *, active: bool = True) -> User | None:
        """See `Sessions.cached_user`: no database, for the hot path."""
        return self.sessions.cached_user(token, active=active)

    def user_for_token(self, token: str, *, active: bool = True) -> User | None:
        """See `Sessions.user_for_token`; `active=False` checks without counting as use."""
        return self.sessions.user_for_token(token, active=active)

    def ended_because(self, token: str) -> str | None:
        """Returns "idle" when the session ended unused, so a page can say why; else None."""
        return self.sessions.ended_because(token)

    def sign_out(self, token: str) -> None:
        digest = token_hash(token)
        found = self.accounts.token_user(digest)
        self.accounts.revoke_token(digest, at=self.clock())
        self.sessions.forget(digest)
        if found is not None and not found.revoked:
            self._audit(found.user.name, found.user.role, SIGN_OUT, "")

    def _audit(self, name: str, role: str, action: str, detail: str) -> None:
        self.accounts.audit(
            at=self.clock(), user_name=name, role=role, action=action, case_id=None, detail=detail
        )


def _check_password(password: str, name: str) -> None:
    problem = password_problem(password, user_name=name)
    if problem is not None:
        raise AccountError(problem)
