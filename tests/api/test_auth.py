"""Sign-in, sign-out, throttling and every way a token is refused, against a real server."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
import pytest

from daycase.config import Settings
from daycase.services.runtime import open_runtime
from tests.api.wire import NO_TOKEN_CACHE, assert_refusal, module_server, now_utc
from tests.support.databases import BACKENDS
from tests.support.server import PASSWORD, Server, add_users

TOKEN = "/api/v1/auth/token"
LOGOUT = "/api/v1/auth/logout"
SLOW_AFTER = 2
LOCK_AFTER = 4
LOCK_S = 60.0
THROTTLE = {
    **NO_TOKEN_CACHE,
    "DAYCASE_LOGIN_SLOW_AFTER": str(SLOW_AFTER),
    "DAYCASE_LOGIN_LOCK_AFTER": str(LOCK_AFTER),
    "DAYCASE_LOGIN_LOCK_MINUTES": str(LOCK_S / 60),
}
# The second server: sign-ins last 3 seconds, one failure locks for 3 seconds.
TTL_S = 3.0
SHORT_LOCK_S = 3.0
SHORT = {
    **NO_TOKEN_CACHE,
    "DAYCASE_TOKEN_TTL_HOURS": str(TTL_S / 3600),
    "DAYCASE_LOGIN_SLOW_AFTER": "1",
    "DAYCASE_LOGIN_LOCK_AFTER": "1",
    "DAYCASE_LOGIN_LOCK_MINUTES": str(SHORT_LOCK_S / 60),
}


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with module_server(request, tmp_path_factory, THROTTLE) as srv:
        add_users(srv.db_url, dict.fromkeys(("locky", "typo", "leaver"), "nurse"))
        yield srv


@pytest.fixture(scope="module", params=BACKENDS)
def short_lived(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server whose sign-ins and locks last 3 seconds."""
    with module_server(request, tmp_path_factory, SHORT) as srv:
        yield srv


def sign_in(server: Server, name: str, password: str) -> httpx.Response:
    with server.client() as c:
        return c.post(TOKEN, data={"username": name, "password": password})


