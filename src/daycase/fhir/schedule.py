"""The schedule a hospital sends, read from a FHIR transaction Bundle (fhir room).

Each Appointment is a booking: its identifier (system and value) names it for good, so
the same booking sent twice is one case; `status: cancelled` cancels it. A booking
brings its Patient (a participant), its room (a participant Location, or its display),
its start, and the planned levels (the `bodySite` of the ServiceRequest it is `basedOn`,
as SNOMED CT vertebra codes or as text such as "L1"). Elements, extensions and resources
we do not use are ignored; what we need and cannot read is a problem naming the entry,
the element and what is wrong, and the caller stores nothing of a bundle with one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from daycase.engine.check import SEXES
from daycase.fhir import codes

BOOKED = ("booked", "pending", "proposed")
LEVEL_OF = {code: level for level, code in codes.VERTEBRAE.items()}


@dataclass(frozen=True, slots=True)
class PatientIn:
    mrn: str
    given_name: str
    family_name: str
    birth_date: date
    sex: str


@dataclass(frozen=True, slots=True)
class Booking:
    """One Appointment, as much of it as daycase uses."""

    entry: int  # its place in the bundle, for messages and the response
    key: str  # "system|value" of its identifier
    cancelled: bool
    reason: str = ""  # why it was cancelled or moved
    start: datetime | None = None
    room: str | None = None  # as the hospital names it
    patient: PatientIn | None = None
    levels: tuple[str, ...] = ()


def read_bookings(bundle: Any, allowed_levels: Collection[str]) -> tuple[list[Booking], list[str]]:
    """The bookings of a transaction Bundle, and every problem found (none: [])."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return [], ["Bundle: the body is not a FHIR Bundle (resourceType Bundle)"]
    if bundle.get("type") != "transaction":
        return [], [f"Bundle.type: {bundle.get('type')!r}; a schedule comes as a transaction"]
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return [], ["Bundle.entry: missing; a schedule has its Appointments as entries"]
    index = _index(entries)
    bookings: list[Booking] = []
    problems: list[str] = []
    for i, resource in _resources(entries):
        if resource.get("resourceType") != "Appointment":
            continue
        found, wrong = _booking(i, resource, index, allowed_levels)
        problems += wrong
        if found is not None:
            bookings.append(found)
    keys = [b.key for b in bookings]
    problems += [
        f"entry[{b.entry}] Appointment.identifier: {b.key} is in the bundle twice"
        for n, b in enumerate(bookings)
        if b.key in keys[:n]
    ]
    if not bookings and not problems:
        problems.append("Bundle.entry: no Appointment to book or cancel")
    return bookings, problems


