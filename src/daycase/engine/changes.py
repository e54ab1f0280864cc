"""When a case's board row next changes by the clock alone (engine room).

A board kept as a read model must notice what nobody records: vitals falling overdue, a
procedure running long, the hour in recovery passing. `next_change_at` gives the earliest
instant after `now` at which `evaluate` may answer differently for a board (an alert
starting or ending, a gate's wait running out, an open alert's minute count turning over, an entry
charted ahead of the clock coming due), so a server re-evaluates a case only then. It may
answer early, never late: re-evaluating too soon costs a little, too late shows a stale
board.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from daycase.engine.alerts import RuleContext
from daycase.engine.evaluate import active_alerts_at, alert_cut_at
from daycase.engine.fold import CaseState
from daycase.engine.gates import terminal_entry
from daycase.engine.rules import REGISTRY, spans
from daycase.pathways.schema import Pathway

MINUTE = timedelta(minutes=1)
# A "more than N minutes" span holds only once the clock is past its start: from the
# next instant a datetime can hold.
_JUST_AFTER = timedelta(microseconds=1)


def next_change_at(pathway: Pathway, state: CaseState, now: datetime) -> datetime | None:
    """The earliest instant after `now` at which the case's board row may change with no
    new entry; None when only a new entry can change it."""
    # Entries and corrections charted ahead of `now` come into view when it reaches them
    # (an amended entry keeps its first clinical time for the late-entry rule).
    found = [at for e in state.valid for at in (e.at, e.original_at) if at > now]
    found += [event.recorded_at for event in state.history if event.recorded_at > now]
    terminal = terminal_entry(pathway, state)
    terminal_at = terminal.at if terminal else None
    ctx = RuleContext(
        pathway=pathway,
        state=state,
        now=now,
        terminal_at=terminal_at,
        alerts_at=lambda of, at, only=None: active_alerts_at(pathway, of, at, only),
    )
    for rule in pathway.alerts:
        counts_minutes = REGISTRY[rule.rule].counts_minutes
        cut_at = alert_cut_at(rule, state, now=now, terminal_at=terminal_at)
        if cut_at is not None and cut_at > now:
            found.append(cut_at)
        for span in spans(rule, ctx):
            start = span.started_at
            if start > now or (span.strict and start >= now):
                found.append(start + _JUST_AFTER if span.strict else start)
                continue
            if span.ended_at is not None and span.ended_at > now:
                found.append(span.ended_at)
            is_open = (span.ended_at is None or span.ended_at > now) and (
                cut_at is None or cut_at > now
            )
            if is_open and counts_minutes:
                # Its message counts minutes to now: they turn over a whole minute after
                # its start (the pathway's limits are in minutes).
                found.append(now + MINUTE - (now - start) % MINUTE)
    for step in pathway.steps:
        for cond in step.gate:
            if cond.minutes_since is None:
                continue
            wait = timedelta(minutes=cond.minutes_since.at_least)
            found.extend(
                e.at + wait
                for e in state.step_entries(cond.minutes_since.step)
                if e.at + wait > now
            )
    return min(found, default=None)
