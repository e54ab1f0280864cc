"""The schedule over HTTP against a real server: book, reorder, move, delay, cancel; who may
do what; refusals that name the problem and store nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from daycase.config import Settings
from daycase.services.accounts import User
from daycase.services.centre_setup import example_yaml, setup_from_yaml
from daycase.services.runtime import open_runtime
from tests.support.clock import CENTRE_TZ, OFFSET, centre_now
from tests.support.databases import database
from tests.support.server import Server, run_server

DAY = (centre_now() + timedelta(days=2)).date()
# The server's clock reads noon the day before, whatever the hour the suite runs at: the
# cases are then 19-21 h ahead (a case may be cancelled from 24 h before its start).
NOON_BEFORE = datetime.combine(DAY - timedelta(days=1), time(12, 0), CENTRE_TZ)


def at(hour: int, minute: int = 0) -> str:
    return datetime.combine(DAY, time(hour, minute), CENTRE_TZ).isoformat()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with database("sqlite", tmp_path) as url:
        runtime = open_runtime(Settings(db=url, clock_offset_seconds=OFFSET.total_seconds()))
        try:
            runtime.change_setup(
                setup_from_yaml(example_yaml()), by=User("ann", "admin"), expected_version=0
            )
        finally:
            runtime.close()
        offset = (NOON_BEFORE - datetime.now(UTC)).total_seconds()
        env = {"DAYCASE_CLOCK_OFFSET_SECONDS": repr(offset)}
        with run_server(url, tmp_path, env=env) as srv:
            yield srv


def book(client: httpx.Client, mrn: str, start: str) -> str:
    r = client.post(
        "/api/v1/cases",
        json={
            "patient": {
                "mrn": mrn,
                "given_name": "Ada",
                "family_name": f"Lane-{mrn}",
                "birth_date": "1944-05-17",
                "sex": "female",
            },
            "levels": ["L1"],
            "scheduled_start": start,
        },
    )
    assert r.status_code == 201, r.text
    case_id: str = r.json()["id"]
    return case_id


def room(body: dict[str, Any], room_id: str) -> list[tuple[str, str]]:
    found = next(r for r in body["rooms"] if r["room"] == room_id)
    return [
        (c["case_id"], c["expected_start"][11:16]) for c in found["cases"] if c["expected_start"]
    ]


def test_a_charge_nurse_books_reorders_moves_delays_and_cancels(server: Server) -> None:
    with server.client(server.token("front_desk")) as desk:
        a, b, c = (book(desk, f"H-{i}", at(7 + i)) for i in range(3))
    with server.client(server.token("nurse")) as nurse:
        for case_id in (a, b, c):
            r = nurse.post("/api/v1/schedule/place", json={"case_id": case_id, "room": "PR1"})
            assert r.status_code == 200, r.text
        assert room(r.json(), "PR1") == [(a, "07:00"), (b, "08:15"), (c, "09:30")]
        r = nurse.post("/api/v1/schedule/place", json={"case_id": c, "room": "PR1", "position": 1})
        assert room(r.json(), "PR1") == [(c, "09:00"), (a, "10:15"), (b, "11:30")]
        r = nurse.post("/api/v1/schedule/place", json={"case_id": b, "room": "IR1"})
        assert room(r.json(), "IR1") == [(b, "08:00")]
        r = nurse.post(
            "/api/v1/schedule/delays",
            json={"case_id": a, "reason": "equipment", "note": "balloon tray recount"},
        )
        assert r.status_code == 200, r.text
        slot = next(s for s in r.json()["rooms"][0]["cases"] if s["case_id"] == a)
        assert slot["delays"][0]["label"] == "Equipment"
        assert slot["delays"][0]["by"] == "nurse"
        r = nurse.post(
            "/api/v1/schedule/cancel", json={"case_id": c, "reason": "not_fasted", "note": ""}
        )
        assert r.status_code == 200, r.text
        cancelled = r.json()["rooms"][0]["cases"][0]
        assert (cancelled["state"], cancelled["cancellation"]["label"]) == (
            "cancelled",
            "Not fasted",
        )
        assert room(r.json(), "PR1")[0] == (a, "07:00")
        r = nurse.get(f"/api/v1/cases/{c}")
        assert r.json()["phase"] == "cancelled"
        r = nurse.get("/api/v1/schedule/history", params={"date": DAY.isoformat()})
        assert [h["change"]["kind"] for h in r.json()] == [
            "place",
            "place",
            "place",
            "place",
            "place",
            "adddelay",
            "cancel",
        ]
        r = nurse.get("/api/v1/schedule", params={"date": DAY.isoformat()})
        assert r.status_code == 200
        assert r.json()["version"] == 7


def test_refusals_name_the_problem_and_store_nothing(server: Server) -> None:
    with server.client(server.token("front_desk")) as desk:
        a = book(desk, "H-1", at(8))
        twin = book(desk, "H-1", at(8))
    with server.client(server.token("nurse")) as nurse:
        assert nurse.post("/api/v1/schedule/place", json={"case_id": a, "room": "PR1"}).is_success
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"case_id": twin, "room": "PR2"}, 409, "one patient cannot be in two places"),
            ({"case_id": a, "room": "XX9"}, 422, "room: XX9 is not a room of the centre"),
            ({"case_id": "nope", "room": "PR1"}, 404, "no case nope"),
            ({"case_id": a, "room": "PR1", "position": 0}, 422, "position"),
        ]
        for body, status, words in cases:
            r = nurse.post("/api/v1/schedule/place", json=body)
            assert r.status_code == status, r.text
            assert words in " ".join(r.json()["messages"]) + str(r.json()["fields"]), r.text
        r = nurse.post("/api/v1/schedule/duration", json={"case_id": a, "minutes": 120})
        assert r.status_code == 403
        assert r.json()["messages"] == ["Only the proceduralist sets a case's expected duration"]
        r = nurse.post("/api/v1/schedule/delays", json={"case_id": a, "reason": "other"})
        assert r.status_code == 422
        assert r.json()["messages"] == ["note: say what the reason was when it is 'Other'"]
        r = nurse.get("/api/v1/schedule/history", params={"date": DAY.isoformat()})
        assert len(r.json()) == 1
    with server.client(server.token("proceduralist")) as doc:
        r = doc.post("/api/v1/schedule/duration", json={"case_id": a, "minutes": 120})
        assert r.status_code == 200, r.text
        assert r.json()["rooms"][0]["cases"][0]["duration_min"] == 120
    with server.client(server.token("viewer")) as tv:
        assert tv.get("/api/v1/schedule").status_code == 403
