"""The pages: sign-in, today's board, the case checklist, family board, patient view (web room).

Each handler reads the request, calls the same services as the API, and renders a
template; htmx requests get just the part of the page that changed. Refusals are shown
where they belong: field problems beside the field, gate messages on the step.
"""

from __future__ import annotations

import asyncio
import math
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from daycase.api.deps import STAFF_ROLES, RuntimeDep
from daycase.engine.commands import Actor, AmendEvent, OpenCase, RecordStep, Refusal, VoidEvent
from daycase.engine.evaluate import evaluate
from daycase.engine.events import StepRecorded
from daycase.engine.gates import terminal_entry
from daycase.services.accounts import SignInRefused, User
from daycase.services.board import board, family_board
from daycase.services.cases import CaseNotFound
from daycase.services.runtime import Runtime
from daycase.web import session as sess
from daycase.web.forms import FormProblem, form_values, parse, parse_time, widgets
from daycase.web.views import alert_rows, checklist, history, local

TEMPLATES = Jinja2Templates(directory=str(resources.files("daycase.web").joinpath("templates")))
router = APIRouter(include_in_schema=False)
OVERRIDE_ROLES = {"anesthesia", "proceduralist"}


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class NotAllowed(Exception):
    """A signed-in user opened a page their role may not see."""


def page_user(request: Request, runtime: RuntimeDep) -> User:
    token = sess.session_token(request)
    user = runtime.accounts.user_for_token(token) if token else None
    if user is None:
        raise LoginRequired(request.url.path)
    return user


PageUser = Annotated[User, Depends(page_user)]


def staff_page(user: PageUser) -> User:
    if user.role not in STAFF_ROLES:
        raise NotAllowed
    return user


StaffPage = Annotated[User, Depends(staff_page)]


def render(
    request: Request, runtime: Runtime, name: str, status: int = 200, **ctx: Any
) -> HTMLResponse:
    token = sess.session_token(request)
    base = {
        "request": request,
        "csrf": sess.csrf_for(token) if token else "",
        "tz": runtime.tz,
        "local": lambda dt: local(dt, runtime.tz),
        "now_local": runtime.now().astimezone(runtime.tz),
    }
    return TEMPLATES.TemplateResponse(request, name, {**base, **ctx}, status_code=status)


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def _form(request: Request) -> FormData:
    form = await request.form()
    submitted = form.get(sess.CSRF_FIELD) or request.headers.get(sess.CSRF_HEADER)
    if not sess.csrf_ok(request, submitted if isinstance(submitted, str) else None):
        raise NotAllowed
    return form


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def _day(runtime: Runtime, text: str | None) -> date:
    if text:
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    return runtime.today()


# ------------------------------------------------------------------ sign-in


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, runtime: RuntimeDep, next: str = "/") -> Response:
    token = sess.session_token(request)
    if token and runtime.accounts.user_for_token(token):
        return RedirectResponse("/", status_code=303)
    return _with_login_csrf(request, runtime, "login.html", 200, next=next, error=None)


def _with_login_csrf(
    request: Request, runtime: Runtime, name: str, status: int, **ctx: Any
) -> Response:
    """A page with a pre-session form: the CSRF value goes in the form and in a cookie."""
    value = sess.new_login_csrf()
    page = render(request, runtime, name, status, login_csrf=value, **ctx)
    sess.set_login_csrf(page, request, value)
    return page


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, runtime: RuntimeDep) -> Response:
    form = await request.form()
    next_url = _text(form, "next") or "/"
    if not next_url.startswith("/") or next_url.startswith("//"):
        next_url = "/"
    if not sess.login_csrf_ok(request, _text(form, sess.CSRF_FIELD)):
        return _login_again(
            request, runtime, next_url, "Your sign-in form expired; please try again", 400
        )
    result = await asyncio.to_thread(
        runtime.accounts.sign_in, _text(form, "username"), _text(form, "password")
    )
    if isinstance(result, SignInRefused):
        if result.delay_s:
            await asyncio.sleep(result.delay_s)
        if result.locked:
            minutes = max(1, math.ceil(result.retry_after_s / 60))
            message = f"Too many failed sign-ins. Try again in {minutes} min."
            return _login_again(request, runtime, next_url, message, 429)
        return _login_again(request, runtime, next_url, "Wrong user name or password", 401)
    target = (
        next_url if result.user.role in STAFF_ROLES or next_url.startswith("/family") else "/family"
    )
    response = RedirectResponse(target, status_code=303)
    ttl = int((result.expires_at - runtime.now()).total_seconds())
    sess.set_session(response, request, result.access_token, max_age_s=ttl)
    response.delete_cookie(sess.LOGIN_CSRF_COOKIE, path="/")
    return response


