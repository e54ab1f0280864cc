"""Quality reports: every measure's counts, rate, interval, tables and chart data (API room).

The admins and the clinical leads the centre names (`report_roles`) read them. Reading a
report is an audit row naming the measure and the days.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from daycase.api.deps import RuntimeDep, UserDep
from daycase.api.errors import ApiRefusal
from daycase.api.routes.common import ID_PATTERN, refusals
from daycase.api.schemas import Day
from daycase.reports.export import measure_csv, report_json, summary_csv
from daycase.reports.measures import MEASURES
from daycase.reports.model import Report
from daycase.services.accounts import User
from daycase.services.reports import BadFilter, report_filters
from daycase.services.runtime import Runtime

router = APIRouter(prefix="/reports", tags=["reports"])


async def report_reader(user: UserDep, runtime: RuntimeDep) -> User:
    if not runtime.centre.may_read_reports(user.role):
        raise ApiRefusal("role", "Only the centre manager and clinical leads may read reports")
    return user


ReaderDep = Annotated[User, Depends(report_reader)]
Text = Annotated[str | None, Query(max_length=100, pattern=ID_PATTERN)]
FromQuery = Annotated[Day | None, Query(alias="from", description="First day; default 90 days ago")]
ToQuery = Annotated[Day | None, Query(alias="to", description="Last day; default today")]


@router.get("", responses=refusals(403))
def measures(user: ReaderDep) -> list[dict[str, str]]:
    """Every measure: its id (for `/reports/{measure}`), group, title and definition."""
    return [
        {"id": d.id, "group": d.group, "title": d.title, "definition": d.definition}
        for d in MEASURES.values()
    ]


@router.get("/{measure}", responses=refusals(403, 404))
def report(
    user: ReaderDep,
    runtime: RuntimeDep,
    measure: Annotated[str, Path(pattern=ID_PATTERN, description="A measure id, or `all`")],
    start: Annotated[
        Day | None, Query(alias="from", description="First day; default 90 days ago")
    ] = None,
    end: Annotated[Day | None, Query(alias="to", description="Last day; default today")] = None,
    room: Text = None,
    proceduralist: Text = None,
    pathway: Text = None,
    version: Text = None,
    levels: Annotated[int | None, Query(ge=1, le=6)] = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    """One measure (or `all`) over the cases booked from `from` to `to`: counts, rate, exact
    95 % interval, the case ids behind the number, tables and chart data. `format=csv` gives
    the headline row and every table as CSV."""
    if measure != "all" and measure not in MEASURES:
        raise ApiRefusal("not_found", f"No measure {measure!r}; GET /api/v1/reports lists them")
    found = _report(
        runtime, user, measure, start, end, room, proceduralist, pathway, version, levels
    )
    if format == "csv":
        text = summary_csv(found) if measure == "all" else measure_csv(found.measures[0])
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="daycase-{measure}.csv"'},
        )
    return report_json(found)


def _report(
    runtime: Runtime,
    user: User,
    measure: str,
    start: date | None,
    end: date | None,
    room: str | None,
    proceduralist: str | None,
    pathway: str | None,
    version: str | None,
    levels: int | None,
) -> Report:
    try:
        filters = report_filters(
            today=runtime.today(),
            start=start,
            end=end,
            room=room,
            proceduralist=proceduralist,
            pathway_id=pathway,
            pathway_version=version,
            levels=levels,
        )
    except BadFilter as bad:
        raise ApiRefusal("invalid", str(bad), fields={bad.field: bad.problem}) from None
    found = runtime.reports.report(filters, measure=None if measure == "all" else measure)
    # One row: the ids behind the numbers name no patient, and opening a case is its own row.
    runtime.audit_read(user, "report", [], f"{measure} {filters.start}..{filters.end}")
    return found
