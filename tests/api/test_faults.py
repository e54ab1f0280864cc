"""Faults answered cleanly (issue 8, part 4): idempotent writes, and a busy store that says
so in seconds, against a real server on SQLite and PostgreSQL.

A client that lost the answer to a write and sends it again with the same
`Idempotency-Key` gets the event stored the first time, never a second copy. A database
locked by another program answers writes with 503 and Retry-After within a few seconds;
reads keep working on SQLite (readers never take its write lock); the server recovers by
itself when the lock goes.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.api.wire import (
    CENTRE_TZ,
    Api,
    assert_refusal,
    case_body,
    check_in_data,
    event_count,
    iso,
    now_utc,
    open_case,
    shared_api,
    vitals_data,
)
from tests.support.databases import BACKENDS


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return shared_api(request, tmp_path_factory)


def _post(client: httpx.Client, path: str, body: Mapping[str, Any], key: str) -> httpx.Response:
    return client.post(path, json=body, headers={"Idempotency-Key": key})


def _check_in(case_id: str) -> tuple[str, dict[str, object]]:
    path = f"/api/v1/cases/{case_id}/events"
    return path, {"step": "check_in", "at": iso(now_utc()), "data": check_in_data(now_utc())}


def test_a_retried_step_is_answered_with_the_first_event_and_stored_once(api: Api) -> None:
    nurse = api.as_("nurse")
    case_id = open_case(nurse)
    path, body = _check_in(case_id)
    key = str(uuid.uuid4())

    first = _post(nurse, path, body, key)
    again = _post(nurse, path, body, key)

    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert event_count(api, case_id) == 2  # opened + one check-in


def test_retries_sent_at_once_store_one_event(api: Api) -> None:
    """Ten copies of one write in flight together (a client retrying too eagerly)."""
    nurse = api.as_("nurse")
    case_id = open_case(nurse)
    path, body = _check_in(case_id)
    key = str(uuid.uuid4())
    answers: list[httpx.Response] = []
    start = threading.Barrier(10)

    def send() -> None:
        with api.server.client(api.server.token("nurse")) as client:
            start.wait()
            answers.append(_post(client, path, body, key))

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["event_id"] for a in answers}) == 1
    assert event_count(api, case_id) == 2


def test_a_key_sent_again_with_another_request_is_refused(api: Api) -> None:
    nurse = api.as_("nurse")
    case_id = open_case(nurse)
    path, body = _check_in(case_id)
    key = str(uuid.uuid4())
    assert _post(nurse, path, body, key).status_code == 201

    vitals = {"step": "preop_vitals", "at": iso(now_utc()), "data": vitals_data()}
    with api.nothing_stored():
        r = _post(nurse, path, vitals, key)

    body_out = assert_refusal(r, 422, "invalid", field="Idempotency-Key")
    assert "different request" in body_out["fields"]["Idempotency-Key"]


def test_keys_are_the_senders_own(api: Api) -> None:
    """The same key from another user names another write."""
    case_id = open_case(api.as_("nurse"))
    path, body = _check_in(case_id)
    key = str(uuid.uuid4())
    assert _post(api.as_("nurse"), path, body, key).status_code == 201

    r = _post(api.as_("front_desk"), "/api/v1/cases", case_body(), key)

    assert r.status_code == 201, r.text
    assert r.json()["id"] != case_id


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "caf\u00e9"])
def test_a_malformed_key_is_refused_and_stores_nothing(api: Api, key: str) -> None:
    nurse = api.as_("nurse")
    case_id = open_case(nurse)
    path, body = _check_in(case_id)
    with api.nothing_stored():
        r = nurse.post(path, json=body, headers={b"Idempotency-Key": key.encode()})
    assert_refusal(r, 422, "invalid", field="Idempotency-Key")


def test_opening_amending_and_voiding_are_idempotent_too(api: Api) -> None:
    nurse = api.as_("nurse")
    body = case_body()
    key = str(uuid.uuid4())
    opened = _post(nurse, "/api/v1/cases", body, key)
    assert opened.status_code == 201, opened.text
    again = _post(nurse, "/api/v1/cases", body, key)
    assert again.json() == opened.json()
    case_id = opened.json()["id"]

    path, check_in = _check_in(case_id)
    event_id = _post(nurse, path, check_in, str(uuid.uuid4())).json()["event_id"]
    amend = {"reason": "arrival time was charted late", "at": iso(now_utc())}
    amend_key = str(uuid.uuid4())
    amended = [_post(nurse, f"{path}/{event_id}/amend", amend, amend_key).json() for _ in range(2)]
    void_key = str(uuid.uuid4())
    voided = [
        _post(nurse, f"{path}/{event_id}/void", {"reason": "wrong patient"}, void_key).json()
        for _ in range(2)
    ]

    assert amended[0] == amended[1]
    assert voided[0] == voided[1]
    # opened, check-in, one amendment, one void
    assert event_count(api, case_id) == 4


def test_the_case_page_sends_one_key_per_form(api: Api) -> None:
    """The same rendered form posted twice (a lost answer, Record pressed again) stores
    one entry."""
    case_id = open_case(api.as_("nurse"))
    with api.server.client() as browser:
        token = api.server.token("nurse")
        browser.cookies.set("daycase_session", token)
        page = browser.get(f"/cases/{case_id}")
        assert page.status_code == 200, page.text
        form = re.search(r'action="/cases/[^"]+/record">(.*?)</form>', page.text, re.S)
        assert form is not None
        hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form[1]))
        assert set(hidden) >= {"csrf", "idempotency_key", "step"}
        local = now_utc().astimezone(CENTRE_TZ)
        fields = {
            **hidden,
            "step": "check_in",
            "f.identity_confirmed": "on",
            "f.consent_signed": "yes",
            "f.last_solids_at": f"{local - timedelta(hours=10):%Y-%m-%dT%H:%M}",
            "f.last_clear_fluids_at": f"{local - timedelta(hours=3):%Y-%m-%dT%H:%M}",
        }
        answers = [browser.post(f"/cases/{case_id}/record", data=fields) for _ in range(2)]

    assert [a.status_code for a in answers] == [303, 303], [a.text[:300] for a in answers]
    assert event_count(api, case_id) == 2


# --- a busy store ------------------------------------------------------------------------


@contextmanager
def locked(url: str) -> Iterator[None]:
    """Another program holding the database: SQLite's write lock, or an exclusive lock on
    PostgreSQL's case index."""
    if url.startswith("sqlite"):
        holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=1)
        try:
            holder.execute("BEGIN IMMEDIATE")
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("LOCK TABLE cases, events IN EXCLUSIVE MODE")
            yield
            conn.rollback()
    finally:
        engine.dispose()


def test_a_locked_store_answers_busy_quickly_and_recovers(api: Api) -> None:
    nurse = api.as_("nurse")
    case_id = open_case(nurse)
    path, body = _check_in(case_id)
    with locked(api.server.db_url):
        started = time.monotonic()
        r = nurse.post(path, json=body)
        waited = time.monotonic() - started
        assert_refusal(r, 503, "busy")
        assert r.headers["Retry-After"] == "2"
        assert "Nothing was saved" in r.json()["messages"][0]
        assert waited < 6, f"a busy store took {waited:.1f} s to answer"
        if api.server.db_url.startswith("sqlite"):
            # Readers never take SQLite's write lock: the case, the board and the
            # family board still answer, and promptly.
            for read in (
                f"/api/v1/cases/{case_id}",
                f"/api/v1/cases/{case_id}/events",
                "/api/v1/cases",
            ):
                started = time.monotonic()
                answer = nurse.get(read)
                assert answer.status_code == 200, (read, answer.text)
                assert time.monotonic() - started < 2, read
    again = nurse.post(path, json=body)
    assert again.status_code == 201, again.text
    assert event_count(api, case_id) == 2
