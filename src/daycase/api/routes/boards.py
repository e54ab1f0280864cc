"""Today's staff board, the next-day calls to make, and the family board (API room).

What each role reads of them is the read matrix's (`daycase.services.access`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from daycase.api.deps import RuntimeDep, StaffDep, UserDep
from daycase.api.errors import ApiRefusal
from daycase.api.routes.common import DayQuery, day_or_today, refusals
from daycase.api.schemas import BoardRowOut, CallRowOut, FamilyRowOut
from daycase.services.access import reader_of
from daycase.services.calls import calls_to_make
from daycase.services.views import call_row_json, family_row_json

router = APIRouter(tags=["boards"])


@router.get("/board", response_model=list[BoardRowOut], responses=refusals(403))
def staff_board(user: StaffDep, runtime: RuntimeDep, day: DayQuery = None) -> Response:
    """Every case of the day: phase, minutes in phase, next due steps, active alerts.

    The front desk and admins get no alerts and only the next steps they record
    (`withheld` says so on each row)."""
    on = day_or_today(runtime, day)
    # The JSON comes from the board read model (each row encoded once per kind of reader,
    # `board_row_json`); the Schemathesis test checks it against `BoardRowOut`.
    body, case_ids = runtime.boards.board_json(
        on, now=runtime.now(), reader=reader_of(runtime, user)
    )
    runtime.audit_read(user, "board", case_ids, on.isoformat())
    return Response(body, media_type="application/json")


@router.get("/calls", response_model=list[CallRowOut], responses=refusals(403))
def calls(user: StaffDep, runtime: RuntimeDep, day: DayQuery = None) -> list[dict[str, Any]]:
    """The next-day calls to make on a day: red flags first, then missed, then due.

    Clinical staff only: a call's answers are clinical."""
    if not reader_of(runtime, user).clinical:
        raise ApiRefusal("role", "Only clinical staff read the next-day calls")
    on = day_or_today(runtime, day)
    rows = calls_to_make(runtime.cases, on=on, now=runtime.now())
    runtime.audit_read(user, "calls", [r.case_id for r in rows], on.isoformat())
    return [call_row_json(r) for r in rows]


@router.get("/family-board", response_model=list[FamilyRowOut], responses=refusals())
def waiting_room(user: UserDep, runtime: RuntimeDep, day: DayQuery = None) -> list[dict[str, Any]]:
    """Family code, status word and colour, minutes in status, a note when running long."""
    on = day_or_today(runtime, day)
    return [family_row_json(r) for r in runtime.boards.family_board(on, now=runtime.now())]
