"""Rules about levels: an unplanned level touched, imaging unlike the plan (engine room)."""

from __future__ import annotations

from typing import Any

from daycase.engine.alerts import RuleContext, Span
from daycase.engine.fold import Entry
from daycase.engine.rules import rule
from daycase.engine.rules.readings import message, track_latest
from daycase.pathways.rules import RuleParams
from daycase.pathways.schema import AlertRule


class LevelNotPlanned(RuleParams):
    steps: list[str]
    # 1.0 also compares a list of levels (the imaging review) with the plan here.
    list_step: str | None = None
    list_field: str | None = None


@rule("level_not_planned", params=LevelNotPlanned)
def level_not_planned(alert: AlertRule, params: LevelNotPlanned, ctx: RuleContext) -> list[Span]:
    """One alert per entry naming an unplanned level (and, in 1.0, per differing list)."""
    planned = ctx.state.planned_levels
    plan = ", ".join(planned)
    spans: list[Span] = []
    for e in ctx.entries(*params.steps):
        if e.level and e.level not in planned:
            title = ctx.pathway.step(e.step).title
            spans.append(
                Span(
                    severity=alert.severity,
                    step=e.step,
                    message=message(
                        alert, detail=f"{title} at {e.level}, which is not planned ({plan})"
                    ),
                    started_at=e.at,
                    event_id=e.event_id,
                )
            )
    if params.list_step and params.list_field:
        for e in ctx.entries(params.list_step):
            listed = e.data.get(params.list_field)
            if isinstance(listed, list) and set(map(str, listed)) != set(planned):
                detail = f"Imaging confirmed {', '.join(map(str, listed))} but the plan is {plan}"
                spans.append(
                    Span(
                        severity=alert.severity,
                        step=e.step,
                        message=message(alert, detail=detail),
                        started_at=e.at,
                        event_id=e.event_id,
                    )
                )
    return spans


class LevelsDiffer(RuleParams):
    list_field: str


@rule("levels_differ", params=LevelsDiffer)
def levels_differ(alert: AlertRule, params: LevelsDiffer, ctx: RuleContext) -> list[Span]:
    """The watched step's list of levels differs, as a set, from the planned levels.

    Levels abandoned later in the room still count as planned: the plan is what the
    imaging must confirm.
    """
    planned = ctx.state.planned_levels

    def reading(review: Entry) -> tuple[bool, dict[str, Any]]:
        listed = review.data.get(params.list_field)
        differs = isinstance(listed, list) and set(map(str, listed)) != set(planned)
        shown = ", ".join(map(str, listed)) if isinstance(listed, list) else ""
        return differs, {"listed": shown, "planned": ", ".join(planned)}

    return track_latest(alert, ctx, ctx.entries(alert.step), reading)
