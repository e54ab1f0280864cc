"""Events to and from plain JSON objects, and the hash chain over them (store room).

The canonical form (sorted keys, no spaces, UTF-8) is what gets hashed, so any edit of a
stored row, a reordering or a cut shows up when the chain is re-computed.

Every body carries `event_version` (absent in bodies stored before versions existed:
version 1). Reading a body runs its kind's upcasters from its version to the current
one, so old bodies stay exactly as stored (their hashes still hold) and the engine only
ever sees current events.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from daycase.engine.events import (
    CaseOpened,
    CaseRescheduled,
    Event,
    EventAmended,
    EventVoided,
    Patient,
    StepRecorded,
)
from daycase.types import JSONObject

GENESIS_HASH = "0" * 64

# Before pathway versions existed every stored case was opened on the built-in kyphoplasty
# 1.0, whose canonical definition has this digest (a test checks it against the file).
KYPHOPLASTY_1_0_DIGEST = "5cc3e1df96afce3edcd88d599310914bf79ae8f37c175f7e1768ed46b5ef27ad"
LEGACY_DIGESTS = {("kyphoplasty", "1.0"): KYPHOPLASTY_1_0_DIGEST}

EVENT_VERSIONS = {
    "CaseOpened": 2,
    "StepRecorded": 1,
    "EventAmended": 2,
    "EventVoided": 1,
    "CaseRescheduled": 1,
}


def _case_opened_1_to_2(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had no pathway digest: it was the built-in definition of its version."""
    key = (raw["pathway_id"], raw["pathway_version"])
    return {**raw, "pathway_digest": LEGACY_DIGESTS.get(key, "")}


def _event_amended_1_to_2(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 1 amendments were never gate-checked, so never overrides."""
    return {**raw, "override": False, "override_reason": None}


# (kind, from version) → the function that lifts a body one version up.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("CaseOpened", 1): _case_opened_1_to_2,
    ("EventAmended", 1): _event_amended_1_to_2,
}


def upcast(raw: dict[str, Any]) -> dict[str, Any]:
    """A stored body lifted to the current version of its kind."""
    kind = raw["kind"]
    version = raw.get("event_version", 1)
    current = EVENT_VERSIONS.get(kind, 1)
    if not isinstance(version, int) or version > current:
        raise ValueError(f"{kind} version {version!r} is newer than this daycase knows")
    while version < current:
        raw = UPCASTERS[(kind, version)](raw)
        version += 1
    return raw


def event_kind(event: Event) -> str:
    """The stored name of an event's type."""
    return type(event).__name__


def event_to_dict(event: Event) -> JSONObject:
    """A JSON-ready object for one event; datetimes become ISO 8601 with offset."""
    kind = event_kind(event)
    base: JSONObject = {
        "kind": kind,
        "event_version": EVENT_VERSIONS[kind],
        "event_id": event.event_id,
        "case_id": event.case_id,
        "seq": event.seq,
        "recorded_at": event.recorded_at.isoformat(),
        "actor": event.actor,
        "role": event.role,
    }
    if isinstance(event, CaseOpened):
        base.update(
            pathway_id=event.pathway_id,
            pathway_version=event.pathway_version,
            pathway_digest=event.pathway_digest,
            patient={
                "mrn": event.patient.mrn,
                "given_name": event.patient.given_name,
                "family_name": event.patient.family_name,
                "birth_date": event.patient.birth_date.isoformat(),
                "sex": event.patient.sex,
            },
            levels=list(event.levels),
            scheduled_start=event.scheduled_start.isoformat(),
            family_code=event.family_code,
        )
    elif isinstance(event, StepRecorded):
        base.update(
            step=event.step,
            at=event.at.isoformat(),
            data=event.data,
            level=event.level,
            override=event.override,
            override_reason=event.override_reason,
        )
    elif isinstance(event, EventAmended):
        base.update(
            target_event_id=event.target_event_id,
            reason=event.reason,
            at=event.at.isoformat() if event.at else None,
            data=event.data,
            override=event.override,
            override_reason=event.override_reason,
        )
    elif isinstance(event, CaseRescheduled):
        base.update(scheduled_start=event.scheduled_start.isoformat(), reason=event.reason)
    else:
        base.update(target_event_id=event.target_event_id, reason=event.reason)
    return base


def event_from_dict(raw: dict[str, Any]) -> Event:
    """Rebuild an event from `event_to_dict` output of this or any earlier version."""
    raw = upcast(raw)
    common: dict[str, Any] = {
        "event_id": raw["event_id"],
        "case_id": raw["case_id"],
        "seq": raw["seq"],
        "recorded_at": datetime.fromisoformat(raw["recorded_at"]),
        "actor": raw["actor"],
        "role": raw["role"],
    }
    kind = raw["kind"]
    if kind == "CaseOpened":
        p = raw["patient"]
        return CaseOpened(
            **common,
            pathway_id=raw["pathway_id"],
            pathway_version=raw["pathway_version"],
            pathway_digest=raw["pathway_digest"],
            patient=Patient(
                mrn=p["mrn"],
                given_name=p["given_name"],
                family_name=p["family_name"],
                birth_date=date.fromisoformat(p["birth_date"]),
                sex=p["sex"],
            ),
            levels=tuple(raw["levels"]),
            scheduled_start=datetime.fromisoformat(raw["scheduled_start"]),
            family_code=raw["family_code"],
        )
    if kind == "StepRecorded":
        return StepRecorded(
            **common,
            step=raw["step"],
            at=datetime.fromisoformat(raw["at"]),
            data=raw["data"],
            level=raw["level"],
            override=raw["override"],
            override_reason=raw["override_reason"],
        )
    if kind == "EventAmended":
        return EventAmended(
            **common,
            target_event_id=raw["target_event_id"],
            reason=raw["reason"],
            at=datetime.fromisoformat(raw["at"]) if raw["at"] else None,
            data=raw["data"],
            override=raw["override"],
            override_reason=raw["override_reason"],
        )
    if kind == "EventVoided":
        return EventVoided(**common, target_event_id=raw["target_event_id"], reason=raw["reason"])
    if kind == "CaseRescheduled":
        return CaseRescheduled(
            **common,
            scheduled_start=datetime.fromisoformat(raw["scheduled_start"]),
            reason=raw["reason"],
        )
    raise ValueError(f"unknown event kind {kind!r}")


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(obj: JSONObject) -> str:
    """The one serialisation that is stored and hashed (`json.dumps` with these options,
    its encoder made once: every write makes one body)."""
    return _CANONICAL.encode(obj)


_BODIES: dict[str, tuple[Event, str]] = {}
_BODIES_KEPT = 1024
_BODIES_LOCK = threading.Lock()


def event_body(event: Event) -> str:
    """The event's canonical body, made once per event: the store seals it and the API
    answers with it, and serialising each new event twice was a tenth of a write's cost.

    Kept for the newest events only, by event id, and only for this very event object.
    """
    found = _BODIES.get(event.event_id)
    if found is not None and found[0] is event:
        return found[1]
    body = canonical_json(event_to_dict(event))
    with _BODIES_LOCK:  # the writer thread and the event loop both get here
        if len(_BODIES) >= _BODIES_KEPT:
            _BODIES.pop(next(iter(_BODIES)))
        _BODIES[event.event_id] = (event, body)
    return body


def chain_hash(prev_hash: str, body: str) -> str:
    """SHA-256 over the previous event's hash and this event's canonical body."""
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()
