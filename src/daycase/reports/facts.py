"""One typed row of facts per case, folded from its events: what every report reads (reports room).

Reports never read events: they read these rows, which the store keeps beside the events
(`report_facts`) and `daycase projections rebuild` recomputes. Everything here follows
from the case's events alone (the same events always give the same row), so alerts are
taken as they stand at the case's last entry: alerts that a clock raises later (a
next-day call not made) are worked out by the measures from the times kept here.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from daycase.engine.check import gate_alerts_at
from daycase.engine.evaluate import evaluate_alerts
from daycase.engine.events import EventAmended, EventVoided
from daycase.engine.fold import CaseState, Entry
from daycase.engine.gates import terminal_entry, unmet
from daycase.engine.rules.aftercare import CallMissed
from daycase.pathways.schema import Pathway

# The milestones kept with their first clinical time (step id = milestone name).
MILESTONES = (
    "check_in",
    "antibiotic_given",
    "sign_in",
    "in_room",
    "anesthesia_start",
    "time_out",
    "incision",
    "sign_out",
    "anesthesia_end",
    "out_of_room",
    "pacu_arrival",
)
NORMOTHERMIA_C = 35.5
NORMOTHERMIA_WITHIN = timedelta(minutes=15)
VERSION = 3  # of the row's shape: a row of another shape is rebuilt, never misread


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseFacts:
    """What the reports need to know about one case, as of its last event (`seq`)."""

    case_id: str
    seq: int
    pathway_id: str
    pathway_version: str
    day: date
    scheduled_start: datetime
    levels_planned: tuple[str, ...]
    levels_treated: tuple[str, ...] = ()
    levels_abandoned: tuple[str, ...] = ()
    proceduralist: str | None = None
    anesthesia_type: str | None = None
    antibiotic_drug: str | None = None
    times: dict[str, datetime] = field(default_factory=dict)
    # The first moment the discharge gate held, at or before the case ended.
    ready_at: datetime | None = None
    outcome: str | None = None
    outcome_at: datetime | None = None
    outcome_reason: str | None = None
    outcome_override: bool = False
    # First recovery temperature within 15 min of arrival: at least 35.5 °C (None: none taken).
    warm_on_arrival: bool | None = None
    complications: tuple[tuple[str, str], ...] = ()  # (kind, severity)
    leakage: tuple[tuple[str, str, str | None], ...] = ()  # (level, none|minor|major, site)
    overrides: tuple[tuple[str, str, str], ...] = ()  # (step, role, reason)
    corrections: tuple[tuple[str, str], ...] = ()  # (amended|voided, step)
    alerts: dict[str, int] = field(default_factory=dict)  # code -> times raised
    antithrombotic_resolution: str | None = None
    calls_tried: int = 0
    first_reached_call_at: datetime | None = None
    # When the next-day call is due: the pathway's own missed-call rule (its hours after
    # the patient went home); None when the pathway has none or the patient did not go home.
    call_due_at: datetime | None = None

    @property
    def arrived(self) -> bool:
        """Checked in: an admission in the CMS sense."""
        return "check_in" in self.times

    def minutes(self, start: str, end: str) -> float | None:
        """Minutes between two milestones (or `ready`/`outcome`), None if either is missing."""
        a = self.ready_at if start == "ready" else self.times.get(start)
        b = (
            self.ready_at
            if end == "ready"
            else self.outcome_at
            if end == "outcome"
            else self.times.get(end)
        )
        return None if a is None or b is None else (b - a).total_seconds() / 60


def case_facts(pathway: Pathway, state: CaseState) -> CaseFacts:
    """Fold one case's state into its facts row."""
    opened = state.opened
    if opened is None:
        raise ValueError("a case without its opening has no facts")
    terminal = terminal_entry(pathway, state)
    last = _last_moment(state)
    alerts = evaluate_alerts(
        pathway, state, now=last, terminal_at=terminal.at if terminal else None
    )
    raised = Counter(alert.code for alert in alerts)
    times = {step: entries[0].at for step in MILESTONES if (entries := state.step_entries(step))}
    return CaseFacts(
        case_id=opened.case_id,
        seq=state.last_seq,
        pathway_id=opened.pathway_id,
        pathway_version=opened.pathway_version,
        day=opened.scheduled_start.date(),
        scheduled_start=opened.scheduled_start,
        levels_planned=opened.levels,
        levels_treated=_levels(state, "cement_injected"),
        levels_abandoned=_levels(state, "level_abandoned"),
        proceduralist=_proceduralist(state),
        anesthesia_type=_text(state.latest("anesthesia_start"), "type"),
        antibiotic_drug=_text(_first(state, "antibiotic_given"), "drug"),
        times=times,
        ready_at=_ready_at(pathway, state, terminal),
        outcome=terminal.step if terminal else None,
        outcome_at=terminal.at if terminal else None,
        outcome_reason=_outcome_reason(terminal),
        outcome_override=bool(terminal and terminal.override),
        warm_on_arrival=_warm_on_arrival(state, times.get("pacu_arrival")),
        complications=tuple(
            (str(e.data.get("kind")), str(e.data.get("severity")))
            for e in state.step_entries("complication")
        ),
        leakage=tuple(
            (e.level or "", str(e.data.get("leakage", "none")), _text(e, "leakage_site"))
            for e in state.step_entries("cement_injected")
        ),
        overrides=tuple(
            (e.step, e.role, e.override_reason or "") for e in state.valid if e.override
        ),
        corrections=_corrections(state),
        alerts=dict(sorted(raised.items())),
        antithrombotic_resolution=(
            _antithrombotic(state, terminal) if raised["antithrombotic_not_held"] else None
        ),
        calls_tried=len(state.step_entries("follow_up_call")),
        first_reached_call_at=next(
            (e.at for e in state.step_entries("follow_up_call") if e.data.get("reached") is True),
            None,
        ),
        call_due_at=_call_due_at(pathway, state),
    )


