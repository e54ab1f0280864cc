"""The sign-in rules on the account service itself, on a real SQLite file (issue 8).

Password policy (NIST SP 800-63B), the idle timeout against the token cache, the
patient look-up throttle that never locks a family code, and device cookies. The clock is
injected, so the minutes pass without waiting.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path

import pytest

from daycase.config import Settings
from daycase.services.accounts import AccountError, Client, SignInRefused, Token
from daycase.services.passwords import common_passwords, hash_password
from daycase.services.runtime import Runtime, open_runtime
from daycase.store.factory import migrate

REPO = Path(__file__).resolve().parents[2]
GOOD = "a long and unusual passphrase"


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 15, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    migrate(url)
    settings = Settings(
        db=url, token_cache_seconds=3600, login_lock_after=3, login_address_lock_after=4
    )
    rt = open_runtime(settings, clock=clock)
    try:
        yield rt
    finally:
        rt.close()


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("password", "at least 12 characters"),
        ("12345678", "at least 12 characters"),
        ("password1234", "one of the most common passwords"),
        ("PASSWORD1234", "one of the most common passwords"),
        ("aaaaaaaaaaaaaaaa", "too few different characters"),
        ("amy-the-nurse-2026", "must not contain the user name"),
        ("x" * 1025 + "yz", "at most 1024 characters"),
    ],
)
def test_a_weak_password_is_refused_saying_why(runtime: Runtime, password: str, why: str) -> None:
    with pytest.raises(AccountError, match=why) as refused:
        runtime.accounts.add_user("amy", role="nurse", password=password)
    assert str(refused.value).startswith("password: ")
    assert runtime.accounts.users() == []
    runtime.accounts.add_user("amy", role="nurse", password=GOOD)
    with pytest.raises(AccountError, match=why):
        runtime.accounts.set_password("amy", password)
    assert isinstance(runtime.accounts.sign_in("amy", GOOD), Token)


def test_a_user_whose_older_password_predates_the_policy_still_signs_in(runtime: Runtime) -> None:
    runtime.accounts.accounts.add_user(
        name="old-timer",
        role="nurse",
        password_hash=hash_password("short1"),
        created_at=runtime.now(),
    )
    assert isinstance(runtime.accounts.sign_in("old-timer", "short1"), Token)


def test_the_common_password_list_is_vendored_and_shipped_in_the_wheel() -> None:
    words = common_passwords()
    assert len(words) > 19_000
    assert {"password", "12345678", "password1234", "qwerty"} <= words
    data = REPO / "src/daycase/services/data"
    assert (data / "NOTICE.md").read_text().count("BSD") >= 1
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["daycase"]
    for name in ("common-passwords.txt.gz", "NOTICE.md"):
        assert any(fnmatch(f"services/data/{name}", pattern) for pattern in package_data)


def test_an_idle_sign_in_is_refused_even_from_the_token_cache(
    runtime: Runtime, clock: FakeClock
) -> None:
    runtime.accounts.add_user("amy", role="nurse", password=GOOD)
    token = runtime.accounts.sign_in("amy", GOOD)
    assert isinstance(token, Token)
    accounts = runtime.accounts
    for _ in range(6):  # an hour and a half in use, ten minutes between requests
        clock.advance(minutes=10)
        assert accounts.user_for_token(token.access_token) is not None
    clock.advance(minutes=15, seconds=1)
    assert accounts.cached_user(token.access_token) is None
    assert accounts.user_for_token(token.access_token) is None
    assert accounts.ended_because(token.access_token) == "idle"


def test_a_check_that_is_not_use_does_not_keep_a_sign_in_alive(
    runtime: Runtime, clock: FakeClock
) -> None:
    runtime.accounts.add_user("amy", role="nurse", password=GOOD)
    token = runtime.accounts.sign_in("amy", GOOD)
    assert isinstance(token, Token)
    for _ in range(3):  # a live stream re-checking its sign-in every few minutes
        clock.advance(minutes=4)
        assert runtime.accounts.user_for_token(token.access_token, active=False) is not None
    clock.advance(minutes=4)
    assert runtime.accounts.user_for_token(token.access_token, active=False) is None


def test_wrong_birth_dates_are_counted_per_client_never_per_family_code(
    runtime: Runtime, clock: FakeClock
) -> None:
    accounts = runtime.accounts
    family_phone = Client("192.0.2.10", accounts.lookup_found("KX7Q2M"))
    stranger = Client("198.51.100.7")
    for _ in range(3):
        assert accounts.lookup_refused("KX7Q2M", stranger) is None
        assert not accounts.lookup_failed("KX7Q2M", stranger).locked
    last = accounts.lookup_failed("KX7Q2M", stranger)
    assert last.locked
    assert last.retry_after_s > 0
    refused = accounts.lookup_refused("KX7Q2M", stranger)
    assert isinstance(refused, SignInRefused)
    assert refused.locked
    # Another address and the family's own phone are not refused: the code is not locked.
    assert accounts.lookup_refused("KX7Q2M", Client("192.0.2.99")) is None
    assert accounts.lookup_refused("KX7Q2M", family_phone) is None
    # A device cookie vouches only for the code it found.
    assert accounts.lookup_refused("KX7Q2M", Client("198.51.100.7", family_phone.device)) is None
    assert accounts.lookup_refused("ZZ9P4B", Client("198.51.100.7", family_phone.device))
    # The lock ends by itself.
    clock.advance(minutes=15, seconds=1)
    assert accounts.lookup_refused("KX7Q2M", stranger) is None


def test_a_device_cookie_vouches_for_its_user_until_it_expires(
    runtime: Runtime, clock: FakeClock
) -> None:
    accounts = runtime.accounts
    accounts.add_user("amy", role="nurse", password=GOOD)
    accounts.add_user("bob", role="nurse", password=GOOD)
    signed_in = accounts.sign_in("amy", GOOD, client=Client("10.0.0.1"))
    assert isinstance(signed_in, Token)
    cookie = signed_in.device_cookie
    for n in range(3):  # from addresses of their own, so only the names are counted
        accounts.sign_in("amy", "wrong", client=Client(f"203.0.113.{n}"))
        accounts.sign_in("bob", "wrong", client=Client(f"203.0.113.{n + 10}"))
    assert isinstance(accounts.sign_in("amy", GOOD, client=Client("10.0.0.2", cookie)), Token)
    assert isinstance(
        accounts.sign_in("bob", GOOD, client=Client("10.0.0.2", cookie)), SignInRefused
    )
    tampered = cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1]
    assert isinstance(
        accounts.sign_in("amy", GOOD, client=Client("10.0.0.2", tampered)), SignInRefused
    )
    clock.advance(days=91)
    for n in range(3):
        accounts.sign_in("amy", "wrong", client=Client(f"203.0.113.{n + 20}"))
    expired = accounts.sign_in("amy", GOOD, client=Client("10.0.0.2", cookie))
    assert isinstance(expired, SignInRefused)


def test_a_trusted_browser_that_keeps_failing_loses_its_trust_alone(
    runtime: Runtime, clock: FakeClock
) -> None:
    accounts = runtime.accounts
    accounts.add_user("amy", role="nurse", password=GOOD)
    first = accounts.sign_in("amy", GOOD, client=Client("10.0.0.1"))
    assert isinstance(first, Token)
    stolen = Client("203.0.113.8", first.device_cookie)
    answers = [accounts.sign_in("amy", f"guess {n}", client=stolen) for n in range(3)]
    assert [isinstance(a, SignInRefused) and a.locked for a in answers] == [False, False, True]
    # The stolen cookie is worth nothing now; the user's untrusted count was not touched.
    assert accounts.accounts.failures("amy") is None
    assert isinstance(accounts.sign_in("amy", GOOD, client=Client("10.0.0.3")), Token)