def test_sign_in_gives_a_bearer_token_for_a_shift(server: Server) -> None:
    before = now_utc()
    r = sign_in(server, "nurse", PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_at", "role"}
    assert body["token_type"] == "bearer"
    assert body["role"] == "nurse"
    assert len(body["access_token"]) >= 40
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(hours=11, minutes=59) < expires - before < timedelta(hours=12, minutes=1)
    with server.client(body["access_token"]) as c:
        assert c.get("/api/v1/cases").status_code == 200


def test_each_sign_in_is_a_new_token(server: Server) -> None:
    first = sign_in(server, "nurse", PASSWORD).json()["access_token"]
    second = sign_in(server, "nurse", PASSWORD).json()["access_token"]
    assert first != second


def test_wrong_password_and_unknown_user_get_the_same_answer(server: Server) -> None:
    wrong = sign_in(server, "typo", "not the password")
    unknown = sign_in(server, f"nobody-{secrets.token_hex(4)}", "not the password")
    for r in (wrong, unknown):
        assert_refusal(r, 401, "auth")
        assert r.headers["www-authenticate"] == "Bearer"
    assert wrong.json() == unknown.json()
    assert wrong.json()["messages"] == ["Wrong user name or password"]


def test_sign_in_must_be_the_oauth2_password_form(server: Server) -> None:
    with server.client() as c:
        as_json = c.post(TOKEN, json={"username": "nurse", "password": PASSWORD})
        no_password = c.post(TOKEN, data={"username": "nurse"})
    assert_refusal(as_json, 422, "invalid")
    assert_refusal(no_password, 422, "invalid", field="password")


def _fail_until_locked(server: Server, name: str) -> list[tuple[int, str, float]]:
    """Status, body and seconds taken of LOCK_AFTER wrong passwords in a row."""
    answers = []
    for _ in range(LOCK_AFTER):
        start = time.monotonic()
        r = sign_in(server, name, "wrong password")
        answers.append((r.status_code, r.text, time.monotonic() - start))
    return answers


def test_failed_sign_ins_slow_down_then_lock_the_name_alike_for_real_and_unknown_users(
    server: Server,
) -> None:
    unknown = f"ghost-{secrets.token_hex(4)}"
    with ThreadPoolExecutor(2) as pool:
        real_f = pool.submit(_fail_until_locked, server, "locky")
        ghost_f = pool.submit(_fail_until_locked, server, unknown)
        real, ghost = real_f.result(), ghost_f.result()
    statuses = [401] * (LOCK_AFTER - 1) + [429]
    assert [a[0] for a in real] == statuses
    assert [a[0] for a in ghost] == statuses
    assert [a[1] for a in real] == [a[1] for a in ghost]
    for answers in (real, ghost):
        # From the SLOW_AFTER-th failure on, each answer waits 0.25 s, 0.5 s, 1 s, ...
        for n in range(SLOW_AFTER, LOCK_AFTER + 1):
            assert answers[n - 1][2] >= 0.25 * 2 ** (n - SLOW_AFTER) - 0.01
    # Locked: even the right password is refused, and a made-up name the same way.
    locked = sign_in(server, "locky", PASSWORD)
    locked_ghost = sign_in(server, unknown, PASSWORD)
    for r in (locked, locked_ghost):
        body = assert_refusal(r, 429, "auth")
        assert "try again later" in body["messages"][0]
        assert 1 <= int(r.headers["retry-after"]) <= LOCK_S + 1
    assert locked.json() == locked_ghost.json()


def test_a_lock_ends_after_its_time(short_lived: Server) -> None:
    assert_refusal(sign_in(short_lived, "viewer", "wrong password"), 429, "auth")
    locked = sign_in(short_lived, "viewer", PASSWORD)
    assert_refusal(locked, 429, "auth")
    wait_s = int(locked.headers["retry-after"])
    assert 1 <= wait_s <= SHORT_LOCK_S + 1
    time.sleep(wait_s)
    r = sign_in(short_lived, "viewer", PASSWORD)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "viewer"


def test_a_name_no_user_can_have_is_refused_like_any_unknown_name(server: Server) -> None:
    for name in ("nurse\x00", "\x00", "nurse\n", "ñurse", "x" * 5000, " nurse"):
        r = sign_in(server, name, PASSWORD)
        assert_refusal(r, 401, "auth")
        assert r.json()["messages"] == ["Wrong user name or password"]


def test_logout_revokes_the_token(server: Server) -> None:
    token = sign_in(server, "nurse", PASSWORD).json()["access_token"]
    with server.client(token) as c:
        assert c.get("/api/v1/cases").status_code == 200
        r = c.post(LOGOUT)
        assert r.status_code == 204
        assert r.content == b""
        assert_refusal(c.get("/api/v1/cases"), 401, "auth")
        assert_refusal(c.post(LOGOUT), 401, "auth")
    # Other sign-ins of the same user are untouched.
    with server.client(server.token("nurse")) as c:
        assert c.get("/api/v1/cases").status_code == 200


def test_logout_needs_a_sign_in(server: Server) -> None:
    with server.client() as c:
        assert_refusal(c.post(LOGOUT), 401, "auth")


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(f"Bearer {secrets.token_urlsafe(32)}", id="random"),
        pytest.param("Bearer", id="scheme-only"),
        pytest.param("Basic bnVyc2U6Y29ycmVjdCBob3JzZSBiYXR0ZXJ5", id="basic"),
        pytest.param("Token abc", id="other-scheme"),
        pytest.param("Bearer " + "A" * 4000, id="long"),
        pytest.param("Bearer ' OR '1'='1", id="sql"),
    ],
)
def test_forged_or_malformed_tokens_are_refused(server: Server, authorization: str) -> None:
    with httpx.Client(base_url=server.url, headers={"Authorization": authorization}) as c:
        for method, path in (("GET", "/api/v1/cases"), ("GET", "/api/v1/family-board")):
            r = c.request(method, path)
            assert_refusal(r, 401, "auth")
            assert r.headers["www-authenticate"] == "Bearer"


def test_a_token_in_the_url_is_not_accepted(server: Server) -> None:
    token = server.token("nurse")
    with server.client() as c:
        for param in ("access_token", "token", "bearer", "authorization"):
            r = c.get("/api/v1/cases", params={param: token})
            assert_refusal(r, 401, "auth")
            r = c.get("/api/v1/family-board", params={param: token})
            assert_refusal(r, 401, "auth")


def test_a_disabled_user_is_signed_out_and_cannot_sign_in(server: Server) -> None:
    token = sign_in(server, "leaver", PASSWORD).json()["access_token"]
    with server.client(token) as c:
        assert c.get("/api/v1/cases").status_code == 200
        runtime = open_runtime(Settings(db=server.db_url))
        try:
            runtime.accounts.disable("leaver")
        finally:
            runtime.close()
        assert_refusal(c.get("/api/v1/cases"), 401, "auth")
    again = sign_in(server, "leaver", PASSWORD)
    assert_refusal(again, 401, "auth")
    assert again.json() == sign_in(server, "typo", "wrong password").json()


def test_an_expired_token_is_refused(short_lived: Server) -> None:
    signed_in = sign_in(short_lived, "nurse", PASSWORD).json()
    expires_at = datetime.fromisoformat(signed_in["expires_at"])
    with short_lived.client(signed_in["access_token"]) as c:
        assert c.get("/api/v1/cases").status_code == 200
        time.sleep(max(0.0, (expires_at - now_utc()).total_seconds()) + 1.0)
        r = c.get("/api/v1/cases")
    body = assert_refusal(r, 401, "auth")
    assert "expired" in body["messages"][0]