def _call_due_at(pathway: Pathway, state: CaseState) -> datetime | None:
    """Due as the pathway's `call_missed` rule says: never a second copy of its hours."""
    for alert in pathway.alerts:
        if alert.rule == "call_missed":
            params: CallMissed = alert.bound_params
            home = state.step_entries(params.after_step)
            if home:
                return home[0].at + timedelta(hours=params.after_h)
    return None


def _last_moment(state: CaseState) -> datetime:
    """The latest time the events speak of: alerts are taken as they stand then."""
    moments = [e.at for e in state.valid] + [e.recorded_at for e in state.valid]
    if state.opened is not None:
        moments.append(state.opened.recorded_at)
    for event in state.history:
        if isinstance(event, EventAmended | EventVoided):
            moments.append(event.recorded_at)
    return max(moments)


def _first(state: CaseState, step: str) -> Entry | None:
    entries = state.step_entries(step)
    return entries[0] if entries else None


def _text(entry: Entry | None, name: str) -> str | None:
    if entry is None:
        return None
    value = entry.data.get(name)
    return None if value is None else str(value)


def _levels(state: CaseState, step: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for entry in state.step_entries(step):
        if entry.level:
            seen.setdefault(entry.level, None)
    return tuple(seen)


def _proceduralist(state: CaseState) -> str | None:
    """Who led the procedure: the author of the time-out, else of the first proceduralist
    entry in the room."""
    for step in ("time_out", "incision", "level_confirmed"):
        entry = _first(state, step)
        if entry is not None and entry.role == "proceduralist":
            return entry.actor
    return next((e.actor for e in state.valid if e.role == "proceduralist"), None)


def _outcome_reason(terminal: Entry | None) -> str | None:
    if terminal is None:
        return None
    reason = terminal.data.get("reason")
    destination = terminal.data.get("destination")
    if reason and destination:
        return f"{reason} (to {destination})"
    return None if reason is None else str(reason)


def _warm_on_arrival(state: CaseState, arrival: datetime | None) -> bool | None:
    if arrival is None:
        return None
    for entry in state.step_entries("pacu_vitals"):
        if arrival <= entry.at <= arrival + NORMOTHERMIA_WITHIN:
            temperature = entry.data.get("temperature_c")
            if isinstance(temperature, int | float):
                return float(temperature) >= NORMOTHERMIA_C
    return None


def _ready_at(pathway: Pathway, state: CaseState, terminal: Entry | None) -> datetime | None:
    """The first moment the discharge gate held: tried at each recovery entry's time and at
    each moment a timer in the gate can turn (its minutes after arrival), in time order."""
    arrival = state.step_entries("pacu_arrival")
    if not arrival or "discharged" not in {s.id for s in pathway.steps}:
        return None
    step = pathway.step("discharged")
    start = arrival[0].at
    until = terminal.at if terminal is not None else None
    moments = {e.at for e in state.valid if e.at >= start}
    for cond in step.gate:
        since = cond.minutes_since
        if since is not None and (refs := state.step_entries(since.step)):
            ref = refs[-1] if since.last else refs[0]
            moments.add(ref.at + timedelta(minutes=since.at_least))
    alerts_at = gate_alerts_at(pathway)
    for moment in sorted(moments):
        if until is not None and moment > until:
            break
        if not unmet(pathway, step, state, at=moment, level=None, alerts_at=alerts_at):
            return moment
    return None


def _corrections(state: CaseState) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    for event in state.history:
        if isinstance(event, EventAmended | EventVoided):
            target = state.entries.get(event.target_event_id)
            kind = "amended" if isinstance(event, EventAmended) else "voided"
            found.append((kind, target.step if target else ""))
    return tuple(found)


def _antithrombotic(state: CaseState, terminal: Entry | None) -> str:
    """How a blood thinner not held was settled: a physician went ahead (override at
    incision), the case was cancelled, a correction cleared it, or it is still open."""
    incision = _first(state, "incision")
    if incision is not None and incision.override:
        return "went ahead by override"
    if terminal is not None and terminal.step == "cancelled":
        return "cancelled"
    if incision is not None:
        return "cleared before incision"
    return "open"


# --- the stored form ----------------------------------------------------------------------


def to_json(facts: CaseFacts) -> str:
    """The row as stored: plain JSON, instants in ISO 8601 in UTC.

    UTC, because instants read back then share one tzinfo, and Python compares and
    subtracts such datetimes several times faster than ones with different offsets: a
    year's report does that millions of times. Local days are worked out where needed."""
    return json.dumps({"v": VERSION, **asdict(facts)}, default=_plain, separators=(",", ":"))


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__}")