def _login_again(
    request: Request, runtime: Runtime, next_url: str, error: str, status: int
) -> Response:
    return _with_login_csrf(request, runtime, "login.html", status, next=next_url, error=error)


@router.post("/logout")
async def logout(request: Request, runtime: RuntimeDep, user: PageUser) -> Response:
    await _form(request)
    token = sess.session_token(request)
    if token:
        runtime.accounts.sign_out(token)
    response = RedirectResponse("/login", status_code=303)
    sess.clear_session(response)
    return response


@router.get("/")
def home(user: PageUser) -> Response:
    return RedirectResponse("/board" if user.role in STAFF_ROLES else "/family", status_code=303)


# ------------------------------------------------------------------ boards


@router.get("/board", response_class=HTMLResponse)
def board_page(
    request: Request, runtime: RuntimeDep, user: StaffPage, date: str | None = None
) -> Response:
    on = _day(runtime, date)
    rows = board(runtime.cases, on=on, now=runtime.now())
    runtime.audit_read(user, "board", [r.case_id for r in rows], on.isoformat())
    partial = "_board_table.html" if _is_htmx(request) else "board.html"
    return render(request, runtime, partial, user=user, rows=rows, day=on, today=runtime.today())


@router.get("/family", response_class=HTMLResponse)
def family_page(
    request: Request, runtime: RuntimeDep, user: PageUser, date: str | None = None
) -> Response:
    on = _day(runtime, date)
    rows = family_board(runtime.cases, on=on, now=runtime.now())
    partial = "_family_table.html" if _is_htmx(request) else "family.html"
    return render(
        request,
        runtime,
        partial,
        user=user,
        rows=rows,
        day=on,
        stream="/api/v1/stream",
        refresh=f"/family?date={on}",
    )


@router.get("/display/{token}", response_class=HTMLResponse)
def display_page(
    request: Request, runtime: RuntimeDep, token: str, date: str | None = None
) -> Response:
    if not runtime.displays.valid(token):
        return render(
            request,
            runtime,
            "message.html",
            404,
            user=None,
            title="This screen link no longer works",
            text="Ask the front desk for a new link.",
        )
    on = _day(runtime, date)
    rows = family_board(runtime.cases, on=on, now=runtime.now())
    partial = "_family_table.html" if _is_htmx(request) else "family.html"
    return render(
        request,
        runtime,
        partial,
        user=None,
        rows=rows,
        day=on,
        stream=None,
        refresh=f"/display/{quote(token)}" + (f"?date={on}" if date else ""),
    )


# ------------------------------------------------------------------ cases


def _case_context(runtime: Runtime, case_id: str) -> dict[str, Any]:
    state = runtime.cases.state(case_id)
    pathway = runtime.cases.pathway_of(state)
    now = runtime.now()
    ev = evaluate(pathway, state, now)
    closed = terminal_entry(pathway, state) is not None
    return {
        "state": state,
        "opened": state.opened,
        "pathway": pathway,
        "ev": ev,
        "closed": closed,
        "phases": checklist(pathway, state, ev, closed=closed, tz=runtime.tz),
        "history": history(pathway, state, tz=runtime.tz),
        "alerts": alert_rows(ev.alerts),
        "default_at": now.astimezone(runtime.tz).strftime("%Y-%m-%dT%H:%M"),
        "widgets_for": lambda step: widgets(step, allowed_levels=pathway.levels.allowed),
        "form_values": lambda step, data: form_values(step, data, tz=runtime.tz),
        "phase_title": pathway.phase(ev.phase).title,
        "case_day": state.opened.scheduled_start.astimezone(runtime.tz).date()
        if state.opened
        else runtime.today(),
    }


@router.get("/cases/new", response_class=HTMLResponse)
def new_case_page(request: Request, runtime: RuntimeDep, user: StaffPage) -> Response:
    return render(
        request, runtime, "new_case.html", user=user, errors={}, values={}, levels=_levels(runtime)
    )


def _levels(runtime: Runtime) -> list[str]:
    return runtime.cases.catalog.get("kyphoplasty").levels.allowed


