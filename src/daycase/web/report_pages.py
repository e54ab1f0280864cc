"""The quality reports pages: every measure at a glance, one measure in full, CSV (web room).

The centre manager and the clinical leads (`report_roles`) read them; nothing here
changes anything. Charts are inline SVG drawn by `_charts.html` from the same numbers the
API gives, with those numbers in a table beside each chart.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from daycase.api.deps import RuntimeDep
from daycase.reports.export import measure_csv, summary_csv, table_csv
from daycase.reports.measures import GROUPS, MEASURES
from daycase.reports.model import Filters, Report
from daycase.services.accounts import User
from daycase.services.reports import BadFilter, report_filters
from daycase.services.runtime import Runtime
from daycase.web.common import NotAllowed, PageUser, render

router = APIRouter(include_in_schema=False)


def report_page_user(user: PageUser, runtime: RuntimeDep) -> User:
    if not runtime.centre.may_read_reports(user.role):
        raise NotAllowed
    return user


ReportPage = Annotated[User, Depends(report_page_user)]


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, runtime: RuntimeDep, user: ReportPage) -> Response:
    """Every measure's headline, grouped, with the chart that tells it at a glance."""
    return _page(request, runtime, user, None)


# The CSV routes come first: `/reports/{measure}` would take `asc1_burn.csv` as a measure.
@router.get("/reports.csv")
def reports_csv(request: Request, runtime: RuntimeDep, user: ReportPage) -> Response:
    report, problem = _report(request, runtime, user, None)
    if report is None:
        return Response("Check the filters: " + problem, status_code=422, media_type="text/plain")
    return _csv(summary_csv(report), "daycase-reports.csv")


@router.get("/reports/{measure}.csv")
def measure_csv_page(
    request: Request, runtime: RuntimeDep, user: ReportPage, measure: str, table: int | None = None
) -> Response:
    if measure not in MEASURES:
        return Response("No such report.", status_code=404, media_type="text/plain")
    report, problem = _report(request, runtime, user, measure)
    if report is None:
        return Response("Check the filters: " + problem, status_code=422, media_type="text/plain")
    found = report.measures[0]
    if table is not None:
        if not 0 <= table < len(found.tables):
            return Response("No such table.", status_code=404, media_type="text/plain")
        return _csv(table_csv(found.tables[table]), f"daycase-{measure}-{table + 1}.csv")
    return _csv(measure_csv(found), f"daycase-{measure}.csv")


@router.get("/reports/{measure}", response_class=HTMLResponse)
def measure_page(request: Request, runtime: RuntimeDep, user: ReportPage, measure: str) -> Response:
    """One measure in full: definition, counts, interval, charts, tables, the cases."""
    if measure not in MEASURES:
        return render(
            request,
            runtime,
            "message.html",
            status=404,
            user=user,
            title="No such report",
            text="There is no report by that name. The reports page lists them all.",
        )
    return _page(request, runtime, user, measure)


def _csv(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _page(request: Request, runtime: Runtime, user: User, measure: str | None) -> Response:
    report, problem = _report(request, runtime, user, measure)
    query = _query(request)
    return render(
        request,
        runtime,
        "reports.html",
        status=200 if report is not None else 422,
        user=user,
        report=report,
        problem=problem,
        groups=GROUPS,
        measures=MEASURES,
        one=measure,
        form=query,
        suffix=("?" + urlencode(query)) if query else "",
        staff=runtime.centre.is_staff(user.role),
        etas=runtime.etas.current,
        rooms=runtime.setup.current().setup.rooms,
    )


_FIELDS = ("from", "to", "room", "proceduralist", "pathway", "version", "levels")


def _query(request: Request) -> dict[str, str]:
    return {k: v for k in _FIELDS if (v := request.query_params.get(k, "").strip())}


def _report(
    request: Request, runtime: Runtime, user: User, measure: str | None
) -> tuple[Report | None, str]:
    """The report the page's filters ask for, or None and the problem in words."""
    try:
        filters = _filters(runtime, _query(request))
    except BadFilter as bad:
        return None, str(bad)
    report = runtime.reports.report(filters, measure=measure)
    runtime.audit_read(user, "report", [], f"{measure or 'all'} {filters.start}..{filters.end}")
    return report, ""


def _filters(runtime: Runtime, query: dict[str, str]) -> Filters:
    def day(name: str) -> date | None:
        text = query.get(name)
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise BadFilter(name, "is not a date (YYYY-MM-DD)") from None

    levels = query.get("levels")
    if levels is not None and not levels.isdigit():
        raise BadFilter("levels", "is not a whole number")
    for name in ("room", "proceduralist", "pathway", "version"):
        if len(query.get(name, "")) > 100:
            raise BadFilter(name, "is longer than 100 characters")
    return report_filters(
        today=runtime.today(),
        start=day("from"),
        end=day("to"),
        room=query.get("room"),
        proceduralist=query.get("proceduralist"),
        pathway_id=query.get("pathway"),
        pathway_version=query.get("version"),
        levels=int(levels) if levels is not None else None,
    )
