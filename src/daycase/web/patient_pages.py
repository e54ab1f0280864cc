"""The patient's view: where they are, what comes next, and the going-home sheet (web room).

Only patient texts reach these pages: plain titles instead of staff titles, no hidden
step, no alert, reason or free text, and the centre's name and phone number.
"""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from daycase.api import signin
from daycase.api.deps import RuntimeDep
from daycase.engine.evaluate import evaluate
from daycase.services.access import reader_of
from daycase.services.audit_log import audit_patient_lookup
from daycase.services.runtime import Runtime
from daycase.web import session as sess
from daycase.web.common import NotAllowed, StaffPage, form_text, render, with_login_csrf
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
    if not reader_of(runtime, user).clinical:
        raise NotAllowed  # the patient view carries the medicines and the plan
    ctx = _patient_context(runtime, case_id)
    runtime.audit_read(user, "read_case", [case_id], "patient view")
    return render(request, runtime, "patient.html", user=user, **ctx)


@router.get("/patient", response_class=HTMLResponse)
def patient_lookup(request: Request, runtime: RuntimeDep) -> Response:
    return with_login_csrf(request, runtime, "patient_lookup.html", 200, user=None, error=None)


@router.post("/patient", response_class=HTMLResponse)
async def patient_view(request: Request, runtime: RuntimeDep) -> Response:
    """A patient or family member: family code plus birth date.

    Wrong guesses are counted per client (its address, or the device cookie a phone got
    when it found this code before), never per family code: the waiting-room screen
    shows the codes, and a stranger typing wrong birth dates must not shut a family out.
    """
    form = await request.form()
    if not sess.login_csrf_ok(request, form_text(form, sess.CSRF_FIELD)):
        return RedirectResponse("/patient", status_code=303)
    code = form_text(form, "code").upper().replace(" ", "")
    birth = form_text(form, "birth_date")
    client = signin.client_of(request, "family", code)
    refused = runtime.accounts.lookup_refused(code, client)
    if refused is not None:
        return _too_many(request, runtime, refused.retry_after_s)
    case_id = await asyncio.to_thread(_find_case, runtime, code, birth)
    address = request.client.host if request.client else ""
    audit_patient_lookup(runtime, address=address, code=code, case_id=case_id)
    if case_id is None:
        failed = runtime.accounts.lookup_failed(code, client)
        await asyncio.sleep(failed.delay_s)
        if failed.locked:
            return _too_many(request, runtime, failed.retry_after_s)
        return with_login_csrf(
            request,
            runtime,
            "patient_lookup.html",
            404,
            user=None,
            error="We could not find that code and birth date. Check them, or ask the front desk.",
        )
    page = render(request, runtime, "patient.html", user=None, **_patient_context(runtime, case_id))
    cookie = runtime.accounts.lookup_found(code)
    signin.set_device_cookie(page, request, runtime, purpose="family", subject=code, value=cookie)
    return page


def _too_many(request: Request, runtime: Runtime, retry_after_s: int) -> Response:
    minutes = max(1, math.ceil(retry_after_s / 60))
    page = with_login_csrf(
        request,
        runtime,
        "patient_lookup.html",
        429,
        user=None,
        error=(
            f"Too many wrong tries from this device. Try again in {minutes} min, "
            "or ask the front desk."
        ),
    )
    page.headers["Retry-After"] = str(retry_after_s)
    return page


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
