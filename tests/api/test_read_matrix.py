"""Who reads what, and the read audit (issue 8, part 3).

The read matrix ("minimum necessary"): the front desk and admins read the schedule,
the patients' details and the steps they record, never alerts, other steps' entries or
the next-day calls; clinical staff read everything; viewers the family board. The live
stream follows the same matrix. Every read of a case is audited: the staff stream, the
patient look-ups (found or not), and reads of the audit itself; the audit comes a page
at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.api.test_stream import subscribe
from tests.api.wire import (
    Api,
    assert_refusal,
    case_body,
    centre_day,
    check_in_data,
    module_api,
    now_utc,
    open_case,
    record,
    vitals_data,
)
from tests.support.databases import BACKENDS

DESK = ["front_desk", "admin"]
CLINICAL = ["nurse", "anesthesia", "proceduralist"]
# Audit rows of an open stream are written once per heartbeat interval.
ENV = {"DAYCASE_HEARTBEAT_SECONDS": "0.25"}


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with module_api(request, tmp_path_factory, ENV) as running:
        yield running


def alerting_case(api: Api) -> tuple[str, str]:
    """A checked-in case with a critical alert (SpO2 85 %): its id and day."""
    nurse = api.as_("nurse")
    body = case_body()
    r = nurse.post("/api/v1/cases", json=body)
    assert r.status_code == 201, r.text
    case_id: str = r.json()["id"]
    assert record(nurse, case_id, "check_in", check_in_data(now_utc())).status_code == 201
    assert record(nurse, case_id, "preop_vitals", vitals_data(spo2=85)).status_code == 201
    return case_id, centre_day(body["scheduled_start"])


def row_of(rows: list[dict[str, Any]], case_id: str) -> dict[str, Any]:
    return next(r for r in rows if r["case_id"] == case_id)


def audit_rows(api: Api, **params: Any) -> list[dict[str, Any]]:
    r = api.as_("admin").get("/api/v1/audit", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


# ------------------------------------------------------------------ the matrix


def test_the_desk_board_has_no_alerts_and_only_its_own_next_steps(api: Api) -> None:
    case_id, day = alerting_case(api)
    for role in CLINICAL:
        row = row_of(api.as_(role).get("/api/v1/board", params={"date": day}).json(), case_id)
        assert "vitals_out_of_range" in {a["code"] for a in row["alerts"]}, role
        assert row["withheld"] == []
    for role in DESK:
        r = api.as_(role).get("/api/v1/board", params={"date": day})
        assert r.status_code == 200, r.text
        row = row_of(r.json(), case_id)
        assert row["alerts"] == [], role
        assert row["override"] is False
        assert row["withheld"] == ["alerts", "other_steps"]
        assert set(row["next_due"]) <= {"Check-in", "Cancelled"}
        # The schedule and the patient's details stay: the desk's work needs them.
        assert row["patient_name"] == "Ada Lane"
        assert row["phase"] == "pre_op"


@pytest.mark.parametrize("role", ["front_desk", "admin", "viewer"])
def test_only_clinical_staff_read_the_next_day_calls(api: Api, role: str) -> None:
    assert_refusal(api.as_(role).get("/api/v1/calls"), 403, "role")
    assert api.as_("nurse").get("/api/v1/calls").status_code == 200


def test_the_desk_stream_carries_rows_without_alerts(api: Api) -> None:
    case_id, _ = alerting_case(api)
    with subscribe(api.server, api.server.token("front_desk")) as desk:
        assert desk.hello == {"audience": "staff"}
        assert record(api.as_("nurse"), case_id, "preop_vitals", vitals_data(spo2=84)).is_success
        event = desk.until(
            lambda e: e.event == "case" and e.json()["row"]["case_id"] == case_id, within_s=10
        )
    row = event.json()["row"]
    assert row["alerts"] == []
    assert row["withheld"] == ["alerts", "other_steps"]
    assert row["patient_name"] == "Ada Lane"
    with subscribe(api.server, api.server.token("nurse")) as nurse:
        assert record(api.as_("nurse"), case_id, "preop_vitals", vitals_data(spo2=83)).is_success
        event = nurse.until(
            lambda e: e.event == "case" and e.json()["row"]["case_id"] == case_id, within_s=10
        )
    assert event.json()["row"]["alerts"]


def test_the_desk_reads_a_case_without_alerts_or_other_steps(api: Api) -> None:
    """`GET /cases/{id}` and its events, as the read matrix says (routes/cases.py)."""
    case_id, _ = alerting_case(api)
    desk = api.as_("front_desk").get(f"/api/v1/cases/{case_id}").json()
    assert desk["alerts"] == []
    assert desk["withheld"] == ["alerts", "other_steps"]
    assert set(desk["steps"]) == {"check_in", "cancelled"}
    assert desk["patient"]["family_name"] == "Lane"
    events = api.as_("front_desk").get(f"/api/v1/cases/{case_id}/events").json()
    assert [(e["kind"], e.get("step")) for e in events] == [
        ("CaseOpened", None),
        ("StepRecorded", "check_in"),
    ]
    admin = api.as_("admin").get(f"/api/v1/cases/{case_id}/events").json()
    assert [e["kind"] for e in admin] == ["CaseOpened"]
    nurse = api.as_("nurse").get(f"/api/v1/cases/{case_id}").json()
    assert nurse["alerts"]
    assert len(nurse["steps"]) > 2


# ------------------------------------------------------------------ the read audit


def test_the_staff_stream_is_audited(api: Api) -> None:
    case_id = open_case(api.as_("nurse"))
    with subscribe(api.server, api.server.token("proceduralist")) as doc:
        assert record(api.as_("nurse"), case_id, "check_in", check_in_data(now_utc())).is_success
        doc.until(lambda e: e.event == "case" and case_id in e.data, within_s=10)
        doc.until(lambda e: e.event == "heartbeat", within_s=5)  # one audit interval
        doc.until(lambda e: e.event == "heartbeat", within_s=5)
    reads = [r for r in audit_rows(api, case_id=case_id) if r["action"] == "stream"]
    assert ("proceduralist", "proceduralist") in {(r["user"], r["role"]) for r in reads}
    opened = [
        r
        for r in audit_rows(api)
        if r["action"] == "stream"
        and r["user"] == "proceduralist"
        and (r["case_id"], r["case_ids"], r["detail"]) == (None, [], "opened")
    ]
    assert opened, "opening a staff stream is a row of its own"


def test_a_viewer_stream_is_not_a_read_of_any_case(api: Api) -> None:
    case_id = open_case(api.as_("nurse"))
    with subscribe(api.server, api.server.token("viewer")) as viewer:
        assert record(api.as_("nurse"), case_id, "check_in", check_in_data(now_utc())).is_success
        viewer.until(lambda e: e.event == "case", within_s=10)
        viewer.until(lambda e: e.event == "heartbeat", within_s=5)
    reads = [
        r
        for r in audit_rows(api)
        if r["user"] == "viewer" and (r["case_id"] is not None or r["action"] == "stream")
    ]
    assert reads == []  # (its sign-in is a row of its own, without a case)


def test_reading_the_audit_is_audited(api: Api) -> None:
    case_id = open_case(api.as_("nurse"))
    audit_rows(api, case_id=case_id)
    mine = [r for r in audit_rows(api) if r["action"] == "read_audit"]
    assert f"case {case_id}" in {r["detail"] for r in mine}
    assert all((r["user"], r["role"], r["case_id"]) == ("admin", "admin", None) for r in mine)


def test_patient_look_ups_are_audited_found_or_not(api: Api) -> None:
    nurse = api.as_("nurse")
    body = case_body()
    r = nurse.post("/api/v1/cases", json=body)
    case_id, code = r.json()["id"], r.json()["family_code"]
    with api.server.client() as family:
        for birth in ("1901-01-01", body["patient"]["birth_date"]):
            form = family.get("/patient")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf, form.text
            family.post("/patient", data={"code": code, "birth_date": birth, "csrf": csrf[1]})
    rows = audit_rows(api)
    failed = [r for r in rows if r["action"] == "patient_lookup_failed"]
    assert f"family code {code}" in {r["detail"] for r in failed}
    found = [r for r in audit_rows(api, case_id=case_id) if r["action"] == "patient_lookup"]
    assert [(r["role"], r["detail"]) for r in found] == [("patient", f"family code {code}")]
    assert found[0]["user"] == "patient@127.0.0.1"


# ------------------------------------------------------------------ paging


def _pages(api: Api, case_id: str, limit: int) -> list[list[dict[str, Any]]]:
    pages = []
    url: str | None = f"/api/v1/audit?case_id={case_id}&limit={limit}"
    while url is not None:
        r = api.as_("admin").get(url)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        link = r.headers.get("link")
        if link is None:
            url = None
        else:
            found = re.fullmatch(r'<(/api/v1/audit\?[^>]+)>; rel="next"', link)
            assert found, link
            url = found[1]
    return pages


def test_the_audit_comes_a_page_at_a_time(api: Api) -> None:
    case_id = open_case(api.as_("nurse"))
    assert record(api.as_("nurse"), case_id, "check_in", check_in_data(now_utc())).is_success
    for role in ("anesthesia", "proceduralist", "nurse", "anesthesia", "nurse"):
        assert api.as_(role).get(f"/api/v1/cases/{case_id}").status_code == 200
    whole = audit_rows(api, case_id=case_id)
    reads = [r for r in whole if r["id"] is not None]
    assert len(reads) == 5
    pages = _pages(api, case_id, limit=2)
    assert [len([r for r in p if r["id"] is not None]) for p in pages] == [2, 2, 1]
    # Newest page first, each page oldest first; every line exactly once, writes included.
    assert [r for page in reversed(pages) for r in page] == whole
    ids = [r["id"] for page in pages for r in page if r["id"] is not None]
    assert sorted(ids, reverse=True) == [r["id"] for r in reversed(reads)]
    assert {r["action"] for r in whole if r["id"] is None} == {"open_case", "record"}


def test_the_audit_page_size_is_bounded(api: Api) -> None:
    admin = api.as_("admin")
    assert_refusal(
        admin.get("/api/v1/audit", params={"limit": 1001}), 422, "invalid", field="limit"
    )
    assert_refusal(admin.get("/api/v1/audit", params={"limit": 0}), 422, "invalid", field="limit")
    assert_refusal(admin.get("/api/v1/audit", params={"before": 0}), 422, "invalid", field="before")
    for _ in range(3):  # the reads of the audit itself fill the log
        admin.get("/api/v1/audit", params={"limit": 1})
    r = admin.get("/api/v1/audit", params={"limit": 2})
    assert len(r.json()) == 2
    assert 'rel="next"' in r.headers["link"]
    default = admin.get("/api/v1/audit")
    assert len(default.json()) <= 100


def test_a_page_of_the_audit_stays_the_same_while_the_log_grows(api: Api) -> None:
    case_id = open_case(api.as_("nurse"))
    for _ in range(4):
        api.as_("anesthesia").get(f"/api/v1/cases/{case_id}")
    first = api.as_("admin").get("/api/v1/audit", params={"case_id": case_id, "limit": 2})
    older = re.search(r"before=(\d+)", first.headers["link"])
    assert older
    before = api.as_("admin").get(
        "/api/v1/audit", params={"case_id": case_id, "limit": 2, "before": older[1]}
    )
    for _ in range(3):
        api.as_("anesthesia").get(f"/api/v1/cases/{case_id}")
    again = api.as_("admin").get(
        "/api/v1/audit", params={"case_id": case_id, "limit": 2, "before": older[1]}
    )
    assert again.json() == before.json()


def test_a_client_without_paging_still_gets_the_newest_rows(api: Api) -> None:
    case_id = open_case(api.as_("nurse"))
    for _ in range(120):  # more reads than one page holds
        api.as_("anesthesia").get(f"/api/v1/cases/{case_id}")
    newest = open_case(api.as_("nurse"))
    assert api.as_("anesthesia").get(f"/api/v1/cases/{newest}").status_code == 200
    r: httpx.Response = api.as_("admin").get("/api/v1/audit")
    assert r.status_code == 200
    rows = r.json()
    assert rows == sorted(rows, key=lambda row: datetime.fromisoformat(row["at"]))
    assert any(row["case_id"] == newest for row in rows[-5:]), rows[-5:]
