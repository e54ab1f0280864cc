"""Gate conditions: interpret the pathway's closed vocabulary (engine room).

`unmet` returns one plain message per condition that does not hold, e.g. "Time-out not
done" or "Cement was injected 3 min ago; wait 2 more minutes". Only entries whose
clinical time is not later than `at` count, so back-charting is judged by clinical order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from daycase.engine.alerts import AlertsAt
from daycase.engine.fold import CaseState, Entry
from daycase.pathways.schema import SEVERITY_RANK, Condition, Pathway, Step


def terminal_entry(pathway: Pathway, state: CaseState) -> Entry | None:
    """The valid terminal entry (whatever its `at`), if the case is closed."""
    for step in pathway.terminal_steps:
        entries = state.step_entries(step.id)
        if entries:
            return entries[0]
    return None


def remaining_levels(state: CaseState, pathway: Pathway, *, until: datetime | None) -> list[str]:
    """Planned levels not abandoned (by `until`), in planned order."""
    abandon = pathway.levels.abandon_step
    abandoned = state.levels_with(abandon, until=until) if abandon else set()
    return [lv for lv in state.planned_levels if lv not in abandoned]


@dataclass(frozen=True, slots=True)
class Unmet:
    """One unmet gate condition in words, and whether a physician's override lifts it."""

    message: str
    overridable: bool = True


def unmet_conditions(
    pathway: Pathway,
    step: Step,
    state: CaseState,
    *,
    at: datetime,
    level: str | None,
    alerts_at: AlertsAt | None = None,
) -> list[Unmet]:
    """Every gate condition of `step` that does not hold at clinical time `at`.

    Conditions read entries charted at or before `at`, except `not_done`, which reads all.
    `alerts_at(state, at)` answers the active alerts for `no_active_alert` conditions.
    """
    found: list[Unmet] = []
    seen: set[str] = set()
    for cond in step.gate:
        for msg in _condition(pathway, cond, state, at=at, level=level, alerts_at=alerts_at):
            if msg not in seen:
                seen.add(msg)
                found.append(Unmet(msg, cond.overridable))
    return found


def unmet(
    pathway: Pathway,
    step: Step,
    state: CaseState,
    *,
    at: datetime,
    level: str | None,
    alerts_at: AlertsAt | None = None,
) -> list[str]:
    """Messages for every gate condition of `step` that does not hold at `at`."""
    return [
        u.message
        for u in unmet_conditions(pathway, step, state, at=at, level=level, alerts_at=alerts_at)
    ]


def _title(pathway: Pathway, step_id: str) -> str:
    return pathway.step(step_id).title


def _condition(
    pathway: Pathway,
    cond: Condition,
    state: CaseState,
    *,
    at: datetime,
    level: str | None,
    alerts_at: AlertsAt | None,
) -> list[str]:
    if cond.done is not None:
        return [
            cond.message or f"{_title(pathway, s)} not done"
            for s in cond.done
            if not state.step_entries(s, until=at)
        ]
    if cond.not_done is not None:
        # "Before X" means X has not happened at all: an incision charted later in the day
        # still makes an earlier-timed cancellation meaningless, so every entry counts here.
        return [
            cond.message or f"{_title(pathway, s)} already done"
            for s in cond.not_done
            if state.step_entries(s)
        ]
    if cond.level_done is not None:
        if level is None or level not in state.levels_with(cond.level_done, until=at):
            where = f" for {level}" if level else ""
            return [cond.message or f"{_title(pathway, cond.level_done)} not done{where}"]
        return []
    if cond.all_levels_done is not None:
        have = state.levels_with(cond.all_levels_done, until=at)
        missing = [lv for lv in remaining_levels(state, pathway, until=at) if lv not in have]
        if missing:
            return [
                cond.message
                or f"{_title(pathway, cond.all_levels_done)} not done for {', '.join(missing)}"
            ]
        return []
    if cond.field is not None:
        ref = cond.field
        entry = state.latest(ref.step, until=at)
        if entry is None:
            return [f"{_title(pathway, ref.step)} not done"]
        if entry.data.get(ref.name) != ref.eq:
            label = pathway.step(ref.step).fields[ref.name].label or ref.name
            return [cond.message or f"{label}: must be {ref.eq}"]
        return []
    if cond.none_matching is not None:
        ref = cond.none_matching
        if any(e.data.get(ref.name) == ref.eq for e in state.step_entries(ref.step, until=at)):
            return [
                cond.message or f"{_title(pathway, ref.step)} with {ref.name} {ref.eq} is recorded"
            ]
        return []
    if cond.latest_total_at_least is not None:
        total_rule = cond.latest_total_at_least
        entry = state.latest(total_rule.step, until=at)
        title = _title(pathway, total_rule.step)
        if entry is None:
            return [cond.message or f"No {title} recorded"]
        total = score_total(entry.data)
        if total < total_rule.at_least:
            return [
                cond.message
                or f"Latest {title} total is {total} (needs {total_rule.at_least} or more)"
            ]
        return []
    if cond.no_active_alert is not None:
        if alerts_at is None:
            raise RuntimeError("a no_active_alert condition needs the case's alerts")
        rule = cond.no_active_alert
        active = [
            a
            for a in alerts_at(state, at, rule.codes)
            if a.active
            and (
                a.code in rule.codes
                if rule.codes is not None
                else SEVERITY_RANK[a.current_severity] >= SEVERITY_RANK[rule.severity or "info"]
            )
        ]
        return [cond.message.format(alert=a.message) if cond.message else a.message for a in active]
    assert cond.minutes_since is not None
    since = cond.minutes_since
    entries = state.step_entries(since.step, until=at)
    if not entries:
        return [] if since.skip_if_none else [f"{_title(pathway, since.step)} not done"]
    ref_at = entries[-1].at if since.last else entries[0].at
    elapsed_s = (at - ref_at).total_seconds()
    needed_s = since.at_least * 60
    if elapsed_s >= needed_s:
        return []
    elapsed_min = max(0, math.floor(elapsed_s / 60))
    remaining_min = math.ceil((needed_s - elapsed_s) / 60)
    template = cond.message or "{title}: {elapsed} min ago; wait {remaining} more minutes"
    text = template.format(
        title=_title(pathway, since.step), elapsed=elapsed_min, remaining=remaining_min
    )
    return [text.replace(" 1 more minutes", " 1 more minute")]


def score_total(data: Mapping[str, object]) -> int:
    """Sum of a score's integer items (Aldrete, PADSS)."""
    return sum(v for v in data.values() if isinstance(v, int) and not isinstance(v, bool))
