"""Pathway versions and kyphoplasty 2.0 through the API, against a real server (tests room).

A new case takes the latest version unless it names one; a case is read with its version;
a case whose definition is not on the server is an error naming it, never re-judged; the
2.0 discharge gate names each reason; the next-day calls are listed by urgency.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from daycase.engine.events import CaseOpened, Patient
from daycase.store.factory import open_store
from tests.api.wire import (
    Api,
    assert_refusal,
    case_body,
    centre_day,
    check_in_data,
    iso,
    now_utc,
    shared_api,
    vitals_data,
)
from tests.support.checklists import ALDRETE, NORMAL_LEGS, PADSS, SIGN_IN, SIGN_OUT, TIME_OUT
from tests.support.databases import BACKENDS


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return shared_api(request, tmp_path_factory)


def opened(api: Api, **changes: Any) -> dict[str, Any]:
    nurse = api.as_("nurse")
    r = nurse.post("/api/v1/cases", json=case_body(**changes))
    assert r.status_code == 201, r.text
    case: dict[str, Any] = nurse.get(f"/api/v1/cases/{r.json()['id']}").json()
    return case


def test_a_new_case_takes_the_latest_version_unless_it_names_one(api: Api) -> None:
    assert opened(api)["pathway_version"] == "2.0"
    old = opened(api, pathway_version="1.0")
    assert old["pathway_version"] == "1.0"
    assert "discharge_order" not in old["steps"]
    assert "discharge_order" in opened(api)["steps"]


def test_an_unknown_version_is_422_naming_it_and_opens_nothing(api: Api) -> None:
    with api.nothing_stored():
        r = api.as_("nurse").post("/api/v1/cases", json=case_body(pathway_version="9.9"))
    body = assert_refusal(r, 422, "invalid", field="pathway_version")
    assert "1.0, 2.0" in body["fields"]["pathway_version"]


def test_a_case_whose_definition_is_not_here_is_an_error_naming_it(api: Api) -> None:
    """A case pinned to a definition this server does not have is never re-judged."""
    start = now_utc() + timedelta(hours=1)
    store = open_store(api.server.db_url)
    try:
        store.append(
            [
                CaseOpened(
                    event_id="foreign-e1",
                    case_id="foreign-case",
                    seq=1,
                    recorded_at=now_utc(),
                    actor="another-server",
                    role="nurse",
                    pathway_id="kyphoplasty",
                    pathway_version="2.0",
                    pathway_digest="f" * 64,
                    patient=Patient(
                        mrn="H-F1",
                        given_name="Fay",
                        family_name="Foreign",
                        birth_date=datetime(1950, 1, 1).date(),
                        sex="female",
                    ),
                    levels=("L1",),
                    scheduled_start=start,
                    family_code="FFFFFF",
                )
            ],
            expected_seq=0,
        )
    finally:
        store.close()
    r = api.as_("nurse").get("/api/v1/cases/foreign-case")
    body = assert_refusal(r, 500, "pathway_unavailable")
    said = body["messages"][0]
    assert "foreign-case" in said
    assert "kyphoplasty" in said
    assert "2.0" in said


class Day:
    """One 2.0 case recorded through the API, back-charted from `base` (minutes after it)."""

    def __init__(self, api: Api, base: datetime) -> None:
        self.api, self.base = api, base
        r = api.as_("nurse").post(
            "/api/v1/cases", json=case_body(scheduled_start=self.at(60), levels=["L1"])
        )
        assert r.status_code == 201, r.text
        self.case_id: str = r.json()["id"]

    def at(self, minute: float) -> str:
        return iso(self.base + timedelta(minutes=minute))

    def send(self, role: str, step: str, minute: float, **body: Any) -> httpx.Response:
        return self.api.as_(role).post(
            f"/api/v1/cases/{self.case_id}/events",
            json={"step": step, "at": self.at(minute), **body},
        )

    def ok(self, role: str, step: str, minute: float, data: dict[str, Any] | None = None) -> None:
        r = self.send(role, step, minute, data=data or {})
        assert r.status_code == 201, (step, r.text)

    def to_recovery(self, *, leak: dict[str, Any] | None = None) -> None:
        """Check-in to arrival in recovery at minute 62."""
        ok = self.ok
        ok("nurse", "check_in", 0, check_in_data(self.base))
        ok("nurse", "preop_vitals", 2, vitals_data())
        ok(
            "nurse",
            "medication_review",
            4,
            {"medications": [], "allergies": [], "antithrombotics": []},
        )
        ok("nurse", "back_assessment", 6, {"pain_score": 6, **NORMAL_LEGS})
        ok(
            "proceduralist",
            "imaging_review",
            8,
            {"modality": "mri", "levels_confirmed": ["L1"], "findings": "L1 fracture"},
        )
        ok(
            "anesthesia",
            "anesthesia_consult",
            10,
            {"plan": "local_sedation", "asa_class": 2, "mallampati": 2},
        )
        ok("nurse", "antibiotic_given", 30, {"drug": "cefazolin", "dose_mg": 2000, "route": "iv"})
        ok("nurse", "sign_in", 32, dict.fromkeys(SIGN_IN, True))
        ok("nurse", "in_room", 40)
        ok("nurse", "positioned_prone", 41)
        ok("anesthesia", "anesthesia_start", 42, {"type": "local_sedation"})
        ok("nurse", "site_prepped", 43, {"shaved": False, "draped": True})
        ok("proceduralist", "time_out", 44, dict.fromkeys(TIME_OUT, True))
        ok("proceduralist", "level_confirmed", 45, {"level": "L1", "method": "fluoroscopy"})
        ok("proceduralist", "incision", 46)
        ok("proceduralist", "trocar_placed", 47, {"level": "L1", "approach": "bipedicular"})
        ok(
            "proceduralist",
            "balloon_inflated",
            49,
            {"level": "L1", "max_pressure_psi": 150, "volume_ml": 3},
        )
        ok("proceduralist", "balloon_removed", 51, {"level": "L1"})
        ok(
            "proceduralist",
            "cement_injected",
            53,
            {"level": "L1", "volume_ml": 4, **(leak or {"leakage": "none"})},
        )
        ok(
            "proceduralist",
            "final_imaging",
            55,
            {"cement_distribution_ok": True, "leakage": "none"},
        )
        ok("nurse", "dressing_applied", 56, {"pressure_applied": True, "sutures": False})
        ok("nurse", "sign_out", 57, dict.fromkeys(SIGN_OUT, True))
        ok("anesthesia", "anesthesia_end", 57)
        ok("nurse", "out_of_room", 60)
        ok("nurse", "pacu_arrival", 62)

    def ready_to_go(self, *, vitals: bool = True, warning_signs: bool = True) -> None:
        """Recovery charted on time and everything the discharge gate asks for, by 122."""
        if vitals:
            for minute in (62, 77, 92, 107, 122):
                self.ok("nurse", "pacu_vitals", minute, {**vitals_data(), "sedation": 0})
            for minute in (62, 92, 122):
                self.ok("nurse", "neuro_check", minute, dict(NORMAL_LEGS))
        self.ok("nurse", "aldrete_score", 100, dict.fromkeys(ALDRETE, 2))
        self.ok("nurse", "padss_score", 105, dict.fromkeys(PADSS, 2))
        self.ok(
            "nurse",
            "discharge_consult",
            110,
            {
                "medications_reviewed": True,
                "physical_therapy": "not_needed",
                "warning_signs_explained": warning_signs,
                "instructions_given": True,
            },
        )
        self.ok("proceduralist", "discharge_order", 112, {"post_anesthesia_assessed": True})
        self.ok(
            "nurse",
            "transport_confirmed",
            114,
            {"escort_name": "Sam", "escort_present": True, "no_driving_acknowledged": True},
        )

    def day(self) -> str:
        return centre_day(self.at(60))


def test_the_reviews_unsafe_discharge_is_refused_naming_each_reason(api: Api) -> None:
    case = Day(api, now_utc() - timedelta(hours=4))
    case.to_recovery(leak={"leakage": "major", "leakage_site": "epidural"})
    case.ok(
        "nurse",
        "neuro_check",
        70,
        {"leg_strength": "reduced_both", "leg_sensation": "normal", "bladder_bowel": "abnormal"},
    )
    case.ready_to_go(vitals=False, warning_signs=False)

    with api.nothing_stored():
        r = case.send("nurse", "discharged", 125)
    messages = "\n".join(assert_refusal(r, 409, "gate")["messages"])
    for reason in (
        "Discharge consult: warning signs not explained",
        "No recovery vitals recorded",
        "Active alert: New neurological deficit",
        "Active alert: Cement leakage: major; site epidural at L1",
    ):
        assert reason in messages
    r = case.send("proceduralist", "discharged", 126, override_reason="Reviewed with the surgeon")
    assert r.status_code == 201, r.text
    assert r.json()["override"] is True
    board = api.as_("nurse").get("/api/v1/board", params={"date": case.day()}).json()
    assert next(row for row in board if row["case_id"] == case.case_id)["override"] is True


def test_the_calls_to_make_come_the_day_after_with_red_flags_first(api: Api) -> None:
    """Two patients home for 30 h (due) and 40 h (missed); a call finds a fever on the
    first one (a red flag, first on the list); a later clean call takes it off."""
    nurse = api.as_("nurse")
    cases = {}
    for hours in (30, 40):
        case = Day(api, now_utc() - timedelta(hours=hours, minutes=123))
        case.to_recovery()
        case.ready_to_go()
        case.ok("nurse", "discharged", 123)
        cases[hours] = case
    today = centre_day(now_utc())

    def listed() -> dict[str, tuple[int, str]]:
        rows = nurse.get("/api/v1/calls", params={"date": today}).json()
        return {r["case_id"]: (i, r["status"]) for i, r in enumerate(rows)}

    found = listed()
    # Both went home 30 h and 40 h ago: never on the day of the call, at any hour.
    assert today not in (cases[30].day(), cases[40].day())
    assert found[cases[30].case_id][1] == "due"
    assert found[cases[40].case_id][1] == "missed"
    answers = {
        "reached": True,
        "new_leg_weakness_or_numbness": False,
        "bladder_or_bowel_problem": False,
        "breathing_problem_or_chest_pain": False,
        "fever": True,
        "wound_problem": False,
        "fall": False,
        "pain_score": 4,
        "antithrombotic_restarted": "not_applicable",
        "action": "clinic_visit",
    }
    r = nurse.post(
        f"/api/v1/cases/{cases[30].case_id}/events",
        json={"step": "follow_up_call", "at": iso(now_utc()), "data": answers},
    )
    assert r.status_code == 201, r.text
    found = listed()
    assert found[cases[30].case_id] == (min(i for i, _ in found.values()), "red_flag")
    r = nurse.post(
        f"/api/v1/cases/{cases[30].case_id}/events",
        json={"step": "follow_up_call", "at": iso(now_utc()), "data": {**answers, "fever": False}},
    )
    assert r.status_code == 201, r.text
    assert cases[30].case_id not in listed()
    assert_refusal(api.as_("viewer").get("/api/v1/calls"), 403, "role")
