"""A case as FHIR R4 resources, built as plain JSON (fhir room).

From one folded case (the engine's `CaseState`) and the pathway it was opened on: the
Patient; the Encounter with its status and class history, where the patient was and how
they left; one Procedure per planned level (CPT by region, the vertebra in SNOMED CT, the
times, the cement and any leakage, the reason a level was abandoned); the complications
as Conditions; every vital sign as a US Core vital-signs Observation, the Aldrete and
PADSS scores as survey Observations with one component per item; the antibiotic and the
anxiolytic as MedicationAdministrations; each recorded allergy as an AllergyIntolerance;
one Provenance per event (who, in which role, when recorded, the clinical time, and
the correction or removal it made); and one AuditEvent per audited read of the case, in
the shape of the IHE Basic Audit Log Patterns' read.

Plain dicts, not models: a bundle is built at export speed and validated separately
(`fhir.validate`). Voided entries make no resource; their Provenance says what was removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from daycase.engine.events import (
    CaseOpened,
    CaseRescheduled,
    Event,
    EventAmended,
    StepRecorded,
)
from daycase.engine.fold import CaseState, Entry
from daycase.engine.gates import terminal_entry
from daycase.fhir import codes
from daycase.pathways.schema import Pathway

Resource = dict[str, Any]

VITALS_STEPS = ("preop_vitals", "intraop_vitals", "pacu_vitals")
SCORES = {
    "aldrete_score": ("Aldrete score", codes.ALDRETE_SYSTEM),
    "padss_score": (
        "PADSS (post-anesthetic discharge scoring system)",
        codes.PADSS_SYSTEM,
    ),
}
MEDICINES = ("antibiotic_given", "anxiolytic_given")
SEVERITY = {"minor": ("255604002", "Mild"), "major": ("24484000", "Severe")}


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseExport:
    """What the export of one case needs: the folded case, its pathway and, from the
    schedule, the room it was placed in (None when it was not)."""

    state: CaseState
    pathway: Pathway
    room: str | None = None
    mrn_system: str = f"{codes.DAYCASE}:mrn"
    reads: tuple[Read, ...] = ()  # the case's read audit, oldest first


@dataclass(frozen=True, slots=True)
class Read:
    """One audited read of the case: who (user and role), when, and what they read."""

    at: datetime
    user: str
    role: str
    action: str


@dataclass(slots=True)
class _Built:
    resources: list[Resource] = field(default_factory=list)
    # The references each entry (by event id) gave rise to: what its Provenance targets.
    made_from: dict[str, list[str]] = field(default_factory=dict)

    def add(self, resource: Resource, *entries: Entry | None) -> str:
        self.resources.append(resource)
        ref = f"{resource['resourceType']}/{resource['id']}"
        for entry in entries:
            if entry is not None:
                self.made_from.setdefault(entry.event_id, []).append(ref)
        return ref


def case_resources(case: CaseExport) -> list[Resource]:
    """Every resource of the case, Patient and Encounter first."""
    state = case.state
    opened = state.opened
    if opened is None:
        raise ValueError("a case with no opening event has nothing to export")
    built = _Built()
    patient = built.add(_patient(opened, case.mrn_system))
    encounter = built.add(_encounter(case, opened, patient))
    conditions = [
        built.add(_condition(entry, patient, encounter), entry)
        for entry in state.by_step.get("complication", [])
    ]
    for resource, entries in _procedures(case, opened, patient, encounter, conditions):
        ref = built.add(resource, *entries)
        if not entries:  # a planned level nothing was recorded at yet: the booking's
            built.made_from.setdefault(opened.event_id, []).append(ref)
    for step in VITALS_STEPS:
        for entry in state.by_step.get(step, []):
            for resource in _vitals(entry, patient, encounter):
                built.add(resource, entry)
    for step, (title, system) in SCORES.items():
        for entry in state.by_step.get(step, []):
            built.add(_score(entry, title, system, patient, encounter), entry)
    for step in MEDICINES:
        for entry in state.by_step.get(step, []):
            built.add(_medication(entry, patient, encounter), entry)
    for entry in state.by_step.get("medication_review", []):
        for n, allergy in enumerate(_texts(entry.data.get("allergies"))):
            built.add(_allergy(entry, n, allergy, patient, encounter), entry)
    for event in state.history:
        built.resources.append(_provenance(case, event, built.made_from, patient, encounter))
    for n, read in enumerate(case.reads):
        built.resources.append(_audit_event(opened.case_id, n, read, patient, encounter))
    return built.resources


def bundle(resources: Iterable[Resource], *, base: str, kind: str = "collection") -> Resource:
    """A Bundle of `resources`, each under its full URL on `base` (so that the relative
    references inside resolve within the bundle)."""
    entries = [
        {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources
    ]
    found: Resource = {"resourceType": "Bundle", "type": kind, "entry": entries}
    if kind == "searchset":
        found["total"] = len(entries)
    return found


# --- Patient and Encounter ----------------------------------------------------------------


def _patient(opened: CaseOpened, mrn_system: str) -> Resource:
    p = opened.patient
    return {
        "resourceType": "Patient",
        "id": f"{opened.case_id}-patient",
        "meta": {"profile": [f"{codes.US_CORE}/us-core-patient"]},
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "code": "MR",
                            "display": "Medical record number",
                        }
                    ]
                },
                "system": mrn_system,
                "value": p.mrn,
            }
        ],
        "name": [{"family": p.family_name, "given": [p.given_name]}],
        "gender": p.sex,
        "birthDate": p.birth_date.isoformat(),
    }


def _first(state: CaseState, step: str) -> Entry | None:
    entries = state.step_entries(step)  # in clinical order
    return entries[0] if entries else None


def _encounter(case: CaseExport, opened: CaseOpened, patient: str) -> Resource:
    state = case.state
    arrived, in_room = _first(state, "check_in"), _first(state, "in_room")
    out_of_room, recovery = _first(state, "out_of_room"), _first(state, "pacu_arrival")
    end = terminal_entry(case.pathway, state)  # how the case ended, as the engine says
    status = (
        "cancelled"
        if end is not None and end.step == "cancelled"
        else "in-progress"
        if end is not None and end.step == "admitted"
        else "finished"
        if end is not None
        else "in-progress"
        if in_room is not None
        else "arrived"
        if arrived is not None
        else "planned"
    )
    history: list[tuple[str, datetime]] = [("planned", opened.recorded_at)]
    if arrived is not None:
        history.append(("arrived", arrived.at))
    if in_room is not None:
        history.append(("in-progress", in_room.at))
    if end is not None and end.step != "admitted":
        history.append(("cancelled" if end.step == "cancelled" else "finished", end.at))
    status_history = [
        {"status": s, "period": _period(at, history[i + 1][1] if i + 1 < len(history) else None)}
        for i, (s, at) in enumerate(history)
        if i + 1 < len(history) or s != status
    ]
    found: Resource = {
        "resourceType": "Encounter",
        "id": opened.case_id,
        "identifier": [{"system": f"{codes.DAYCASE}:case", "value": opened.case_id}],
        "status": status,
        "class": _ambulatory(),
        "type": [{"text": case.pathway.title}],
        "subject": {"reference": patient},
        # An admitted patient's encounter goes on in the hospital: no end from daycase.
        "period": _period(
            arrived.at if arrived else opened.scheduled_start,
            end.at if end is not None and end.step != "admitted" else None,
        ),
    }
    if status_history:
        found["statusHistory"] = status_history
    if end is not None and end.step == "admitted":
        found["class"] = {"system": codes.ACT_CODE, "code": "IMP", "display": "inpatient encounter"}
        found["classHistory"] = [
            {"class": _ambulatory(), "period": _period(found["period"]["start"], end.at)},
            {"class": found["class"], "period": {"start": end.at.isoformat()}},
        ]
    locations: list[Resource] = []
    if case.room is not None and in_room is not None:
        locations.append(_location(case.room, in_room.at, out_of_room.at if out_of_room else None))
    if recovery is not None:
        locations.append(_location("Recovery", recovery.at, end.at if end else None))
    if locations:
        found["location"] = locations
    disposition = {
        "discharged": ("home", "Home"),
        "transferred": ("other-hcf", "Other healthcare facility"),
    }.get(end.step if end is not None else "")
    if disposition is not None:
        code, display = disposition
        found["hospitalization"] = {
            "dischargeDisposition": {
                "coding": [
                    {"system": codes.DISCHARGE_DISPOSITION, "code": code, "display": display}
                ]
            }
        }
    return found


def _ambulatory() -> Resource:
    return {"system": codes.ACT_CODE, "code": "AMB", "display": "ambulatory"}


def _location(name: str, start: datetime, end: datetime | None) -> Resource:
    return {
        "location": {"display": name},
        "status": "completed" if end is not None else "active",
        "period": _period(start, end),
    }


def _period(start: datetime | str, end: datetime | None) -> Resource:
    found = {"start": start if isinstance(start, str) else start.isoformat()}
    if end is not None:
        found["end"] = end.isoformat()
    return found


# --- Procedures and complications ---------------------------------------------------------


def _procedures(
    case: CaseExport, opened: CaseOpened, patient: str, encounter: str, conditions: list[str]
) -> list[tuple[Resource, list[Entry]]]:
    """One Procedure per level: treated levels first (in the order cement went in), then
    the levels planned and not treated, coded as the CPT rule gives in that order."""
    state = case.state
    by_level: dict[str, list[Entry]] = {}
    for step in (s.id for s in case.pathway.steps if s.when == "per_level"):
        for entry in state.by_step.get(step, []):
            if entry.level is not None:
                by_level.setdefault(entry.level, []).append(entry)
    cement = {e.level: e for e in state.by_step.get("cement_injected", []) if e.level}
    treated = sorted(cement, key=lambda level: cement[level].at)
    rest = [level for level in opened.levels if level not in cement]
    rest += [level for level in by_level if level not in cement and level not in rest]
    progress = _progress(state)
    ended = terminal_entry(case.pathway, state) is not None
    incised = _first(state, "incision") is not None
    made: list[tuple[Resource, list[Entry]]] = []
    for rank, level in enumerate([*treated, *rest]):
        entries = sorted(by_level.get(level, []), key=lambda e: e.at)
        abandoned = next((e for e in entries if e.step == "level_abandoned"), None)
        injected = cement.get(level)
        status = (
            "completed"
            if injected is not None
            else "not-done"
            if abandoned is not None or ended
            else "in-progress"
            if incised
            else "preparation"
        )
        resource: Resource = {
            "resourceType": "Procedure",
            "id": f"{opened.case_id}-{level}",
            "status": status,
            "code": _cpt(level, first=rank == 0),
            "subject": {"reference": patient},
            "encounter": {"reference": encounter},
            "bodySite": [_vertebra(level)],
        }
        if abandoned is not None:
            resource["statusReason"] = {"text": str(abandoned.data.get("reason") or "abandoned")}
        elif status == "not-done":
            resource["statusReason"] = {"text": "No cement was recorded at this level."}
        if entries and injected is not None:
            resource["performedPeriod"] = _period(entries[0].at, injected.at)
        notes = _level_notes(entries)
        if notes:
            resource["note"] = [{"text": n} for n in notes]
        if progress is not None and status != "not-done":
            code, display = progress
            resource["extension"] = [
                {
                    "url": codes.PROGRESS_STATUS_EXTENSION,
                    "valueCodeableConcept": {
                        "coding": [
                            {"system": codes.PROGRESS_STATUS, "code": code, "display": display}
                        ]
                    },
                }
            ]
        if conditions and status == "completed":
            resource["complicationDetail"] = [{"reference": c} for c in conditions]
        made.append((resource, entries))
    return made


def _cpt(level: str, *, first: bool) -> Resource:
    text = f"Kyphoplasty (vertebral augmentation), {level}"
    region = level[0]
    if region not in codes.CPT_FIRST:
        return {"text": text}  # cervical and sacral levels have no kyphoplasty CPT code
    code = codes.CPT_FIRST[region] if first else codes.CPT_ADDITIONAL
    # No display: CPT's descriptors are the AMA's words; the text says what was done.
    return {"coding": [{"system": codes.CPT, "code": code}], "text": text}


def _vertebra(level: str) -> Resource:
    found: Resource = {"text": f"{level} vertebra"}
    code = codes.VERTEBRAE.get(level)
    if code is not None:
        found["coding"] = [{"system": codes.SNOMED, "code": code}]
    return found


def _level_notes(entries: list[Entry]) -> list[str]:
    notes: list[str] = []
    for entry in entries:
        data = entry.data
        if entry.step == "cement_injected":
            volume = data.get("volume_ml")
            leakage = str(data.get("leakage") or "none")
            site = data.get("leakage_site")
            notes.append(
                f"Cement injected: {volume} mL; leakage: {leakage}"
                + (f" ({site})" if site and leakage != "none" else "")
            )
        elif entry.step == "balloon_inflated":
            volume, pressure = data.get("volume_ml"), data.get("max_pressure_psi")
            notes.append(f"Balloon inflated: {volume} mL at {pressure} psi")
        elif entry.step == "biopsy_taken":
            notes.append(f"Biopsy taken: {data.get('specimen_label')}")
    return notes


def _progress(state: CaseState) -> tuple[str, str] | None:
    """How far the procedure has gone: the last progress step reached."""
    reached = [(code, display) for step, code, display in codes.PROGRESS if step in state.by_step]
    return reached[-1] if reached else None


def _condition(entry: Entry, patient: str, encounter: str) -> Resource:
    kind = str(entry.data.get("kind") or "other")
    found: Resource = {
        "resourceType": "Condition",
        "id": entry.event_id,
        "clinicalStatus": {"coding": [{"system": codes.CONDITION_CLINICAL, "code": "active"}]},
        "category": [
            {
                "coding": [
                    {
                        "system": codes.CONDITION_CATEGORY,
                        "code": "encounter-diagnosis",
                        "display": "Encounter Diagnosis",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": codes.STEP_SYSTEM, "code": f"complication-{kind}"}],
            "text": kind.replace("_", " "),
        },
        "subject": {"reference": patient},
        "encounter": {"reference": encounter},
        "onsetDateTime": entry.at.isoformat(),
        "recordedDate": entry.recorded_at.isoformat(),
    }
    severity = SEVERITY.get(str(entry.data.get("severity")))
    if severity is not None:
        found["severity"] = {
            "coding": [{"system": codes.SNOMED, "code": severity[0], "display": severity[1]}]
        }
    if entry.data.get("note"):
        found["note"] = [{"text": str(entry.data["note"])}]
    return found


# --- Observations -------------------------------------------------------------------------


def _observation(
    entry: Entry, suffix: str, patient: str, encounter: str, *, category: str
) -> Resource:
    return {
        "resourceType": "Observation",
        "id": f"{entry.event_id}-{suffix}",
        "status": "amended" if entry.amended else "final",
        "category": [{"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": category}]}],
        "subject": {"reference": patient},
        "encounter": {"reference": encounter},
        "effectiveDateTime": entry.at.isoformat(),
        "issued": entry.recorded_at.isoformat(),
    }


def _loinc(*pairs: tuple[str, str]) -> Resource:
    return {"coding": [{"system": codes.LOINC, "code": c, "display": d} for c, d in pairs]}


def _quantity(value: Any, unit: str) -> Resource:
    return {"value": value, "unit": unit, "system": codes.UCUM, "code": unit}


def _vitals(entry: Entry, patient: str, encounter: str) -> list[Resource]:
    data = entry.data
    made: list[Resource] = []

    def vital(suffix: str, profile: str, code: Resource) -> Resource:
        found = _observation(entry, suffix, patient, encounter, category="vital-signs")
        found["meta"] = {"profile": [profile]}
        found["code"] = code
        made.append(found)
        return found

    systolic, diastolic = data.get("bp_systolic"), data.get("bp_diastolic")
    if systolic is not None and diastolic is not None:
        bp = vital("bp", codes.BP_PROFILE, _loinc(codes.BP_PANEL))
        bp["component"] = [
            {"code": _loinc(codes.SYSTOLIC), "valueQuantity": _quantity(systolic, "mm[Hg]")},
            {"code": _loinc(codes.DIASTOLIC), "valueQuantity": _quantity(diastolic, "mm[Hg]")},
        ]
    for key, suffix, (code, display, unit, profile) in (
        ("heart_rate", "hr", codes.HEART_RATE),
        ("resp_rate", "rr", codes.RESP_RATE),
        ("temperature_c", "temp", codes.TEMPERATURE),
    ):
        if data.get(key) is not None:
            found = vital(suffix, profile, _loinc((code, display)))
            found["valueQuantity"] = _quantity(data[key], unit)
    if data.get("spo2") is not None:
        code, display, unit, _ = codes.SPO2
        found = vital("spo2", codes.SPO2_PROFILE, _loinc((code, display), codes.SPO2_ALSO))
        found["valueQuantity"] = _quantity(data["spo2"], unit)
    if data.get("pain_score") is not None:
        pain = _observation(entry, "pain", patient, encounter, category="survey")
        pain["code"] = _loinc(codes.PAIN)
        pain["valueInteger"] = data["pain_score"]
        made.append(pain)
    return made


def _score(entry: Entry, title: str, system: str, patient: str, encounter: str) -> Resource:
    found = _observation(entry, "score", patient, encounter, category="survey")
    items = {k: v for k, v in entry.data.items() if isinstance(v, int) and not isinstance(v, bool)}
    found["code"] = {"coding": [{"system": system, "code": "total"}], "text": title}
    found["valueInteger"] = sum(items.values())
    found["component"] = [
        {
            "code": {"coding": [{"system": system, "code": item}], "text": item.replace("_", " ")},
            "valueInteger": value,
        }
        for item, value in items.items()
    ]
    return found


# --- Medicines and allergies --------------------------------------------------------------


def _medication(entry: Entry, patient: str, encounter: str) -> Resource:
    data = entry.data
    found: Resource = {
        "resourceType": "MedicationAdministration",
        "id": entry.event_id,
        "status": "completed",
        "category": {"text": "antibiotic" if entry.step == "antibiotic_given" else "anxiolytic"},
        "medicationCodeableConcept": {"text": str(data.get("drug") or "")},
        "subject": {"reference": patient},
        "context": {"reference": encounter},
        "effectiveDateTime": entry.at.isoformat(),
        "performer": [{"actor": _who(entry.actor, entry.role)}],
    }
    dosage: Resource = {}
    if data.get("route"):
        dosage["route"] = {
            "text": str(data["route"]).upper() if data["route"] == "iv" else str(data["route"])
        }
    if data.get("dose_mg") is not None:
        dosage["dose"] = _quantity(data["dose_mg"], "mg")
    if dosage:
        found["dosage"] = dosage
    return found


def _texts(value: Any) -> list[str]:
    return [str(v) for v in value if str(v).strip()] if isinstance(value, list) else []


def _allergy(entry: Entry, n: int, text: str, patient: str, encounter: str) -> Resource:
    return {
        "resourceType": "AllergyIntolerance",
        "id": f"{entry.event_id}-{n}",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"text": text},
        "patient": {"reference": patient},
        "encounter": {"reference": encounter},
        "recordedDate": entry.recorded_at.isoformat(),
        "recorder": _who(entry.actor, entry.role),
    }


# --- Provenance ---------------------------------------------------------------------------


def _who(actor: str, role: str) -> Resource:
    return {
        "identifier": {"system": f"{codes.DAYCASE}:user", "value": actor},
        "display": f"{actor} ({role})",
    }


def _provenance(
    case: CaseExport,
    event: Event,
    made_from: Mapping[str, list[str]],
    patient: str,
    encounter: str,
) -> Resource:
    """Who made this event, in which role, when; what it made, changed or removed."""
    activity, targets, occurred, reasons = "CREATE", [encounter], None, []
    entity: list[Resource] = []
    if isinstance(event, CaseOpened):
        targets = [patient, encounter, *made_from.get(event.event_id, [])]
    elif isinstance(event, StepRecorded):
        targets = made_from.get(event.event_id) or [encounter]
        occurred = event.at
        if event.override_reason:
            reasons.append(("Override: " if event.override else "Note: ") + event.override_reason)
    elif isinstance(event, CaseRescheduled):
        activity = "UPDATE"
        reasons.append(f"Booked start moved to {event.scheduled_start.isoformat()}: {event.reason}")
    else:
        activity = "UPDATE" if isinstance(event, EventAmended) else "DELETE"
        targets = made_from.get(event.target_event_id) or [encounter]
        reasons.append(event.reason)
        if isinstance(event, EventAmended):
            occurred = event.at
            if event.override_reason:
                reasons.append("Override: " + event.override_reason)
        entity.append(
            {
                "role": "revision" if activity == "UPDATE" else "removal",
                "what": {
                    "identifier": {
                        "system": f"{codes.DAYCASE}:event",
                        "value": event.target_event_id,
                    }
                },
            }
        )
    step = event.step if isinstance(event, StepRecorded) else None
    found: Resource = {
        "resourceType": "Provenance",
        "id": event.event_id,
        "target": [{"reference": t} for t in targets],
        "recorded": event.recorded_at.isoformat(),
        "activity": {
            "coding": [{"system": codes.DATA_OPERATION, "code": activity}],
            **(
                {"text": case.pathway.step(step).title}
                if step and case.pathway.has_step(step)
                else {}
            ),
        },
        "agent": [
            {
                "type": {
                    "coding": [
                        {"system": codes.PROVENANCE_AGENT, "code": "author", "display": "Author"}
                    ]
                },
                "who": _who(event.actor, event.role),
            }
        ],
    }
    if occurred is not None:
        found["occurredDateTime"] = occurred.isoformat()
    if reasons:
        found["reason"] = [{"text": r} for r in reasons]
    if entity:
        found["entity"] = entity
    return found


# --- AuditEvent ---------------------------------------------------------------------------


def _audit_event(case_id: str, n: int, read: Read, patient: str, encounter: str) -> Resource:
    """A read of the case as the IHE Basic Audit Log Patterns record one: a RESTful read
    (`R`, succeeded), the user who received the data, daycase as the server that
    observed it, and the patient and encounter read."""
    return {
        "resourceType": "AuditEvent",
        "id": f"{case_id}-read-{n + 1}",
        "type": {"system": codes.AUDIT_TYPE, "code": "rest", "display": "Restful Operation"},
        "subtype": [{"system": codes.RESTFUL_INTERACTION, "code": "read", "display": "read"}],
        "action": "R",
        "recorded": read.at.isoformat(),
        "outcome": "0",
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": codes.PARTICIPATION_TYPE,
                            "code": "IRCP",
                            "display": "information recipient",
                        }
                    ]
                },
                "who": _who(read.user, read.role),
                "requestor": True,
            }
        ],
        "source": {
            "observer": {"display": "daycase"},
            "type": [
                {"system": codes.SECURITY_SOURCE, "code": "4", "display": "Application Server"}
            ],
        },
        "entity": [
            {
                "what": {"reference": patient},
                "role": {"system": codes.OBJECT_ROLE, "code": "1", "display": "Patient"},
            },
            {
                "what": {"reference": encounter},
                "role": {"system": codes.OBJECT_ROLE, "code": "3", "display": "Report"},
                "description": read.action,
            },
        ],
    }
