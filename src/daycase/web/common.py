"""What every page shares: templates, the signed-in user, CSRF-checked forms (web room)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from importlib import resources
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from daycase.api.deps import RuntimeDep
from daycase.reports.model import Chart
from daycase.services.accounts import User
from daycase.services.runtime import Runtime
from daycase.web import session as sess
from daycase.web.forms import value_words
from daycase.web.views import local

TEMPLATES = Jinja2Templates(directory=str(resources.files("daycase.web").joinpath("templates")))
# Macros imported from _fields.html do not see a render's context; they see the globals.
TEMPLATES.env.globals["value_words"] = value_words


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class NotAllowed(Exception):
    """A signed-in user opened a page their role may not see."""


def page_user(request: Request, runtime: RuntimeDep) -> User:
    """The signed-in user; a live page's own refresh (live.js marks it) is not use of the
    sign-in, so a board left open on an unattended screen still logs off when idle."""
    token = sess.session_token(request)
    active = request.headers.get("x-daycase-live") != "1"
    user = runtime.accounts.user_for_token(token, active=active) if token else None
    if user is None:
        raise LoginRequired(request.url.path)
    return user


PageUser = Annotated[User, Depends(page_user)]


def staff_page(user: PageUser, runtime: RuntimeDep) -> User:
    if not runtime.centre.is_staff(user.role):
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
        "when": lambda at: when(at, runtime.tz),
        "alert_title": runtime.centre.alert_title,
        "now_local": runtime.now().astimezone(runtime.tz),
        "centre": runtime.centre,
        # One Idempotency-Key per form as rendered: a form sent again after a lost answer
        # is answered with what was stored, never stored twice.
        "new_key": lambda: uuid.uuid4().hex,
    }
    return TEMPLATES.TemplateResponse(request, name, {**base, **ctx}, status_code=status)


def when(at: datetime | str | None, tz: ZoneInfo) -> str:
    """A stored instant (or its ISO text) as the centre's clocks show it, with the date:
    managers' pages never show raw UTC text."""
    if at is None or at == "":
        return "—"
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).strftime("%d %b %Y %H:%M")


def link_gone(request: Request, runtime: Runtime) -> HTMLResponse:
    """What a revoked or unknown screen link shows, on every board a link can open."""
    return render(
        request,
        runtime,
        "message.html",
        404,
        user=None,
        title="This screen link no longer works",
        text="Ask the centre manager for a new link.",
    )


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def checked_form(request: Request) -> FormData:
    form = await request.form()
    submitted = form.get(sess.CSRF_FIELD) or request.headers.get(sess.CSRF_HEADER)
    if not sess.csrf_ok(request, submitted if isinstance(submitted, str) else None):
        raise NotAllowed
    return form


def form_text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def day_or_today(runtime: Runtime, text: str | None) -> date:
    if text:
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    return runtime.today()


def with_login_csrf(
    request: Request, runtime: Runtime, name: str, status: int, **ctx: Any
) -> Response:
    """A page with a pre-session form: the CSRF value goes in the form and in a cookie."""
    value = sess.new_login_csrf()
    page = render(request, runtime, name, status, login_csrf=value, **ctx)
    sess.set_login_csrf(page, request, value)
    return page


def chart_svg(chart: Chart) -> str:
    """One report chart as a standalone SVG document, drawn by the same `_charts.html`
    macros as the pages (for files the command line writes)."""
    template = TEMPLATES.env.from_string(
        '{% import "_charts.html" as charts %}{{ charts.chart(c, "chart") }}'
    )
    figure = template.render(c=chart)
    start, end = figure.index("<svg"), figure.index("</svg>") + len("</svg>")
    svg = figure[start:end]
    return svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1) + "\n"
