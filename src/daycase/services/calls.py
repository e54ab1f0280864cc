"""The next-day calls to make: patients who went home, by urgency (service room).

A call is to make while the patient has not been reached since going home; a red flag
found on a call stays on the list until a later call finds none. The list comes first
with red flags, then missed calls (past the pathway's limit), then calls due, oldest
discharge first. Only pathways with an aftercare call step take part (1.0 has none).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from daycase.engine.evaluate import evaluate
from daycase.pathways.schema import Pathway, Step
from daycase.services.cases import CaseService
from daycase.services.catalog import UnknownPathway

CallStatus = Literal["red_flag", "missed", "due"]
ORDER: dict[str, int] = {"red_flag": 0, "missed": 1, "due": 2}
WINDOW_DAYS = 14  # how far back the list looks for patients who went home


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRow:
    case_id: str
    family_code: str
    patient_name: str
    step: str
    went_home_at: datetime
    status: CallStatus
    detail: str
    calls_made: int


def call_step(pathway: Pathway) -> Step | None:
    """The pathway's aftercare call step, if it has one."""
    return next((s for s in pathway.steps if s.aftercare), None)


def calls_to_make(service: CaseService, *, on: date, now: datetime) -> list[CallRow]:
    """Calls to make on day `on`: cases scheduled in the 14 days before it."""
    rows: list[CallRow] = []
    if on.toordinal() <= 1:
        return rows  # no day before 1 January of year 1
    first = date.fromordinal(max(on.toordinal() - WINDOW_DAYS, 1))
    # One read of the fortnight's index rows (a read per day took 14 trips per board).
    for summary in service.store.cases_between(first, date.fromordinal(on.toordinal() - 1)):
        try:
            pathway = service.catalog.get(summary.pathway_id, summary.pathway_version)
        except UnknownPathway:
            continue  # `daycase verify` names such a case; it has no call to make here
        step = call_step(pathway)
        if step is None:
            continue
        row = _row(service, summary.case_id, step, now=now)
        if row is not None:
            rows.append(row)
    rows.sort(key=lambda r: (ORDER[r.status], r.went_home_at))
    return rows


def _row(service: CaseService, case_id: str, step: Step, *, now: datetime) -> CallRow | None:
    state = service.state(case_id)
    pathway = service.pathway_of(state)
    ev = evaluate(pathway, state, now)
    window = step.at_within
    home = state.latest(window.after_step) if window else None
    if home is None or state.opened is None:
        return None
    if window and now > home.at + timedelta(days=window.max_days):
        return None
    flags = [a for a in ev.active_alerts if a.step == step.id and pathway.alert(a.code).aftercare]
    calls = state.step_entries(step.id)
    reached = [c for c in calls if c.data.get("reached") is True]
    critical = [a for a in flags if a.current_severity == "critical"]
    status: CallStatus
    if critical:
        status, detail = "red_flag", "; ".join(a.message for a in critical)
    elif flags:
        status, detail = "missed", "; ".join(a.message for a in flags)
    elif not reached:
        status, detail = "due", f"Not reached yet ({len(calls)} tried)" if calls else "Due"
    else:
        return None
    opened = state.opened
    return CallRow(
        case_id=case_id,
        family_code=opened.family_code,
        patient_name=f"{opened.patient.given_name} {opened.patient.family_name}",
        step=step.id,
        went_home_at=home.at,
        status=status,
        detail=detail,
        calls_made=len(calls),
    )
