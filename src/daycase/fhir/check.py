"""Our own checks of an exported bundle, for what the R4 models do not check (fhir room).

The models (`fhir.resources`, R4B) check each resource's shape. These check what a
reader of our bundles relies on besides: every reference resolves to a resource in the
bundle; ids are unique per type; each code comes from a system we mean to use; the US
Core vital-signs elements are there (category, code, subject, effective time, a value or
components, UCUM units); every clinical resource has a Provenance naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from daycase.fhir import codes

Resource = dict[str, Any]

KNOWN_SYSTEMS = {
    codes.LOINC,
    codes.UCUM,
    codes.CPT,
    codes.SNOMED,
    codes.ACT_CODE,
    codes.OBSERVATION_CATEGORY,
    codes.DISCHARGE_DISPOSITION,
    codes.CONDITION_CATEGORY,
    codes.CONDITION_CLINICAL,
    codes.PROVENANCE_AGENT,
    codes.DATA_OPERATION,
    codes.PROGRESS_STATUS,
    codes.AUDIT_TYPE,
    codes.RESTFUL_INTERACTION,
    codes.PARTICIPATION_TYPE,
    codes.SECURITY_SOURCE,
    codes.OBJECT_ROLE,
    codes.ALDRETE_SYSTEM,
    codes.PADSS_SYSTEM,
    codes.STEP_SYSTEM,
    "http://terminology.hl7.org/CodeSystem/v2-0203",
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
}
VITAL_CODES = {
    codes.BP_PANEL[0],
    codes.HEART_RATE[0],
    codes.RESP_RATE[0],
    codes.TEMPERATURE[0],
    codes.SPO2[0],
}
CLINICAL = {
    "Procedure",
    "Observation",
    "Condition",
    "MedicationAdministration",
    "AllergyIntolerance",
}


def problems(bundle: Resource) -> list[str]:
    """Every problem found, each naming the resource and what is wrong; [] when none."""
    found: list[str] = []
    resources = [e.get("resource", {}) for e in bundle.get("entry", [])]
    seen: set[str] = set()
    for r in resources:
        key = f"{r.get('resourceType')}/{r.get('id')}"
        if key in seen:
            found.append(f"{key}: the id is used twice")
        seen.add(key)
    provenance_targets = {
        t.get("reference")
        for r in resources
        if r.get("resourceType") == "Provenance"
        for t in r.get("target", [])
    }
    for r in resources:
        key = f"{r.get('resourceType')}/{r.get('id')}"
        for path, ref in _references(r):
            if ref not in seen:
                found.append(f"{key}: {path} refers to {ref}, which is not in the bundle")
        for path, system in _systems(r):
            if system not in KNOWN_SYSTEMS:
                found.append(f"{key}: {path} uses the code system {system}, which we do not use")
        if r.get("resourceType") == "Observation":
            found += _vital_problems(key, r)
        if r.get("resourceType") in CLINICAL and key not in provenance_targets:
            found.append(f"{key}: no Provenance names it")
    return found


def _references(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str):
            yield path or "reference", ref
        for k, v in value.items():
            if k != "reference":
                yield from _references(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _references(v, f"{path}[{i}]")


def _systems(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        system = value.get("system")
        if isinstance(system, str) and ("code" in value or "value" not in value):
            yield path or "system", system
        for k, v in value.items():
            if k not in ("system", "identifier"):
                yield from _systems(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _systems(v, f"{path}[{i}]")


def _vital_problems(key: str, r: Resource) -> list[str]:
    found: list[str] = []
    codings = r.get("code", {}).get("coding", [])
    if not any(c.get("system") == codes.LOINC and c.get("code") in VITAL_CODES for c in codings):
        return found  # not a vital sign (a score, the pain rating)
    categories = [c for cat in r.get("category", []) for c in cat.get("coding", [])]
    if not any(
        c.get("system") == codes.OBSERVATION_CATEGORY and c.get("code") == "vital-signs"
        for c in categories
    ):
        found.append(f"{key}: a vital sign without the vital-signs category")
    for element in ("status", "subject", "effectiveDateTime"):
        if element not in r:
            found.append(f"{key}: a vital sign without {element}")
    if not r.get("meta", {}).get("profile"):
        found.append(f"{key}: a vital sign that names no US Core profile")
    quantities = [r["valueQuantity"]] if "valueQuantity" in r else []
    quantities += [c["valueQuantity"] for c in r.get("component", []) if "valueQuantity" in c]
    if not quantities:
        found.append(f"{key}: a vital sign with no value")
    for q in quantities:
        if q.get("system") != codes.UCUM or not q.get("code"):
            found.append(f"{key}: a value without its UCUM unit")
    return found