@router.post("/cases/new", response_class=HTMLResponse)
async def new_case(request: Request, runtime: RuntimeDep, user: StaffPage) -> Response:
    form = await _form(request)
    values = {
        k: _text(form, k)
        for k in ("mrn", "given_name", "family_name", "birth_date", "sex", "scheduled_start")
    }
    levels = [v for v in form.getlist("levels") if isinstance(v, str)]
    errors: dict[str, str] = {}
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
        result = runtime.cases.open_case(
            OpenCase(
                actor=Actor(user.name, user.role),
                pathway_id="kyphoplasty",
                mrn=values["mrn"],
                given_name=values["given_name"],
                family_name=values["family_name"],
                birth_date=birth,
                sex=values["sex"] or "unknown",
                levels=levels,
                scheduled_start=start,
            )
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
        levels=_levels(runtime),
        chosen=levels,
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, runtime: RuntimeDep, user: StaffPage, case_id: str) -> Response:
    try:
        ctx = _case_context(runtime, case_id)
    except CaseNotFound:
        return render(
            request, runtime, "message.html", 404, user=user, title="No such case", text=""
        )
    runtime.audit_read(user, "read_case", [case_id], "page")
    partial = "_case_main.html" if _is_htmx(request) else "case.html"
    return render(request, runtime, partial, user=user, outcome=None, **ctx)


def _clinical_time(form: FormData, runtime: Runtime) -> datetime | str:
    raw = _text(form, "at")
    if not raw:
        return runtime.now()
    try:
        return datetime.fromisoformat(parse_time(raw, runtime.tz))
    except FormProblem as exc:
        return str(exc)


@router.post("/cases/{case_id}/record", response_class=HTMLResponse)
async def record(request: Request, runtime: RuntimeDep, user: StaffPage, case_id: str) -> Response:
    form = await _form(request)
    step_id = _text(form, "step")
    try:
        state = runtime.cases.state(case_id)
        pathway = runtime.cases.pathway_of(state)
    except CaseNotFound:
        return render(
            request, runtime, "message.html", 404, user=user, title="No such case", text=""
        )
    outcome: dict[str, Any] = {"step": step_id, "level": _text(form, "level"), "form": form}
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
    reason = _text(form, "override_reason") or None
    result = runtime.cases.record(
        case_id,
        RecordStep(
            actor=Actor(user.name, user.role),
            step=step_id,
            at=at,
            data=data,
            override_reason=reason,
        ),
    )
    if isinstance(result, Refusal):
        outcome.update(kind=result.kind, messages=list(result.messages), fields=dict(result.fields))
        outcome["can_override"] = result.kind == "gate" and user.role in OVERRIDE_ROLES
        status = {"invalid": 422, "role": 403}.get(result.kind, 409)
        return _after(request, runtime, user, case_id, outcome, status)
    title = pathway.step(step_id).title
    outcome = {"saved": f"{title} recorded" + (" (override)" if result.override else "")}
    return _after(request, runtime, user, case_id, outcome, 200)


def _after(
    request: Request,
    runtime: Runtime,
    user: User,
    case_id: str,
    outcome: dict[str, Any],
    status: int,
) -> Response:
    if not _is_htmx(request) and status == 200:
        return RedirectResponse(f"/cases/{case_id}", status_code=303)
    ctx = _case_context(runtime, case_id)
    name = "_case_main.html" if _is_htmx(request) else "case.html"
    # htmx swaps only 2xx answers by default; the page marks refusals itself.
    return render(
        request,
        runtime,
        name,
        status if not _is_htmx(request) else 200,
        user=user,
        outcome=outcome,
        **ctx,
    )


