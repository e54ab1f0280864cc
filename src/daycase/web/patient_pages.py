"""The patient's view: where they are, what comes next, and the going-home sheet (web room).

Only patient texts reach these pages: plain titles instead of staff titles, no hidden
step, no alert, reason or free text, and the centre's name and phone number.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from daycase.api.deps import RuntimeDep
from daycase.engine.evaluate import evaluate
from daycase.services.runtime import Runtime
from daycase.web import session as sess
from daycase.web.common import StaffPage, form_text, render, with_login_csrf
from daycase.web.sheet import going_home, now_and_next

router = APIRouter(include_in_schema=False)


def _patient_context(runtime: Runtime, case_id: str) -> dict[str, Any]:
    """Only what a patient may read (see `daycase.web.sheet`), never the staff case page's
    context: no history, no alert, no staff title."""
    state = runtime.cases.state(case_id)
    pathway = runtime.cases.pathway_of(state)
    ev = evaluate(pathway, state, runtime.now())
    now_step, next_step = now_and_next(pathway, state, ev)
    assert state.opened is not None
    sheet = pathway.discharge_sheet
    return {
        "given_name": state.opened.patient.given_name,
        "full_name": f"{state.opened.patient.given_name} {state.opened.patient.family_name}",
        "status_word": ev.family_word,
        "phase_text": pathway.phase(ev.phase).patient,
        "now_step": now_step,
        "next_step": next_step,
        "sheet_title": sheet.title if sheet else None,
        "sections": going_home(
            pathway,
            state,
            centre=runtime.centre.name,
            phone=runtime.centre.phone,
            tz=runtime.tz,
        ),
    }


@router.get("/cases/{case_id}/patient", response_class=HTMLResponse)
def patient_view_staff(
    request: Request, runtime: RuntimeDep, user: StaffPage, case_id: str
) -> Response:
    ctx = _patient_context(runtime, case_id)
    runtime.audit_read(user, "read_case", [case_id], "patient view")
    return render(request, runtime, "patient.html", user=user, **ctx)


@router.get("/patient", response_class=HTMLResponse)
def patient_lookup(request: Request, runtime: RuntimeDep) -> Response:
    return with_login_csrf(request, runtime, "patient_lookup.html", 200, user=None, error=None)


@router.post("/patient", response_class=HTMLResponse)
async def patient_view(request: Request, runtime: RuntimeDep) -> Response:
    """A patient or family member: family code plus birth date, throttled like a sign-in."""
    form = await request.form()
    if not sess.login_csrf_ok(request, form_text(form, sess.CSRF_FIELD)):
        return RedirectResponse("/patient", status_code=303)
    code = form_text(form, "code").upper().replace(" ", "")
    birth = form_text(form, "birth_date")
    key = f"patient:{code}"
    case_id = None if runtime.accounts.check_guess(key) else _find_case(runtime, code, birth)
    if case_id is None:
        runtime.accounts.note_failure(key)
        return with_login_csrf(
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
