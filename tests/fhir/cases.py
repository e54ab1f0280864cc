"""The scripted cases the FHIR tests export (and the golden bundles hold), each driven
through the case service with a fixed clock and ids, so its export never changes by
itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from daycase.fhir import codes
from tests.engine.builders import PER_LEVEL_PROCEDURE, Day, data_for

TZ = ZoneInfo("America/New_York")
START = datetime(2026, 11, 26, 8, 0, tzinfo=TZ)
SYSTEM = "https://hospital.example/appointments"


def booked(*levels: str) -> Day:
    """A 2.0 case of these levels, through pre-op to its imaging review (which confirms
    them); `advance_to(..., skip=SKIP)` carries on."""
    day = Day(levels, version="2.0")
    day.advance_to("anesthesia_consult")
    day.step("imaging_review", -60, levels_confirmed=list(levels))
    return day


SKIP = {"imaging_review"}


def discharged_day() -> Day:
    """Two levels (T12 then L1) from check-in to home, with recovery vitals and scores."""
    day = booked("T12", "L1")
    minute = day.advance_to("pacu_arrival", skip=SKIP)
    day.step("pacu_vitals", minute + 5)
    day.step("aldrete_score", minute + 6)
    day.step("padss_score", minute + 70)
    day.ok("proceduralist", "discharged", minute + 80, {}, override_reason="ride waiting")
    return day


def corrected_day() -> Day:
    """`discharged_day`, then a pre-op heart rate amended and the recovery vitals voided."""
    day = discharged_day()
    day.amend(
        "nurse",
        day.ids["preop_vitals"],
        200,
        data={"heart_rate": 88},
        reason="read the wrong monitor",
    )
    day.void("nurse", day.ids["pacu_vitals"], 201, reason="another patient's vitals")
    return day


def admitted_day() -> Day:
    """L1 treated, L2 abandoned, a major complication in recovery, admitted overnight."""
    day = booked("L1", "L2")
    minute = day.advance_to("incision", skip=SKIP)
    for k, step in enumerate(PER_LEVEL_PROCEDURE):
        day.step(step, minute + 1 + k, level="L1")
    day.ok(
        "proceduralist",
        "level_abandoned",
        minute + 6,
        data_for("level_abandoned", "L2", version="2.0"),
    )
    for k, step in enumerate(
        [
            "final_imaging",
            "dressing_applied",
            "sign_out",
            "anesthesia_end",
            "out_of_room",
            "pacu_arrival",
        ]
    ):
        day.step(step, minute + 8 + k)
    day.ok(
        "nurse",
        "complication",
        minute + 20,
        {"kind": "new_back_pain", "severity": "major", "note": "sharp, new"},
    )
    day.ok(
        "proceduralist",
        "admitted",
        minute + 40,
        {"reason": "pain not controlled"},
        override_reason="pain",
    )
    return day


def schedule(
    *bookings: dict[str, Any], extras: bool = False, kind: str = "transaction"
) -> dict[str, Any]:
    """A transaction Bundle: per booking a Patient, a ServiceRequest, a Location and an
    Appointment, as a hospital's scheduling system sends them."""
    entries: list[dict[str, Any]] = []
    for n, b in enumerate(bookings):
        b = {
            "ident": f"A-{n}",
            "status": "booked",
            "start": START.isoformat(),
            "room": "Procedure room 1",
            "levels": ("L1",),
            "mrn": f"H-{n}",
            **b,
        }
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "identifier": [
                {"type": {"coding": [{"code": "MR"}]}, "system": "urn:h:mrn", "value": b["mrn"]}
            ],
            "name": [{"family": "Lane", "given": ["Ada"]}],
            "birthDate": "1944-05-17",
            "gender": "female",
        }
        request = {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "subject": {"reference": f"urn:uuid:p{n}"},
            "code": {"text": "Kyphoplasty"},
            "bodySite": [
                {"coding": [{"system": codes.SNOMED, "code": codes.VERTEBRAE[level]}]}
                if level in codes.VERTEBRAE
                else {"text": level}
                for level in b["levels"]
            ],
        }
        appointment: dict[str, Any] = {
            "resourceType": "Appointment",
            "identifier": [{"system": SYSTEM, "value": b["ident"]}],
            "status": b["status"],
            "start": b["start"],
            "end": (datetime.fromisoformat(b["start"]) + timedelta(hours=1)).isoformat(),
            "basedOn": [{"reference": f"urn:uuid:s{n}"}],
            "participant": [
                {"actor": {"reference": f"urn:uuid:p{n}"}, "status": "accepted"},
                {"actor": {"reference": f"urn:uuid:l{n}"}, "status": "accepted"},
            ],
        }
        if b["status"] == "cancelled":
            appointment["cancelationReason"] = {"text": "Patient has a chest infection"}
        if extras:
            patient["extension"] = [{"url": "http://hl7.org/fhir/us/core/race", "extension": []}]
            patient["meta"] = {"lastUpdated": "2026-11-20T10:00:00Z"}
            appointment["serviceType"] = [{"text": "Interventional spine"}]
            appointment["comment"] = "Bring imaging CD"
        entries += [
            {"fullUrl": f"urn:uuid:p{n}", "resource": patient},
            {"fullUrl": f"urn:uuid:s{n}", "resource": request},
            {
                "fullUrl": f"urn:uuid:l{n}",
                "resource": {"resourceType": "Location", "name": b["room"]},
            },
            {"fullUrl": f"urn:uuid:a{n}", "resource": appointment},
        ]
    if extras:
        entries.append(
            {"fullUrl": "urn:uuid:org", "resource": {"resourceType": "Organization", "name": "H"}}
        )
    return {"resourceType": "Bundle", "type": kind, "entry": entries}
