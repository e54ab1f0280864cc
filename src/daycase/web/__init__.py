"""Web room: server-rendered pages (Jinja2 + vendored htmx) over the same services as the API."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles


def install_web(app: FastAPI) -> None:
    """Add the pages, the static files and the sign-in redirects to an app."""
    from daycase.api.errors import busy_response, refusal_response
    from daycase.services.cases import CaseNotFound
    from daycase.services.catalog import PathwayUnavailable
    from daycase.services.faults import RETRY_AFTER_S, StoreBusy, busy_message
    from daycase.web import (
        admin_pages,
        case_pages,
        centre_pages,
        pages,
        patient_pages,
        report_pages,
        room_pages,
        sim_pages,
        user_pages,
    )
    from daycase.web.common import LoginRequired, NotAllowed, render

    app.mount(
        "/static",
        StaticFiles(directory=str(resources.files("daycase.web").joinpath("static"))),
        name="static",
    )
    for module in (
        pages,
        case_pages,
        patient_pages,
        admin_pages,
        centre_pages,
        room_pages,
        report_pages,
        sim_pages,
        user_pages,
    ):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("hx-request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": "/login"})
        return RedirectResponse(f"/login?next={exc.next_url}", status_code=303)

    @app.exception_handler(NotAllowed)
    async def _forbidden(request: Request, exc: NotAllowed) -> HTMLResponse:
        runtime = request.app.state.runtime
        return render(
            request,
            runtime,
            "message.html",
            403,
            user=None,
            title="Not available for this sign-in",
            text="This page is not open to your role, or the form expired. Go back and try again.",
        )

    @app.exception_handler(CaseNotFound)
    async def _no_case(request: Request, exc: CaseNotFound) -> Response:
        if request.url.path.startswith("/api/"):
            return refusal_response("not_found", [f"No case with id {exc}"])
        return render(
            request,
            request.app.state.runtime,
            "message.html",
            404,
            user=None,
            title="No such case",
            text="Check the link, or find the case on the board.",
        )

    @app.exception_handler(StoreBusy)
    async def _busy(request: Request, exc: StoreBusy) -> Response:
        # The form stays on the page (static/forms.js says "Not saved"); a page load says
        # the same in words. Either way nothing was stored and a retry is safe.
        if request.url.path.startswith("/api/"):
            return busy_response(request.method)
        page = render(
            request,
            request.app.state.runtime,
            "message.html",
            503,
            user=None,
            title="The record is busy",
            text=busy_message(request.method),
        )
        page.headers["Retry-After"] = str(RETRY_AFTER_S)
        return page

    @app.exception_handler(PathwayUnavailable)
    async def _unavailable(request: Request, exc: PathwayUnavailable) -> Response:
        # Never a case judged by another definition than its own: the API answers its
        # refusal JSON, a page says which case and which version in words.
        if request.url.path.startswith("/api/"):
            return refusal_response("pathway_unavailable", [str(exc)])
        runtime = request.app.state.runtime
        return render(
            request,
            runtime,
            "message.html",
            500,
            user=None,
            title="This case cannot be shown",
            text=str(exc),
        )
