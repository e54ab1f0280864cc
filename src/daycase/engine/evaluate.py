"""Evaluate a case at a clock time: phase, step statuses, alerts, family status (engine room).

`evaluate(pathway, state, now)` is pure: the same events and clock give the same answer,
which is what lets the scenario runner, the simulation and the API share it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime

from daycase.engine.alerts import Alert, AlertsAt, RuleContext, clip
from daycase.engine.events import EventAmended, EventVoided
from daycase.engine.fold import CaseState, Entry, fold
from daycase.engine.gates import remaining_levels, terminal_entry, unmet
from daycase.engine.rules import REGISTRY, spans
from daycase.pathways.schema import AlertRule, Pathway, Step

STATUSES = ("done", "due", "blocked", "overdue", "not_needed", "skipped")


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    phase: str
    phase_since: datetime | None
    steps: dict[str, str]
    alerts: list[Alert]
    family_word: str
    family_colour: str
    running_long: bool
    next_due: list[str]
    overrides: list[Entry]

    @property
    def active_alerts(self) -> list[Alert]:
        return [a for a in self.alerts if a.active]


def evaluate(pathway: Pathway, state: CaseState, now: datetime) -> Evaluation:
    """Everything a board, a page or a scenario expectation needs to know at `now`."""
    terminal = terminal_entry(pathway, state)
    phase, since = current_phase(pathway, state)
    alerts = evaluate_alerts(pathway, state, now=now, terminal_at=terminal.at if terminal else None)
    active = [a for a in alerts if a.active]
    active_codes = {a.code for a in active}
    overdue_steps = {
        r.step
        for r in pathway.alerts
        if REGISTRY[r.rule].marks_step_overdue and r.code in active_codes
    }

    def alerts_at(of: CaseState, at: datetime, codes: Collection[str] | None = None) -> list[Alert]:
        if of is state and at == now:
            return active
        return active_alerts_at(pathway, of, at, codes)

    steps = {
        s.id: step_status(
            pathway,
            state,
            s,
            now=now,
            terminal=terminal,
            overdue=s.id in overdue_steps,
            alerts_at=alerts_at,
        )
        for s in pathway.steps
    }
    family = pathway.phase(phase).family
    running_long = any(REGISTRY[pathway.alert(a.code).rule].running_long for a in active)
    return Evaluation(
        phase=phase,
        phase_since=since,
        steps=steps,
        alerts=alerts,
        family_word=family.word,
        family_colour=family.colour,
        running_long=running_long,
        next_due=[
            s.id
            for s in pathway.steps
            if steps[s.id] in ("due", "overdue") and s.need == "required"
        ],
        overrides=[e for e in state.valid if e.override],
    )


def evaluate_alerts(
    pathway: Pathway, state: CaseState, *, now: datetime, terminal_at: datetime | None
) -> list[Alert]:
    """Every alert the case has had up to `now`, active or not, in start order.

    Alerts whose causing entries were later voided or amended away are kept, ended at the
    moment of the correction: the case keeps every alert it has had.
    """
    alerts = _alerts(pathway, state, now=now, terminal_at=terminal_at)
    seen = {(a.code, a.event_id, a.started_at) for a in alerts}
    for alert in _corrected_away(pathway, state, now=now):
        if (alert.code, alert.event_id, alert.started_at) not in seen:
            alerts.append(alert)
    alerts.sort(key=lambda a: (a.started_at, a.code))
    return alerts


def active_alerts_at(
    pathway: Pathway, state: CaseState, at: datetime, codes: Collection[str] | None = None
) -> list[Alert]:
    """The alerts active at clinical time `at`, from the entries charted at or before it:
    what a gate asking for "no active alert" reads (only the rules of `codes` if given)."""
    terminal = terminal_entry(pathway, state)
    alerts = _alerts(
        pathway,
        state,
        now=at,
        terminal_at=terminal.at if terminal else None,
        codes=codes,
        active_only=True,
    )
    return [a for a in alerts if a.active]


def _alerts(
    pathway: Pathway,
    state: CaseState,
    *,
    now: datetime,
    terminal_at: datetime | None,
    codes: Collection[str] | None = None,
    active_only: bool = False,
) -> list[Alert]:
    """Every alert of the case up to `now`; with `active_only`, a rule already cut by
    `now` (its resolving step or the terminal step charted) is not run at all: none of its
    alerts can still be active (the discharge gate skips the pre-procedure checks so)."""
    ctx = RuleContext(
        pathway=pathway,
        state=state,
        now=now,
        terminal_at=terminal_at,
        alerts_at=lambda of, at, only=None: active_alerts_at(pathway, of, at, only),
    )
    alerts: list[Alert] = []
    for rule in pathway.alerts:
        if codes is not None and rule.code not in codes:
            continue
        cut_at = alert_cut_at(rule, state, now=now, terminal_at=terminal_at)
        if active_only and cut_at is not None and cut_at <= now:
            continue
        for span in spans(rule, ctx):
            alert = clip(rule.code, span, now=now, cut_at=cut_at)
            if alert is not None:
                alerts.append(alert)
    return alerts


def alert_cut_at(
    rule: AlertRule, state: CaseState, *, now: datetime, terminal_at: datetime | None
) -> datetime | None:
    """Where an alert's spans end at the latest: the terminal step (not for aftercare
    alerts), or the first entry of the step that resolves it (`ends_at`)."""
    cut = None if rule.aftercare else terminal_at
    if rule.ends_at:
        first = state.step_entries(rule.ends_at, until=now)
        if first and (cut is None or first[0].at < cut):
            cut = first[0].at
    return cut


def _corrected_away(pathway: Pathway, state: CaseState, *, now: datetime) -> list[Alert]:
    """Alerts that a correction removed, as they stood just before it, ended at it."""
    gone: list[Alert] = []
    for event in state.history:
        if not isinstance(event, EventAmended | EventVoided) or event.recorded_at > now:
            continue
        at = event.recorded_at
        before_state = fold(state.history[: event.seq - 1])
        after_state = fold(state.history[: event.seq])
        before = _alerts(
            pathway, before_state, now=at, terminal_at=_terminal_at(pathway, before_state)
        )
        after = _alerts(
            pathway, after_state, now=at, terminal_at=_terminal_at(pathway, after_state)
        )
        for alert in before:
            if not any(_same_alert(alert, other) for other in after):
                gone.append(replace(alert, active=False, ended_at=alert.ended_at or at))
    return gone


def _terminal_at(pathway: Pathway, state: CaseState) -> datetime | None:
    entry = terminal_entry(pathway, state)
    return entry.at if entry else None


def _same_alert(a: Alert, b: Alert) -> bool:
    """One per-event alert per causing entry; otherwise one stretch of time per code."""
    if a.code != b.code:
        return False
    if a.event_id is not None or b.event_id is not None:
        return a.event_id == b.event_id
    a_end, b_end = a.ended_at, b.ended_at
    return (b_end is None or b_end >= a.started_at) and (a_end is None or a_end >= b.started_at)


def current_phase(pathway: Pathway, state: CaseState) -> tuple[str, datetime | None]:
    """The case's phase and when it opened.

    1.0: the furthest milestone among valid entries, whatever their `at`. 2.0
    (`phases_in_order`): the furthest phase whose milestone is present together with a
    milestone of every earlier phase; a terminal step sets its outcome whenever recorded.
    """
    ranks = {rank for e in state.valid if (rank := pathway.milestone_rank(e.step)) is not None}
    best = max(ranks, default=0)
    if pathway.phases_in_order and not pathway.phases[best].terminal:
        best = 0
        for rank, phase in enumerate(pathway.phases):
            if phase.terminal or phase.aftercare or not phase.opened_by:
                continue
            if rank not in ranks:
                break
            best = rank
    phase = pathway.phases[best]
    if best == 0:
        return phase.id, state.opened.recorded_at if state.opened else None
    openers = [e.at for s in phase.opened_by for e in state.step_entries(s)]
    return phase.id, min(openers) if openers else None


def step_status(
    pathway: Pathway,
    state: CaseState,
    step: Step,
    *,
    now: datetime,
    terminal: Entry | None,
    overdue: bool = False,
    alerts_at: AlertsAt | None = None,
) -> str:
    """One step's status at `now` (see the pathway spec, "Step status")."""
    entries = state.step_entries(step.id)

    def holds(level: str | None) -> bool:
        return not unmet(pathway, step, state, at=now, level=level, alerts_at=alerts_at)

    if step.need == "terminal":
        if terminal is not None:
            return "done" if terminal.step == step.id else "skipped"
        return "due" if holds(None) else "blocked"
    if step.need == "optional":
        return "done" if entries else "not_needed"
    if overdue:
        return "overdue"
    if step.when == "per_level":
        levels = remaining_levels(state, pathway, until=None)
        if not levels:
            return "not_needed"
        pending = [lv for lv in levels if lv not in {e.level for e in entries}]
        if not pending:
            return "done"
        if terminal is not None:
            return "skipped"
        return "due" if any(holds(lv) for lv in pending) else "blocked"
    if entries:
        return "done"
    if terminal is not None:
        return "skipped"
    return "due" if holds(None) else "blocked"
