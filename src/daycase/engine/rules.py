"""The alert rule registry: one function per rule id a pathway file may name (engine room).

Each function reads its numbers and step ids from the pathway's `params` (validated at
load time by `daycase.pathways.rules`) and returns spans. Nothing here names a
kyphoplasty step: the file says which steps a rule watches.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from daycase.engine.alerts import RuleContext, Span, Tracker, worst
from daycase.engine.fold import Entry
from daycase.engine.gates import remaining_levels, score_total
from daycase.engine.validate import parse_time
from daycase.pathways import rules as p
from daycase.pathways.schema import SEVERITY_RANK, AlertRule

Rule = Callable[[AlertRule, RuleContext], list[Span]]
RULES: dict[str, Rule] = {}


def rule(rule_id: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[rule_id] = fn
        return fn

    return register


def _params(model: type[p.Params], alert: AlertRule) -> Any:
    return model.model_validate(alert.params)


def _matches(check: p.Check, data: dict[str, Any]) -> bool:
    value = data.get(check.field)
    if value is None or (isinstance(value, bool) and check.eq is None):
        return False
    if check.eq is not None:
        return bool(value == check.eq)
    if not isinstance(value, int | float):
        return False
    v = Decimal(str(value))
    for op, bound in (("lt", check.lt), ("le", check.le), ("gt", check.gt), ("ge", check.ge)):
        if bound is None:
            continue
        b = Decimal(str(bound))
        return {"lt": v < b, "le": v <= b, "gt": v > b, "ge": v >= b}[op]
    return False


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _violations(alert: AlertRule, checks: list[p.Check], data: dict[str, Any]) -> tuple[str, str]:
    """(worst severity, joined labels) of the checks this data breaks; ('', '') when none."""
    hits = [c for c in checks if _matches(c, data)]
    if not hits:
        return "", ""
    # Two limits on one field (systolic below 90, and below 80): say only the graver one.
    graver: dict[str, p.Check] = {}
    for c in hits:
        kept = graver.get(c.field)
        rank = SEVERITY_RANK[c.severity or alert.severity]
        if kept is None or rank > SEVERITY_RANK[kept.severity or alert.severity]:
            graver[c.field] = c
    hits = [c for c in hits if graver[c.field] is c]
    labels: list[str] = []
    for c in hits:
        label = c.label.format(
            value=_fmt(data.get(c.field)), **{k: _fmt(v) for k, v in data.items()}
        )
        if label not in labels:
            labels.append(label)
    return worst([c.severity or alert.severity for c in hits], alert.severity), "; ".join(labels)


def _grouped(entries: list[Entry]) -> Iterator[tuple[datetime, list[Entry]]]:
    """Entries grouped by equal clinical time, so a reading reflects all entries at an instant."""
    i = 0
    while i < len(entries):
        j = i
        while j + 1 < len(entries) and entries[j + 1].at == entries[i].at:
            j += 1
        yield entries[i].at, entries[i : j + 1]
        i = j + 1


def _message(alert: AlertRule, **values: Any) -> str:
    return alert.message.format(**values)


@rule("latest_check")
def latest_check(alert: AlertRule, ctx: RuleContext) -> list[Span]:
    """Active while the latest entry of the watched steps breaks a check."""
    params: p.StepChecks = _params(p.StepChecks, alert)
    tracker = Tracker()
    for at, group in _grouped(ctx.entries(*params.steps)):
        latest = group[-1]
        severity, detail = _violations(alert, params.checks, latest.data)
        tracker.set(
            at,
            bool(detail),
            severity=severity,
            step=latest.step,
            message=_message(alert, detail=detail),
        )
    return tracker.spans


@rule("each_event_check")
def each_event_check(alert: AlertRule, ctx: RuleContext) -> list[Span]:
    """One alert per entry that breaks a check, from that entry on."""
    params: p.StepChecks = _params(p.StepChecks, alert)
    spans: list[Span] = []
    for entry in ctx.entries(*params.steps):
        severity, detail = _violations(alert, params.checks, entry.data)
        if detail:
            where = f" at {entry.level}" if entry.level else ""
            spans.append(
                Span(
                    severity=severity,
                    step=entry.step,
                    message=_message(alert, detail=detail + where),
                    started_at=entry.at,
                    event_id=entry.event_id,
                )
            )
    return spans


def _whole_seconds(dt: datetime) -> int:
    return math.floor(dt.timestamp())


@rule("antibiotic_timing")
def antibiotic_timing(alert: AlertRule, ctx: RuleContext) -> list[Span]:
    """At the watched step (incision): antibiotic missing, or given too long before."""
    params: p.AntibioticTiming = _params(p.AntibioticTiming, alert)
    at_entry = ctx.first(alert.step)
    if at_entry is None:
        return []
    given = ctx.state.latest(params.antibiotic_step, until=at_entry.at)
    title = ctx.pathway.step(alert.step).title.lower()
    if given is None:
        detail = f"no antibiotic given before {title}"
    else:
        drug = str(given.data.get(params.drug_field, "")).strip().lower()
        extended = any(d.lower() in drug for d in params.extended_drugs)
        limit_min = params.extended_max_min if extended else params.max_min
        gap_s = _whole_seconds(at_entry.at) - _whole_seconds(given.at)
        if gap_s <= limit_min * 60:
            return []
        detail = (
            f"antibiotic given {gap_s // 60} min before {title} "
            f"(should be within {limit_min:g} min; about 30 min is the target)"
        )
    message = _message(alert, detail=detail[0].upper() + detail[1:])
    return [Span(severity=alert.severity, step=alert.step, message=message, started_at=at_entry.at)]


@rule("allergy_match")
def allergy_match(alert: AlertRule, ctx: RuleContext) -> list[Span]:
    """The antibiotic's name and an allergy entry contain one another (case-insensitive)."""
    params: p.AllergyMatch = _params(p.AllergyMatch, alert)
    given = ctx.first(alert.step)
    review = ctx.state.latest(params.allergy_step, until=ctx.now)
    if given is None or review is None:
        return []
    drug = str(given.data.get(params.drug_field, "")).strip().lower()
    allergies = review.data.get(params.allergy_field) or []
    for allergy in allergies if isinstance(allergies, list) else []:
        a = str(allergy).strip().lower()
        if a and drug and (a in drug or drug in a):
            return [
                Span(
                    severity=alert.severity,
                    step=alert.step,
                    message=_message(
                        alert, drug=given.data.get(params.drug_field), allergy=str(allergy).strip()
                    ),
                    started_at=max(given.at, review.at),
                )
            ]
    return []


