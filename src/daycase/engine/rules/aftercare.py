"""Rules after the patient went home: the next-day call, and corrected discharges (engine room).

These alerts exist only after the terminal step, so the evaluator does not cut them there
(`aftercare: true` in the file).
"""

from __future__ import annotations

from datetime import timedelta

from daycase.engine.alerts import RuleContext, Span
from daycase.engine.events import EventAmended, EventVoided
from daycase.engine.fold import fold
from daycase.engine.gates import unmet
from daycase.engine.rules import rule
from daycase.engine.rules.readings import message
from daycase.pathways.rules import RuleParams
from daycase.pathways.schema import AlertRule


class CallMissed(RuleParams):
    after_step: str  # the call is due after this step (discharged)
    reached_field: str
    after_h: float
    window_days: float


@rule("call_missed", params=CallMissed)
def call_missed(alert: AlertRule, params: CallMissed, ctx: RuleContext) -> list[Span]:
    """No call that reached the patient more than N hours after they went home.

    Active from after_step + N h (strictly later) until the first call that reached them,
    or until the window for calls closes.
    """
    home = ctx.first(params.after_step)
    if home is None:
        return []
    due = home.at + timedelta(hours=params.after_h)
    closes = home.at + timedelta(days=params.window_days)
    reached = [e for e in ctx.entries(alert.step) if e.data.get(params.reached_field) is True]
    first_reached = reached[0].at if reached else None
    if first_reached is not None and first_reached <= due:
        return []
    end = min(first_reached, closes) if first_reached else closes
    tried = len(ctx.entries(alert.step))
    return [
        Span(
            severity=alert.severity,
            step=alert.step,
            message=message(alert, hours=f"{params.after_h:g}", tried=tried),
            started_at=due,
            ended_at=end,
            strict=True,
        )
    ]


class GateBrokenByCorrection(RuleParams):
    step: str


@rule("gate_broken_by_correction", params=GateBrokenByCorrection)
def gate_broken_by_correction(
    alert: AlertRule, params: GateBrokenByCorrection, ctx: RuleContext
) -> list[Span]:
    """After an ordinary (not overridden) terminal step, a correction made its gate false.

    Each correction recorded after the step is judged on the record as it stood just after
    it: the step's gate at the step's own clinical time, the step itself left out. The alert
    starts at the correction that broke the gate and ends at one that mends it (or one that
    voids the step itself). Times are the corrections' `recorded_at`: they have no clinical
    time of their own.
    """
    done = ctx.state.step_entries(params.step)
    if not done:
        return []
    step = ctx.pathway.step(params.step)
    tracker = ctx.tracker()
    for event in ctx.state.history:
        if not isinstance(event, EventAmended | EventVoided) or event.recorded_at > ctx.now:
            continue
        state = fold(ctx.state.history[: event.seq])
        entries = state.step_entries(params.step)
        if not entries or event.recorded_at < entries[0].recorded_at:
            tracker.set(event.recorded_at, False)
            continue
        terminal = entries[0]
        if terminal.override:
            tracker.set(event.recorded_at, False)
            continue
        broken = unmet(
            ctx.pathway,
            step,
            state.without(terminal.event_id),
            at=terminal.at,
            level=None,
            alerts_at=ctx.alerts_at,
        )
        tracker.set(
            event.recorded_at,
            bool(broken),
            severity=alert.severity,
            step=params.step,
            message=message(alert, detail="; ".join(broken)),
        )
    return tracker.spans
