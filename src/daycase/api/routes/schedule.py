"""The day's schedule: rooms, order, expected starts, delays and cancellations (API room).

Staff read it; a change is made on the newest version of the day (two schedulers at once
never overwrite each other) and answered with the whole day after it, with any warning
(a room expected to run past closing). A refused change names what stands in the way.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter

from daycase.api.deps import RuntimeDep, StaffDep
from daycase.api.errors import ApiRefusal
from daycase.api.routes.common import DayQuery, day_or_today, refusals
from daycase.api.schemas import (
    DurationIn,
    PlaceIn,
    ReasonIn,
    ScheduleChangeOut,
    ScheduleOut,
)
from daycase.services.accounts import User
from daycase.services.centre_setup import CentreSetup
from daycase.services.runtime import Runtime
from daycase.services.schedule_plan import (
    AddDelay,
    Cancel,
    Change,
    DayPlan,
    Noted,
    Place,
    ScheduleRefused,
    SetDuration,
    Slot,
)

router = APIRouter(prefix="/schedule", tags=["schedule"])


@router.get("", response_model=ScheduleOut, responses=refusals(403))
def schedule(user: StaffDep, runtime: RuntimeDep, day: DayQuery = None) -> dict[str, Any]:
    """Each room's cases in order with expected start and end, pace, late first cases,
    turnovers; the cases not yet in a room; recovery occupancy."""
    plan = runtime.schedule.plan(day_or_today(runtime, day))
    runtime.audit_read(user, "schedule", _case_ids(plan), plan.day.isoformat())
    return plan_json(plan, runtime.setup.current().setup)


@router.get("/history", response_model=list[ScheduleChangeOut], responses=refusals(403))
def history(user: StaffDep, runtime: RuntimeDep, day: DayQuery = None) -> list[dict[str, Any]]:
    """Every change of the day's schedule: version, who, when and what."""
    on = day_or_today(runtime, day)
    rows = runtime.schedule.history(on)
    runtime.audit_read(user, "schedule_history", [], on.isoformat())
    return [
        {
            "version": row.version,
            "changed_by": row.changed_by,
            "changed_at": row.changed_at.isoformat(),
            "change": json.loads(row.change),
        }
        for row in rows
    ]


_CHANGED = refusals(403, 404, 409, 413)


@router.post("/place", response_model=ScheduleOut, responses=_CHANGED)
def place(body: PlaceIn, user: StaffDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Book a case into a room, move it, or reorder it (`position` 1 = first)."""
    return _change(runtime, user, Place(body.case_id, body.room, body.position))


@router.post("/duration", response_model=ScheduleOut, responses=_CHANGED)
def duration(body: DurationIn, user: StaffDep, runtime: RuntimeDep) -> dict[str, Any]:
    """The proceduralist's expected duration (null goes back to the pathway's)."""
    return _change(runtime, user, SetDuration(body.case_id, body.minutes))


@router.post("/delays", response_model=ScheduleOut, responses=_CHANGED)
def delay(body: ReasonIn, user: StaffDep, runtime: RuntimeDep) -> dict[str, Any]:
    """A delay against a case, with a reason from the centre's list."""
    return _change(runtime, user, AddDelay(body.case_id, body.reason, body.note))


@router.post("/cancel", response_model=ScheduleOut, responses=_CHANGED)
def cancel(body: ReasonIn, user: StaffDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Cancel a case for the day with a reason from the centre's list: records the case's
    `cancelled` step (refused after the incision, as on the case page) and the reason."""
    return _change(runtime, user, Cancel(body.case_id, body.reason, body.note))


def _change(runtime: Runtime, user: User, change: Change) -> dict[str, Any]:
    try:
        changed = runtime.change_schedule(change, by=user)
    except ScheduleRefused as exc:
        status = 409 if exc.kind == "conflict" else None
        raise ApiRefusal(exc.kind, *exc.problems, status=status) from exc
    return plan_json(changed.plan, runtime.setup.current().setup)


def _case_ids(plan: DayPlan) -> list[str | None]:
    ids: list[str | None] = [s.case_id for room in plan.rooms for s in room.slots]
    return ids + [row.case_id for row in plan.unplaced]


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def plan_json(plan: DayPlan, setup: CentreSetup) -> dict[str, Any]:
    labels = {r.code: r.label for r in (*setup.delay_reasons, *setup.cancellation_reasons)}

    def noted(item: Noted) -> dict[str, Any]:
        return {
            "reason": item.reason,
            "label": labels.get(item.reason, item.reason),
            "note": item.note,
            "by": item.by,
            "at": item.at.isoformat(),
        }

    def slot(s: Slot) -> dict[str, Any]:
        return {
            "case_id": s.case_id,
            "family_code": s.row.family_code,
            "patient_name": s.row.patient_name,
            "levels": list(s.row.levels),
            "position": s.position,
            "state": s.state,
            "phase": s.row.phase,
            "phase_title": s.row.phase_title,
            "booked_start": s.row.scheduled_start.isoformat(),
            "expected_start": _iso(s.expected_start),
            "expected_end": _iso(s.expected_end),
            "duration_min": s.duration_min,
            "duration_set": s.duration_set,
            "late_min": s.late_min,
            "not_arrived": s.not_arrived,
            "elapsed_min": s.elapsed_min,
            "pace": s.pace,
            "first_case": s.first,
            "on_time": s.on_time,
            "needs_reason": s.needs_reason,
            "delays": [noted(d) for d in s.delays],
            "cancellation": noted(s.cancellation) if s.cancellation else None,
        }

    return {
        "date": plan.day.isoformat(),
        "version": plan.version,
        "rooms": [
            {
                "room": room.room_id,
                "name": room.name,
                "opens_at": _iso(room.opens_at),
                "closes_at": _iso(room.closes_at),
                "expected_end": _iso(room.ends_at),
                "over_hours": room.over_hours,
                "turnover_min": room.turnover_min,
                "turnover_over": room.turnover_over,
                "cases": [slot(s) for s in room.slots],
            }
            for room in plan.rooms
        ],
        "unplaced": [
            {
                "case_id": row.case_id,
                "family_code": row.family_code,
                "patient_name": row.patient_name,
                "booked_start": row.scheduled_start.isoformat(),
                "phase": row.phase,
            }
            for row in plan.unplaced
        ],
        "recovery_bays": plan.recovery_bays,
        "in_recovery": len(plan.in_recovery),
        "ready_to_go": [row.family_code for row in plan.ready_to_go],
        "warnings": plan.warnings,
    }
