"""Throttled sign-in that a stranger cannot turn against the owner (issue 8, section 2).

A client that signed in as a user before holds that user's device cookie and is never
refused for other people's failures; everyone else is counted per user name and per
address; the admin can unlock; names that are no user leave nothing in the database.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from daycase.services.accounts import device_cookie_name
from tests.api.wire import NO_TOKEN_CACHE, assert_refusal, module_server
from tests.support.clock import suite_now
from tests.support.databases import BACKENDS
from tests.support.server import PASSWORD, Server, add_users

TOKEN = "/api/v1/auth/token"
LOCK_AFTER = 3
THROTTLE = {
    **NO_TOKEN_CACHE,
    "DAYCASE_LOGIN_SLOW_AFTER": "100",
    "DAYCASE_LOGIN_LOCK_AFTER": str(LOCK_AFTER),
    "DAYCASE_LOGIN_LOCK_MINUTES": "10",
}
ADDRESS_LOCK_AFTER = 6
BY_ADDRESS = {**THROTTLE, "DAYCASE_LOGIN_ADDRESS_LOCK_AFTER": str(ADDRESS_LOCK_AFTER)}
NURSES = ("owner", "other", "unlockme", "counted", "rowcount", "auditme")


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with module_server(request, tmp_path_factory, THROTTLE) as srv:
        add_users(srv.db_url, dict.fromkeys(NURSES, "nurse"))
        yield srv


@pytest.fixture(scope="module", params=BACKENDS)
def by_address(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server that refuses an address after a few failures."""
    with module_server(request, tmp_path_factory, BY_ADDRESS) as srv:
        add_users(srv.db_url, {"regular": "nurse"})
        yield srv


def sign_in(client: httpx.Client, name: str, password: str) -> httpx.Response:
    return client.post(TOKEN, data={"username": name, "password": password})


def stranger(server: Server) -> httpx.Client:
    """A client with no cookies of its own (a new one each time)."""
    return server.client()


def lock_out(server: Server, name: str) -> None:
    for n in range(1, LOCK_AFTER + 1):
        with stranger(server) as c:
            r = sign_in(c, name, f"guess {n}")
        assert r.status_code == (429 if n == LOCK_AFTER else 401), r.text


def rows(server: Server, sql: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(server.db_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql)).all()]
    finally:
        engine.dispose()


def test_a_stranger_cannot_lock_the_owner_out_of_a_client_she_signed_in_on(
    server: Server,
) -> None:
    with server.client() as owner:
        first = sign_in(owner, "owner", PASSWORD)
        assert first.status_code == 200, first.text
        device = [c for c in owner.cookies.jar if c.name.startswith("daycase_device_")]
        assert len(device) == 1
        assert device[0].has_nonstandard_attr("HttpOnly")
        lock_out(server, "owner")
        # Anyone without her device cookie is refused now, even with the right password...
        with stranger(server) as c:
            body = assert_refusal(sign_in(c, "owner", PASSWORD), 429, "auth")
        assert "for this user name" in body["messages"][0]
        # ...but her own client signs in as usual, and her new token works.
        again = sign_in(owner, "owner", PASSWORD)
        assert again.status_code == 200, again.text
        token = again.json()["access_token"]
    with server.client(token) as c:
        assert c.get("/api/v1/cases").status_code == 200


def test_a_device_cookie_is_for_its_user_only(server: Server) -> None:
    with server.client() as shared:
        assert sign_in(shared, "other", PASSWORD).status_code == 200
        lock_out(server, "counted")
        # The cookie from signing in as "other" does not vouch for "counted".
        assert_refusal(sign_in(shared, "counted", PASSWORD), 429, "auth")
    with server.client() as forger:
        issued = int(suite_now().timestamp())
        forged = f"{issued}.{secrets.token_urlsafe(12)}.{secrets.token_urlsafe(32)}"
        forger.cookies.set(device_cookie_name("device", "counted"), forged)
        assert_refusal(sign_in(forger, "counted", PASSWORD), 429, "auth")