@rule("fasting")
def fasting(alert: AlertRule, ctx: RuleContext) -> list[Span]:
    """At the watched step (anaesthesia start): intake closer than the limits, or after it."""
    params: p.Fasting = _params(p.Fasting, alert)
    start = ctx.first(alert.step)
    source = ctx.state.latest(params.source_step)
    if start is None or source is None:
        return []
    problems: list[str] = []
    for limit in params.limits:
        intake = parse_time(source.data.get(limit.field))
        if intake is None:
            continue
        gap_min = (start.at - intake).total_seconds() / 60
        if gap_min < 0:
            problems.append(f"{limit.label} taken after the start")
        elif gap_min < limit.at_least_min:
            problems.append(
                f"{limit.label} {_hours(gap_min)} before (needs {_hours(limit.at_least_min)})"
            )
    if not problems:
        return []
    return [
        Span(
            severity=alert.severity,
            step=alert.step,
            message=_message(alert, detail="; ".join(problems)),
            started_at=max(start.at, source.at),
        )
    ]


def _hours(minutes: float) -> str:
    h, m = divmod(math.floor(minutes), 60)
    return f"{h} h {m} min" if m else f"{h} h"


@rule("drop_from_baseline")
def drop_from_baseline(alert: AlertRule, ctx: RuleContext) -> list[Span]:
    """Active while the latest watched value is more than N % below the latest baseline."""
    params: p.DropFromBaseline = _params(p.DropFromBaseline, alert)
    tracker = Tracker()
    baseline: Any = None
    latest: Any = None
    for at, group in _grouped(ctx.entries(alert.step, params.baseline_step)):
        for e in group:
            value = e.data.get(params.field)
            if e.step == params.baseline_step:
                baseline = value
            else:
                latest = value
        low = False
        if isinstance(baseline, int | float) and isinstance(latest, int | float):
            pct = Decimal(str(params.more_than_pct))
            low = Decimal(str(latest)) * 100 < Decimal(str(baseline)) * (100 - pct)
        tracker.set(
            at,
            low,
            severity=alert.severity,
            step=alert.step,
            message=_message(
                alert, value=_fmt(latest), baseline=_fmt(baseline), pct=_fmt(params.more_than_pct)
            ),
        )
    return tracker.spans


