"""Roles, every refusal kind, and corrections through the API, against a real server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.api.wire import (
    Api,
    assert_refusal,
    case_body,
    case_count,
    centre_day,
    check_in_data,
    event_count,
    iso,
    now_utc,
    open_case,
    record,
    shared_api,
    vitals_data,
)
from tests.support.databases import BACKENDS
from tests.support.server import ROLES

STAFF = ["front_desk", "nurse", "anesthesia", "proceduralist", "admin"]


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return shared_api(request, tmp_path_factory)


def checked_in_case(api: Api) -> str:
    """A new case, checked in by the nurse."""
    nurse = api.as_("nurse")
    case_id = open_case(nurse)
    r = record(nurse, case_id, "check_in", check_in_data(now_utc()))
    assert r.status_code == 201, r.text
    return case_id


@pytest.fixture
def case_id(api: Api) -> str:
    return checked_in_case(api)


# --- roles -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(r, r in ("front_desk", "nurse", "admin")) for r in ROLES],
)
def test_who_may_open_a_case(api: Api, role: str, allowed: bool) -> None:
    body = case_body()
    day = centre_day(body["scheduled_start"])
    before = case_count(api, day)
    c = api.as_(role)
    r = c.post("/api/v1/cases", json=body)
    if allowed:
        assert r.status_code == 201, r.text
        assert set(r.json()) == {"id", "family_code", "phase"}
        assert r.json()["phase"] == "scheduled"
        assert case_count(api, day) == before + 1
    else:
        assert_refusal(r, 403, "role")
        assert case_count(api, day) == before


def test_the_viewer_sees_the_family_board_and_nothing_else(api: Api, case_id: str) -> None:
    viewer = api.as_("viewer")
    r = viewer.get(
        "/api/v1/family-board", params={"date": centre_day(case_body()["scheduled_start"])}
    )
    assert r.status_code == 200, r.text
    rows = r.json()
    assert rows
    for row in rows:
        assert set(row) == {"family_code", "status", "colour", "minutes_in_status", "note"}
    assert "Getting ready" in {row["status"] for row in rows}
    for path in (
        "/api/v1/cases",
        "/api/v1/board",
        f"/api/v1/cases/{case_id}",
        f"/api/v1/cases/{case_id}/events",
        f"/api/v1/audit?case_id={case_id}",
        "/api/v1/audit",
    ):
        assert_refusal(viewer.get(path), 403, "role")
    before = event_count(api, case_id)
    assert_refusal(viewer.post("/api/v1/cases", json=case_body()), 403, "role")
    assert_refusal(record(viewer, case_id, "preop_vitals", vitals_data()), 403, "role")
    assert event_count(api, case_id) == before


@pytest.mark.parametrize("role", STAFF)
def test_staff_read_cases_and_boards(api: Api, role: str, case_id: str) -> None:
    c = api.as_(role)
    for path in ("/api/v1/cases", "/api/v1/board", "/api/v1/family-board"):
        assert c.get(path).status_code == 200
    assert c.get(f"/api/v1/cases/{case_id}").json()["phase"] == "pre_op"
    # The read matrix: the admin records no step, so it reads the opening only; the front
    # desk reads the check-in it may record (docs/security.md).
    events = c.get(f"/api/v1/cases/{case_id}/events").json()
    assert len(events) == (1 if role == "admin" else 2)


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_only_the_admin_reads_the_audit_log(api: Api, role: str) -> None:
    c = api.as_(role)
    body = assert_refusal(c.get("/api/v1/audit"), 403, "role")
    assert "admin" in body["messages"][0]
    admin = api.as_("admin")
    assert admin.get("/api/v1/audit").status_code == 200


@pytest.mark.parametrize(
    ("role", "step", "data", "status"),
    [
        ("front_desk", "preop_vitals", vitals_data(), 403),
        ("nurse", "preop_vitals", vitals_data(), 201),
        ("anesthesia", "preop_vitals", vitals_data(), 403),
        ("admin", "preop_vitals", vitals_data(), 403),
        ("nurse", "anesthesia_consult", {"plan": "general", "asa_class": 2, "mallampati": 2}, 403),
        (
            "anesthesia",
            "anesthesia_consult",
            {"plan": "general", "asa_class": 2, "mallampati": 2},
            201,
        ),
        (
            "nurse",
            "imaging_review",
            {"modality": "mri", "levels_confirmed": ["L1"], "findings": "ok"},
            403,
        ),
        (
            "proceduralist",
            "imaging_review",
            {"modality": "mri", "levels_confirmed": ["L1"], "findings": "ok"},
            201,
        ),
        ("admin", "cancelled", {"reason": "patient unwell"}, 403),
        ("front_desk", "cancelled", {"reason": "patient unwell"}, 201),
    ],
)
def test_the_role_decides_what_a_user_may_record(
    api: Api, case_id: str, role: str, step: str, data: dict[str, Any], status: int
) -> None:
    before = event_count(api, case_id)
    c = api.as_(role)
    r = record(c, case_id, step, data)
    if status == 201:
        assert r.status_code == 201, r.text
        assert r.json()["step"] == step
        assert r.json()["role"] == role
        assert event_count(api, case_id) == before + 1
    else:
        assert_refusal(r, 403, "role")
        assert event_count(api, case_id) == before


def test_a_nurse_recording_the_time_out_is_refused_and_nothing_is_stored(
    api: Api, case_id: str
) -> None:
    data = {
        "team_introduced": True,
        "patient_procedure_levels_confirmed": True,
        "imaging_displayed": True,
        "critical_events_reviewed": True,
    }
    before = event_count(api, case_id)
    nurse = api.as_("nurse")
    plain = record(nurse, case_id, "time_out", data)
    with_reason = record(nurse, case_id, "time_out", data, override_reason="surgeon busy")
    after = nurse.get(f"/api/v1/cases/{case_id}").json()
    assert_refusal(plain, 403, "role")
    assert_refusal(with_reason, 403, "role")
    assert event_count(api, case_id) == before
    assert after["events"] == before
    assert after["steps"]["time_out"] != "done"


def test_a_proceduralist_may_override_a_gate_with_a_reason(api: Api, case_id: str) -> None:
    doc = api.as_("proceduralist")
    r = record(doc, case_id, "in_room", {}, override_reason="theatre ready, checklist on paper")
    assert r.status_code == 201, r.text
    assert r.json()["override"] is True
    day = centre_day(doc.get(f"/api/v1/cases/{case_id}").json()["scheduled_start"])
    board = doc.get("/api/v1/board", params={"date": day}).json()
    assert next(row for row in board if row["case_id"] == case_id)["override"] is True


# --- every refusal kind ------------------------------------------------------------------


def test_invalid_data_is_422_naming_the_field(api: Api, case_id: str) -> None:
    before = event_count(api, case_id)
    nurse = api.as_("nurse")
    r = record(nurse, case_id, "preop_vitals", vitals_data(heart_rate=400))
    missing = record(nurse, case_id, "preop_vitals", {"heart_rate": 70})
    unknown = record(nurse, case_id, "fly_to_the_moon", {})
    body = assert_refusal(r, 422, "invalid", field="heart_rate")
    assert any("heart_rate" in m for m in body["messages"])
    assert_refusal(missing, 422, "invalid", field="spo2")
    assert_refusal(unknown, 422, "invalid", field="step")
    assert event_count(api, case_id) == before


def test_a_gate_is_409_naming_what_is_missing(api: Api, case_id: str) -> None:
    before = event_count(api, case_id)
    nurse = api.as_("nurse")
    r = record(nurse, case_id, "in_room")
    body = assert_refusal(r, 409, "gate")
    assert body["messages"] == ["WHO Sign In not done"]
    assert event_count(api, case_id) == before


def test_a_second_once_step_is_a_409_duplicate(api: Api, case_id: str) -> None:
    before = event_count(api, case_id)
    nurse = api.as_("nurse")
    r = record(nurse, case_id, "check_in", check_in_data(now_utc()))
    assert_refusal(r, 409, "duplicate")
    assert event_count(api, case_id) == before


def test_nothing_is_recorded_after_a_terminal_step_409_closed(api: Api, case_id: str) -> None:
    nurse = api.as_("nurse")
    assert record(nurse, case_id, "cancelled", {"reason": "unwell"}).status_code == 201
    before = event_count(api, case_id)
    r = record(nurse, case_id, "preop_vitals", vitals_data())
    assert nurse.get(f"/api/v1/cases/{case_id}").json()["phase"] == "cancelled"
    assert_refusal(r, 409, "closed")
    assert event_count(api, case_id) == before


def test_no_sign_in_is_401_auth(api: Api, case_id: str) -> None:
    before = event_count(api, case_id)
    anonymous = api.anonymous
    for r in (
        anonymous.get("/api/v1/cases"),
        anonymous.get(f"/api/v1/cases/{case_id}"),
        anonymous.post("/api/v1/cases", json=case_body()),
        record(anonymous, case_id, "preop_vitals", vitals_data()),
        anonymous.get("/api/v1/family-board"),
        anonymous.get("/api/v1/audit"),
    ):
        assert_refusal(r, 401, "auth")
    assert event_count(api, case_id) == before


def test_an_unknown_case_is_404(api: Api) -> None:
    missing = "0" * 32
    nurse = api.as_("nurse")
    for r in (
        nurse.get(f"/api/v1/cases/{missing}"),
        nurse.get(f"/api/v1/cases/{missing}/events"),
        record(nurse, missing, "check_in", check_in_data(now_utc())),
        nurse.post(f"/api/v1/cases/{missing}/events/{missing}/void", json={"reason": "x"}),
        nurse.post(f"/api/v1/cases/{missing}/events/{missing}/amend", json={"reason": "x"}),
    ):
        body = assert_refusal(r, 404, "not_found")
        assert missing in body["messages"][0]


def test_an_unknown_event_is_404_on_amend_and_void(api: Api, case_id: str) -> None:
    before = event_count(api, case_id)
    other_case = checked_in_case(api)
    nurse = api.as_("nurse")
    foreign = nurse.get(f"/api/v1/cases/{other_case}/events").json()[1]["event_id"]
    for event_id in ("f" * 32, foreign):
        base = f"/api/v1/cases/{case_id}/events/{event_id}"
        amend = nurse.post(f"{base}/amend", json={"reason": "typo", "data": {"spo2": 97}})
        void = nurse.post(f"{base}/void", json={"reason": "wrong patient"})
        assert_refusal(amend, 404, "not_found")
        assert_refusal(void, 404, "not_found")
    assert event_count(api, case_id) == before


def test_a_body_over_64_kib_is_413(api: Api, case_id: str) -> None:
    before = event_count(api, case_id)
    nurse = api.as_("nurse")
    r = record(nurse, case_id, "preop_vitals", {"note": "x" * 70_000})
    body = assert_refusal(r, 413, "too_large")
    assert "64 KiB" in body["messages"][0]
    assert event_count(api, case_id) == before


def test_unknown_paths_and_methods_answer_in_the_refusal_shape(api: Api) -> None:
    nurse = api.as_("nurse")
    assert_refusal(nurse.get("/api/v1/nothing-here"), 404, "not_found")
    for method, path, allow in (
        ("DELETE", "/api/v1/cases", "GET, POST"),
        ("PUT", "/api/v1/cases/abc/events", "GET, POST"),
        ("GET", "/api/v1/auth/token", "POST"),
    ):
        r = nurse.request(method, path)
        assert_refusal(r, 405, "invalid")
        assert r.headers["allow"] == allow


# --- corrections -------------------------------------------------------------------------


def test_amend_and_void_keep_the_original_in_the_history(api: Api, case_id: str) -> None:
    nurse = api.as_("nurse")
    r = record(nurse, case_id, "preop_vitals", vitals_data(heart_rate=72))
    assert r.status_code == 201, r.text
    vitals = r.json()
    assert vitals["kind"] == "StepRecorded"
    assert vitals["data"]["heart_rate"] == 72
    base = f"/api/v1/cases/{case_id}/events/{vitals['event_id']}"
    r = nurse.post(
        f"{base}/amend", json={"reason": "typed 72, read 92", "data": {"heart_rate": 92}}
    )
    assert r.status_code == 201, r.text
    amended = r.json()
    assert amended["kind"] == "EventAmended"
    assert amended["target_event_id"] == vitals["event_id"]
    assert amended["data"] == {"heart_rate": 92}
    assert amended["actor"] == "nurse"
    r = nurse.post(f"{base}/void", json={"reason": "wrong patient"})
    assert r.status_code == 201, r.text
    voided = r.json()
    assert voided["kind"] == "EventVoided"
    history = nurse.get(f"/api/v1/cases/{case_id}/events").json()
    state = nurse.get(f"/api/v1/cases/{case_id}").json()
    assert [e["kind"] for e in history] == [
        "CaseOpened",
        "StepRecorded",
        "StepRecorded",
        "EventAmended",
        "EventVoided",
    ]
    assert [e["seq"] for e in history] == [1, 2, 3, 4, 5]
    assert history[2] == vitals  # the original stays readable as it was
    assert history[3]["reason"] == "typed 72, read 92"
    assert history[4]["reason"] == "wrong patient"
    assert state["events"] == 5
    assert state["steps"]["preop_vitals"] != "done"


def test_only_a_recorded_step_can_be_corrected(api: Api, case_id: str) -> None:
    nurse = api.as_("nurse")
    vitals = record(nurse, case_id, "preop_vitals", vitals_data()).json()
    base = f"/api/v1/cases/{case_id}/events"
    amended = nurse.post(
        f"{base}/{vitals['event_id']}/amend", json={"reason": "re-read", "data": {"spo2": 96}}
    ).json()
    opened = nurse.get(base).json()[0]
    assert opened["kind"] == "CaseOpened"
    with api.nothing_stored():
        for target in (opened["event_id"], amended["event_id"]):
            amend = nurse.post(f"{base}/{target}/amend", json={"reason": "r", "data": {"x": 1}})
            void = nurse.post(f"{base}/{target}/void", json={"reason": "r"})
            assert_refusal(amend, 422, "invalid", field="target")
            assert_refusal(void, 422, "invalid", field="target")
    first = nurse.post(f"{base}/{vitals['event_id']}/void", json={"reason": "r"})
    assert first.status_code == 201, first.text
    with api.nothing_stored():
        again = nurse.post(f"{base}/{vitals['event_id']}/void", json={"reason": "r"})
    assert_refusal(again, 422, "invalid", field="target")


def test_a_correction_needs_a_reason_and_valid_data(api: Api, case_id: str) -> None:
    nurse = api.as_("nurse")
    vitals = record(nurse, case_id, "preop_vitals", vitals_data()).json()
    before = event_count(api, case_id)
    base = f"/api/v1/cases/{case_id}/events/{vitals['event_id']}"
    no_reason = nurse.post(f"{base}/amend", json={"data": {"heart_rate": 80}})
    blank_reason = nurse.post(f"{base}/void", json={"reason": "   "})
    bad_data = nurse.post(f"{base}/amend", json={"reason": "r", "data": {"heart_rate": 999}})
    too_late = nurse.post(
        f"{base}/amend", json={"reason": "r", "at": iso(now_utc() + timedelta(hours=2))}
    )
    assert_refusal(no_reason, 422, "invalid", field="reason")
    assert_refusal(blank_reason, 422, "invalid", field="reason")
    assert_refusal(bad_data, 422, "invalid", field="heart_rate")
    assert_refusal(too_late, 422, "invalid", field="at")
    assert event_count(api, case_id) == before


def test_only_the_authors_role_or_a_physician_may_correct(api: Api, case_id: str) -> None:
    nurse = api.as_("nurse")
    vitals = record(nurse, case_id, "preop_vitals", vitals_data()).json()
    base = f"/api/v1/cases/{case_id}/events/{vitals['event_id']}"
    before = event_count(api, case_id)
    desk = api.as_("front_desk")
    r = desk.post(f"{base}/void", json={"reason": "not mine"})
    assert_refusal(r, 403, "role")
    assert event_count(api, case_id) == before
    doc = api.as_("anesthesia")
    r = doc.post(f"{base}/amend", json={"reason": "re-measured", "data": {"spo2": 95}})
    assert r.status_code == 201, r.text
    assert event_count(api, case_id) == before + 1
