"""`POST /api/v1/auth/logout` and CSRF (issue 8): the session cookie alone does not sign out.

Another site can make a browser send the cookie, never a header: with the cookie the
request must carry the page's CSRF token in `X-CSRF-Token`; a bearer header needs none.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from daycase.services.accounts import csrf_for
from tests.api.wire import NO_TOKEN_CACHE, assert_refusal, module_server
from tests.support.databases import BACKENDS
from tests.support.server import Server

LOGOUT = "/api/v1/auth/logout"


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with module_server(request, tmp_path_factory, NO_TOKEN_CACHE) as srv:
        yield srv


def page_session(server: Server, token: str) -> httpx.Client:
    """A browser-like client: the token travels only in the session cookie."""
    return httpx.Client(base_url=server.url, cookies={"daycase_session": token}, timeout=30)


def test_the_session_cookie_alone_does_not_sign_out(server: Server) -> None:
    token = server.sign_in("nurse")
    with page_session(server, token) as browser:
        body = assert_refusal(browser.post(LOGOUT), 403, "csrf")
        assert "CSRF" in body["messages"][0]
        forged = browser.post(LOGOUT, headers={"X-CSRF-Token": "0" * 32})
        assert_refusal(forged, 403, "csrf")
        # Still signed in.
        assert browser.get("/api/v1/cases").status_code == 200


def test_the_session_cookie_with_its_csrf_token_signs_out(server: Server) -> None:
    token = server.sign_in("nurse")
    with page_session(server, token) as browser:
        r = browser.post(LOGOUT, headers={"X-CSRF-Token": csrf_for(token)})
        assert r.status_code == 204, r.text
        assert_refusal(browser.get("/api/v1/cases"), 401, "auth")


def test_a_bearer_header_signs_out_without_a_csrf_token(server: Server) -> None:
    token = server.sign_in("nurse")
    with server.client(token) as machine:
        assert machine.post(LOGOUT).status_code == 204
        assert_refusal(machine.get("/api/v1/cases"), 401, "auth")
