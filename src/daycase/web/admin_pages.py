"""The admin's pages: waiting-room screen links and the audit log (web room).

Screen links start with the centre's configured address (`DAYCASE_PUBLIC_URL`), never
the Host header of the request. The audit log comes a page at a time, newest first,
through the same service as `GET /api/v1/audit`; reading it is itself audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from daycase.api.deps import RuntimeDep
from daycase.api.routes.common import ID_PATTERN
from daycase.services.accounts import User
from daycase.services.audit_log import DEFAULT_LIMIT, MAX_LIMIT, read_audit
from daycase.services.displays import LabelRefused, display_url
from daycase.services.runtime import Runtime
from daycase.web.common import NotAllowed, StaffPage, checked_form, form_text, render

router = APIRouter(include_in_schema=False)


def admin_page(user: StaffPage, runtime: RuntimeDep) -> User:
    if not runtime.centre.is_admin(user.role):
        raise NotAllowed
    return user


AdminPage = Annotated[User, Depends(admin_page)]


# ------------------------------------------------------------------ screen links


def _displays(
    request: Request,
    runtime: Runtime,
    user: User,
    *,
    new_link: str | None = None,
    error: str | None = None,
    label: str = "",
) -> HTMLResponse:
    return render(
        request,
        runtime,
        "displays.html",
        422 if error else 200,
        user=user,
        links=runtime.displays.all(),
        new_link=new_link,
        error=error,
        label=label,
    )


@router.get("/admin/displays", response_class=HTMLResponse)
def displays_page(request: Request, runtime: RuntimeDep, user: AdminPage) -> Response:
    return _displays(request, runtime, user)


@router.post("/admin/displays", response_class=HTMLResponse)
async def create_display(request: Request, runtime: RuntimeDep, user: AdminPage) -> Response:
    form = await checked_form(request)
    label = form_text(form, "label")
    try:
        link = runtime.displays.create(label=label, created_by=user.name)
    except LabelRefused as exc:
        return _displays(request, runtime, user, error=f"Where the screen is: {exc}", label=label)
    return _displays(request, runtime, user, new_link=display_url(runtime.settings, link.token))


@router.post("/admin/displays/{link_id}/revoke", response_class=HTMLResponse)
async def revoke_display(
    request: Request, runtime: RuntimeDep, user: AdminPage, link_id: str
) -> Response:
    await checked_form(request)
    runtime.displays.revoke(link_id)
    return RedirectResponse("/admin/displays", status_code=303)


# ------------------------------------------------------------------ audit log


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    runtime: RuntimeDep,
    user: AdminPage,
    case_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Response:
    page = read_audit(runtime, user, case_id=case_id, before=before, limit=limit)
    return render(
        request,
        runtime,
        "audit.html",
        user=user,
        lines=list(reversed(page.lines)),
        older=page.older,
        case_id=case_id,
        limit=limit,
        first=before is None,
    )
