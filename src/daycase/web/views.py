"""View models for the pages: the case checklist, history and alerts (web room).

Built from the engine's evaluation, so a page shows exactly what the API and the
scenario runner would say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from daycase.engine.alerts import Alert
from daycase.engine.check import gate_alerts_at
from daycase.engine.evaluate import Evaluation
from daycase.engine.events import (
    CaseOpened,
    CaseRescheduled,
    EventAmended,
    EventVoided,
    StepRecorded,
)
from daycase.engine.fold import CaseState, Entry
from daycase.engine.gates import unmet_conditions
from daycase.pathways.schema import Pathway, Step
from daycase.web.forms import Widget, value_words, widgets


@dataclass(frozen=True, slots=True)
class EntryView:
    event_id: str
    at: datetime
    actor: str
    role: str
    level: str | None
    summary: str
    override: bool
    note: str | None
    amended: bool
    data: dict[str, object]


@dataclass(slots=True)
class StepView:
    step: Step
    status: str
    entries: list[EntryView]
    widgets: list[Widget]
    levels: list[str]
    can_record: bool
    columns: list[str] = field(default_factory=list)
    # What a blocked step waits for, in the gate's words, before anyone presses Record.
    waiting_for: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PhaseView:
    id: str
    title: str
    steps: list[StepView]
    # Every step done or not needed, and the case moved past it: shown folded.
    finished: bool = False

    @property
    def due(self) -> list[StepView]:
        return [sv for sv in self.steps if sv.status in ("due", "overdue")]


@dataclass(frozen=True, slots=True)
class HistoryItem:
    seq: int
    event_id: str
    kind: str
    recorded_at: datetime
    actor: str
    role: str
    text: str
    target: str | None
    voided: bool
    correctable: bool
    # For a correction: the entry it corrects ("#4 Pre-op vitals"); for an original: whether
    # a later correction changed it.
    corrects: str | None = None
    amended: bool = False


def _fmt(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value) or "none"
    if isinstance(value, dict):
        return " ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value)


def summary(step: Step, data: Mapping[str, object], *, tz: ZoneInfo) -> str:
    parts = []
    ordered = [n for n in step.fields if n in data] + [n for n in data if n not in step.fields]
    for name in ordered:
        value = data[name]
        spec = step.fields.get(name)
        if spec is not None and spec.type == "time" and isinstance(value, str):
            value = datetime.fromisoformat(value).astimezone(tz).strftime("%d %b %H:%M")
        if spec is not None and spec.type == "enum" and isinstance(value, str):
            value = value_words(value)
        label = spec.label if spec and spec.label else name.replace("_", " ")
        unit = f" {spec.unit}" if spec and spec.unit else ""
        parts.append(f"{label}: {_fmt(value)}{unit}")
    return "; ".join(parts)


def entry_view(step: Step, e: Entry, *, tz: ZoneInfo) -> EntryView:
    return EntryView(
        event_id=e.event_id,
        at=e.at,
        actor=e.actor,
        role=e.role,
        level=e.level,
        summary=summary(step, {k: v for k, v in e.data.items() if k != "level"}, tz=tz),
        override=e.override,
        note=e.override_reason if not e.override else None,
        amended=e.amended,
        data=dict(e.data),
    )


def checklist(
    pathway: Pathway,
    state: CaseState,
    ev: Evaluation,
    *,
    closed: bool,
    tz: ZoneInfo,
    now: datetime,
) -> list[PhaseView]:
    """Every step by phase with its status, who recorded it and the form to record it."""
    opened = state.opened
    assert opened is not None
    abandon = pathway.levels.abandon_step
    abandoned = state.levels_with(abandon) if abandon else set()
    phases: dict[str, PhaseView] = {}
    for ph in pathway.phases:
        if not ph.terminal:
            phases[ph.id] = PhaseView(ph.id, ph.title, [])
    outcome = PhaseView("outcome", "Outcome", [])
    for step in pathway.steps:
        entries = [entry_view(step, e, tz=tz) for e in state.step_entries(step.id)]
        if step.when == "per_level":
            done_levels = {e.level for e in entries}
            if step.id == abandon:
                levels = [lv for lv in opened.levels if lv not in done_levels]
            else:
                levels = [
                    lv for lv in opened.levels if lv not in done_levels and lv not in abandoned
                ]
        else:
            levels = []
        once_done = step.when == "once" and bool(entries)
        can_record = not once_done and (step.when != "per_level" or bool(levels))
        if step.aftercare:
            # The next-day call: offered once the patient went home, whatever else holds.
            fixed = step.model_copy(update={"gate": [c for c in step.gate if not c.overridable]})
            can_record = can_record and not unmet_conditions(
                pathway, fixed, state, at=now, level=None
            )
        else:
            can_record = can_record and not closed
        status = ev.steps[step.id]
        waiting = (
            [
                u.message
                for u in unmet_conditions(
                    pathway, step, state, at=now, level=None, alerts_at=gate_alerts_at(pathway)
                )
            ]
            if status == "blocked" and step.when != "per_level"
            else []
        )
        view = StepView(
            step=step,
            status=status,
            entries=entries,
            widgets=widgets(pathway, step),
            levels=levels,
            can_record=can_record,
            columns=[n for n in step.fields if n != "level"] if step.when == "repeat" else [],
            waiting_for=waiting,
        )
        (outcome if step.need == "terminal" else phases.get(step.phase, outcome)).steps.append(view)
    order = [ph.id for ph in pathway.phases]
    current = order.index(ev.phase) if ev.phase in order else len(order)
    for view_phase in phases.values():
        passed = view_phase.id in order and order.index(view_phase.id) < current
        settled = all(sv.status in ("done", "not_needed", "skipped") for sv in view_phase.steps)
        view_phase.finished = passed and settled
    return [p for p in [*phases.values(), outcome] if p.steps]


def history(pathway: Pathway, state: CaseState, *, tz: ZoneInfo) -> list[HistoryItem]:
    """Every event in order: originals stay readable beside their corrections."""
    items: list[HistoryItem] = []
    steps_of: dict[str, str] = {}  # event id -> step, for the labels of a correction
    seq_of: dict[str, int] = {}
    amended: set[str] = set()
    for e in state.history:
        if isinstance(e, CaseOpened):
            text, target = f"Case opened for levels {', '.join(e.levels)}", None
            kind = "opened"
        elif isinstance(e, StepRecorded):
            steps_of[e.event_id] = e.step
            step = pathway.step(e.step)
            where = f" ({e.level})" if e.level else ""
            extra = f" — override: {e.override_reason}" if e.override else ""
            note = f" — note: {e.override_reason}" if e.override_reason and not e.override else ""
            data = {k: v for k, v in e.data.items() if k != "level"}
            said = summary(step, data, tz=tz) or "recorded"
            text = f"{step.title}{where} at {local(e.at, tz)}: {said}{extra}{note}"
            target, kind = None, "recorded"
        elif isinstance(e, EventAmended):
            amended.add(e.target_event_id)
            parts = []
            if e.at:
                parts.append(f"time → {local(e.at, tz)}")
            if e.data:
                parts.append(_patch_text(pathway.step(steps_of[e.target_event_id]), e.data, tz))
            extra = f" — override: {e.override_reason}" if e.override else ""
            text, target, kind = (
                f"Amended: {'; '.join(parts)} — reason: {e.reason}{extra}",
                e.target_event_id,
                "amended",
            )
        elif isinstance(e, CaseRescheduled):
            when = e.scheduled_start.astimezone(tz)
            text = f"Booking moved to {when:%a %d %b %H:%M} — reason: {e.reason}"
            target, kind = None, "rescheduled"
        else:
            assert isinstance(e, EventVoided)
            text, target, kind = f"Voided — reason: {e.reason}", e.target_event_id, "voided"
        seq_of[e.event_id] = e.seq
        corrects = (
            f"#{seq_of[target]} {pathway.step(steps_of[target]).title}"
            if target in seq_of and target in steps_of
            else None
        )
        items.append(
            HistoryItem(
                seq=e.seq,
                event_id=e.event_id,
                kind=kind,
                recorded_at=e.recorded_at,
                actor=e.actor,
                role=e.role,
                text=text,
                target=target,
                voided=e.event_id in state.voided,
                correctable=isinstance(e, StepRecorded) and e.event_id not in state.voided,
                corrects=corrects,
            )
        )
    return [replace(item, amended=item.event_id in amended) for item in items]


def _patch_text(step: Step, patch: Mapping[str, object], tz: ZoneInfo) -> str:
    """A correction's data in the words of the form: "Heart rate: 84 /min; Note removed"."""
    kept = summary(step, {k: v for k, v in patch.items() if v is not None}, tz=tz)
    removed = [
        f"{spec.label if (spec := step.fields.get(k)) and spec.label else k.replace('_', ' ')}"
        " removed"
        for k, v in patch.items()
        if v is None
    ]
    return "; ".join([p for p in [kept, *removed] if p])


def local(dt: datetime | None, tz: ZoneInfo) -> str:
    return dt.astimezone(tz).strftime("%H:%M") if dt else "—"


def alert_rows(alerts: list[Alert]) -> list[Alert]:
    """Active first (critical first), then the ended ones, newest first."""
    rank = {"critical": 0, "warning": 1, "info": 2}
    active = sorted((a for a in alerts if a.active), key=lambda a: (rank[a.severity], a.started_at))
    ended = sorted((a for a in alerts if not a.active), key=lambda a: a.started_at, reverse=True)
    return active + ended
