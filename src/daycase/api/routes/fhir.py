"""FHIR R4 for the hospital record: `/fhir/Encounter/{id}/$everything`, `/fhir/metadata`
(API room).

The case's resources as a searchset Bundle (`application/fhir+json`), for the clinical
roles that read the whole record; each read is an audit row like any read of a case.
A case that is not there, or a reader who may not, is answered with an OperationOutcome.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from daycase import __version__
from daycase.api.deps import RuntimeDep, StaffDep, UserDep
from daycase.api.routes.common import CaseIdPath, refusals
from daycase.services.access import reader_of
from daycase.services.cases import CaseNotFound
from daycase.services.catalog import PathwayUnavailable
from daycase.services.fhir import ImportRefused, import_schedule

router = APIRouter(prefix="/fhir", tags=["fhir"])
FHIR_JSON = "application/fhir+json"


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


def outcome(status: int, code: str, *texts: str) -> FhirResponse:
    """An OperationOutcome naming each problem in words."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": t} for t in texts],
    }
    return FhirResponse(body, status_code=status)


@router.get(
    "/Encounter/{case_id}/$everything",
    responses={
        **refusals(),  # not signed in, a malformed id, the audit log not keeping up
        200: {"content": {FHIR_JSON: {}}, "description": "A searchset Bundle"},
        403: {"content": {FHIR_JSON: {}}, "description": "OperationOutcome: not this role"},
        404: {"content": {FHIR_JSON: {}}, "description": "OperationOutcome: no such case"},
        409: {
            "content": {FHIR_JSON: {}},
            "description": "OperationOutcome: the case's pathway version is not here",
        },
    },
)
def everything(case_id: CaseIdPath, user: StaffDep, runtime: RuntimeDep, request: Request) -> Any:
    """Every resource of the case: Patient, Encounter, a Procedure per level, Conditions,
    Observations, MedicationAdministrations, AllergyIntolerances and Provenance."""
    if not reader_of(runtime, user).clinical:
        return outcome(403, "forbidden", "Only clinical staff may read a whole case record")
    base = str(request.base_url).rstrip("/") + "/fhir"
    try:
        bundle = runtime.fhir.case_bundle(case_id, base=base)
    except CaseNotFound:
        return outcome(404, "not-found", f"No case with id {case_id}")
    except PathwayUnavailable as missing:
        return outcome(409, "not-supported", str(missing))
    runtime.audit_read(user, "fhir_export", [case_id])
    return FhirResponse(bundle)


@router.get(
    "/metadata",
    responses={
        **refusals(),
        200: {"content": {FHIR_JSON: {}}, "description": "The CapabilityStatement"},
    },
)
def metadata(user: UserDep, runtime: RuntimeDep) -> Any:
    """What this server supports of FHIR, exactly: reading a case's Encounter with
    everything it holds, and a transaction of the hospital's schedule (Appointments with
    their Patients and ServiceRequests), as JSON. Nothing else (no search, no other
    writes)."""
    return FhirResponse(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": runtime.now().date().isoformat(),
            "kind": "instance",
            "software": {"name": "daycase", "version": __version__},
            "implementation": {"description": f"daycase at {runtime.centre.name}"},
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "interaction": [{"code": "transaction"}],
                    "security": {
                        "description": "Bearer token or session cookie from daycase's own "
                        "sign-in; clinical staff roles only."
                    },
                    "resource": [
                        {
                            "type": "Encounter",
                            "operation": [
                                {
                                    "name": "everything",
                                    "definition": (
                                        "http://hl7.org/fhir/OperationDefinition/"
                                        "Encounter-everything"
                                    ),
                                }
                            ],
                        }
                    ],
                }
            ],
        }
    )


@router.post(
    "",
    responses={
        **refusals(413),
        200: {"content": {FHIR_JSON: {}}, "description": "A transaction-response Bundle"},
        400: {
            "content": {FHIR_JSON: {}},
            "description": "OperationOutcome: each problem of the bundle; nothing stored",
        },
        403: {"content": {FHIR_JSON: {}}, "description": "OperationOutcome: not this role"},
    },
)
def transaction(
    user: StaffDep,
    runtime: RuntimeDep,
    bundle: Annotated[dict[str, Any], Body(description="A FHIR transaction Bundle")],
) -> Any:
    """The hospital's schedule: each Appointment books a case (the same identifier again
    is the same case), moves it to another room, or cancels it. All or nothing."""
    if not runtime.centre.may_open_cases(user.role):
        return outcome(403, "forbidden", "Only the roles that book cases may send a schedule")
    try:
        imported = import_schedule(runtime, bundle, by=user)
    except ImportRefused as refused:
        return outcome(400, "invalid", *refused.problems)
    status = {
        "booked": "201 Created",
        "moved": "200 OK",
        "cancelled": "200 OK",
        "unchanged": "200 OK",
    }
    done = {entry: (what, case_id) for entry, what, case_id in imported.outcomes}
    entries = []
    for i in range(imported.entries):
        what, case_id = done.get(i, ("unchanged", None))
        response: dict[str, str] = {"status": status[what]}
        if case_id is not None:
            response["location"] = f"Encounter/{case_id}"
        entries.append({"response": response})
    return FhirResponse(
        {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
    )
