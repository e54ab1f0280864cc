"""Plain JSON views of evaluated cases, shared by the scenario runner, CLI and API (services)."""

from __future__ import annotations

from daycase.engine.alerts import Alert
from daycase.engine.evaluate import Evaluation
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
