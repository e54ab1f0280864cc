"""Alert timelines: run each pathway alert rule and shape its spans (engine room).

A rule returns spans (start, end or open, severity, step, message). Here the spans are
clipped at the terminal step and at the evaluation clock, so `active` and
`started_at`/`ended_at` are the clinical instants the condition became true and false.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from daycase.engine.fold import CaseState, Entry
from daycase.pathways.schema import SEVERITY_RANK, Pathway


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert of the case's history. `severity` is the one recorded for it (in 2.0 the
    highest it reached); `severity_now` is what its cause says at the evaluated time,
    which gates read."""

    code: str
    severity: str
    step: str
    message: str
    active: bool
    started_at: datetime
    ended_at: datetime | None
    event_id: str | None = None
    severity_now: str = ""

    @property
    def current_severity(self) -> str:
        return self.severity_now or self.severity


@dataclass(slots=True, kw_only=True)
class Span:
    """One stretch of time during which an alert condition held.

    `strict` spans come from "more than N minutes" timers: at exactly their start the
    condition does not yet hold, so such a span only counts once the clock passes it.
    """

    severity: str
    step: str
    message: str
    started_at: datetime
    ended_at: datetime | None = None
    event_id: str | None = None
    strict: bool = False
    severity_now: str = ""


@dataclass(slots=True)
class Tracker:
    """Turns a sequence of (time, condition) readings into spans; one open span at a time.

    A change of severity keeps the span; with `highest` its recorded severity is the
    highest it reached (2.0), else the current one (1.0). `severity_now` is always current.
    """

    highest: bool = False
    spans: list[Span] = field(default_factory=list)
    current: Span | None = None

    def set(
        self, at: datetime, active: bool, *, severity: str = "", step: str = "", message: str = ""
    ) -> None:
        if active:
            if self.current is None:
                self.current = Span(
                    severity=severity,
                    step=step,
                    message=message,
                    started_at=at,
                    severity_now=severity,
                )
                self.spans.append(self.current)
            else:
                kept = self.current.severity
                if not self.highest or SEVERITY_RANK[severity] > SEVERITY_RANK[kept]:
                    self.current.severity = severity
                self.current.severity_now = severity
                self.current.step = step
                self.current.message = message
        elif self.current is not None:
            self.current.ended_at = at
            self.current = None


class AlertsAt(Protocol):
    """The alerts active at a clinical time; `codes` limits which rules are worked out
    (a gate that names its alerts need not evaluate every rule of the pathway)."""

    def __call__(
        self, state: CaseState, at: datetime, codes: Collection[str] | None = None, /
    ) -> list[Alert]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleContext:
    """What a rule may read: the pathway, the case state, the entries known by `now`.

    `alerts_at(state, t)` gives the alerts active at `t` for rules that judge a gate
    (the evaluator supplies it; rules never import it).
    """

    pathway: Pathway
    state: CaseState
    now: datetime
    terminal_at: datetime | None = None
    alerts_at: AlertsAt | None = None

    def tracker(self) -> Tracker:
        """A tracker that keeps severities the way this pathway version says."""
        return Tracker(highest=self.pathway.alert_severity == "highest")

    @property
    def horizon(self) -> datetime:
        """Where the case's clock stops for messages: now, or the terminal step if earlier."""
        if self.terminal_at is not None and self.terminal_at < self.now:
            return self.terminal_at
        return self.now

    def entries(self, *steps: str) -> list[Entry]:
        """Valid entries of these steps with `at` ≤ now, in clinical order."""
        if len(steps) == 1:
            return self.state.step_entries(steps[0], until=self.now)
        merged = [e for s in steps for e in self.state.step_entries(s, until=self.now)]
        merged.sort(key=lambda e: (e.at, e.seq))
        return merged

    def first(self, step: str) -> Entry | None:
        entries = self.entries(step)
        return entries[0] if entries else None


def worst(severities: list[str], default: str) -> str:
    """The most serious of some severities, or `default` when there are none."""
    return max(severities, key=SEVERITY_RANK.__getitem__) if severities else default


def clip(code: str, span: Span, *, now: datetime, cut_at: datetime | None) -> Alert | None:
    """The alert a span shows at `now`: cut at `cut_at` (the terminal step, or the step
    that resolves it), open when it outlasts `now`. A cause at exactly `cut_at` is listed
    with start = end = that instant; one after it never raises an alert."""
    if span.started_at > now or (span.strict and span.started_at >= now):
        return None
    end = span.ended_at
    if cut_at is not None:
        if span.started_at > cut_at or (span.strict and span.started_at >= cut_at):
            return None
        if end is None or end > cut_at:
            end = cut_at
    if end is not None and end > now:
        end = None
    return Alert(
        code=code,
        severity=span.severity,
        step=span.step,
        message=span.message,
        active=end is None,
        started_at=span.started_at,
        ended_at=end,
        event_id=span.event_id,
        severity_now=span.severity_now or span.severity,
    )
