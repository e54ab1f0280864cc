"""The idle timeout (HIPAA's automatic logoff), apart from the shift-long maximum (issue 8).

A sign-in unused for `DAYCASE_SESSION_IDLE_MINUTES` is refused as expired: API bearer
tokens and page sessions alike, whatever the token cache holds. Use keeps it alive, and
that use reaches the database at most about once a minute (here, with a 3-second timeout,
a few times a second), off the request path.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest
import sqlalchemy as sa

from tests.api.wire import assert_refusal, module_server
from tests.support.databases import BACKENDS
from tests.support.server import Server

IDLE_S = 3.0
# The token cache (5 s) outlives the idle timeout: a cached token must still idle out.
SHORT_IDLE = {"DAYCASE_SESSION_IDLE_MINUTES": str(IDLE_S / 60), "DAYCASE_TOKEN_CACHE_SECONDS": "5"}


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with module_server(request, tmp_path_factory, SHORT_IDLE) as srv:
        yield srv


def last_seen(server: Server, user: str) -> list[datetime]:
    engine = sa.create_engine(server.db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT last_seen_at FROM tokens WHERE user_name = :u"), {"u": user}
            ).all()
    finally:
        engine.dispose()
    return [datetime.fromisoformat(r[0]) for r in rows]


def test_a_token_unused_past_the_idle_timeout_is_refused_as_expired(server: Server) -> None:
    with server.client(server.sign_in("nurse")) as nurse:
        assert nurse.get("/api/v1/cases").status_code == 200
        time.sleep(IDLE_S + 1.5)
        body = assert_refusal(nurse.get("/api/v1/cases"), 401, "auth")
        assert "expired" in body["messages"][0]
        # Once idle, it stays ended: a request does not bring it back.
        assert_refusal(nurse.get("/api/v1/family-board"), 401, "auth")


def test_use_keeps_a_sign_in_alive_past_the_idle_timeout(server: Server) -> None:
    token = server.sign_in("anesthesia")
    issued = last_seen(server, "anesthesia")
    with server.client(token) as doctor:
        start = time.monotonic()
        while time.monotonic() - start < 2.5 * IDLE_S:
            assert doctor.get("/api/v1/cases").status_code == 200
            time.sleep(IDLE_S / 3)
    # The use reached the database (written in the background, a few times at most).
    time.sleep(1.0)
    assert max(last_seen(server, "anesthesia")) > max(issued)
