"""A case as FHIR R4 resources: valid against the R4 models and our own rules, coded as
the export promises, with every correction and removal in its Provenance (fhir room)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from daycase.engine.events import StepRecorded
from daycase.fhir import codes
from daycase.fhir.check import problems
from daycase.fhir.export import CaseExport, Read, Resource, bundle, case_resources
from daycase.fhir.validate import bundle_problems
from daycase.scenarios.runner import run_file
from tests.engine.builders import START, Day
from tests.fhir.cases import admitted_day, corrected_day, discharged_day

BASE = "urn:daycase:fhir"


def export(day: Day, *, room: str | None = "Procedure room 1") -> list[Resource]:
    state = day.state()
    pathway = day.service.pathway_of(state)
    resources = case_resources(CaseExport(state=state, pathway=pathway, room=room))
    assert bundle_problems(bundle(resources, base=BASE)) == []
    return resources


def of(resources: list[Resource], kind: str) -> list[Resource]:
    return [r for r in resources if r["resourceType"] == kind]


def coded(concept: dict[str, Any], system: str) -> list[str]:
    return [c["code"] for c in concept.get("coding", []) if c["system"] == system]


def test_a_two_level_case_sent_home_is_coded_as_promised() -> None:
    day = discharged_day()
    resources = export(day)
    [patient] = of(resources, "Patient")
    assert patient["identifier"][0]["value"] == "H-100234"
    assert patient["gender"] == "female"
    [encounter] = of(resources, "Encounter")
    assert encounter["status"] == "finished"
    assert encounter["class"]["code"] == "AMB"
    assert coded(
        encounter["hospitalization"]["dischargeDisposition"], codes.DISCHARGE_DISPOSITION
    ) == ["home"]
    assert [loc["location"]["display"] for loc in encounter["location"]] == [
        "Procedure room 1",
        "Recovery",
    ]
    assert [h["status"] for h in encounter["statusHistory"]] == [
        "planned",
        "arrived",
        "in-progress",
    ]
    procedures = {p["id"].rsplit("-", 1)[1]: p for p in of(resources, "Procedure")}
    assert coded(procedures["T12"]["code"], codes.CPT) == ["22513"]  # the first level, thoracic
    assert coded(procedures["L1"]["code"], codes.CPT) == ["22515"]  # each additional level
    assert coded(procedures["T12"]["bodySite"][0], codes.SNOMED) == ["23215003"]
    assert coded(procedures["L1"]["bodySite"][0], codes.SNOMED) == ["66794005"]
    assert all(p["status"] == "completed" for p in procedures.values())
    assert any("Cement injected: 4.0 mL" in n["text"] for n in procedures["L1"]["note"])
    progress = procedures["L1"]["extension"][0]
    assert progress["url"] == codes.PROGRESS_STATUS_EXTENSION
    assert coded(progress["valueCodeableConcept"], codes.PROGRESS_STATUS) == ["in-recovery-room"]


def test_vitals_are_us_core_vital_signs_and_scores_are_surveys() -> None:
    resources = export(discharged_day())
    observations = of(resources, "Observation")
    by_code: dict[str, list[Resource]] = {}
    for o in observations:
        for code in coded(o["code"], codes.LOINC) or ["other"]:
            by_code.setdefault(code, []).append(o)
    # Pre-op, in the room and in recovery: one blood pressure panel each.
    assert len(by_code["85354-9"]) == 2  # the uneventful path has no intra-op vitals
    bp = by_code["85354-9"][0]
    assert [coded(c["code"], codes.LOINC) for c in bp["component"]] == [["8480-6"], ["8462-4"]]
    assert bp["component"][0]["valueQuantity"] == {
        "value": 130,
        "unit": "mm[Hg]",
        "system": codes.UCUM,
        "code": "mm[Hg]",
    }
    assert bp["meta"]["profile"] == [codes.BP_PROFILE]
    assert {"8867-4", "9279-1", "8310-5", "59408-5", "2708-6", "72514-3"} <= set(by_code)
    assert by_code["8310-5"][0]["valueQuantity"]["code"] == "Cel"
    [aldrete] = [o for o in observations if coded(o["code"], codes.ALDRETE_SYSTEM) == ["total"]]
    assert aldrete["valueInteger"] == sum(c["valueInteger"] for c in aldrete["component"])
    assert len(aldrete["component"]) == 5
    [antibiotic] = of(resources, "MedicationAdministration")
    assert antibiotic["medicationCodeableConcept"]["text"] == "cefazolin"
    assert antibiotic["dosage"]["dose"]["value"] == 2000
    [allergy] = of(resources, "AllergyIntolerance")
    assert allergy["code"]["text"] == "penicillin"


def test_every_event_has_its_provenance() -> None:
    day = discharged_day()
    resources = export(day)
    provenance = {p["id"]: p for p in of(resources, "Provenance")}
    assert set(provenance) == {e.event_id for e in day.events()}
    home = provenance[day.ids["discharged"]]
    assert home["reason"] == [{"text": "Override: ride waiting"}]
    assert home["agent"][0]["who"]["display"] == "proceduralist.user (proceduralist)"
    cement = provenance[day.ids["cement_injected@L1"]]
    assert cement["target"] == [{"reference": f"Procedure/{day.case_id}-L1"}]
    [event] = [e for e in day.events() if e.event_id == day.ids["cement_injected@L1"]]
    assert isinstance(event, StepRecorded)
    assert cement["occurredDateTime"] == event.at.isoformat()
    assert cement["recorded"] == event.recorded_at.isoformat()


def test_an_amendment_and_a_void_are_in_the_record() -> None:
    day = corrected_day()
    vitals, recovery = day.ids["preop_vitals"], day.ids["pacu_vitals"]
    resources = export(day)
    observations = {o["id"]: o for o in of(resources, "Observation")}
    assert observations[f"{vitals}-hr"]["valueQuantity"]["value"] == 88
    assert observations[f"{vitals}-hr"]["status"] == "amended"
    assert not [i for i in observations if i.startswith(recovery)]  # voided: no resource
    updates = [
        p
        for p in of(resources, "Provenance")
        if coded(p["activity"], codes.DATA_OPERATION) == ["UPDATE"]
    ]
    [update] = updates
    assert update["entity"] == [
        {
            "role": "revision",
            "what": {"identifier": {"system": "urn:daycase:event", "value": vitals}},
        }
    ]
    assert update["reason"] == [{"text": "read the wrong monitor"}]
    assert {"reference": f"Observation/{vitals}-hr"} in update["target"]
    [delete] = [
        p
        for p in of(resources, "Provenance")
        if coded(p["activity"], codes.DATA_OPERATION) == ["DELETE"]
    ]
    assert delete["entity"][0]["role"] == "removal"
    assert delete["target"] == [{"reference": f"Encounter/{day.case_id}"}]


def test_an_abandoned_level_a_complication_and_an_admission() -> None:
    day = admitted_day()
    resources = export(day)
    procedures = {p["id"].rsplit("-", 1)[1]: p for p in of(resources, "Procedure")}
    assert procedures["L1"]["status"] == "completed"
    assert coded(procedures["L1"]["code"], codes.CPT) == ["22514"]
    assert procedures["L2"]["status"] == "not-done"
    assert procedures["L2"]["statusReason"] == {"text": "pedicle too narrow"}
    [condition] = of(resources, "Condition")
    assert condition["code"]["text"] == "new back pain"
    assert coded(condition["severity"], codes.SNOMED) == ["24484000"]
    assert procedures["L1"]["complicationDetail"] == [{"reference": f"Condition/{condition['id']}"}]
    [encounter] = of(resources, "Encounter")
    assert encounter["class"]["code"] == "IMP"
    assert [h["class"]["code"] for h in encounter["classHistory"]] == ["AMB", "IMP"]
    assert encounter["status"] == "in-progress"
    assert "end" not in encounter["period"]  # the stay goes on in the hospital
    assert "hospitalization" not in encounter


def test_a_case_just_booked_is_planned_with_its_levels_to_come() -> None:
    day = Day(["T8"], version="2.0")
    resources = export(day, room=None)
    [encounter] = of(resources, "Encounter")
    assert encounter["status"] == "planned"
    assert "location" not in encounter
    [procedure] = of(resources, "Procedure")
    assert procedure["status"] == "preparation"
    assert coded(procedure["code"], codes.CPT) == ["22513"]
    [opening] = of(resources, "Provenance")
    assert {"reference": f"Procedure/{procedure['id']}"} in opening["target"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda b: b["entry"][1]["resource"].update(subject={"reference": "Patient/nobody"}),
            "not in the bundle",
        ),
        (
            lambda b: b["entry"][1]["resource"]["class"].update(system="http://example.org/x"),
            "which we do not use",
        ),
        (lambda b: b["entry"].append(dict(b["entry"][0])), "used twice"),
    ],
)
def test_our_own_check_names_what_the_models_let_pass(change: Any, expected: str) -> None:
    day = discharged_day()
    state = day.state()
    b = bundle(
        case_resources(CaseExport(state=state, pathway=day.service.pathway_of(state))), base=BASE
    )
    assert problems(b) == []
    change(b)
    found = problems(b)
    assert found
    assert any(expected in p for p in found), found


def test_a_vital_sign_without_its_unit_is_named() -> None:
    day = discharged_day()
    state = day.state()
    b = bundle(
        case_resources(CaseExport(state=state, pathway=day.service.pathway_of(state))), base=BASE
    )
    vital = next(e["resource"] for e in b["entry"] if e["resource"]["id"].endswith("-hr"))
    del vital["valueQuantity"]["system"]
    del vital["category"]
    found = problems(b)
    assert any("without the vital-signs category" in p for p in found)
    assert any("without its UCUM unit" in p for p in found)


def test_each_read_of_the_case_is_an_audit_event() -> None:
    day = discharged_day()
    state = day.state()
    reads = (
        Read(START, "nurse.ada", "nurse", "read_case"),
        Read(START + timedelta(hours=1), "dr.kim", "proceduralist", "fhir_export"),
    )
    resources = case_resources(
        CaseExport(state=state, pathway=day.service.pathway_of(state), reads=reads)
    )
    assert bundle_problems(bundle(resources, base=BASE)) == []
    events = of(resources, "AuditEvent")
    assert [e["agent"][0]["who"]["display"] for e in events] == [
        "nurse.ada (nurse)",
        "dr.kim (proceduralist)",
    ]
    first = events[0]
    assert (first["action"], first["outcome"]) == ("R", "0")
    assert first["recorded"] == START.isoformat()
    assert first["entity"][0]["what"] == {"reference": f"Patient/{day.case_id}-patient"}
    assert first["entity"][1]["description"] == "read_case"


SCENARIOS = sorted((Path(__file__).parents[1] / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_scenario_exports_a_valid_bundle(path: Path) -> None:
    """Each scenario's case, as the scenario leaves it, passes the R4 models and our own
    profile checks: overrides, refusals, corrections, abandoned levels and all."""
    result = run_file(path)
    assert result.ok, result.to_json()
    assert result.state is not None
    assert result.pathway is not None
    resources = case_resources(CaseExport(state=result.state, pathway=result.pathway, room=None))
    assert bundle_problems(bundle(resources, base=BASE)) == []
    assert len(of(resources, "Provenance")) == len(result.state.history)
