"""Rules over readings: out of range, a drop from baseline, a worse neuro check (engine room).

Each reads its numbers and step ids from its parameters; severities and labels come from
the pathway file, so a centre can set its own limits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, model_validator

from daycase.engine.alerts import RuleContext, Span, worst
from daycase.engine.fold import Entry
from daycase.engine.rules import rule
from daycase.pathways.rules import RuleParams
from daycase.pathways.schema import SEVERITY_RANK, AlertRule
from daycase.types import JSONScalar


class Check(RuleParams):
    """A comparison of one field against one value; the label says it to a nurse."""

    field: str
    label: str = ""
    lt: float | None = None
    le: float | None = None
    gt: float | None = None
    ge: float | None = None
    eq: JSONScalar = None
    in_: list[str] | None = Field(default=None, alias="in")
    severity: Literal["info", "warning", "critical"] | None = None

    @model_validator(mode="after")
    def _one_comparison(self) -> Check:
        ops = [o for o in ("lt", "le", "gt", "ge", "eq", "in_") if getattr(self, o) is not None]
        if len(ops) != 1:
            raise ValueError("a check needs exactly one of lt, le, gt, ge, eq, in")
        return self

    def matches(self, data: dict[str, Any]) -> bool:
        value = data.get(self.field)
        if value is None or (isinstance(value, bool) and self.eq is None):
            return False
        if self.eq is not None:
            return bool(value == self.eq)
        if self.in_ is not None:
            return value in self.in_
        if not isinstance(value, int | float):
            return False
        # As the decimals written out, so 0.1 + 0.2 against a limit of 0.3 reads as a nurse
        # would. Two floats (or a float and a whole number under 2**53) compare the same
        # way as their shortest decimals, so only larger whole numbers take the Decimal way.
        v: float | Decimal = value
        if isinstance(value, int) and abs(value) >= 2**53:
            v = Decimal(value)
        if self.lt is not None:
            return v < _limit(self.lt, v)
        if self.le is not None:
            return v <= _limit(self.le, v)
        if self.gt is not None:
            return v > _limit(self.gt, v)
        if self.ge is not None:
            return v >= _limit(self.ge, v)
        return False


def _limit(bound: float, against: float | Decimal) -> float | Decimal:
    return _decimal(bound) if isinstance(against, Decimal) else bound


@functools.cache
def _decimal(bound: float) -> Decimal:
    return Decimal(str(bound))


class StepChecks(RuleParams):
    steps: list[str]
    checks: list[Check]
    where: Check | None = None  # only entries that pass this check are readings at all


def fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def message(alert: AlertRule, **values: Any) -> str:
    return alert.message.format(**values)


def violations(alert: AlertRule, checks: list[Check], data: dict[str, Any]) -> tuple[str, str]:
    """(worst severity, joined labels) of the checks this data breaks; ('', '') when none."""
    hits = [c for c in checks if c.matches(data)]
    if not hits:
        return "", ""
    # Two limits on one field (systolic below 90, and below 80): say only the graver one.
    graver: dict[str, Check] = {}
    for c in hits:
        kept = graver.get(c.field)
        rank = SEVERITY_RANK[c.severity or alert.severity]
        if kept is None or rank > SEVERITY_RANK[kept.severity or alert.severity]:
            graver[c.field] = c
    hits = [c for c in hits if graver[c.field] is c]
    labels: list[str] = []
    for c in hits:
        label = c.label.format(value=fmt(data.get(c.field)), **{k: fmt(v) for k, v in data.items()})
        if label and label not in labels:
            labels.append(label)
    return worst([c.severity or alert.severity for c in hits], alert.severity), "; ".join(labels)


def grouped(entries: list[Entry]) -> Iterator[tuple[datetime, list[Entry]]]:
    """Entries grouped by equal clinical time, so a reading reflects all entries at an instant."""
    i = 0
    while i < len(entries):
        j = i
        while j + 1 < len(entries) and entries[j + 1].at == entries[i].at:
            j += 1
        yield entries[i].at, entries[i : j + 1]
        i = j + 1


def track_latest(
    alert: AlertRule,
    ctx: RuleContext,
    entries: list[Entry],
    reading: Callable[[Entry], tuple[bool, dict[str, Any]]],
) -> list[Span]:
    """Active while the latest of the entries (by clinical time) gives a true reading; the
    reading's values fill the alert's message."""
    tracker = ctx.tracker()
    for at, group in grouped(entries):
        active, values = reading(group[-1])
        tracker.set(
            at, active, severity=alert.severity, step=alert.step, message=message(alert, **values)
        )
    return tracker.spans


@rule("latest_check", params=StepChecks)
def latest_check(alert: AlertRule, params: StepChecks, ctx: RuleContext) -> list[Span]:
    """Active while the latest entry of the watched steps breaks a check."""
    tracker = ctx.tracker()
    entries = ctx.entries(*params.steps)
    if params.where is not None:
        entries = [e for e in entries if params.where.matches(e.data)]
    for at, group in grouped(entries):
        latest = group[-1]
        severity, detail = violations(alert, params.checks, latest.data)
        tracker.set(
            at,
            bool(detail),
            severity=severity,
            step=latest.step,
            message=message(alert, detail=detail) if detail else "",  # unread when clear
        )
    return tracker.spans


@rule("each_event_check", params=StepChecks)
def each_event_check(alert: AlertRule, params: StepChecks, ctx: RuleContext) -> list[Span]:
    """One alert per entry that breaks a check, from that entry on."""
    spans: list[Span] = []
    for entry in ctx.entries(*params.steps):
        if params.where is not None and not params.where.matches(entry.data):
            continue
        severity, detail = violations(alert, params.checks, entry.data)
        if detail:
            where = f" at {entry.level}" if entry.level else ""
            spans.append(
                Span(
                    severity=severity,
                    step=entry.step,
                    message=message(alert, detail=detail + where),
                    started_at=entry.at,
                    event_id=entry.event_id,
                )
            )
    return spans


class DropFromBaseline(RuleParams):
    baseline_step: str
    field: str
    more_than_pct: float
    # "latest": the latest baseline entry charted before the reading (1.0); "first": the
    # first one by clinical time, the arrival baseline (2.0).
    baseline: Literal["latest", "first"] = "latest"


@rule("drop_from_baseline", params=DropFromBaseline)
def drop_from_baseline(alert: AlertRule, params: DropFromBaseline, ctx: RuleContext) -> list[Span]:
    """Active while the latest watched value is more than N % below the baseline value."""
    tracker = ctx.tracker()
    baseline: Any = None
    latest: Any = None
    for at, group in grouped(ctx.entries(alert.step, params.baseline_step)):
        for e in group:
            value = e.data.get(params.field)
            if e.step == params.baseline_step:
                if params.baseline == "latest" or baseline is None:
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
            message=message(
                alert, value=fmt(latest), baseline=fmt(baseline), pct=fmt(params.more_than_pct)
            ),
        )
    return tracker.spans


class WorseThanBaseline(RuleParams):
    baseline_step: str
    fields: dict[str, dict[str, list[str]]]
    complication_step: str | None = None
    complication_field: str | None = None
    complication_value: str | None = None


@rule("worse_than_baseline", params=WorseThanBaseline)
def worse_than_baseline(
    alert: AlertRule, params: WorseThanBaseline, ctx: RuleContext
) -> list[Span]:
    """Active while the latest check is worse than baseline, or from a matching complication on."""
    steps = [alert.step, params.baseline_step]
    if params.complication_step:
        steps.append(params.complication_step)
    tracker = ctx.tracker()
    baseline: dict[str, Any] = {}
    latest: Entry | None = None
    complication: Entry | None = None
    for at, group in grouped(ctx.entries(*steps)):
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
            message=message(alert, detail=detail),
        )
    return tracker.spans


def _worse(params: WorseThanBaseline, baseline: dict[str, Any], now: dict[str, Any]) -> list[str]:
    worse: list[str] = []
    for name, affected in params.fields.items():
        before = set(affected.get(str(baseline.get(name, "")), []))
        after = set(affected.get(str(now.get(name, "")), []))
        if after - before:
            was = baseline.get(name, "normal")
            worse.append(f"{name.replace('_', ' ')} {now.get(name)} (before: {was})")
    return worse