def test_the_admin_unlocks_a_user_from_the_api(server: Server) -> None:
    lock_out(server, "unlockme")
    with server.client(server.token("admin")) as admin:
        listed = {u["name"]: u for u in admin.get("/api/v1/users").json()}
        assert listed["unlockme"]["locked_until"] is not None
        assert listed["nurse"]["locked_until"] is None
        assert set(listed["unlockme"]) == {"name", "role", "disabled", "locked_until"}
        r = admin.post("/api/v1/users/unlockme/unlock")
        assert r.status_code == 204, r.text
        assert_refusal(admin.post("/api/v1/users/nobody-here/unlock"), 404, "not_found")
        listed = {u["name"]: u for u in admin.get("/api/v1/users").json()}
        assert listed["unlockme"]["locked_until"] is None
    with stranger(server) as c:
        assert sign_in(c, "unlockme", PASSWORD).status_code == 200
    with server.client(server.token("nurse")) as nurse:
        assert_refusal(nurse.post("/api/v1/users/unlockme/unlock"), 403, "role")
        assert_refusal(nurse.get("/api/v1/users"), 403, "role")


def test_names_that_are_no_user_leave_nothing_in_the_database(server: Server) -> None:
    before = rows(server, "SELECT count(*) FROM login_failures")[0][0]
    with stranger(server) as c:
        for _ in range(20):
            r = sign_in(c, f"ghost-{secrets.token_hex(6)}", "anything at all")
            assert_refusal(r, 401, "auth")
    assert rows(server, "SELECT count(*) FROM login_failures")[0][0] == before
    # A real user's failures are one row, however many there are.
    for _ in range(LOCK_AFTER + 2):
        with stranger(server) as c:
            sign_in(c, "rowcount", "wrong again")
    assert rows(server, "SELECT count(*) FROM login_failures WHERE name = 'rowcount'") == [(1,)]


def test_sign_ins_refusals_locks_and_sign_outs_are_audited(server: Server) -> None:
    lock_out(server, "auditme")
    with server.client(server.token("admin")) as admin:
        assert admin.post("/api/v1/users/auditme/unlock").status_code == 204
    with server.client() as c:
        token = sign_in(c, "auditme", PASSWORD).json()["access_token"]
    with server.client(token) as c:
        assert c.post("/api/v1/auth/logout").status_code == 204
    with server.client(server.token("admin")) as admin:  # reading the log writes it out first
        assert admin.get("/api/v1/audit", params={"limit": 1}).status_code == 200
    audit = rows(
        server, "SELECT action, role, detail FROM audit WHERE user_name = 'auditme' ORDER BY id"
    )
    assert [a[0] for a in audit] == [
        *["sign_in_refused"] * LOCK_AFTER,
        "sign_in_locked",
        "sign_in_unlocked",
        "sign_in",
        "sign_out",
    ]
    assert {a[1] for a in audit} == {"nurse"}
    assert audit[0][2] == "wrong password, from 127.0.0.1"
    assert audit[4][2] == "by admin (API)"
    assert audit[5][2] == "from 127.0.0.1, a new browser"
    # Names that are no user are not written to the audit either (anyone could flood it).
    assert rows(server, "SELECT count(*) FROM audit WHERE user_name LIKE 'ghost-%'") == [(0,)]


def test_an_address_that_keeps_guessing_is_refused_but_known_clients_are_not(
    by_address: Server,
) -> None:
    with by_address.client() as regular:
        assert sign_in(regular, "regular", PASSWORD).status_code == 200
        answers = []
        for _ in range(ADDRESS_LOCK_AFTER):
            with stranger(by_address) as c:
                answers.append(sign_in(c, f"spray-{secrets.token_hex(4)}", "password"))
        assert [r.status_code for r in answers] == [401] * (ADDRESS_LOCK_AFTER - 1) + [429]
        with stranger(by_address) as c:
            refused = sign_in(c, "regular", PASSWORD)
        body = assert_refusal(refused, 429, "auth")
        assert body["messages"] == ["Too many failed sign-ins from this computer; try again later"]
        assert 1 <= int(refused.headers["retry-after"]) <= 600
        # The nurse's own client is not refused for what others typed from her address.
        start = time.monotonic()
        assert sign_in(regular, "regular", PASSWORD).status_code == 200
        assert time.monotonic() - start < 2