@router.post("/cases/{case_id}/events/{event_id}/amend", response_class=HTMLResponse)
async def amend(
    request: Request, runtime: RuntimeDep, user: StaffPage, case_id: str, event_id: str
) -> Response:
    form = await _form(request)
    try:
        state = runtime.cases.state(case_id)
    except CaseNotFound:
        return render(
            request, runtime, "message.html", 404, user=user, title="No such case", text=""
        )
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
        data["level"] = _text(form, "level") or target.level
    at: datetime | None = None
    if _text(form, "at"):
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
    result = runtime.cases.amend(
        case_id,
        AmendEvent(
            actor=Actor(user.name, user.role),
            target_event_id=event_id,
            reason=_text(form, "reason"),
            at=at,
            data=patch or None,
        ),
    )
    if isinstance(result, Refusal):
        outcome.update(kind=result.kind, messages=list(result.messages), fields=dict(result.fields))
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
    form = await _form(request)
    result = runtime.cases.void(
        case_id,
        VoidEvent(
            actor=Actor(user.name, user.role),
            target_event_id=event_id,
            reason=_text(form, "reason"),
        ),
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


# ------------------------------------------------------------------ patient view


def _patient_context(runtime: Runtime, case_id: str) -> dict[str, Any]:
    ctx = _case_context(runtime, case_id)
    pathway = ctx["pathway"]
    ev = ctx["ev"]
    now_step = None
    next_step = None
    order = [s for s in pathway.steps if s.need != "optional" or ev.steps[s.id] == "done"]
    done = [s for s in order if ev.steps[s.id] == "done" and s.need != "terminal"]
    if done:
        now_step = max(done, key=lambda s: max(e.at for e in ctx["state"].step_entries(s.id)))
    upcoming = [
        s for s in pathway.steps if ev.steps[s.id] in ("due", "overdue") and s.need == "required"
    ]
    if upcoming:
        next_step = upcoming[0]
    consult = ctx["state"].latest("discharge_consult")
    return {
        **ctx,
        "now_step": now_step,
        "next_step": next_step,
        "consult": consult.data if consult else {},
        "sheet": pathway.discharge_sheet,
        "follow_up_text": lambda value: _follow_up_text(value, runtime.tz),
    }


def _follow_up_text(value: object, tz: ZoneInfo) -> str:
    """A recorded follow-up time as a patient reads it: "Tuesday 9 December 2025 at 14:30"."""
    if not isinstance(value, str):
        return ""
    try:
        at = datetime.fromisoformat(value).astimezone(tz)
    except ValueError:
        return value
    return f"{at:%A} {at.day} {at:%B %Y} at {at:%H:%M}"


@router.get("/cases/{case_id}/patient", response_class=HTMLResponse)
def patient_view_staff(
    request: Request, runtime: RuntimeDep, user: StaffPage, case_id: str
) -> Response:
    try:
        ctx = _patient_context(runtime, case_id)
    except CaseNotFound:
        return render(
            request, runtime, "message.html", 404, user=user, title="No such case", text=""
        )
    runtime.audit_read(user, "read_case", [case_id], "patient view")
    return render(request, runtime, "patient.html", user=user, **ctx)


@router.get("/patient", response_class=HTMLResponse)
def patient_lookup(request: Request, runtime: RuntimeDep) -> Response:
    return _with_login_csrf(request, runtime, "patient_lookup.html", 200, user=None, error=None)


@router.post("/patient", response_class=HTMLResponse)
async def patient_view(request: Request, runtime: RuntimeDep) -> Response:
    """A patient or family member: family code plus birth date, throttled like a sign-in."""
    form = await request.form()
    if not sess.login_csrf_ok(request, _text(form, sess.CSRF_FIELD)):
        return RedirectResponse("/patient", status_code=303)
    code = _text(form, "code").upper().replace(" ", "")
    birth = _text(form, "birth_date")
    key = f"patient:{code}"
    case_id = None if runtime.accounts.check_guess(key) else _find_case(runtime, code, birth)
    if case_id is None:
        runtime.accounts.note_failure(key)
        return _with_login_csrf(
            request,
            runtime,
            "patient_lookup.html",
            404,
            user=None,
            error="We could not find that code and birth date. Check them, or ask the front desk.",
        )
    return render(request, runtime, "patient.html", user=None, **_patient_context(runtime, case_id))


def _find_case(runtime: Runtime, code: str, birth: str) -> str | None:
    today = runtime.today()
    for offset in (0, -1, 1):
        for summary in runtime.store.cases(on=today + timedelta(days=offset)):
            if summary.family_code != code:
                continue
            state = runtime.cases.state(summary.case_id)
            if state.opened and state.opened.patient.birth_date.isoformat() == birth:
                return summary.case_id
    return None


# ------------------------------------------------------------------ display links (admin)


@router.get("/admin/displays", response_class=HTMLResponse)
def displays_page(request: Request, runtime: RuntimeDep, user: StaffPage) -> Response:
    if user.role != "admin":
        raise NotAllowed
    return render(
        request, runtime, "displays.html", user=user, links=runtime.displays.all(), new_link=None
    )


@router.post("/admin/displays", response_class=HTMLResponse)
async def create_display(request: Request, runtime: RuntimeDep, user: StaffPage) -> Response:
    if user.role != "admin":
        raise NotAllowed
    form = await _form(request)
    link = runtime.displays.create(label=_text(form, "label"), created_by=user.name)
    url = f"{request.base_url}display/{link.token}"
    return render(
        request, runtime, "displays.html", user=user, links=runtime.displays.all(), new_link=url
    )


@router.post("/admin/displays/{link_id}/revoke", response_class=HTMLResponse)
async def revoke_display(
    request: Request, runtime: RuntimeDep, user: StaffPage, link_id: str
) -> Response:
    if user.role != "admin":
        raise NotAllowed
    await _form(request)
    runtime.displays.revoke(link_id)
    return RedirectResponse("/admin/displays", status_code=303)
