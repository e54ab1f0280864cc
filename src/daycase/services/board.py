"""Boards: the staff board row and the family waiting-room row of each case (service room).

The family row carries only what the spec allows on a waiting-room screen: family code,
status word and colour, minutes in that status, and a plain note when running long.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from daycase.engine.evaluate import Evaluation, evaluate
from daycase.engine.fold import CaseState
from daycase.engine.gates import remaining_levels
from daycase.pathways.schema import Pathway
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
    phase_since: datetime | None
    minutes_in_phase: int | None
    next_due: list[str]
    alerts: list[BoardAlert]
    override: bool
    family_word: str
    family_colour: str
    running_long: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class FamilyRow:
    family_code: str
    status: str
    colour: str
    minutes_in_status: int | None
    note: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomFacts:
    """What the day's schedule reads of a case: whose it is (one patient cannot be in two
    places), when the patient arrived and was in and out of the room, how long the
    pathway expects the procedure to take, and whether the case has ended."""

    patient_key: str
    checked_in_at: datetime | None
    in_room_at: datetime | None
    out_of_room_at: datetime | None
    expected_min: int
    # Minutes past the expected duration before the case counts as running long.
    grace_min: int
    closed: bool
    cancelled: bool


NO_ROOM_RULE = {
    "start_step": None,
    "end_step": None,
    "base_min": 60,
    "per_extra_level_min": 0,
    "grace_min": 30,
}


def room_facts(pathway: Pathway, state: CaseState, ev: Evaluation) -> RoomFacts:
    """The milestones come from the pathway, not from step ids written here: arrival is
    the step that opens the phase after `scheduled`, the room's start and end are the
    steps the running-long rule times, and its numbers give the expected duration
    (60 min for one level and 30 for each further level not abandoned, in kyphoplasty)."""
    opened = state.opened
    assert opened is not None
    overrun = next((a for a in pathway.alerts if a.rule == "overrun"), None)
    # A pathway without a running-long rule has no room times to read: an hour is
    # expected and the case is never seen in or out of a room.
    params: dict[str, Any] = overrun.params if overrun else {**NO_ROOM_RULE}
    levels = max(1, len(remaining_levels(state, pathway, until=None)))
    expected = params["base_min"] + params["per_extra_level_min"] * (levels - 1)
    arrival = pathway.phases[1].opened_by if len(pathway.phases) > 1 else []

    def first(steps: list[str]) -> datetime | None:
        times = [e.at for s in steps for e in state.step_entries(s)]
        return min(times) if times else None

    phase = pathway.phase(ev.phase)
    return RoomFacts(
        patient_key=opened.patient.mrn,
        checked_in_at=first(arrival),
        in_room_at=first([params["start_step"]] if params["start_step"] else []),
        out_of_room_at=first([params["end_step"]] if params["end_step"] else []),
        expected_min=int(expected),
        grace_min=int(params["grace_min"]),
        closed=phase.terminal,
        cancelled=ev.phase == "cancelled",
    )


def minutes_since(since: datetime | None, now: datetime) -> int | None:
    """Whole minutes from `since` to `now` (a board's "minutes in phase")."""
    if since is None:
        return None
    return max(0, math.floor((now - since).total_seconds() / 60))


def board_row(pathway: Pathway, state: CaseState, ev: Evaluation, *, now: datetime) -> BoardRow:
    opened = state.opened
    assert opened is not None
    return BoardRow(
        case_id=opened.case_id,
        family_code=opened.family_code,
        patient_name=f"{opened.patient.given_name} {opened.patient.family_name}",
        levels=opened.levels,
        scheduled_start=opened.scheduled_start,
        phase=ev.phase,
        phase_title=pathway.phase(ev.phase).title,
        phase_since=ev.phase_since,
        minutes_in_phase=minutes_since(ev.phase_since, now),
        next_due=[pathway.step(s).title for s in ev.next_due],
        # A board shows what is wrong now: an active alert's current severity (the case
        # history keeps the highest it reached).
        alerts=[
            BoardAlert(code=a.code, severity=a.current_severity, message=a.message)
            for a in ev.active_alerts
        ],
        override=bool(ev.overrides),
        family_word=ev.family_word,
        family_colour=ev.family_colour,
        running_long=ev.running_long,
    )


def family_row(pathway: Pathway, state: CaseState, ev: Evaluation, *, now: datetime) -> FamilyRow:
    assert state.opened is not None
    return FamilyRow(
        family_code=state.opened.family_code,
        status=ev.family_word,
        colour=ev.family_colour,
        minutes_in_status=minutes_since(ev.phase_since, now),
        note=pathway.family.running_long_note if ev.running_long else None,
    )


def case_rows(service: CaseService, case_id: str, *, now: datetime) -> tuple[BoardRow, FamilyRow]:
    """Both rows of one case, from one load and one evaluation."""
    state = service.state(case_id)
    pathway = service.pathway_of(state)
    ev = evaluate(pathway, state, now)
    return board_row(pathway, state, ev, now=now), family_row(pathway, state, ev, now=now)


def board(service: CaseService, *, on: date, now: datetime) -> list[BoardRow]:
    """Every case scheduled on `on`, by scheduled start, folded afresh: the reference the
    board read model (`board_model.BoardModel`) is checked against, and the CLI's board."""
    rows = [case_rows(service, c.case_id, now=now)[0] for c in service.store.cases(on=on)]
    rows.sort(key=lambda r: (r.scheduled_start, r.family_code))
    return rows


def family_board(service: CaseService, *, on: date, now: datetime) -> list[FamilyRow]:
    """The waiting-room rows of a day, in scheduled order (no names, no clinical detail)."""
    pairs = [case_rows(service, c.case_id, now=now) for c in service.store.cases(on=on)]
    pairs.sort(key=lambda p: (p[0].scheduled_start, p[0].family_code))
    return [family for _, family in pairs]
