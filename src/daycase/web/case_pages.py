"""The case pages: a new case, the checklist with its forms, corrections (web room).

Refusals are shown where they belong: field problems beside the field, gate messages on
the step, and for a physician a way to record anyway with a reason.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from daycase.api.deps import RuntimeDep
from daycase.engine.commands import Actor, AmendEvent, OpenCase, RecordStep, Refusal, VoidEvent
from daycase.engine.evaluate import evaluate
from daycase.engine.events import StepRecorded
from daycase.engine.gates import terminal_entry
from daycase.pathways.schema import Pathway, Step
from daycase.services.access import reader_of
from daycase.services.accounts import User
from daycase.services.cases import WriteKey, request_digest
from daycase.services.runtime import Runtime
from daycase.web.common import StaffPage, checked_form, form_text, is_htmx, render
from daycase.web.forms import (
    FormProblem,
    form_values,
    parse,
    parse_time,
    widgets,
    worded_problems,
)
from daycase.web.session import CSRF_FIELD
from daycase.web.views import alert_rows, checklist, history

router = APIRouter(include_in_schema=False)


def case_context(runtime: Runtime, case_id: str, user: User) -> dict[str, Any]:
    """The case page's context, as the read matrix lets `user` read the case: the front
    desk and admins get the steps they record, their entries and corrections, no alerts."""
    state = runtime.cases.state(case_id)
    pathway = runtime.cases.pathway_of(state)
    now = runtime.now()
    ev = evaluate(pathway, state, now)
    closed = terminal_entry(pathway, state) is not None
    reader = reader_of(runtime, user)
    phases = checklist(pathway, state, ev, closed=closed, tz=runtime.tz, now=now)
    shown = {e.event_id for e in reader.history(pathway, state.history)}
    if not reader.clinical:
        for phase in phases:
            phase.steps = [sv for sv in phase.steps if reader.reads_step(pathway, sv.step.id)]
        phases = [phase for phase in phases if phase.steps]
    return {
        "state": state,
        "opened": state.opened,
        "pathway": pathway,
        "ev": ev,
        "closed": closed,
        "reader": reader,
        "phases": phases,
        "history": [h for h in history(pathway, state, tz=runtime.tz) if h.event_id in shown],
        "alerts": alert_rows(ev.alerts) if reader.clinical else [],
        "widgets_for": lambda step: widgets(pathway, step),
        "may_override": lambda role: role in pathway.override_roles,
        "form_values": lambda step, data: form_values(step, data, tz=runtime.tz),
        "phase_title": pathway.phase(ev.phase).title,
        "case_day": state.opened.scheduled_start.astimezone(runtime.tz).date()
        if state.opened
        else runtime.today(),
    }


def _write_key(request: Request, form: FormData) -> WriteKey | None:
    """The form's own Idempotency-Key (one per form as rendered) and a digest of what the
    form asked, without the CSRF value, which a new sign-in would change."""
    key = form_text(form, "idempotency_key")
    if not _KEY.match(key):
        return None
    fields = sorted(
        (name, value)
        for name, value in form.multi_items()
        if name not in (CSRF_FIELD, "idempotency_key") and isinstance(value, str)
    )
    return WriteKey(key, request_digest(request.url.path, repr(fields)))


_KEY = re.compile(r"^[\x21-\x7e]{1,255}\Z")


def _new_case_context(runtime: Runtime, version: str | None) -> dict[str, Any]:
    """The default pathway's versions (the latest first, as new cases take it) and the
    levels the chosen one allows, grouped by region of the spine."""
    catalog = runtime.cases.catalog
    pathway_id = runtime.centre.default_pathway
    versions = list(reversed(catalog.versions(pathway_id)))
    chosen = version if version in versions else versions[0]
    pathway = catalog.get(pathway_id, chosen)
    regions: dict[str, list[str]] = {}
    for level in pathway.levels.allowed:
        regions.setdefault(level[0], []).append(level)
    return {"pathway": pathway, "versions": versions, "regions": regions}


@router.get("/cases/new", response_class=HTMLResponse)
def new_case_page(request: Request, runtime: RuntimeDep, user: StaffPage) -> Response:
    return render(
        request,
        runtime,
        "new_case.html",
        user=user,
        errors={},
        values={},
        **_new_case_context(runtime, None),
    )


@router.post("/cases/new", response_class=HTMLResponse)
async def new_case(request: Request, runtime: RuntimeDep, user: StaffPage) -> Response:
    form = await checked_form(request)
    values = {
        k: form_text(form, k)
        for k in (
            "mrn",
            "given_name",
            "family_name",
            "birth_date",
            "sex",
            "scheduled_start",
            "pathway_version",
        )
    }
    chosen = _new_case_context(runtime, values["pathway_version"] or None)
    levels = [v for v in form.getlist("levels") if isinstance(v, str)]
    errors: dict[str, str] = {}
    asked = values["pathway_version"]
    if asked and asked not in chosen["versions"]:
        errors["pathway_version"] = f"{asked} is not a version of this pathway"
    try:
        birth = date.fromisoformat(values["birth_date"])
    except ValueError:
        errors["patient.birth_date"] = "must be a date"
        birth = date(1900, 1, 1)
    try:
        start = datetime.fromisoformat(parse_time(values["scheduled_start"], runtime.tz))
    except FormProblem as exc:
        errors["scheduled_start"] = str(exc)
        start = runtime.now()
    if not errors:
        result = await runtime.cases.open_case_async(
            OpenCase(
                actor=Actor(user.name, user.role),
                pathway_id=chosen["pathway"].id,
                pathway_version=chosen["pathway"].version,
                mrn=values["mrn"],
                given_name=values["given_name"],
                family_name=values["family_name"],
                birth_date=birth,
                sex=values["sex"] or "unknown",
                levels=levels,
                scheduled_start=start,
            ),
            key=_write_key(request, form),
        )
        if not isinstance(result, Refusal):
            return RedirectResponse(f"/cases/{result.case_id}", status_code=303)
        errors = dict(result.fields) or {"form": "; ".join(result.messages)}
    return render(
        request,
        runtime,
        "new_case.html",
        422,
        user=user,
        errors=errors,
        values=values,
        chosen=levels,
        **chosen,
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, runtime: RuntimeDep, user: StaffPage, case_id: str) -> Response:
    ctx = case_context(runtime, case_id, user)
    runtime.audit_read(user, "read_case", [case_id], "page")
    partial = "_case_main.html" if is_htmx(request) else "case.html"
    return render(request, runtime, partial, user=user, outcome=None, **ctx)


def _clinical_time(form: FormData, runtime: Runtime) -> datetime | str:
    raw = form_text(form, "at")
    if not raw:
        return runtime.now()
    try:
        return datetime.fromisoformat(parse_time(raw, runtime.tz))
    except FormProblem as exc:
        return str(exc)


@router.post("/cases/{case_id}/record", response_class=HTMLResponse)
async def record(request: Request, runtime: RuntimeDep, user: StaffPage, case_id: str) -> Response:
    form = await checked_form(request)
    step_id = form_text(form, "step")
    state = runtime.cases.state(case_id)
    pathway = runtime.cases.pathway_of(state)
    outcome: dict[str, Any] = {"step": step_id, "level": form_text(form, "level"), "form": form}
    if not pathway.has_step(step_id):
        outcome["messages"] = [f"Unknown step {step_id}"]
        return _after(request, runtime, user, case_id, outcome, 422)
    at = _clinical_time(form, runtime)
    data, problems = parse(pathway.step(step_id), form, tz=runtime.tz)
    if isinstance(at, str):
        problems["at"] = at
    if problems:
        outcome.update(
            fields=problems, messages=["Please correct the fields marked below"], kind="invalid"
        )
        return _after(request, runtime, user, case_id, outcome, 422)
    assert isinstance(at, datetime)
    reason = form_text(form, "override_reason") or None
    result = await runtime.cases.record_async(
        case_id,
        RecordStep(
            actor=Actor(user.name, user.role),
            step=step_id,
            at=at,
            data=data,
            override_reason=reason,
        ),
        key=_write_key(request, form),
    )
    if isinstance(result, Refusal):
        outcome.update(
            kind=result.kind,
            messages=_said(pathway.step(step_id), result),
            fields=dict(result.fields),
        )
        outcome["can_override"] = _can_override(pathway, pathway.step(step_id), user, result)
        status = {"invalid": 422, "role": 403}.get(result.kind, 409)
        return _after(request, runtime, user, case_id, outcome, status)
    title = pathway.step(step_id).title
    outcome = {"saved": f"{title} recorded" + (" (override)" if result.override else "")}
    return _after(request, runtime, user, case_id, outcome, 200)


def _said(step: Step, refusal: Refusal) -> list[str]:
    """A refusal in the form's words: field problems name the field as its label does
    ("Diastolic BP must be below Systolic BP (120)"), not as the API's key."""
    if refusal.kind == "invalid" and refusal.fields:
        return worded_problems(step, refusal.fields)
    return list(refusal.messages)


