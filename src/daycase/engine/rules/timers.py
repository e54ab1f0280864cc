"""Rules about time: fasting, overdue checks, running long, low scores, late entries (engine room).

Timers are computed as exact intervals, never by sampling: an alert starts at the instant
its limit passed, whether or not anything was recorded then.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from daycase.engine.alerts import RuleContext, Span
from daycase.engine.fold import Entry
from daycase.engine.gates import remaining_levels, score_total
from daycase.engine.rules import rule
from daycase.engine.rules.readings import fmt, grouped, message
from daycase.engine.validate import parse_time
from daycase.pathways.rules import RuleParams
from daycase.pathways.schema import AlertRule
from daycase.types import JSONScalar


class LongerIf(RuleParams):
    """A longer limit when another field has a value (a heavy meal needs 8 h, not 6)."""

    field: str
    eq: JSONScalar
    at_least_min: float


class FastingLimit(RuleParams):
    field: str
    at_least_min: float
    label: str
    longer_if: LongerIf | None = None


class Fasting(RuleParams):
    source_step: str
    limits: list[FastingLimit]


def _hours(minutes: float) -> str:
    h, m = divmod(math.floor(minutes), 60)
    return f"{h} h {m} min" if m else f"{h} h"


@rule("fasting", params=Fasting)
def fasting(alert: AlertRule, params: Fasting, ctx: RuleContext) -> list[Span]:
    """At the watched step (anaesthesia start): intake closer than the limits, or after it."""
    start = ctx.first(alert.step)
    source = ctx.state.latest(params.source_step)
    if start is None or source is None:
        return []
    problems: list[str] = []
    for limit in params.limits:
        intake = parse_time(source.data.get(limit.field))
        if intake is None:
            continue
        needed_min = limit.at_least_min
        longer = limit.longer_if
        if longer is not None and source.data.get(longer.field) == longer.eq:
            needed_min = longer.at_least_min
        gap_min = (start.at - intake).total_seconds() / 60
        if gap_min < 0:
            problems.append(f"{limit.label} taken after the start")
        elif gap_min < needed_min:
            problems.append(f"{limit.label} {_hours(gap_min)} before (needs {_hours(needed_min)})")
    if not problems:
        return []
    return [
        Span(
            severity=alert.severity,
            step=alert.step,
            message=message(alert, detail="; ".join(problems)),
            started_at=max(start.at, source.at),
        )
    ]


class OverdueRepeat(RuleParams):
    since_step: str
    first_window_min: float
    early_every_min: float
    late_every_min: float
    # "now" (1.0): the interval is the early one while the clock is inside the first
    # window, and the alert clears by itself when the window ends. "last" (2.0): the
    # interval is decided by when the last check was taken, and the alert stays until
    # the next check.
    interval_by: Literal["now", "last"] = "now"
    last_label: str = "the last set"  # "{since}" in the message: "the last set" or "arrival"


@rule("overdue_repeat", params=OverdueRepeat, marks_step_overdue=True, counts_minutes=True)
def overdue_repeat(alert: AlertRule, params: OverdueRepeat, ctx: RuleContext) -> list[Span]:
    """A repeated check (recovery vitals, neuro checks) not repeated often enough.

    With A the start step and r the last check (or A), the alert is a union of exact
    intervals between consecutive checks; see `OverdueRepeat.interval_by`.
    """
    arrival = ctx.first(params.since_step)
    if arrival is None:
        return []
    a = arrival.at
    window_end = a + timedelta(minutes=params.first_window_min)
    early = timedelta(minutes=params.early_every_min)
    late = timedelta(minutes=params.late_every_min)
    checks = ctx.entries(alert.step)
    before = [e.at for e in checks if e.at <= a]
    bounds = [a, *sorted({e.at for e in checks if e.at > a})]
    spans: list[Span] = []
    for i, seg_start in enumerate(bounds):
        seg_end = bounds[i + 1] if i + 1 < len(bounds) else None
        ref = seg_start if i > 0 else (before[-1] if before else a)
        intervals: list[tuple[datetime, datetime | None]]
        if params.interval_by == "last":
            intervals = [(ref + (early if ref < window_end else late), None)]
        else:
            intervals = _overdue_intervals(ref, window_end=window_end, early=early, late=late)
        for lo, hi in intervals:
            lo = max(lo, seg_start)
            if seg_end is not None:
                hi = seg_end if hi is None else min(hi, seg_end)
            if hi is not None and hi <= lo:
                continue
            upto = min(hi, ctx.horizon) if hi is not None else ctx.horizon
            since = params.last_label if ref > a or before else "arrival"
            minutes = max(0, math.floor((upto - ref).total_seconds() / 60))
            spans.append(
                Span(
                    severity=alert.severity,
                    step=alert.step,
                    message=message(alert, minutes=minutes, since=since),
                    started_at=lo,
                    ended_at=hi,
                    strict=True,
                )
            )
    return spans


def _overdue_intervals(
    ref: datetime, *, window_end: datetime, early: timedelta, late: timedelta
) -> list[tuple[datetime, datetime | None]]:
    first = (ref + early, window_end) if ref + early < window_end else None
    second_start = max(ref + late, window_end)
    if first is not None and ref + late <= window_end:
        return [(first[0], None)]
    return ([first] if first else []) + [(second_start, None)]


class Overrun(RuleParams):
    start_step: str
    end_step: str
    base_min: float
    per_extra_level_min: float
    grace_min: float


@rule("overrun", params=Overrun, running_long=True, counts_minutes=True)
def overrun(alert: AlertRule, params: Overrun, ctx: RuleContext) -> list[Span]:
    """Time from start to end step beyond the expected duration plus grace."""
    start = ctx.first(params.start_step)
    if start is None:
        return []
    levels = max(1, len(remaining_levels(ctx.state, ctx.pathway, until=ctx.now)))
    expected = params.base_min + params.per_extra_level_min * (levels - 1)
    threshold = start.at + timedelta(minutes=expected + params.grace_min)
    end = ctx.first(params.end_step)
    if end is not None and end.at <= threshold:
        return []
    upto = end.at if end is not None else ctx.horizon
    minutes = max(0, math.floor((upto - start.at).total_seconds() / 60))
    text = message(alert, minutes=minutes, expected=fmt(expected))
    return [
        Span(
            severity=alert.severity,
            step=alert.step,
            message=text,
            started_at=threshold,
            ended_at=end.at if end else None,
            strict=True,
        )
    ]


class ScoreLowAfter(RuleParams):
    since_step: str
    after_min: float
    below: int


@rule("score_low_after", params=ScoreLowAfter)
def score_low_after(alert: AlertRule, params: ScoreLowAfter, ctx: RuleContext) -> list[Span]:
    """Some time after a start step, the latest score is below a threshold, or missing."""
    arrival = ctx.first(params.since_step)
    if arrival is None:
        return []
    from_at = arrival.at + timedelta(minutes=params.after_min)
    title = ctx.pathway.step(alert.step).title
    scores = ctx.entries(alert.step)

    def reading(latest: Entry | None) -> tuple[bool, str]:
        if latest is None:
            return True, f"No {title} recorded {params.after_min:g} min after arrival in recovery"
        total = score_total(latest.data)
        return total < params.below, f"Latest {title} total is {total} (below {params.below})"

    tracker = ctx.tracker()
    low, msg = reading(next((e for e in reversed(scores) if e.at <= from_at), None))
    tracker.set(
        from_at, low, severity=alert.severity, step=alert.step, message=message(alert, detail=msg)
    )
    for at, group in grouped([e for e in scores if e.at > from_at]):
        low, msg = reading(group[-1])
        tracker.set(
            at, low, severity=alert.severity, step=alert.step, message=message(alert, detail=msg)
        )
    for span in tracker.spans:
        span.strict = span.started_at == from_at
    return tracker.spans


class LateEntry(RuleParams):
    more_than_min: float
    except_steps: list[str] = Field(default_factory=list)


@rule("late_entry", params=LateEntry)
def late_entry(alert: AlertRule, params: LateEntry, ctx: RuleContext) -> list[Span]:
    """One alert per entry recorded long after its original clinical time."""
    limit = timedelta(minutes=params.more_than_min)
    spans: list[Span] = []
    for e in ctx.state.valid:
        if e.step in params.except_steps:
            continue
        if e.original_at > ctx.now or e.recorded_at - e.original_at <= limit:
            continue
        minutes = math.floor((e.recorded_at - e.original_at).total_seconds() / 60)
        title = ctx.pathway.step(e.step).title
        spans.append(
            Span(
                severity=alert.severity,
                step=e.step,
                message=message(alert, title=title, minutes=minutes),
                started_at=e.original_at,
                event_id=e.event_id,
            )
        )
    return spans
