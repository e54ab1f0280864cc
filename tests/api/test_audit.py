"""The audit log: every read of a case's clinical detail, and every write, with who and when."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.api.wire import (
    Api,
    centre_day,
    check_in_data,
    now_utc,
    open_case,
    record,
    shared_api,
    vitals_data,
)
from tests.support.databases import BACKENDS


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return shared_api(request, tmp_path_factory)


def audit(api: Api, case_id: str | None = None) -> list[dict[str, Any]]:
    params = {"case_id": case_id} if case_id else {}
    r = api.as_("admin").get("/api/v1/audit", params=params)
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


def who_did_what(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(row["user"], row["role"], row["action"]) for row in rows]


def test_reads_and_writes_of_a_case_are_in_its_audit_log_with_who_and_when(api: Api) -> None:
    start = now_utc()
    case_id = open_case(api.as_("front_desk"))
    day = centre_day(api.as_("nurse").get(f"/api/v1/cases/{case_id}").json()["scheduled_start"])
    assert (
        record(api.as_("nurse"), case_id, "check_in", check_in_data(now_utc())).status_code == 201
    )
    assert api.as_("proceduralist").get(f"/api/v1/cases/{case_id}").status_code == 200
    assert api.as_("anesthesia").get(f"/api/v1/cases/{case_id}/events").status_code == 200
    assert api.as_("nurse").get("/api/v1/board", params={"date": day}).status_code == 200
    assert api.as_("front_desk").get("/api/v1/cases", params={"date": day}).status_code == 200
    end = now_utc() + timedelta(seconds=1)

    rows = audit(api, case_id)
    assert who_did_what(rows) == [
        ("front_desk", "front_desk", "open_case"),
        ("nurse", "nurse", "read_case"),  # the day looked up above
        ("nurse", "nurse", "record"),
        ("proceduralist", "proceduralist", "read_case"),
        ("anesthesia", "anesthesia", "read_events"),
        ("nurse", "nurse", "board"),
        ("front_desk", "front_desk", "list_cases"),
    ]
    assert all(row["case_id"] == case_id for row in rows)
    assert rows[2]["detail"] == "check_in"
    assert rows[5]["detail"] == rows[6]["detail"] == day
    times = [datetime.fromisoformat(row["at"]) for row in rows]
    assert times == sorted(times)
    assert all(start <= t <= end for t in times)


def test_each_read_is_one_row(api: Api) -> None:
    case_id = open_case(api.as_("nurse"))
    before = len(audit(api, case_id))
    for _ in range(3):
        api.as_("anesthesia").get(f"/api/v1/cases/{case_id}")
    assert len(audit(api, case_id)) == before + 3


def test_a_board_read_is_written_for_every_case_it_showed(api: Api) -> None:
    nurse = api.as_("nurse")
    first, second = open_case(nurse), open_case(nurse)
    day = centre_day(nurse.get(f"/api/v1/cases/{first}").json()["scheduled_start"])
    api.as_("proceduralist").get("/api/v1/board", params={"date": day})
    for case_id in (first, second):
        reads = [r for r in audit(api, case_id) if r["role"] == "proceduralist"]
        assert [(r["action"], r["detail"]) for r in reads] == [("board", day)]


def test_corrections_appear_as_writes(api: Api) -> None:
    nurse = api.as_("nurse")
    case_id = open_case(nurse)
    record(nurse, case_id, "check_in", check_in_data(now_utc()))
    vitals = record(nurse, case_id, "preop_vitals", vitals_data()).json()
    base = f"/api/v1/cases/{case_id}/events/{vitals['event_id']}"
    doc = api.as_("anesthesia")
    assert (
        doc.post(f"{base}/amend", json={"reason": "re-read", "data": {"spo2": 96}}).status_code
        == 201
    )
    assert doc.post(f"{base}/void", json={"reason": "wrong patient"}).status_code == 201
    writes = [
        (r["user"], r["action"], r["detail"])
        for r in audit(api, case_id)
        if r["action"] in ("amend", "void", "record")
    ]
    assert writes == [
        ("nurse", "record", "check_in"),
        ("nurse", "record", "preop_vitals"),
        ("anesthesia", "amend", vitals["event_id"]),
        ("anesthesia", "void", vitals["event_id"]),
    ]


def test_a_refused_read_reads_nothing_and_the_family_board_is_not_clinical(api: Api) -> None:
    case_id = open_case(api.as_("nurse"))
    before = audit(api, case_id)
    assert api.as_("viewer").get(f"/api/v1/cases/{case_id}").status_code == 403
    assert api.as_("viewer").get("/api/v1/family-board").status_code == 200
    assert audit(api, case_id) == before


def test_the_whole_log_lists_reads_of_every_case(api: Api) -> None:
    case_id = open_case(api.as_("nurse"))
    api.as_("proceduralist").get(f"/api/v1/cases/{case_id}/events")
    rows = audit(api)
    assert ("proceduralist", "proceduralist", "read_events") in who_did_what(
        [r for r in rows if r["case_id"] == case_id]
    )
    assert {"nurse", "proceduralist", "front_desk", "anesthesia"} <= {r["user"] for r in rows}


def test_an_unknown_case_has_an_empty_log(api: Api) -> None:
    assert audit(api, "0" * 32) == []