def _resources(entries: list[Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            yield i, entry["resource"]


def _index(entries: list[Any]) -> dict[str, dict[str, Any]]:
    """Each resource under every name a reference may use: its fullUrl and Type/id."""
    found: dict[str, dict[str, Any]] = {}
    for i, resource in _resources(entries):
        full_url = entries[i].get("fullUrl")
        if isinstance(full_url, str):
            found[full_url] = resource
        if isinstance(resource.get("id"), str):
            found[f"{resource.get('resourceType')}/{resource['id']}"] = resource
    return found


def _resolve(ref: Any, index: dict[str, dict[str, Any]], kind: str) -> dict[str, Any] | None:
    if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
        return None
    target = index.get(ref["reference"])
    if target is None:  # an absolute URL ending in Type/id
        tail = "/".join(ref["reference"].rsplit("/", 2)[-2:])
        target = index.get(tail)
    return target if target is not None and target.get("resourceType") == kind else None


def _booking(
    i: int, a: dict[str, Any], index: dict[str, dict[str, Any]], allowed: Collection[str]
) -> tuple[Booking | None, list[str]]:
    where = f"entry[{i}] Appointment"
    key = _key(a.get("identifier"))
    if key is None:
        return None, [f"{where}.identifier: needs a system and a value, which name the booking"]
    status = a.get("status")
    if status == "cancelled":
        reason = a.get("cancelationReason")
        text = _text(reason) if isinstance(reason, dict) else ""
        return Booking(i, key, cancelled=True, reason=text or "Cancelled by the hospital"), []
    if status not in BOOKED:
        return None, [
            f"{where}.status: {status!r}; daycase takes booked, pending, proposed or cancelled"
        ]
    problems: list[str] = []
    start = _instant(a.get("start"))
    if start is None:
        problems.append(f"{where}.start: needs a date and time with its offset")
    patient: PatientIn | None = None
    room: str | None = None
    for p in _list(a.get("participant")):
        actor = p.get("actor") if isinstance(p, dict) else None
        found = _resolve(actor, index, "Patient")
        if found is not None:
            patient, wrong = _patient(i, found)
            problems += wrong
        location = _resolve(actor, index, "Location")
        if location is not None:
            room = str(location.get("name") or location.get("id") or "") or None
        elif isinstance(actor, dict) and str(actor.get("reference", "")).startswith("Location"):
            room = str(actor.get("display") or "") or None
    if patient is None and not any("Patient" in p for p in problems):
        problems.append(f"{where}.participant: no Patient in the bundle takes part")
    levels: list[str] = []
    requests = [
        r for ref in _list(a.get("basedOn")) if (r := _resolve(ref, index, "ServiceRequest"))
    ]
    for request in requests:
        for site in _list(request.get("bodySite")):
            level = _level(site)
            if level is None or level not in allowed:
                problems.append(
                    f"{where}.basedOn ServiceRequest.bodySite: {_text(site) or site!r} is no "
                    f"level daycase knows ({', '.join(allowed)})"
                )
            elif level not in levels:
                levels.append(level)
    if not levels and not any("bodySite" in p for p in problems):
        problems.append(
            f"{where}.basedOn: no ServiceRequest with the planned levels (bodySite) in the bundle"
        )
    if problems:
        return None, problems
    # R4's Appointment has no element for why it moved (its `comment` is a note for the
    # patient's day): a move is recorded as the hospital's.
    booking = Booking(
        i,
        key,
        False,
        reason="Moved by the hospital's schedule",
        start=start,
        room=room,
        patient=patient,
        levels=tuple(levels),
    )
    return booking, []


def _list(value: Any) -> list[Any]:
    """A list element as sent; anything else (missing, malformed) as empty."""
    return value if isinstance(value, list) else []


def _key(identifiers: Any) -> str | None:
    for ident in _list(identifiers):
        if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
            return f"{ident['system']}|{ident['value']}"
    return None


def _text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in _list(concept.get("coding")):
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    return ""


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


def _level(site: Any) -> str | None:
    if not isinstance(site, dict):
        return None
    for coding in _list(site.get("coding")):
        if isinstance(coding, dict) and coding.get("system") == codes.SNOMED:
            level = LEVEL_OF.get(str(coding.get("code")))
            if level is not None:
                return level
    words = _text(site).replace("-", " ").split()
    return words[0].upper() if words else None


def _patient(i: int, p: dict[str, Any]) -> tuple[PatientIn | None, list[str]]:
    where = f"entry[{i}] Appointment's Patient"
    problems: list[str] = []
    identifiers = [x for x in _list(p.get("identifier")) if isinstance(x, dict) and x.get("value")]
    mrn_first = sorted(identifiers, key=lambda x: "MR" not in str(x.get("type", "")))
    mrn = str(mrn_first[0]["value"]) if mrn_first else ""
    if not mrn:
        problems.append(f"{where}.identifier: needs the medical record number")
    names = [n for n in _list(p.get("name")) if isinstance(n, dict)]
    family = str(names[0].get("family") or "") if names else ""
    given_list = names[0].get("given") if names else None
    given = str(given_list[0]) if isinstance(given_list, list) and given_list else ""
    if not family or not given:
        problems.append(f"{where}.name: needs a family and a given name")
    try:
        birth = date.fromisoformat(str(p.get("birthDate")))
    except ValueError:
        birth = None
        problems.append(f"{where}.birthDate: needs a full date (YYYY-MM-DD)")
    sex = str(p.get("gender") or "unknown")
    if sex not in SEXES:
        problems.append(f"{where}.gender: {sex!r} is not female, male, other or unknown")
    if problems or birth is None:
        return None, problems
    return PatientIn(mrn, given, family, birth, sex), []
