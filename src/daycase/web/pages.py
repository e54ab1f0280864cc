"""Pages: sign-in, the staff board, the family board and screen links (web room).

Each handler reads the request, calls the same services as the API, and renders a
template; htmx requests get just the part of the page that changed.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from daycase.api import signin
from daycase.api.deps import RuntimeDep
from daycase.services.access import Reader, reader_of
from daycase.services.accounts import SignInRefused
from daycase.services.board import BoardRow
from daycase.services.calls import calls_to_make
from daycase.services.etas import FAMILY_CAVEAT, family_words
from daycase.services.passwords import HashingBusy
from daycase.services.runtime import Runtime
from daycase.web import session as sess
from daycase.web.common import (
    TEMPLATES,
    PageUser,
    StaffPage,
    checked_form,
    day_or_today,
    form_text,
    is_htmx,
    link_gone,
    render,
    with_login_csrf,
)
from daycase.web.views import local

router = APIRouter(include_in_schema=False)
# A waiting-room screen shows this many rows at a time, turning pages this often.
FAMILY_ROWS = 12
FAMILY_PAGE_S = 15


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, runtime: RuntimeDep, next: str = "/") -> Response:
    token = sess.session_token(request)
    if token and runtime.accounts.user_for_token(token):
        return RedirectResponse("/", status_code=303)
    notice = None
    if token and runtime.accounts.ended_because(token) == "idle":
        notice = (
            "You were signed out because this sign-in was not used for "
            f"{_duration(runtime.settings.session_idle_minutes)}. Sign in again to go on."
        )
    page = with_login_csrf(request, runtime, "login.html", 200, next=next, error=notice)
    if token:
        sess.clear_session(page)
    return page


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, runtime: RuntimeDep) -> Response:
    form = await request.form()
    next_url = form_text(form, "next") or "/"
    if not next_url.startswith("/") or next_url.startswith("//"):
        next_url = "/"
    if not sess.login_csrf_ok(request, form_text(form, sess.CSRF_FIELD)):
        return _login_again(
            request, runtime, next_url, "Your sign-in form expired; please try again", 400
        )
    # The password form field is not stripped: spaces are part of a password.
    password = form.get("password")
    try:
        result = await signin.sign_in(
            request,
            runtime,
            form_text(form, "username"),
            password if isinstance(password, str) else "",
        )
    except HashingBusy:
        page = _login_again(
            request, runtime, next_url, "The server is busy. Try again in a moment.", 503
        )
        page.headers["Retry-After"] = str(HashingBusy.retry_after_s)
        return page
    if isinstance(result, SignInRefused):
        if result.locked:
            minutes = max(1, math.ceil(result.retry_after_s / 60))
            where = "from this computer" if result.by_address else "for this user name"
            message = (
                f"Too many failed sign-ins {where}. Try again in {minutes} min, or sign in "
                "on a computer you have used before"
                + ("." if result.by_address else "; the centre manager can unlock it.")
            )
            page = _login_again(request, runtime, next_url, message, 429)
            page.headers["Retry-After"] = str(result.retry_after_s)
            return page
        return _login_again(request, runtime, next_url, "Wrong user name or password", 401)
    staff = runtime.centre.is_staff(result.user.role)
    target = next_url if staff or next_url.startswith("/family") else "/family"
    response = RedirectResponse(target, status_code=303)
    ttl = int((result.expires_at - runtime.now()).total_seconds())
    sess.set_session(response, request, result.access_token, max_age_s=ttl)
    signin.set_device_cookie(
        response,
        request,
        runtime,
        purpose="device",
        subject=result.user.name,
        value=result.device_cookie,
    )
    response.delete_cookie(sess.LOGIN_CSRF_COOKIE, path="/")
    return response


def _duration(minutes: float) -> str:
    if minutes < 1:
        return f"{round(minutes * 60)} seconds"
    return "1 minute" if minutes == 1 else f"{minutes:g} minutes"


def _login_again(
    request: Request, runtime: Runtime, next_url: str, error: str, status: int
) -> Response:
    return with_login_csrf(request, runtime, "login.html", status, next=next_url, error=error)


@router.post("/logout")
async def logout(request: Request, runtime: RuntimeDep, user: PageUser) -> Response:
    await checked_form(request)
    token = sess.session_token(request)
    if token:
        runtime.accounts.sign_out(token)
    response = RedirectResponse("/login", status_code=303)
    sess.clear_session(response)
    return response


@router.get("/")
def home(user: PageUser, runtime: RuntimeDep) -> Response:
    target = "/board" if runtime.centre.is_staff(user.role) else "/family"
    return RedirectResponse(target, status_code=303)


# ------------------------------------------------------------------ boards


@router.get("/board", response_class=HTMLResponse)
def board_page(
    request: Request, runtime: RuntimeDep, user: StaffPage, date: str | None = None
) -> Response:
    on = day_or_today(runtime, date)
    now = runtime.now()
    reader = reader_of(runtime, user)
    table, shown = board_table(runtime, on, now=now, reader=reader)
    runtime.audit_read(user, "board", shown, on.isoformat())
    if is_htmx(request):
        return HTMLResponse(table)
    # The next-day calls are clinical: the front desk and admins do not get them.
    calls = calls_to_make(runtime.cases, on=on, now=now) if reader.clinical else None
    if calls is not None:
        runtime.audit_read(user, "calls", [c.case_id for c in calls], on.isoformat())
    return render(
        request,
        runtime,
        "board.html",
        user=user,
        table=table,
        calls=calls,
        day=on,
        today=runtime.today(),
        reader=reader,
    )


def board_table(
    runtime: Runtime, on: date, *, now: datetime, reader: Reader
) -> tuple[str, list[str]]:
    """The board's table as `reader` may see it, and the cases it shows. Each row is
    rendered once per case and kind of reader and kept by the board read model, which
    puts the minutes in at each read (600 rows took tens of milliseconds to render)."""
    kind = "clinical" if reader.clinical else reader.role
    row_template = TEMPLATES.get_template("_board_row.html")

    def render_row(row: BoardRow) -> str:
        return row_template.render(
            r=reader.board_row(row),
            reader=reader,
            local=lambda dt: local(dt, runtime.tz),
            alert_title=runtime.centre.alert_title,
        )

    texts, shown = runtime.boards.rows_text(on, now=now, key=f"page:{kind}", render=render_row)
    html = TEMPLATES.get_template("_board_table.html").render(
        rows_html=Markup("".join(texts)), reader=reader
    )
    return html, shown


@router.get("/family", response_class=HTMLResponse)
def family_page(
    request: Request,
    runtime: RuntimeDep,
    user: PageUser,
    date: str | None = None,
    page: str | None = None,
) -> Response:
    on = day_or_today(runtime, date)
    chosen = int(page) if page and page.isdigit() else None
    partial = "_family_table.html" if is_htmx(request) else "family.html"
    return render(
        request,
        runtime,
        partial,
        user=user,
        **family_screen(runtime, on, chosen),
        day=on,
        stream="/api/v1/stream",
        # The stream says when a row changed; the timer turns the pages of a long day
        # (a page chosen in the address stays chosen).
        every_s=FAMILY_PAGE_S,
        refresh=f"/family?date={on}" + (f"&page={chosen}" if chosen else ""),
    )


def family_screen(runtime: Runtime, on: date, chosen: int | None = None) -> dict[str, Any]:
    """One screenful of the waiting-room board: a long day is shown a page at a time,
    the page turning every `FAMILY_PAGE_S` seconds (the page is picked from the clock,
    so every screen and every refresh agree) unless one is `chosen` (1-based), with the
    patients still here first."""
    now = runtime.now()
    rows = runtime.boards.family_board(on, now=now, ended_last=True)
    day = runtime.boards.day_facts(on, now=now)
    codes = {row.case_id: row.family_code for row, _ in day}
    expected = {
        codes[case_id]: family_words(eta, runtime.tz)
        for case_id, eta in runtime.etas.for_rows(day, now=now).items()
    }
    pages = max(1, math.ceil(len(rows) / FAMILY_ROWS))
    if chosen is not None and 1 <= chosen <= pages:
        page = chosen - 1
    else:
        page = int(now.timestamp() // FAMILY_PAGE_S) % pages
    return {
        "rows": rows[page * FAMILY_ROWS : (page + 1) * FAMILY_ROWS],
        "expected": expected,
        "caveat": FAMILY_CAVEAT if expected else None,
        "page": page + 1,
        "pages": pages,
    }


@router.get("/display/{token}", response_class=HTMLResponse)
def display_page(
    request: Request, runtime: RuntimeDep, token: str, date: str | None = None
) -> Response:
    if not runtime.displays.valid(token):
        return link_gone(request, runtime)
    on = day_or_today(runtime, date)
    partial = "_family_table.html" if is_htmx(request) else "family.html"
    return render(
        request,
        runtime,
        partial,
        user=None,
        **family_screen(runtime, on),
        day=on,
        stream=None,
        every_s=None,
        refresh=f"/display/{quote(token)}" + (f"?date={on}" if date else ""),
    )