def from_json(text: str) -> CaseFacts | None:
    """The row back; None when it was stored in another shape (it is rebuilt then)."""
    raw: dict[str, Any] = json.loads(text)
    if raw.pop("v", None) != VERSION:
        return None
    return CaseFacts(
        case_id=raw["case_id"],
        seq=raw["seq"],
        pathway_id=raw["pathway_id"],
        pathway_version=raw["pathway_version"],
        day=date.fromisoformat(raw["day"]),
        scheduled_start=datetime.fromisoformat(raw["scheduled_start"]),
        levels_planned=tuple(raw["levels_planned"]),
        levels_treated=tuple(raw["levels_treated"]),
        levels_abandoned=tuple(raw["levels_abandoned"]),
        proceduralist=raw["proceduralist"],
        anesthesia_type=raw["anesthesia_type"],
        antibiotic_drug=raw["antibiotic_drug"],
        times=_times(raw["times"]),
        ready_at=_at(raw["ready_at"]),
        outcome=raw["outcome"],
        outcome_at=_at(raw["outcome_at"]),
        outcome_reason=raw["outcome_reason"],
        outcome_override=raw["outcome_override"],
        warm_on_arrival=raw["warm_on_arrival"],
        complications=tuple((k, s) for k, s in raw["complications"]),
        leakage=tuple((lv, leak, site) for lv, leak, site in raw["leakage"]),
        overrides=tuple((st, role, why) for st, role, why in raw["overrides"]),
        corrections=tuple((kind, st) for kind, st in raw["corrections"]),
        alerts=dict(raw["alerts"]),
        antithrombotic_resolution=raw["antithrombotic_resolution"],
        calls_tried=raw["calls_tried"],
        first_reached_call_at=_at(raw["first_reached_call_at"]),
        call_due_at=_at(raw["call_due_at"]),
    )


def _times(raw: Mapping[str, str]) -> dict[str, datetime]:
    return {name: datetime.fromisoformat(at) for name, at in raw.items()}


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
