"""Security headers on every answer, API docs without third-party script, and screen links
that never come from the request's Host header (issue 8, part 3).

Against real `daycase serve` processes: the shared one (HTTP on loopback, which is also
the default trusted proxy), and one that trusts no proxy at all. HTTPS served directly
and the 500 of Starlette's own error middleware are checked in-process.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

import httpx
import pytest
from fastapi import FastAPI

from daycase.api.app import create_app
from daycase.config import Settings
from daycase.services.displays import display_url, public_address
from tests.api.wire import Api, module_server, open_case, shared_api
from tests.support.server import PASSWORD, Server

CSP_DIRECTIVES = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
ALWAYS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


# Headers do not depend on the database: SQLite only.
@pytest.fixture(scope="module", params=["sqlite"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return shared_api(request, tmp_path_factory)


@pytest.fixture(scope="module", params=["sqlite"])
def no_proxy(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server that believes no proxy, loopback included."""
    env = {"DAYCASE_FORWARDED_ALLOW_IPS": '["192.0.2.1"]'}
    with module_server(request, tmp_path_factory, env) as server:
        yield server


def csp(response: httpx.Response) -> dict[str, str]:
    policy = response.headers.get("content-security-policy", "")
    parts = (p.strip().split(" ", 1) for p in policy.split(";") if p.strip())
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


def assert_secured(response: httpx.Response, *, cached: bool = False) -> None:
    for name, value in ALWAYS.items():
        assert response.headers.get(name) == value, (response.url, name, response.headers)
    policy = csp(response)
    for directive, value in CSP_DIRECTIVES.items():
        assert policy.get(directive) == value, (response.url, directive, policy)
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert "unsafe-eval" not in response.headers["content-security-policy"]
    if cached:
        assert "no-store" not in response.headers.get("cache-control", "")
    else:
        assert response.headers.get("cache-control") == "no-store", response.url
    assert "strict-transport-security" not in response.headers  # plain HTTP


def test_every_kind_of_answer_carries_the_security_headers(api: Api) -> None:
    case_id = open_case(api.as_("nurse"))
    nurse, anonymous = api.as_("nurse"), api.anonymous
    answers = {
        "page": anonymous.get("/login"),
        "JSON with patient data": nurse.get(f"/api/v1/cases/{case_id}"),
        "board": nurse.get("/api/v1/board"),
        "refusal 401": anonymous.get("/api/v1/board"),
        "refusal 403": api.as_("viewer").get("/api/v1/board"),
        "refusal 404": nurse.get("/api/v1/cases/" + "0" * 32),
        "refusal 405": anonymous.delete("/login"),
        "refusal 413": nurse.post("/api/v1/cases", content=b"x" * 70_000),
        "address refused 422": nurse.get("/api/v1/cases/%00"),
        "body refused 422": nurse.post("/api/v1/cases", json={}),
        "OpenAPI": anonymous.get("/openapi.json"),
        "API docs": anonymous.get("/docs"),
        "redirect": anonymous.get("/", follow_redirects=False),
    }
    for what, response in answers.items():
        assert response.status_code < 500, (what, response.text)
        assert_secured(response)
    assert answers["refusal 413"].status_code == 413
    assert answers["address refused 422"].status_code == 422


def test_the_live_stream_carries_them_too(api: Api) -> None:
    with api.as_("nurse").stream("GET", "/api/v1/stream") as response:
        assert response.status_code == 200
        assert_secured(response)


def test_vendored_files_may_be_cached_but_are_still_marked(api: Api) -> None:
    for path in ("/static/htmx.min.js", "/static/daycase.css", "/docs/assets/swagger-ui.css"):
        response = api.anonymous.get(path)
        assert response.status_code == 200, path
        assert_secured(response, cached=True)


