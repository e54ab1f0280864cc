"""The capacity simulation as a page: today's centre beside a what-if, and the bays curve
(web room).

The people who read the reports (`report_roles`) run it; nothing here changes anything.
It runs in the request's thread on one core, so its defaults are smaller than the
command line's (`daycase simulate`), which a year of a hundred replications is for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from daycase.api.deps import RuntimeDep
from daycase.services.simulation import CannotSimulate, curve_chart, fitted
from daycase.sim.model import Centre, Result, bays_curve, run
from daycase.web.common import render
from daycase.web.report_pages import ReportPage

router = APIRouter(include_in_schema=False)
HISTORY_DAYS = 90


@dataclass(frozen=True, slots=True)
class _Field:
    label: str
    low: int
    high: int


FIELDS = {
    "bays": _Field("Recovery bays", 1, 200),
    "rooms": _Field("Procedure rooms", 1, 50),
    "cases_per_room": _Field("Cases booked per room", 1, 30),
    "turnover": _Field("Median turnover (min)", 1, 240),
    "days": _Field("Days per run", 5, 250),
    "reps": _Field("Runs", 5, 100),
}
DEFAULTS = {"days": 60, "reps": 20}
DIGITS = re.compile(r"[0-9]{1,6}")
# Cases one request may simulate (each run of each day, both columns): about 2 s of the
# server's time. More is the command line's work, on every core.
MOST_CASES = 150_000


@router.get("/simulation", response_class=HTMLResponse)
def simulation_page(request: Request, runtime: RuntimeDep, user: ReportPage) -> Response:
    """Today's centre, fitted on its last 90 days, and the what-if the form asks for."""
    asked, problems = _read(dict(request.query_params))
    context: dict[str, Any] = {"user": user, "form": asked, "fields": FIELDS, "problems": problems}
    if problems:
        return render(request, runtime, "simulation.html", status=422, **context)
    today = runtime.today()
    days, reps = asked.get("days", DEFAULTS["days"]), asked.get("reps", DEFAULTS["reps"])
    try:
        found = fitted(
            runtime,
            first=today - timedelta(days=HISTORY_DAYS),
            last=today - timedelta(days=1),
            days=days,
        )
    except CannotSimulate as cannot:
        return render(
            request, runtime, "simulation.html", status=200, cannot=str(cannot), **context
        )
    centre = found.centre
    if (
        _cases(centre, reps, days) + _cases(replace(centre, **_sizes(asked)), reps, days)
        > MOST_CASES
    ):
        context["problems"] = [
            "That is more than this page simulates at once: fewer runs or days, or run "
            "`daycase simulate` on the command line"
        ]
        return render(request, runtime, "simulation.html", status=422, **context)
    what_if = replace(
        centre,
        bays=asked.get("bays", centre.bays),
        rooms=asked.get("rooms", centre.rooms),
        cases_per_room=asked.get("cases_per_room", centre.cases_per_room),
    )
    model_if = found.model
    if "turnover" in asked:
        durations = found.model.durations
        model_if = replace(
            found.model,
            durations=replace(durations, turnover=durations.turnover.scaled_to(asked["turnover"])),
        )
    now_result = run(centre, found.model, replications=reps, workers=1)
    if_result: Result | None = None
    if what_if != centre or model_if is not found.model:
        if_result = run(what_if, model_if, replications=reps, workers=1)
    counts = list(range(1, max(centre.bays + 2, 2 * centre.rooms) + 1))
    curve = bays_curve(
        replace(centre, days=min(days, 30)),
        found.model,
        bays=counts,
        replications=5,
        workers=1,
    )
    chart = curve_chart(curve, centre.rooms)
    return render(
        request,
        runtime,
        "simulation.html",
        found=found,
        today_result=now_result,
        if_result=if_result,
        what_if=what_if,
        chart=chart,
        **context,
    )


def _sizes(asked: dict[str, int]) -> dict[str, int]:
    return {k: asked[k] for k in ("bays", "rooms", "cases_per_room") if k in asked}


def _cases(centre: Centre, reps: int, days: int) -> int:
    return reps * days * centre.rooms * centre.cases_per_room


def _read(query: dict[str, str]) -> tuple[dict[str, int], list[str]]:
    """The form's whole numbers, each in its range; a blank field keeps today's value."""
    asked: dict[str, int] = {}
    problems: list[str] = []
    for name, spec in FIELDS.items():
        text = query.get(name, "").strip()
        if not text:
            continue
        if not DIGITS.fullmatch(text) or not spec.low <= int(text) <= spec.high:
            problems.append(f"{spec.label}: a whole number from {spec.low} to {spec.high}")
            continue
        asked[name] = int(text)
    return asked, problems
