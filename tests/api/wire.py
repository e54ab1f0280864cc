"""What API tests send and how they check refusals: request bodies, servers, row counts.

Every refusal is checked for its shape (`kind`, `messages`, `fields`) and for what must
never reach a client: a Python traceback or SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa

from daycase.config import Settings
from tests.support.clock import suite_now
from tests.support.databases import database
from tests.support.server import Server, run_server

# Sign-ins are checked against the database on every request, so a revoked or disabled
# sign-in is refused at once rather than after the token cache's few seconds.
NO_TOKEN_CACHE = {"DAYCASE_TOKEN_CACHE_SECONDS": "0"}

_LEAKS = re.compile(
    r"Traceback|File \"|\.py\"|sqlalchemy|psycopg|sqlite3|IntegrityError|OperationalError"
    r"|\bSELECT\b|\bINSERT INTO\b|\bUPDATE \w+ SET\b|\bDELETE FROM\b|\[SQL:"
)


@contextmanager
def module_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """A real server on the backend named by the fixture's param, for one module or class."""
    backend: str = request.param
    tmp = tmp_path_factory.mktemp(backend)
    with database(backend, tmp) as url, run_server(url, tmp, env=env) as server:
        yield server


@dataclass
class Api:
    """A running server with one kept-alive client per role, and its database to count rows."""

    server: Server
    engine: sa.Engine
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def as_(self, role: str) -> httpx.Client:
        """A client signed in as the standard user of that role (named after it)."""
        if role not in self.clients:
            self.clients[role] = self.server.client(self.server.token(role))
        return self.clients[role]

    @property
    def anonymous(self) -> httpx.Client:
        if "" not in self.clients:
            self.clients[""] = self.server.client()
        return self.clients[""]

    def rows(self) -> dict[str, int]:
        """How many cases and events the database holds."""
        with self.engine.connect() as conn:
            return {
                table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("cases", "events")
            }

    @contextmanager
    def nothing_stored(self) -> Iterator[None]:
        """Asserts that the block adds no case and no event to the database."""
        before = self.rows()
        yield
        assert self.rows() == before

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.engine.dispose()


@contextmanager
def module_api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    env: dict[str, str] | None = None,
) -> Iterator[Api]:
    """An `Api` over a server of its own, for a module that needs particular settings."""
    with module_server(request, tmp_path_factory, env) as server:
        api = Api(server, sa.create_engine(server.db_url))
        try:
            yield api
        finally:
            api.close()


# Generated sign-ins (schemathesis) must not be slowed down or locked out.
SHARED_ENV = {"DAYCASE_LOGIN_SLOW_AFTER": "100000", "DAYCASE_LOGIN_LOCK_AFTER": "100000"}
_SHARED: dict[str, Api] = {}


def shared_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Api:
    """The one server per backend that the API modules without special settings share.

    A server start costs seconds (a database, six argon2 hashes, a process); the modules
    that can share one do. It starts on first use and stops when the test session ends.
    Each test still makes the cases it needs and checks only what it made.
    """
    backend: str = request.param
    if backend not in _SHARED:
        stack = ExitStack()
        request.config.add_cleanup(stack.close)
        _SHARED[backend] = stack.enter_context(module_api(request, tmp_path_factory, SHARED_ENV))
        stack.callback(_SHARED.pop, backend)
    return _SHARED[backend]


CENTRE_TZ = ZoneInfo(Settings().timezone)


def centre_day(at: datetime | str) -> str:
    """The centre's date of an instant: the day a case scheduled then belongs to."""
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    return when.astimezone(CENTRE_TZ).date().isoformat()


def now_utc() -> datetime:
    """The suite's clock (which every test server reads too), to the second."""
    return suite_now().replace(microsecond=0)


def iso(at: datetime) -> str:
    return at.isoformat()


def patient(**changes: Any) -> dict[str, Any]:
    return {
        "mrn": "H-1",
        "given_name": "Ada",
        "family_name": "Lane",
        "birth_date": "1944-05-17",
        "sex": "female",
        **changes,
    }


def case_body(**changes: Any) -> dict[str, Any]:
    """A valid `POST /cases` body, scheduled an hour from now; `changes` replace keys."""
    return {
        "pathway": "kyphoplasty",
        "patient": patient(),
        "levels": ["L1"],
        "scheduled_start": iso(now_utc() + timedelta(hours=1)),
        **changes,
    }


def check_in_data(at: datetime) -> dict[str, Any]:
    return {
        "identity_confirmed": True,
        "consent_signed": True,
        "last_solids_at": iso(at - timedelta(hours=10)),
        "last_clear_fluids_at": iso(at - timedelta(hours=3)),
    }


def vitals_data(**changes: Any) -> dict[str, Any]:
    return {
        "heart_rate": 72,
        "bp_systolic": 130,
        "bp_diastolic": 80,
        "spo2": 98,
        "resp_rate": 14,
        "temperature_c": 36.8,
        "pain_score": 4,
        **changes,
    }


def open_case(client: httpx.Client, **changes: Any) -> str:
    r = client.post("/api/v1/cases", json=case_body(**changes))
    assert r.status_code == 201, r.text
    case_id: str = r.json()["id"]
    return case_id


def record(
    client: httpx.Client, case_id: str, step: str, data: dict[str, Any] | None = None, **extra: Any
) -> httpx.Response:
    body = {"step": step, "at": iso(now_utc()), "data": data or {}, **extra}
    return client.post(f"/api/v1/cases/{case_id}/events", json=body)


def event_count(api: Api, case_id: str) -> int:
    """How many events the case has, as `GET /cases/{id}` tells a nurse."""
    r = api.as_("nurse").get(f"/api/v1/cases/{case_id}")
    assert r.status_code == 200, r.text
    count: int = r.json()["events"]
    return count


def case_count(api: Api, day: str) -> int:
    """How many cases `GET /cases?date=` lists for a nurse."""
    r = api.as_("nurse").get("/api/v1/cases", params={"date": day})
    assert r.status_code == 200, r.text
    return len(r.json())


def assert_no_leak(response: httpx.Response) -> None:
    """No traceback and no SQL in any response body or header."""
    assert not _LEAKS.search(response.text), response.text
    for name, value in response.headers.items():
        assert not _LEAKS.search(f"{name}: {value}")


def assert_refusal(
    response: httpx.Response, status: int, kind: str, *, field: str | None = None
) -> dict[str, Any]:
    """The refusal JSON with this status and kind (and, if given, naming this field)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert_no_leak(response)
    body: dict[str, Any] = response.json()
    assert set(body) == {"kind", "messages", "fields"}, body
    assert body["kind"] == kind, body
    assert isinstance(body["messages"], list)
    assert body["messages"], body
    assert all(isinstance(m, str) and m for m in body["messages"])
    assert isinstance(body["fields"], dict)
    if field is not None:
        assert field in body["fields"], body
    return body