def test_hsts_only_when_a_trusted_proxy_says_https(api: Api, no_proxy: Server) -> None:
    said_https = {"X-Forwarded-Proto": "https"}
    # Loopback is the default trusted proxy (DAYCASE_FORWARDED_ALLOW_IPS).
    behind = api.anonymous.get("/login", headers=said_https)
    assert behind.headers["strict-transport-security"] == "max-age=31536000"
    assert "strict-transport-security" not in api.anonymous.get("/login").headers
    # A client the server does not trust as a proxy cannot claim HTTPS.
    with no_proxy.client() as client:
        untrusted = client.get("/login", headers=said_https)
    assert untrusted.status_code == 200
    assert "strict-transport-security" not in untrusted.headers
    assert untrusted.headers["x-content-type-options"] == "nosniff"


def _get(app: FastAPI, url: str) -> httpx.Response:
    """One request to an app in this process (no lifespan: no database is opened)."""

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.get(url)

    return asyncio.run(get())


def test_hsts_when_served_over_https_directly() -> None:
    app = create_app(Settings(db="sqlite://"))
    secure = _get(app, "https://centre.example/openapi.json")
    plain = _get(app, "http://centre.example/openapi.json")
    assert secure.headers["strict-transport-security"] == "max-age=31536000"
    assert "strict-transport-security" not in plain.headers


def test_an_unexpected_error_is_marked_like_any_answer() -> None:
    def crash(app: FastAPI) -> None:
        @app.get("/crash")
        def _crash() -> None:
            raise RuntimeError("boom")

    response = _get(
        create_app(Settings(db="sqlite://"), extensions=[crash]), "http://c.example/crash"
    )
    assert response.status_code == 500
    assert "boom" not in response.text
    assert_secured(response)


# ------------------------------------------------------------------ /docs


def test_the_api_docs_use_no_third_party_script(api: Api) -> None:
    page = api.anonymous.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources, page.text
    assert all(s.startswith("/docs/assets/") for s in sources), sources
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)  # no inline script
    assert "http://" not in page.text
    assert "https://" not in page.text
    for source in sources:
        assert api.anonymous.get(source).status_code == 200, source
    assert api.anonymous.get("/redoc").status_code == 404
    # The vendored copy keeps its licence and says which release it is.
    static = resources.files("daycase.api").joinpath("static")
    assert "Apache License" in static.joinpath("swagger-ui.LICENSE").read_text()
    assert "swagger-ui-dist 5.35.0" in static.joinpath("swagger-ui.VENDORED").read_text()


# ------------------------------------------------------------------ screen links


@contextmanager
def page_client(server: Server, name: str) -> Iterator[httpx.Client]:
    """A client signed in to the pages through the sign-in form, as a standard user."""
    with server.client(follow_redirects=False) as client:
        form = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf, form.text
        r = client.post("/login", data={"username": name, "password": PASSWORD, "csrf": csrf[1]})
        assert r.status_code == 303, r.text
        yield client


def test_a_screen_link_never_comes_from_the_host_header(api: Api) -> None:
    with page_client(api.server, "admin") as admin:
        page = admin.get("/admin/displays")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        made = admin.post(
            "/admin/displays",
            data={"label": "Waiting room west", "csrf": csrf[1]},
            headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
        )
    assert made.status_code == 200, made.text
    link = re.search(r"New link \(shown once\): <code>([^<]+)</code>", made.text)
    assert link, made.text
    assert "evil.example" not in made.text
    assert link[1].startswith(f"{api.server.url}/display/")
    assert api.anonymous.get(link[1].removeprefix(api.server.url)).status_code == 200


def test_the_public_address_is_the_setting_or_the_listening_address() -> None:
    configured = Settings(public_url="https://daycase.centre.example/", host="0.0.0.0")
    assert public_address(configured) == "https://daycase.centre.example"
    assert display_url(configured, "tok-en_1").startswith(
        "https://daycase.centre.example/display/tok-en_1"
    )
    assert public_address(Settings(host="10.1.2.3", port=8443)) == "http://10.1.2.3:8443"
    assert public_address(Settings(host="::1", port=80)) == "http://[::1]:80"
    everywhere = public_address(Settings(host="0.0.0.0", port=8000))
    assert not everywhere.startswith("http://0.0.0.0")
    with pytest.raises(ValueError, match="http"):
        Settings(public_url="javascript:alert(1)")
