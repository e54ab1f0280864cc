"""Bad input, tried for real against a running server: each is refused, nothing is stored.

Every refusal is checked for its status, kind, the field it names, and that no traceback
or SQL reaches the client (`assert_refusal`); the database is counted before and after.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.api.wire import (
    Api,
    assert_refusal,
    case_body,
    centre_day,
    check_in_data,
    iso,
    now_utc,
    open_case,
    patient,
    record,
    shared_api,
    vitals_data,
)
from tests.support.databases import BACKENDS

JSON = {"content-type": "application/json"}
KIB = 1024


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return shared_api(request, tmp_path_factory)


@pytest.fixture(scope="module")
def case_id(api: Api) -> str:
    """One checked-in case that every refused write is aimed at."""
    nurse = api.as_("nurse")
    case_id = open_case(nurse)
    r = record(nurse, case_id, "check_in", check_in_data(now_utc()))
    assert r.status_code == 201, r.text
    return case_id


def vitals(**data: Any) -> dict[str, Any]:
    return {"step": "preop_vitals", "at": iso(now_utc()), "data": vitals_data(**data)}


def raw_vitals(heart_rate: str) -> bytes:
    """A vitals body with a literal JSON token (not valid JSON text, on purpose) as heart rate."""
    text = json.dumps(vitals(heart_rate=0)).replace(
        '"heart_rate": 0', f'"heart_rate": {heart_rate}'
    )
    assert heart_rate in text
    return text.encode()


# --- event bodies --------------------------------------------------------------------------

MALFORMED: list[Any] = [
    pytest.param(b'{"step": "preop_vitals", "at": ', "body", id="truncated"),
    pytest.param(b"not json at all", "body", id="not-json"),
    pytest.param(b'{"step": "preop_vitals",}', "body", id="trailing-comma"),
    pytest.param(b"\xff\xfe\x00garbage", "body", id="not-utf8"),
    pytest.param(b"[" * 5000 + b"]" * 5000, "body", id="deep-nesting"),
    pytest.param(b"null", "body", id="null"),
    pytest.param(b"[]", "body", id="list-for-object"),
    pytest.param(b'"preop_vitals"', "body", id="string-for-object"),
    pytest.param(b"{}", "step", id="empty-object"),
    pytest.param(b"", "body", id="empty-body"),
    pytest.param(raw_vitals("1" * 5000), "body", id="5000-digit-number"),
]


@pytest.mark.parametrize(("body", "field"), MALFORMED)
def test_malformed_bodies_are_422(api: Api, case_id: str, body: bytes, field: str) -> None:
    with api.nothing_stored():
        r = api.as_("nurse").post(f"/api/v1/cases/{case_id}/events", content=body, headers=JSON)
    assert_refusal(r, 422, "invalid", field=field)


def test_a_body_that_is_not_declared_json_is_422(api: Api, case_id: str) -> None:
    with api.nothing_stored():
        r = api.as_("nurse").post(
            f"/api/v1/cases/{case_id}/events",
            content=json.dumps(vitals()).encode(),
            headers={"content-type": "text/plain"},
        )
    assert_refusal(r, 422, "invalid", field="body")


WRONG: list[Any] = [
    # wrong types at the top level
    pytest.param({**vitals(), "step": 5}, "step", id="number-for-step"),
    pytest.param({**vitals(), "at": 1_780_000_000}, "at", id="number-for-time"),
    pytest.param({**vitals(), "at": "1780000000"}, "at", id="numeric-text-for-time"),
    pytest.param({**vitals(), "at": True}, "at", id="bool-for-time"),
    pytest.param({**vitals(), "data": []}, "data", id="list-for-data"),
    pytest.param({**vitals(), "data": "heart_rate=72"}, "data", id="string-for-data"),
    pytest.param({**vitals(), "override_reason": 5}, "override_reason", id="number-for-reason"),
    pytest.param({**vitals(), "override_reason": "a\x00b"}, "override_reason", id="nul-in-reason"),
    # wrong types inside data
    pytest.param(vitals(heart_rate="72"), "heart_rate", id="string-for-number"),
    pytest.param(vitals(heart_rate=True), "heart_rate", id="bool-for-number"),
    pytest.param(vitals(heart_rate=[72]), "heart_rate", id="list-for-number"),
    pytest.param(vitals(heart_rate={"value": 72}), "heart_rate", id="object-for-number"),
    pytest.param(vitals(heart_rate=None), "heart_rate", id="null-for-number"),
    pytest.param(vitals(pain_score=4.5), "pain_score", id="fraction-for-integer"),
    # unknown fields, at every depth
    pytest.param({**vitals(), "priority": "high"}, "priority", id="unknown-top-level"),
    pytest.param(vitals(colour="red"), "colour", id="unknown-in-data"),
    # huge and not-a-number values
    pytest.param(vitals(heart_rate=1e308), "heart_rate", id="huge-float"),
    pytest.param(vitals(heart_rate=10**40), "heart_rate", id="huge-integer"),
    pytest.param(vitals(heart_rate=-(10**40)), "heart_rate", id="huge-negative"),
    pytest.param(vitals(heart_rate="NaN"), "heart_rate", id="NaN-text"),
    pytest.param(vitals(heart_rate="Infinity"), "heart_rate", id="Infinity-text"),
    pytest.param(vitals(heart_rate="1e3"), "heart_rate", id="exponent-text"),
    pytest.param(vitals(heart_rate=""), "heart_rate", id="empty-text"),
    # clinical times out of the window, or without a timezone
    pytest.param({**vitals(), "at": iso(now_utc() + timedelta(hours=1))}, "at", id="at-future"),
    pytest.param({**vitals(), "at": "1900-01-01T08:00:00+00:00"}, "at", id="at-1900"),
    pytest.param({**vitals(), "at": "0001-01-01T00:00:00+14:00"}, "at", id="at-year-1"),
    pytest.param({**vitals(), "at": "9999-12-31T23:59:59-12:00"}, "at", id="at-year-9999"),
    pytest.param(
        {**vitals(), "at": now_utc().replace(tzinfo=None).isoformat()}, "at", id="at-naive"
    ),
    pytest.param({**vitals(), "at": "2026-13-45T25:61:00Z"}, "at", id="at-impossible"),
    pytest.param({**vitals(), "at": "yesterday"}, "at", id="at-words"),
]


@pytest.mark.parametrize(("body", "field"), WRONG)
def test_wrong_values_are_422_naming_the_field(
    api: Api, case_id: str, body: dict[str, Any], field: str
) -> None:
    with api.nothing_stored():
        r = api.as_("nurse").post(f"/api/v1/cases/{case_id}/events", json=body)
    assert_refusal(r, 422, "invalid", field=field)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_json_numbers_are_422(api: Api, case_id: str, token: str) -> None:
    nurse = api.as_("nurse")
    with api.nothing_stored():
        r = nurse.post(f"/api/v1/cases/{case_id}/events", content=raw_vitals(token), headers=JSON)
    assert_refusal(r, 422, "invalid", field="heart_rate")


LONE_SURROGATES: list[Any] = [
    pytest.param({**vitals(), "step": "pre\ud800op"}, "step", id="in-step"),
    pytest.param({**vitals(), "override_reason": "\udc00"}, "override_reason", id="in-reason"),
    pytest.param(
        {"step": "cancelled", "at": iso(now_utc()), "data": {"reason": "ill\ud800"}},
        "data",
        id="in-data-text",
    ),
    pytest.param(vitals(**{"note\udfff": 1}), "data", id="in-data-key"),
    pytest.param(
        {"step": "medication_review", "at": iso(now_utc()), "data": {"allergies": ["\ud83d"]}},
        "data",
        id="in-data-list",
    ),
]


@pytest.mark.parametrize(("body", "field"), LONE_SURROGATES)
def test_text_that_is_not_unicode_is_422(
    api: Api, case_id: str, body: dict[str, Any], field: str
) -> None:
    """JSON can escape half a UTF-16 pair (`\\ud800`); no store or answer can hold it."""
    raw = json.dumps(body, ensure_ascii=True).encode()
    with api.nothing_stored():
        r = api.as_("nurse").post(f"/api/v1/cases/{case_id}/events", content=raw, headers=JSON)
        opened = api.as_("nurse").post(
            "/api/v1/cases",
            content=json.dumps(case_body(patient=patient(given_name="Ad\ud800a"))).encode(),
            headers=JSON,
        )
    assert_refusal(r, 422, "invalid", field=field)
    assert_refusal(opened, 422, "invalid", field="patient.given_name")


def test_unknown_fields_inside_medication_items_are_422(api: Api, case_id: str) -> None:
    data = {
        "medications": [
            {"name": "aspirin", "kind": "otc"},
            {"name": "warfarin", "kind": "prescription", "dose": "5 mg"},
        ],
        "allergies": [],
        "anticoagulant": "held",
    }
    nurse = api.as_("nurse")
    with api.nothing_stored():
        r = record(nurse, case_id, "medication_review", data)
        wrong_item = record(
            nurse, case_id, "medication_review", {**data, "medications": ["aspirin"]}
        )
    body = assert_refusal(r, 422, "invalid")
    assert any("medications" in f and "dose" in f for f in body["fields"]), body
    body = assert_refusal(wrong_item, 422, "invalid")
    assert any("medications" in f for f in body["fields"]), body


def test_a_time_inside_data_needs_a_timezone(api: Api) -> None:
    nurse = api.as_("nurse")
    case_id = open_case(nurse)
    data = {**check_in_data(now_utc()), "last_solids_at": "2026-11-25T22:00:00"}
    with api.nothing_stored():
        r = record(nurse, case_id, "check_in", data)
    assert_refusal(r, 422, "invalid", field="last_solids_at")


# --- case bodies ---------------------------------------------------------------------------

BAD_CASES: list[Any] = [
    pytest.param({"nickname": "Addy"}, "nickname", id="unknown-top-level"),
    pytest.param(
        {"patient": {**patient(), "nickname": "Addy"}}, "patient.nickname", id="unknown-in-patient"
    ),
    pytest.param({"patient": []}, "patient", id="list-for-patient"),
    pytest.param({"patient": "Ada Lane"}, "patient", id="string-for-patient"),
    pytest.param(
        {"patient": patient(given_name="Ada\x07")}, "patient.given_name", id="bell-in-name"
    ),
    pytest.param(
        {"patient": patient(given_name="Ada\nLane")}, "patient.given_name", id="newline-in-name"
    ),
    pytest.param(
        {"patient": patient(family_name="La\x00ne")}, "patient.family_name", id="nul-in-name"
    ),
    pytest.param(
        {"patient": patient(family_name="Lane\x85")}, "patient.family_name", id="c1-in-name"
    ),
    pytest.param({"patient": patient(family_name="\t")}, "patient.family_name", id="tab-name"),
    pytest.param({"patient": patient(mrn="H-1\x1b[2J")}, "patient.mrn", id="escape-in-mrn"),
    pytest.param({"patient": patient(given_name="")}, "patient.given_name", id="empty-name"),
    pytest.param({"patient": patient(given_name="   ")}, "patient.given_name", id="blank-name"),
    pytest.param({"patient": patient(given_name="A" * 101)}, "patient.given_name", id="long-name"),
    pytest.param({"patient": patient(given_name=7)}, "patient.given_name", id="number-for-name"),
    pytest.param(
        {"patient": patient(birth_date="1944-02-30")}, "patient.birth_date", id="no-such-day"
    ),
    pytest.param(
        {"patient": patient(birth_date=-818035200)}, "patient.birth_date", id="number-for-date"
    ),
    pytest.param(
        {"patient": patient(birth_date="2999-01-01")}, "patient.birth_date", id="born-later"
    ),
    pytest.param(
        {"patient": patient(birth_date="1850-01-01")}, "patient.birth_date", id="born-1850"
    ),
    pytest.param({"patient": patient(sex="robot")}, "patient.sex", id="unknown-sex"),
    pytest.param({"levels": "L1"}, "levels", id="string-for-levels"),
    pytest.param({"levels": []}, "levels", id="no-levels"),
    pytest.param({"levels": ["L9"]}, "levels", id="no-such-level"),
    pytest.param({"levels": ["L1", "L1"]}, "levels", id="repeated-level"),
    pytest.param(
        {"levels": ["T5", "T6", "T7", "T8", "T9", "T10", "T11"]}, "levels", id="seven-levels"
    ),
    pytest.param({"levels": [1]}, "levels.0", id="number-for-level"),
    pytest.param({"pathway": "nope"}, "pathway", id="unknown-pathway"),
    pytest.param({"pathway_version": "9.9"}, "pathway_version", id="unknown-pathway-version"),
    pytest.param({"pathway_version": 2.0}, "pathway_version", id="number-for-version"),
    pytest.param({"pathway_version": ""}, "pathway_version", id="empty-version"),
    pytest.param(
        {"scheduled_start": iso(now_utc() - timedelta(days=400))},
        "scheduled_start",
        id="start-past",
    ),
    pytest.param(
        {"scheduled_start": iso(now_utc() + timedelta(days=3 * 365))},
        "scheduled_start",
        id="start-future",
    ),
    pytest.param(
        {"scheduled_start": "0001-01-01T00:00:00+14:00"}, "scheduled_start", id="start-year-1"
    ),
    pytest.param(
        {"scheduled_start": "9999-12-31T23:59:59-12:00"}, "scheduled_start", id="start-year-9999"
    ),
    pytest.param(
        {"scheduled_start": (now_utc() + timedelta(hours=1)).replace(tzinfo=None).isoformat()},
        "scheduled_start",
        id="start-naive",
    ),
    pytest.param({"scheduled_start": 1_780_000_000}, "scheduled_start", id="start-number"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_CASES)
def test_bad_case_bodies_are_422_and_open_nothing(
    api: Api, changes: dict[str, Any], field: str
) -> None:
    with api.nothing_stored():
        r = api.as_("front_desk").post("/api/v1/cases", json=case_body(**changes))
    assert_refusal(r, 422, "invalid", field=field)


def test_a_missing_patient_field_is_named(api: Api) -> None:
    p = patient()
    del p["birth_date"]
    with api.nothing_stored():
        r = api.as_("front_desk").post("/api/v1/cases", json=case_body(patient=p))
    body = assert_refusal(r, 422, "invalid", field="patient.birth_date")
    assert body["fields"]["patient.birth_date"] == "is required"


# --- accepted as written ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "family"),
    [
        ("José", "Ñúñez"),
        ("李", "小龍"),
        ("Zoë", "Brontë"),
        ("Seán", "O'Brien-Smith"),
        ("Ngô", "Bảo Châu"),
    ],
)
def test_unicode_names_are_accepted_and_read_back(api: Api, given: str, family: str) -> None:
    case_id = open_case(
        api.as_("front_desk"), patient=patient(given_name=given, family_name=family)
    )
    r = api.as_("nurse").get(f"/api/v1/cases/{case_id}")
    assert r.json()["patient"]["given_name"] == given
    assert r.json()["patient"]["family_name"] == family


def test_sql_looking_text_is_stored_verbatim_and_the_store_stays_whole(api: Api) -> None:
    given = "Robert'); DROP TABLE events;--"
    family = "' OR '1'='1"
    mrn = "1; DELETE FROM cases WHERE 1=1"
    reason = "x'); UPDATE users SET role='admin' WHERE name='viewer';--"
    desk = api.as_("front_desk")
    case_id = open_case(desk, patient=patient(given_name=given, family_name=family, mrn=mrn))
    r = record(desk, case_id, "cancelled", {"reason": reason})
    assert r.status_code == 201, r.text
    nurse = api.as_("nurse")
    case = nurse.get(f"/api/v1/cases/{case_id}").json()
    history = nurse.get(f"/api/v1/cases/{case_id}/events").json()
    listed = nurse.get("/api/v1/cases", params={"date": centre_day(case["scheduled_start"])})
    assert case["patient"] == {**patient(given_name=given, family_name=family, mrn=mrn)}
    assert history[-1]["data"] == {"reason": reason}
    assert case_id in {c["id"] for c in listed.json()}
    assert f"{given} {family}" in {c["patient_name"] for c in listed.json()}
    # The viewer is still a viewer, and every hash chain still holds.
    assert_refusal(api.as_("viewer").get("/api/v1/cases"), 403, "role")
    out = subprocess.run(
        [sys.executable, "-m", "daycase", "verify", "--db", api.server.db_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "every hash chain intact" in out.stdout


# --- sizes -----------------------------------------------------------------------------------


def test_a_body_over_64_kib_with_content_length_is_413(api: Api, case_id: str) -> None:
    body = json.dumps(vitals(note="x" * 65 * KIB)).encode()
    assert len(body) > 64 * KIB
    with api.nothing_stored():
        r = api.as_("nurse").post(f"/api/v1/cases/{case_id}/events", content=body, headers=JSON)
    assert r.request.headers["content-length"] == str(len(body))
    assert_refusal(r, 413, "too_large")


def test_a_chunked_body_over_64_kib_is_413(api: Api, case_id: str) -> None:
    body = json.dumps(vitals(note="x" * 100 * KIB)).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 8 * KIB):
            yield body[start : start + 8 * KIB]

    with api.nothing_stored():
        r = api.as_("nurse").post(f"/api/v1/cases/{case_id}/events", content=chunks(), headers=JSON)
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert_refusal(r, 413, "too_large")


def test_a_body_just_under_the_limit_reaches_the_pathway(api: Api) -> None:
    nurse = api.as_("nurse")
    case_id = open_case(nurse)
    r = record(nurse, case_id, "cancelled", {"reason": "r" * 60 * KIB})
    assert r.status_code == 201, r.text[:300]


def test_the_limit_is_64_kib_to_the_byte(api: Api, case_id: str) -> None:
    def body_of(size: int) -> bytes:
        bare = json.dumps(vitals(note="")).encode()
        return json.dumps(vitals(note="x" * (size - len(bare)))).encode()

    at_limit, over = body_of(64 * KIB), body_of(64 * KIB + 1)
    assert (len(at_limit), len(over)) == (64 * KIB, 64 * KIB + 1)
    nurse = api.as_("nurse")
    with api.nothing_stored():
        r = nurse.post(f"/api/v1/cases/{case_id}/events", content=at_limit, headers=JSON)
        assert_refusal(r, 422, "invalid", field="note")  # read, then refused by the pathway
        r = nurse.post(f"/api/v1/cases/{case_id}/events", content=over, headers=JSON)
        assert_refusal(r, 413, "too_large")


def test_an_oversized_sign_in_form_is_413(api: Api) -> None:
    form = {"username": "nurse", "password": "p" * 70 * KIB}
    r = api.anonymous.post("/api/v1/auth/token", data=form)
    assert_refusal(r, 413, "too_large")


# --- ids and addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_id",
    [
        pytest.param("%27%3B%20DROP%20TABLE%20cases%3B--", id="sql"),
        pytest.param("caf%C3%A9", id="non-ascii"),
        pytest.param("a" * 300, id="long"),
    ],
)
def test_malformed_ids_are_422_naming_the_id(api: Api, case_id: str, bad_id: str) -> None:
    nurse = api.as_("nurse")
    with api.nothing_stored():
        for r, field in (
            (nurse.get(f"/api/v1/cases/{bad_id}"), "case_id"),
            (nurse.get(f"/api/v1/cases/{bad_id}/events"), "case_id"),
            (nurse.post(f"/api/v1/cases/{bad_id}/events", json=vitals()), "case_id"),
            (
                nurse.post(f"/api/v1/cases/{case_id}/events/{bad_id}/void", json={"reason": "x"}),
                "event_id",
            ),
            (
                nurse.post(f"/api/v1/cases/{case_id}/events/{bad_id}/amend", json={"reason": "x"}),
                "event_id",
            ),
        ):
            assert_refusal(r, 422, "invalid", field=field)
    r = api.as_("admin").get(f"/api/v1/audit?case_id={bad_id}")
    assert_refusal(r, 422, "invalid", field="case_id")


def test_a_path_that_climbs_out_finds_no_page(api: Api) -> None:
    for path in ("/api/v1/cases/..%2F..%2Fopenapi.json", "/api/v1/cases/%2E%2E/%2E%2E/audit"):
        assert_refusal(api.as_("nurse").get(path), 404, "not_found")


@pytest.mark.parametrize("control", ["%00", "%0A", "%1B", "%7F", "%C2%85"])
def test_control_characters_in_an_address_are_422_before_any_route(
    api: Api, case_id: str, control: str
) -> None:
    """PostgreSQL refuses NUL bytes in text: such an id must never reach a query."""
    nurse = api.as_("nurse")
    with api.nothing_stored():
        for path in (
            f"/api/v1/cases/{control}",
            f"/api/v1/cases/ab{control}cd/events",
            f"/api/v1/cases/{case_id}/events/{control}/void",
            f"/cases/{control}",  # the staff pages, when they are served
        ):
            assert_refusal(
                nurse.post(path) if "void" in path else nurse.get(path),
                422,
                "invalid",
                field="path",
            )
        for path in (
            f"/api/v1/audit?case_id={control}",
            f"/api/v1/board?date=2026-11-26{control}",
            f"/api/v1/cases?date={control}",
        ):
            assert_refusal(api.as_("admin").get(path), 422, "invalid", field="query")


@pytest.mark.parametrize("day", ["2026-02-30", "26-11-2026", "today", "99999-01-01", "0"])
def test_a_bad_date_query_is_422(api: Api, day: str) -> None:
    nurse = api.as_("nurse")
    for path in ("/api/v1/cases", "/api/v1/board", "/api/v1/family-board"):
        assert_refusal(nurse.get(f"{path}?date={day}"), 422, "invalid", field="date")