def _can_override(pathway: Pathway, step: Step, user: User, refusal: Refusal) -> bool:
    """A physician may record anyway past a gate or a role list, with a reason; never past
    a condition no override lifts (a call before the patient went home)."""
    if refusal.kind not in ("gate", "role") or user.role not in pathway.override_roles:
        return False
    fixed = {c.message for c in step.gate if not c.overridable}
    return not fixed & set(refusal.messages)


def _after(
    request: Request,
    runtime: Runtime,
    user: User,
    case_id: str,
    outcome: dict[str, Any],
    status: int,
) -> Response:
    if not is_htmx(request) and status == 200:
        return RedirectResponse(f"/cases/{case_id}", status_code=303)
    ctx = case_context(runtime, case_id, user)
    runtime.audit_read(user, "read_case", [case_id], "page")  # the page shows the case again
    name = "_case_main.html" if is_htmx(request) else "case.html"
    # htmx swaps only 2xx answers by default; the page marks refusals itself.
    return render(
        request,
        runtime,
        name,
        status if not is_htmx(request) else 200,
        user=user,
        outcome=outcome,
        **ctx,
    )


@router.post("/cases/{case_id}/events/{event_id}/amend", response_class=HTMLResponse)
async def amend(
    request: Request, runtime: RuntimeDep, user: StaffPage, case_id: str, event_id: str
) -> Response:
    form = await checked_form(request)
    state = runtime.cases.state(case_id)
    pathway = runtime.cases.pathway_of(state)
    target = next(
        (e for e in state.history if isinstance(e, StepRecorded) and e.event_id == event_id), None
    )
    outcome: dict[str, Any] = {"amend": event_id, "form": form}
    if target is None:
        outcome["messages"] = ["No such entry"]
        return _after(request, runtime, user, case_id, outcome, 404)
    data, problems = parse(pathway.step(target.step), form, tz=runtime.tz)
    if target.level:
        data["level"] = form_text(form, "level") or target.level
    at: datetime | None = None
    if form_text(form, "at"):
        parsed = _clinical_time(form, runtime)
        if isinstance(parsed, str):
            problems["at"] = parsed
        else:
            at = parsed
    if problems:
        outcome.update(fields=problems, messages=["Please correct the fields marked below"])
        return _after(request, runtime, user, case_id, outcome, 422)
    entry = state.entries[event_id]
    # Only what the user changed: compared as the form shows it (times to the minute in
    # the centre's timezone), so fields left alone are never rewritten.
    step = pathway.step(target.step)
    shown = form_values(step, entry.data, tz=runtime.tz)
    entered = form_values(step, data, tz=runtime.tz)
    patch: dict[str, Any] = {k: v for k, v in data.items() if entered[k] != shown.get(k)}
    patch.update({k: None for k in entry.data if k not in data and k != "level"})
    if at is not None and _minute(at, runtime) == _minute(entry.at, runtime):
        at = None
    result = await runtime.cases.amend_async(
        case_id,
        AmendEvent(
            actor=Actor(user.name, user.role),
            target_event_id=event_id,
            reason=form_text(form, "reason"),
            at=at,
            data=patch or None,
            override_reason=form_text(form, "override_reason") or None,
        ),
        key=_write_key(request, form),
    )
    if isinstance(result, Refusal):
        outcome.update(kind=result.kind, messages=_said(step, result), fields=dict(result.fields))
        outcome["can_override"] = _can_override(pathway, step, user, result)
        return _after(
            request, runtime, user, case_id, outcome, 422 if result.kind == "invalid" else 409
        )
    return _after(request, runtime, user, case_id, {"saved": "Correction recorded"}, 200)


def _minute(at: datetime, runtime: Runtime) -> str:
    return at.astimezone(runtime.tz).strftime("%Y-%m-%dT%H:%M")


@router.post("/cases/{case_id}/events/{event_id}/void", response_class=HTMLResponse)
async def void(
    request: Request, runtime: RuntimeDep, user: StaffPage, case_id: str, event_id: str
) -> Response:
    form = await checked_form(request)
    result = await runtime.cases.void_async(
        case_id,
        VoidEvent(
            actor=Actor(user.name, user.role),
            target_event_id=event_id,
            reason=form_text(form, "reason"),
        ),
        key=_write_key(request, form),
    )
    if isinstance(result, Refusal):
        outcome = {
            "amend": event_id,
            "kind": result.kind,
            "messages": list(result.messages),
            "fields": dict(result.fields),
        }
        return _after(request, runtime, user, case_id, outcome, 422)
    return _after(request, runtime, user, case_id, {"saved": "Entry voided"}, 200)
