"""A first walk through the API against a real server on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.databases import BACKENDS, database
from tests.support.server import Server, run_server


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with database(request.param, tmp_path) as url, run_server(url, tmp_path) as srv:
        yield srv


def test_open_a_case_record_a_step_and_read_it_back(server: Server) -> None:
    now = server.now()
    with server.client(server.token("front_desk")) as desk:
        r = desk.post(
            "/api/v1/cases",
            json={
                "patient": {
                    "mrn": "H-1",
                    "given_name": "Ada",
                    "family_name": "Lane",
                    "birth_date": "1944-05-17",
                    "sex": "female",
                },
                "levels": ["L1"],
                "scheduled_start": (now + timedelta(hours=1)).isoformat(),
            },
        )
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]
        r = desk.post(
            f"/api/v1/cases/{case_id}/events",
            json={
                "step": "check_in",
                "at": now.isoformat(),
                "data": {
                    "identity_confirmed": True,
                    "consent_signed": True,
                    "last_solids_at": (now - timedelta(hours=10)).isoformat(),
                    "last_clear_fluids_at": (now - timedelta(hours=3)).isoformat(),
                },
            },
        )
        assert r.status_code == 201, r.text
    with server.client(server.token("nurse")) as nurse:
        r = nurse.get(f"/api/v1/cases/{case_id}")
        assert r.status_code == 200
        body = r.json()
        assert body["phase"] == "pre_op"
        assert body["family_status"] == "Getting ready"
        assert body["steps"]["check_in"] == "done"
        assert body["events"] == 2
        r = nurse.post(
            f"/api/v1/cases/{case_id}/events", json={"step": "in_room", "at": now.isoformat()}
        )
        assert r.status_code == 409
        assert r.json() == {"kind": "gate", "messages": ["WHO Sign In not done"], "fields": {}}
