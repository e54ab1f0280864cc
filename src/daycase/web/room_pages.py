"""The room board and the schedule page (web room).

The room board is what the charge nurse and a TV in the staff area watch: per room the
case in it and how it is pacing, the turnover, the next case and when it is expected, a
late first case asking for its reason; recovery bays in use and who is ready to go home.
A display link shows it without names (family codes only). The schedule page is where
cases are booked into rooms, moved, reordered, delayed and cancelled; every change goes
through the same schedule service as the API.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from daycase.api.deps import RuntimeDep
from daycase.services.accounts import User
from daycase.services.etas import staff_words
from daycase.services.runtime import Runtime
from daycase.services.schedule import DURATION_ROLES, describe
from daycase.services.schedule_plan import (
    AddDelay,
    Cancel,
    Change,
    DayPlan,
    Place,
    ScheduleRefused,
    SetDuration,
)
from daycase.web.common import (
    StaffPage,
    checked_form,
    day_or_today,
    form_text,
    is_htmx,
    link_gone,
    render,
)

router = APIRouter(include_in_schema=False)


@router.get("/rooms", response_class=HTMLResponse)
def rooms_page(
    request: Request, runtime: RuntimeDep, user: StaffPage, date: str | None = None
) -> Response:
    on = day_or_today(runtime, date)
    plan = runtime.schedule.plan(on)
    runtime.audit_read(user, "rooms", _shown(plan), on.isoformat())
    name = "_rooms.html" if is_htmx(request) else "rooms.html"
    return render(
        request,
        runtime,
        name,
        **_context(runtime, user, plan),
        stream="/api/v1/stream",
        refresh=f"/rooms?date={on.isoformat()}",
    )


@router.get("/display/{token}/rooms", response_class=HTMLResponse)
def rooms_display(
    request: Request, runtime: RuntimeDep, token: str, date: str | None = None
) -> Response:
    """The room board for a screen: family codes instead of names, nothing to press."""
    if not runtime.displays.valid(token):
        return link_gone(request, runtime)
    on = day_or_today(runtime, date)
    plan = runtime.schedule.plan(on)
    name = "_rooms.html" if is_htmx(request) else "rooms.html"
    return render(
        request,
        runtime,
        name,
        **_context(runtime, None, plan),
        stream=None,
        refresh=f"/display/{quote(token)}/rooms" + (f"?date={on}" if date else ""),
    )


@router.get("/schedule", response_class=HTMLResponse)
def schedule_page(
    request: Request, runtime: RuntimeDep, user: StaffPage, date: str | None = None
) -> Response:
    return _schedule(request, runtime, user, day_or_today(runtime, date))


@router.post("/schedule", response_class=HTMLResponse)
async def change_schedule(request: Request, runtime: RuntimeDep, user: StaffPage) -> Response:
    """One change from a form on the schedule page or the room board; `back=rooms` returns
    to the room board when it worked."""
    form = await checked_form(request)
    on = day_or_today(runtime, form_text(form, "date"))
    try:
        change = _change_of({key: form_text(form, key) for key in form})
        changed = runtime.change_schedule(change, by=user)
    except ScheduleRefused as exc:
        status = {"conflict": 409, "role": 403, "not_found": 404}.get(exc.kind, 422)
        return _schedule(request, runtime, user, on, problems=exc.problems, status=status)
    if form_text(form, "back") == "rooms":
        return RedirectResponse(f"/rooms?date={on.isoformat()}", status_code=303)
    saved = change_words(describe(change, changed.plan), changed.plan, runtime)
    return _schedule(request, runtime, user, on, done=f"Saved: {saved}.", plan=changed.plan)


def _change_of(fields: dict[str, str]) -> Change:
    """The change a form asks for; `ScheduleRefused` naming a field a person got wrong."""
    case_id = fields.get("case_id", "")
    action = fields.get("action", "")
    if action == "place":
        position = fields.get("position", "")
        if position and not position.isdigit():
            raise ScheduleRefused(["Position: a whole number, 1 for first in the room"])
        return Place(case_id, fields.get("room", ""), int(position) if position else None)
    if action == "duration":
        minutes = fields.get("minutes", "")
        if minutes and not minutes.isdigit():
            raise ScheduleRefused(["Minutes: a whole number of minutes, or empty"])
        return SetDuration(case_id, int(minutes) if minutes else None)
    if action in ("delay", "cancel"):
        kind = AddDelay if action == "delay" else Cancel
        return kind(case_id, fields.get("reason", ""), fields.get("note", ""))
    raise ScheduleRefused(["This form asks for something the schedule does not do"])


def _schedule(
    request: Request,
    runtime: Runtime,
    user: User,
    on: date,
    *,
    problems: list[str] | None = None,
    done: str | None = None,
    status: int = 200,
    plan: DayPlan | None = None,
) -> Response:
    plan = plan or runtime.schedule.plan(on)
    runtime.audit_read(user, "schedule", _shown(plan), on.isoformat())
    return render(
        request,
        runtime,
        "schedule.html",
        status,
        **_context(runtime, user, plan),
        problems=problems or [],
        done=done.strip() if done else None,
        history=[
            (entry, change_words(entry.change, plan, runtime))
            for entry in runtime.schedule.history(on)[-10:][::-1]
        ],
    )


def change_words(change: str, plan: DayPlan, runtime: Runtime) -> str:
    """A stored change (`schedule.describe`'s JSON) as the schedule page says it."""
    body = json.loads(change)
    slot = plan.slot(body["case_id"])
    row = (
        slot.row if slot else next((r for r in plan.unplaced if r.case_id == body["case_id"]), None)
    )
    who = row.patient_name if row else body["case_id"]
    setup = runtime.setup.current().setup
    rooms = {room.id: room.name for room in setup.rooms}
    labels = {r.code: r.label for r in (*setup.delay_reasons, *setup.cancellation_reasons)}
    kind = body["kind"]
    if kind == "place":
        return f"{who} into {rooms.get(body['room'], body['room'])}, position {body['position']}"
    if kind == "move":
        start = datetime.fromisoformat(body["start"]).astimezone(plan.tz)
        if "to" in body:
            return f"{who} moved to {start:%a %d %b %H:%M}, off this day"
        room = rooms.get(body["room"], body["room"])
        return f"{who} booked for {start:%H:%M}, into {room}, position {body['position']}"
    if kind == "setduration":
        minutes = body["minutes"]
        return f"{who}: expected {minutes} min" if minutes else f"{who}: the pathway's duration"
    reason = labels.get(body["reason"], body["reason"])
    note = f" ({body['note']})" if body.get("note") else ""
    return f"{who} {'delayed' if kind == 'adddelay' else 'cancelled'}: {reason}{note}"


def _context(runtime: Runtime, user: User | None, plan: DayPlan) -> dict[str, Any]:
    setup = runtime.setup.current().setup
    now = runtime.now()
    etas = runtime.etas.for_rows(runtime.boards.day_facts(plan.day, now=now), now=now)
    return {
        "user": user,
        "plan": plan,
        "likely": {case_id: staff_words(eta, runtime.tz) for case_id, eta in etas.items()},
        "day": plan.day,
        "today": runtime.today(),
        "setup": setup,
        "named": user is not None,
        "may_change": user is not None and runtime.centre.is_staff(user.role),
        "may_set_duration": user is not None and user.role in DURATION_ROLES,
        "labels": {r.code: r.label for r in (*setup.delay_reasons, *setup.cancellation_reasons)},
    }


def _shown(plan: DayPlan) -> list[str | None]:
    ids: list[str | None] = [s.case_id for room in plan.rooms for s in room.slots]
    return ids + [row.case_id for row in plan.unplaced]