@rule("overdue_repeat")
def overdue_repeat(alert: AlertRule, ctx: RuleContext) -> list[Span]:
    """A repeated check (recovery vitals) not repeated often enough after a start step.

    With A the start and r the last check (or A), the condition at t is
    `t - r > early` while `t < A + window`, else `t - r > late`: piecewise intervals,
    computed exactly rather than sampled, so start and end are the true instants.
    """
    params: p.OverdueRepeat = _params(p.OverdueRepeat, alert)
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
        for lo, hi in _overdue_intervals(ref, window_end=window_end, early=early, late=late):
            lo = max(lo, seg_start)
            if seg_end is not None:
                hi = seg_end if hi is None else min(hi, seg_end)
            if hi is not None and hi <= lo:
                continue
            upto = min(hi, ctx.horizon) if hi is not None else ctx.horizon
            since = "the last set" if ref > a or before else "arrival"
            minutes = max(0, math.floor((upto - ref).total_seconds() / 60))
            spans.append(
                Span(
                    severity=alert.severity,
                    step=alert.step,
                    message=_message(alert, minutes=minutes, since=since),
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


@rule("level_not_planned")
def level_not_planned(alert: AlertRule, ctx: RuleContext) -> list[Span]:
    """One alert per entry naming an unplanned level, and for a differing imaging list."""
    params: p.LevelNotPlanned = _params(p.LevelNotPlanned, alert)
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
                    message=_message(
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
                        message=_message(alert, detail=detail),
                        started_at=e.at,
                        event_id=e.event_id,
                    )
                )
    return spans


@rule("worse_than_baseline")
def worse_than_baseline(alert: AlertRule, ctx: RuleContext) -> list[Span]:
    """Active while the latest check is worse than baseline, or from a matching complication on."""
    params: p.WorseThanBaseline = _params(p.WorseThanBaseline, alert)
    steps = [alert.step, params.baseline_step]
    if params.complication_step:
        steps.append(params.complication_step)
    tracker = Tracker()
    baseline: dict[str, Any] = {}
    latest: Entry | None = None
    complication: Entry | None = None
    for at, group in _grouped(ctx.entries(*steps)):
        for e in group:
            if e.step == params.baseline_step:
                baseline = e.data
            elif e.step == alert.step:
                latest = e
            elif (
                complication is None
                and e.data.get(params.complication_field or "") == params.complication_value
            ):
                complication = e
        worse = _worse(params, baseline, latest.data) if latest else []
        detail = "; ".join(worse) if worse else "complication recorded"
        step = latest.step if worse and latest else params.complication_step or alert.step
        tracker.set(
            at,
            bool(worse) or complication is not None,
            severity=alert.severity,
            step=step,
            message=_message(alert, detail=detail),
        )
    return tracker.spans


def _worse(params: p.WorseThanBaseline, baseline: dict[str, Any], now: dict[str, Any]) -> list[str]:
    worse: list[str] = []
    for name, affected in params.fields.items():
        before = set(affected.get(str(baseline.get(name, "")), []))
        after = set(affected.get(str(now.get(name, "")), []))
        if after - before:
            was = baseline.get(name, "normal")
            worse.append(f"{name.replace('_', ' ')} {now.get(name)} (before: {was})")
    return worse


@rule("overrun")
def overrun(alert: AlertRule, ctx: RuleContext) -> list[Span]:
    """Time from start to end step beyond the expected duration plus grace."""
    params: p.Overrun = _params(p.Overrun, alert)
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
    message = _message(alert, minutes=minutes, expected=_fmt(expected))
    return [
        Span(
            severity=alert.severity,
            step=alert.step,
            message=message,
            started_at=threshold,
            ended_at=end.at if end else None,
            strict=True,
        )
    ]


@rule("score_low_after")
def score_low_after(alert: AlertRule, ctx: RuleContext) -> list[Span]:
    """Some time after a start step, the latest score is below a threshold, or missing."""
    params: p.ScoreLowAfter = _params(p.ScoreLowAfter, alert)
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

    tracker = Tracker()
    low, msg = reading(next((e for e in reversed(scores) if e.at <= from_at), None))
    tracker.set(
        from_at, low, severity=alert.severity, step=alert.step, message=_message(alert, detail=msg)
    )
    for at, group in _grouped([e for e in scores if e.at > from_at]):
        low, msg = reading(group[-1])
        tracker.set(
            at, low, severity=alert.severity, step=alert.step, message=_message(alert, detail=msg)
        )
    for span in tracker.spans:
        span.strict = span.started_at == from_at
    return tracker.spans


@rule("late_entry")
def late_entry(alert: AlertRule, ctx: RuleContext) -> list[Span]:
    """One alert per entry recorded long after its original clinical time."""
    params: p.LateEntry = _params(p.LateEntry, alert)
    limit = timedelta(minutes=params.more_than_min)
    spans: list[Span] = []
    for e in ctx.state.valid:
        if e.original_at > ctx.now or e.recorded_at - e.original_at <= limit:
            continue
        minutes = math.floor((e.recorded_at - e.original_at).total_seconds() / 60)
        title = ctx.pathway.step(e.step).title
        spans.append(
            Span(
                severity=alert.severity,
                step=e.step,
                message=_message(alert, title=title, minutes=minutes),
                started_at=e.original_at,
                event_id=e.event_id,
            )
        )
    return spans
