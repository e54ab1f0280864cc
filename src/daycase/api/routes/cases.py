"""Cases and their events: open, read, record, amend, void (API room).

Every rule is the service layer's; a route only translates between the wire and the
service, writes the audit row for reads of clinical detail, and maps refusals.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from daycase.api.deps import RuntimeDep, StaffDep
from daycase.api.errors import ApiRefusal
from daycase.api.routes.common import (
    CaseIdPath,
    DayQuery,
    EventIdPath,
    IdempotencyHeader,
    day_or_today,
    refusals,
)
from daycase.api.schemas import (
    AmendIn,
    CaseCreatedOut,
    CaseIn,
    CaseOut,
    CaseSummaryOut,
    EventIn,
    EventOut,
    VoidIn,
)
from daycase.engine.commands import Actor, AmendEvent, OpenCase, RecordStep, Refusal, VoidEvent
from daycase.engine.evaluate import evaluate
from daycase.engine.events import Event
from daycase.engine.fold import CaseState
from daycase.services.access import reader_of
from daycase.services.accounts import User
from daycase.services.cases import CaseNotFound, WriteKey, request_digest
from daycase.services.catalog import UnknownPathway
from daycase.services.runtime import Runtime
from daycase.services.views import final_json
from daycase.store.codec import event_body, event_to_dict

router = APIRouter(tags=["cases"])


def _actor(user: User) -> Actor:
    return Actor(user.name, user.role)


def _state(runtime: Runtime, case_id: str) -> CaseState:
    try:
        return runtime.cases.state(case_id)
    except CaseNotFound as exc:
        raise ApiRefusal("not_found", f"No case with id {case_id}") from exc


def _centre_time(runtime: Runtime, at: datetime) -> datetime:
    """The same instant on the centre's clock, which decides the day a case belongs to.

    A client may write times in any offset: 01:00Z is the evening before in New York.
    Times too far out to convert are passed on as they are, for the engine to refuse.
    """
    try:
        return at.astimezone(runtime.tz)
    except (OverflowError, ValueError):
        return at


def _stored(result: Event | Refusal) -> Response:
    """201 with the stored event. Returned as a ready response: the event comes from our
    own codec, so validating it against `EventOut` again would only cost time on the
    busiest route (the OpenAPI still documents `EventOut`)."""
    if isinstance(result, Refusal):
        raise ApiRefusal.of(result)
    # The canonical body the store sealed: the same JSON, made once.
    return Response(event_body(result), status_code=201, media_type="application/json")


async def _key(request: Request, key: str | None) -> WriteKey | None:
    """The client's Idempotency-Key with a digest of this very request (method, path and
    body), so that a key sent again with another request is refused, not replayed."""
    if key is None:
        return None
    body = await request.body()  # already read for validation: no second read
    return WriteKey(key, request_digest(request.method, request.url.path, body))


@router.post("/cases", status_code=201, response_model=CaseCreatedOut, responses=refusals(403, 413))
async def open_case(
    body: CaseIn,
    user: StaffDep,
    runtime: RuntimeDep,
    request: Request,
    idempotency_key: IdempotencyHeader = None,
) -> CaseCreatedOut:
    """Open a case for a patient on a day; answers its id and family code.

    The case takes the latest version of its pathway unless `pathway_version` names one.
    """
    pathway_id = body.pathway or runtime.centre.default_pathway
    catalog = runtime.cases.catalog
    try:
        pathway = catalog.get(pathway_id, body.pathway_version)
    except UnknownPathway as exc:
        if exc.version is None:
            raise ApiRefusal(
                "invalid", "pathway: unknown pathway", fields={"pathway": "unknown pathway"}
            ) from exc
        known = ", ".join(catalog.versions(pathway_id))
        problem = f"{pathway_id} has no released version {exc.version} (known: {known})"
        raise ApiRefusal(
            "invalid", f"pathway_version: {problem}", fields={"pathway_version": problem}
        ) from exc
    result = await runtime.cases.open_case_async(
        OpenCase(
            actor=_actor(user),
            pathway_id=pathway.id,
            pathway_version=pathway.version,
            mrn=body.patient.mrn,
            given_name=body.patient.given_name,
            family_name=body.patient.family_name,
            birth_date=body.patient.birth_date,
            sex=body.patient.sex,
            levels=body.levels,
            scheduled_start=_centre_time(runtime, body.scheduled_start),
        ),
        key=await _key(request, idempotency_key),
    )
    if isinstance(result, Refusal):
        raise ApiRefusal.of(result)
    return CaseCreatedOut(
        id=result.case_id, family_code=result.family_code, phase=pathway.phases[0].id
    )


@router.get("/cases", response_model=list[CaseSummaryOut], responses=refusals(403))
def list_cases(user: StaffDep, runtime: RuntimeDep, day: DayQuery = None) -> list[CaseSummaryOut]:
    """The cases scheduled on a day (default: today in the centre's timezone)."""
    on = day_or_today(runtime, day)
    rows = runtime.boards.board(on, now=runtime.now())
    runtime.audit_read(user, "list_cases", [r.case_id for r in rows], on.isoformat())
    return [
        CaseSummaryOut(
            id=r.case_id,
            family_code=r.family_code,
            patient_name=r.patient_name,
            levels=list(r.levels),
            scheduled_start=r.scheduled_start.isoformat(),
            phase=r.phase,
        )
        for r in rows
    ]


@router.get("/cases/{case_id}", response_model=CaseOut, responses=refusals(403, 404))
def read_case(case_id: CaseIdPath, user: StaffDep, runtime: RuntimeDep) -> dict[str, Any]:
    """The case and its evaluated state now (the scenario runner's `final` shape)."""
    state = _state(runtime, case_id)
    pathway = runtime.cases.pathway_of(state)
    ev = evaluate(pathway, state, runtime.now())
    runtime.audit_read(user, "read_case", [case_id])
    opened = state.opened
    assert opened is not None
    p = opened.patient
    # What this role may read of it: the front desk and admins no alerts, no other steps.
    return reader_of(runtime, user).case_json(
        pathway,
        {
            "id": opened.case_id,
            "pathway": opened.pathway_id,
            "pathway_version": opened.pathway_version,
            "family_code": opened.family_code,
            "patient": {
                "mrn": p.mrn,
                "given_name": p.given_name,
                "family_name": p.family_name,
                "birth_date": p.birth_date.isoformat(),
                "sex": p.sex,
            },
            "levels": list(opened.levels),
            "scheduled_start": opened.scheduled_start.isoformat(),
            **final_json(ev, events=len(state.history)),
        },
    )


@router.post(
    "/cases/{case_id}/events",
    status_code=201,
    response_model=EventOut,
    responses=refusals(403, 404, 409, 413),
)
async def record_step(
    case_id: CaseIdPath,
    body: EventIn,
    user: StaffDep,
    request: Request,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Record a clinical step; gates, roles and data are checked by the pathway.

    Runs on the event loop: deciding is pure and quick, and only the transaction goes to
    the store's writer thread (a thread-pool round trip would cost more than the rules).
    The busiest route takes the runtime from the app itself rather than as one more
    dependency for FastAPI to solve on every call.
    """
    runtime: Runtime = request.app.state.runtime
    cmd = RecordStep(
        actor=_actor(user),
        step=body.step,
        at=body.at,
        data=body.data,
        override_reason=body.override_reason,
    )
    try:
        key = await _key(request, idempotency_key)
        return _stored(await runtime.cases.record_async(case_id, cmd, key=key))
    except CaseNotFound as exc:
        raise ApiRefusal("not_found", f"No case with id {case_id}") from exc


@router.get("/cases/{case_id}/events", response_model=list[EventOut], responses=refusals(403, 404))
def history(case_id: CaseIdPath, user: StaffDep, runtime: RuntimeDep) -> list[dict[str, Any]]:
    """Every stored event of the case the role may read, amendments and voids included, in
    order (the front desk and admins: the opening and the steps they record)."""
    state = _state(runtime, case_id)
    runtime.audit_read(user, "read_events", [case_id])
    shown = reader_of(runtime, user).history(runtime.cases.pathway_of(state), state.history)
    return [event_to_dict(e) for e in shown]


def _known_event(runtime: Runtime, case_id: str, event_id: str) -> None:
    state = _state(runtime, case_id)
    if not any(e.event_id == event_id for e in state.history):
        raise ApiRefusal("not_found", f"No event {event_id} in case {case_id}")


@router.post(
    "/cases/{case_id}/events/{event_id}/amend",
    status_code=201,
    response_model=EventOut,
    responses=refusals(403, 404, 409, 413),
)
async def amend(
    case_id: CaseIdPath,
    event_id: EventIdPath,
    body: AmendIn,
    user: StaffDep,
    runtime: RuntimeDep,
    request: Request,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Correct an entry's clinical time and/or data, with a reason; the original stays."""
    await asyncio.to_thread(_known_event, runtime, case_id, event_id)
    cmd = AmendEvent(
        actor=_actor(user),
        target_event_id=event_id,
        reason=body.reason,
        at=body.at,
        data=body.data,
        override_reason=body.override_reason,
    )
    key = await _key(request, idempotency_key)
    return _stored(await runtime.cases.amend_async(case_id, cmd, key=key))


@router.post(
    "/cases/{case_id}/events/{event_id}/void",
    status_code=201,
    response_model=EventOut,
    responses=refusals(403, 404, 409, 413),
)
async def void(
    case_id: CaseIdPath,
    event_id: EventIdPath,
    body: VoidIn,
    user: StaffDep,
    runtime: RuntimeDep,
    request: Request,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Withdraw an entry, with a reason; it stays readable in the history."""
    await asyncio.to_thread(_known_event, runtime, case_id, event_id)
    cmd = VoidEvent(actor=_actor(user), target_event_id=event_id, reason=body.reason)
    key = await _key(request, idempotency_key)
    return _stored(await runtime.cases.void_async(case_id, cmd, key=key))
