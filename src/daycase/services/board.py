"""Today's board: one row per case of a day, evaluated at a clock time (service room)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

from daycase.engine.evaluate import evaluate
from daycase.services.cases import CaseService


@dataclass(frozen=True, slots=True, kw_only=True)
class BoardAlert:
    code: str
    severity: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BoardRow:
    case_id: str
    family_code: str
    patient_name: str
    levels: tuple[str, ...]
    scheduled_start: datetime
    phase: str
    phase_title: str
    minutes_in_phase: int | None
    next_due: list[str]
    alerts: list[BoardAlert]
    override: bool
    family_word: str
    family_colour: str
    running_long: bool


def board(service: CaseService, *, on: date, now: datetime) -> list[BoardRow]:
    """Every case scheduled on `on`, by scheduled start."""
    rows: list[BoardRow] = []
    for summary in service.store.cases(on=on):
        state = service.state(summary.case_id)
        pathway = service.pathway_of(state)
        ev = evaluate(pathway, state, now)
        opened = state.opened
        assert opened is not None
        minutes = (
            max(0, math.floor((now - ev.phase_since).total_seconds() / 60))
            if ev.phase_since
            else None
        )
        rows.append(
            BoardRow(
                case_id=summary.case_id,
                family_code=opened.family_code,
                patient_name=f"{opened.patient.given_name} {opened.patient.family_name}",
                levels=opened.levels,
                scheduled_start=opened.scheduled_start,
                phase=ev.phase,
                phase_title=pathway.phase(ev.phase).title,
                minutes_in_phase=minutes,
                next_due=[pathway.step(s).title for s in ev.next_due],
                alerts=[
                    BoardAlert(code=a.code, severity=a.severity, message=a.message)
                    for a in ev.active_alerts
                ],
                override=bool(ev.overrides),
                family_word=ev.family_word,
                family_colour=ev.family_colour,
                running_long=ev.running_long,
            )
        )
    rows.sort(key=lambda r: (r.scheduled_start, r.family_code))
    return rows
