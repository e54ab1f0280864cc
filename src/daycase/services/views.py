"""Plain JSON views of evaluated cases, shared by the scenario runner, CLI and API (services)."""

from __future__ import annotations

from daycase.engine.alerts import Alert
from daycase.engine.evaluate import Evaluation
from daycase.services.board import BoardRow, FamilyRow
from daycase.services.calls import CallRow
from daycase.types import JSONObject


def alert_json(a: Alert) -> JSONObject:
    return {
        "code": a.code,
        "severity": a.severity,
        "step": a.step,
        "active": a.active,
        "message": a.message,
        "started_at": a.started_at.isoformat(),
        "ended_at": a.ended_at.isoformat() if a.ended_at else None,
    }


def final_json(ev: Evaluation, *, events: int) -> JSONObject:
    """The evaluated case in the scenario spec's `final` shape."""
    return {
        "phase": ev.phase,
        "steps": dict(ev.steps),
        "alerts": [alert_json(a) for a in ev.alerts],
        "family_status": ev.family_word,
        "events": events,
    }


def board_row_json(row: BoardRow) -> JSONObject:
    return {
        "case_id": row.case_id,
        "family_code": row.family_code,
        "patient_name": row.patient_name,
        "levels": list(row.levels),
        "scheduled_start": row.scheduled_start.isoformat(),
        "phase": row.phase,
        "phase_title": row.phase_title,
        "minutes_in_phase": row.minutes_in_phase,
        "next_due": list(row.next_due),
        "alerts": [
            {"code": a.code, "severity": a.severity, "message": a.message} for a in row.alerts
        ],
        "override": row.override,
        "family_status": row.family_word,
        "family_colour": row.family_colour,
        "running_long": row.running_long,
    }


def family_row_json(row: FamilyRow) -> JSONObject:
    return {
        "family_code": row.family_code,
        "status": row.status,
        "colour": row.colour,
        "minutes_in_status": row.minutes_in_status,
        "note": row.note,
    }


def call_row_json(row: CallRow) -> JSONObject:
    return {
        "case_id": row.case_id,
        "family_code": row.family_code,
        "patient_name": row.patient_name,
        "step": row.step,
        "went_home_at": row.went_home_at.isoformat(),
        "status": row.status,
        "detail": row.detail,
        "calls_made": row.calls_made,
    }
