"""Decide whether a command is accepted: the events to append, or a refusal (engine room).

The order is the spec's: role (403) → invalid (422) → closed (409) → duplicate (409) →
gate (409); the first failure is the answer. Ids and the clock come in as arguments.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import date, datetime, timedelta

from daycase.engine.alerts import Alert, AlertsAt
from daycase.engine.commands import (
    AmendEvent,
    OpenCase,
    RecordStep,
    Refusal,
    RescheduleCase,
    VoidEvent,
)
from daycase.engine.evaluate import active_alerts_at
from daycase.engine.events import (
    CaseOpened,
    CaseRescheduled,
    EventAmended,
    EventVoided,
    Patient,
    StepRecorded,
)
from daycase.engine.fold import CaseState, Entry, amend_entry
from daycase.engine.gates import Unmet, terminal_entry, unmet, unmet_conditions
from daycase.engine.text import free_text_problem, identifier_problem
from daycase.engine.validate import has_control_chars, validate_step_data
from daycase.pathways.schema import Pathway, Step

# What the record holds as sex (the API offers the same choices).
SEXES = ("female", "male", "other", "unknown")


def decide_open(
    pathway: Pathway, cmd: OpenCase, *, case_id: str, event_id: str, now: datetime, family_code: str
) -> CaseOpened | Refusal:
    """Open a case: planned levels and the schedule must make sense."""
    if cmd.actor.role not in pathway.open_roles:
        return Refusal("role", (f"{_role_title(pathway, cmd.actor.role)} may not open cases",))
    problems: dict[str, str] = {}
    lv = pathway.levels
    if not lv.min_planned <= len(cmd.levels) <= lv.max_planned:
        problems["levels"] = f"must plan {lv.min_planned} to {lv.max_planned} levels"
    elif bad := [x for x in cmd.levels if x not in lv.allowed]:
        problems["levels"] = f"{', '.join(map(str, bad))}: not a vertebral level"
    elif len(set(cmd.levels)) != len(cmd.levels):
        problems["levels"] = "must not repeat a level"
    problems.update(_start_problems(pathway, cmd.scheduled_start, now))
    if not date(1900, 1, 1) <= cmd.birth_date <= now.date():
        problems["patient.birth_date"] = "must be a real birth date (1900 to today)"
    for name in ("mrn", "given_name", "family_name", "sex"):
        value = str(getattr(cmd, name))
        if not value.strip():
            problems[f"patient.{name}"] = "must not be empty"
        elif has_control_chars(value):
            problems[f"patient.{name}"] = "must not contain control characters"
        elif problem := identifier_problem(value):
            problems[f"patient.{name}"] = problem
    if "patient.sex" not in problems and cmd.sex not in SEXES:
        problems["patient.sex"] = f"must be one of {', '.join(SEXES)}"
    if problems:
        return Refusal.of_fields(problems)
    return CaseOpened(
        event_id=event_id,
        case_id=case_id,
        seq=1,
        recorded_at=now,
        actor=cmd.actor.name,
        role=cmd.actor.role,
        pathway_id=pathway.id,
        pathway_version=pathway.version,
        pathway_digest=pathway.digest,
        patient=Patient(
            mrn=cmd.mrn.strip(),
            given_name=cmd.given_name.strip(),
            family_name=cmd.family_name.strip(),
            birth_date=cmd.birth_date,
            sex=cmd.sex.strip(),
        ),
        levels=tuple(cmd.levels),
        scheduled_start=cmd.scheduled_start,
        family_code=family_code,
    )


def _start_problems(pathway: Pathway, start: datetime, now: datetime) -> dict[str, str]:
    """A booked start: with its timezone, within the days the pathway lets a booking reach."""
    window = pathway.clinical_time
    if start.tzinfo is None or start.utcoffset() is None:
        return {"scheduled_start": "must carry a timezone"}
    if start < now - timedelta(days=window.schedule_past_days):
        return {"scheduled_start": f"is more than {window.schedule_past_days:g} days ago"}
    if start > now + timedelta(days=window.schedule_future_days):
        return {"scheduled_start": f"is more than {window.schedule_future_days:g} days ahead"}
    return {}


def decide_reschedule(
    pathway: Pathway, state: CaseState, cmd: RescheduleCase, *, event_id: str, now: datetime
) -> CaseRescheduled | Refusal:
    """Move a booking to another start, while nothing has been recorded for the case.

    Who may book a case may move it. Once a step is in force (check-in, a cancellation)
    the day has begun for the patient: a late start is then a delay on the schedule, and
    a case for another day is cancelled and booked again, so no entry ever sits before
    the start it was checked against."""
    if cmd.actor.role not in pathway.open_roles:
        return Refusal("role", (f"{_role_title(pathway, cmd.actor.role)} may not move bookings",))
    problems = _start_problems(pathway, cmd.scheduled_start, now)
    if not isinstance(cmd.reason, str) or not cmd.reason.strip():
        problems["reason"] = "is required"
    else:
        problems.update(_reason_problems(cmd.reason, "reason"))
    if problems:
        return Refusal.of_fields(problems)
    assert state.opened is not None
    if state.valid:
        first = state.valid[0]
        return Refusal(
            "closed",
            (
                f"The case has begun ({pathway.step(first.step).title} at {first.at:%H:%M}); "
                "a booking moves only before anything is recorded. Add a delay on the "
                "schedule, or cancel the case and book it again",
            ),
        )
    if cmd.scheduled_start == state.opened.scheduled_start:
        return Refusal(
            "duplicate",
            (f"The case is already booked for {cmd.scheduled_start.isoformat()}",),
        )
    return CaseRescheduled(
        event_id=event_id,
        case_id=state.case_id,
        seq=state.last_seq + 1,
        recorded_at=now,
        actor=cmd.actor.name,
        role=cmd.actor.role,
        scheduled_start=cmd.scheduled_start,
        reason=cmd.reason.strip(),
    )


def decide_record(
    pathway: Pathway, state: CaseState, cmd: RecordStep, *, event_id: str, now: datetime
) -> StepRecorded | Refusal:
    """Check a clinical entry and build its event."""
    if not pathway.has_step(cmd.step):
        return Refusal("invalid", (f"Unknown step {cmd.step!r}",), {"step": "unknown step"})
    step = pathway.step(cmd.step)
    role = cmd.actor.role
    reason = cmd.override_reason.strip() if isinstance(cmd.override_reason, str) else None
    can_override = bool(reason) and role in pathway.override_roles
    raw_level = cmd.data.get("level") if isinstance(cmd.data, dict) else None
    level = raw_level if isinstance(raw_level, str) else None
    at_ok = cmd.at.tzinfo is not None
    alerts_at = gate_alerts_at(pathway)

    role_listed = role in step.roles and not _role_expired(step, state, role)
    if not role_listed and not can_override:
        return Refusal("role", (f"{_role_title(pathway, role)} may not record {step.title}",))
    if reason and not can_override and at_ok:
        blocked = unmet(pathway, step, state, at=cmd.at, level=level, alerts_at=alerts_at)
        if blocked:
            return Refusal("role", (_override_roles_message(pathway), *blocked))

    problems = _time_problems(pathway, state, cmd.at, recorded_at=now, field="at")
    if not problems:
        problems.update(_window_after(pathway, step, state, cmd.at))
    clean, field_problems = validate_step_data(
        pathway, step, cmd.data, state=state, at=cmd.at if at_ok else None
    )
    problems.update(field_problems)
    problems.update(_reason_problems(cmd.override_reason, "override_reason"))
    if problems:
        return Refusal.of_fields(problems)
    clean_level = clean.get("level") if step.when == "per_level" else None
    level = clean_level if isinstance(clean_level, str) else None

    closed = terminal_entry(pathway, state)
    if closed is not None and not step.aftercare:
        return Refusal("closed", (_closed_message(pathway, closed),))
    duplicate = _duplicate(pathway, step, state, level=level)
    if duplicate:
        return Refusal("duplicate", (duplicate,))
    blocked_by = unmet_conditions(pathway, step, state, at=cmd.at, level=level, alerts_at=alerts_at)
    if blocked_by and (not can_override or any(not u.overridable for u in blocked_by)):
        return Refusal("gate", tuple(u.message for u in blocked_by))
    return StepRecorded(
        event_id=event_id,
        case_id=state.case_id,
        seq=state.last_seq + 1,
        recorded_at=now,
        actor=cmd.actor.name,
        role=role,
        step=step.id,
        at=cmd.at,
        data=clean,
        level=level,
        override=can_override and (bool(blocked_by) or not role_listed),
        override_reason=reason or None,
    )


def decide_amend(
    pathway: Pathway, state: CaseState, cmd: AmendEvent, *, event_id: str, now: datetime
) -> EventAmended | Refusal:
    """Check a correction of an earlier entry: the same validation as a new entry.

    In 2.0 (`amendments_check_gates`) a correction that moves the entry's clinical time is
    also checked against its step's gate at the corrected time, the entry itself left out,
    as a new entry would be; a physician's `override_reason` lifts it and is recorded.
    """
    target, refusal = _target(pathway, state, cmd.target_event_id, cmd.actor.role, cmd.reason)
    if refusal is not None:
        return refusal
    assert target is not None
    step = pathway.step(target.step)
    reason = cmd.override_reason.strip() if isinstance(cmd.override_reason, str) else None
    can_override = bool(reason) and cmd.actor.role in pathway.override_roles
    moves = (
        pathway.amendments_check_gates
        and cmd.at is not None
        and cmd.at.tzinfo is not None
        and cmd.at != target.at
    )
    patch = dict(cmd.data) if isinstance(cmd.data, dict) else {}
    merged = dict(target.data)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    raw_level = merged.get("level") if step.when == "per_level" else None
    level = raw_level if isinstance(raw_level, str) else target.level
    alerts_at = gate_alerts_at(pathway)

    def blocked() -> list[Unmet]:
        """The step's gate at the corrected time, over the others: the entry left out."""
        assert cmd.at is not None
        others = state.without(target.event_id)
        return unmet_conditions(pathway, step, others, at=cmd.at, level=level, alerts_at=alerts_at)

    if moves and reason and not can_override and (gate := blocked()):
        return Refusal("role", (_override_roles_message(pathway), *(u.message for u in gate)))

    problems: dict[str, str] = {}
    if cmd.at is None and not cmd.data:
        problems["data"] = "give corrected data, a corrected time, or both"
    if cmd.data is not None and not isinstance(cmd.data, dict):
        problems["data"] = "must be an object"
    problems.update(_reason_problems(cmd.override_reason, "override_reason"))
    if cmd.at is not None:
        problems.update(
            _time_problems(pathway, state, cmd.at, recorded_at=target.recorded_at, field="at")
        )
        if not problems and moves:
            problems.update(_window_after(pathway, step, state.without(target.event_id), cmd.at))
    if problems:
        return Refusal.of_fields(problems)
    corrected_at = cmd.at or target.at
    clean, field_problems = validate_step_data(
        pathway, step, merged, state=state, at=corrected_at, ignore=target.event_id
    )
    if field_problems:
        return Refusal.of_fields(field_problems)
    clean_patch = {k: (clean.get(k) if v is not None else None) for k, v in patch.items()}
    amendment = EventAmended(
        event_id=event_id,
        case_id=state.case_id,
        seq=state.last_seq + 1,
        recorded_at=now,
        actor=cmd.actor.name,
        role=cmd.actor.role,
        target_event_id=target.event_id,
        reason=cmd.reason.strip(),
        at=cmd.at,
        data=clean_patch if cmd.data is not None else None,
        override_reason=reason or None,
    )
    corrected = amend_entry(target, amendment)
    if step.when == "per_level" and corrected.level != target.level:
        duplicate = _duplicate(pathway, step, state, level=corrected.level, ignore=target.event_id)
        if duplicate:
            return Refusal("duplicate", (duplicate,))
    if moves:
        gate = blocked()
        if gate and (not can_override or any(not u.overridable for u in gate)):
            return Refusal("gate", tuple(u.message for u in gate))
        if gate:
            amendment = replace(amendment, override=True)
    return amendment


def decide_void(
    pathway: Pathway, state: CaseState, cmd: VoidEvent, *, event_id: str, now: datetime
) -> EventVoided | Refusal:
    """Check the withdrawal of an earlier entry."""
    target, refusal = _target(pathway, state, cmd.target_event_id, cmd.actor.role, cmd.reason)
    if refusal is not None:
        return refusal
    assert target is not None
    return EventVoided(
        event_id=event_id,
        case_id=state.case_id,
        seq=state.last_seq + 1,
        recorded_at=now,
        actor=cmd.actor.name,
        role=cmd.actor.role,
        target_event_id=target.event_id,
        reason=cmd.reason.strip(),
    )


def _target(
    pathway: Pathway, state: CaseState, target_id: str, role: str, reason: object
) -> tuple[Entry | None, Refusal | None]:
    target = state.entries.get(target_id)
    if target is None:
        return None, Refusal(
            "invalid", (f"No recorded step with id {target_id}",), {"target": "unknown"}
        )
    if role != target.role and role not in pathway.correction_roles:
        return None, Refusal(
            "role",
            (f"Only a {target.role}, anaesthesia or proceduralist user may correct this entry",),
        )
    if target_id in state.voided:
        return None, Refusal("invalid", ("This entry was already voided",), {"target": "voided"})
    if not isinstance(reason, str) or not reason.strip():
        return None, Refusal.of_fields({"reason": "is required"})
    if problems := _reason_problems(reason, "reason"):
        return None, Refusal.of_fields(problems)
    return target, None


def _reason_problems(reason: object, name: str) -> dict[str, str]:
    """A reason is free text: no control characters (line breaks aside), and no character
    that reorders what staff read (see `daycase.engine.text`)."""
    if reason is None:
        return {}
    if not isinstance(reason, str):
        return {name: "must be text"}
    if has_control_chars(reason, allow_breaks=True):
        return {name: "must not contain control characters"}
    problem = free_text_problem(reason)
    return {name: problem} if problem else {}


def gate_alerts_at(pathway: Pathway) -> AlertsAt:
    """What gates asking for "no active alert" read: the alerts active at a clinical time.

    For one decision: the state does not change meanwhile, so every alert worked out once
    (a discharge gate asks by severity, then by code) answers the later questions too.
    """
    # Keyed by identity; the state is kept with its answer so its id cannot be reused.
    every: dict[tuple[int, datetime], tuple[CaseState, list[Alert]]] = {}

    def alerts_at(
        state: CaseState, at: datetime, codes: Collection[str] | None = None, /
    ) -> list[Alert]:
        known = every.get((id(state), at))
        if known is not None and known[0] is state:
            return known[1] if codes is None else [a for a in known[1] if a.code in codes]
        found = active_alerts_at(pathway, state, at, codes)
        if codes is None:
            every[(id(state), at)] = (state, found)
        return found

    return alerts_at


def _override_roles_message(pathway: Pathway) -> str:
    titles = [t.lower() for t in _role_titles(pathway, pathway.override_roles)]
    return f"Only {' or '.join(titles)} staff may override a gate"


def _role_titles(pathway: Pathway, roles: list[str]) -> list[str]:
    titles = {r.id: r.title for r in pathway.roles}
    return [titles.get(r, r) for r in roles]


def _window_after(pathway: Pathway, step: Step, state: CaseState, at: datetime) -> dict[str, str]:
    """An aftercare entry must fall within its window after the step it follows."""
    window = step.at_within
    if window is None:
        return {}
    after = state.latest(window.after_step)
    if after is None or at <= after.at + timedelta(days=window.max_days):
        return {}
    title = pathway.step(window.after_step).title
    return {"at": f"is more than {window.max_days:g} days after {title}"}


def _role_expired(step: Step, state: CaseState, role: str) -> bool:
    """A role limited "until" a step loses the step once that step exists, whatever its `at`."""
    until = step.role_until.get(role)
    return bool(until and state.step_entries(until))


def _role_title(pathway: Pathway, role: str) -> str:
    titles = {r.id: r.title for r in pathway.roles}
    title = titles.get(role, role)
    return f"{'An' if title[:1].lower() in 'aeiou' else 'A'} {title} user"


def _time_problems(
    pathway: Pathway, state: CaseState, at: datetime, *, recorded_at: datetime, field: str
) -> dict[str, str]:
    if at.tzinfo is None or at.utcoffset() is None:
        return {field: "must carry a timezone"}
    window = pathway.clinical_time
    if at > recorded_at + timedelta(minutes=window.max_after_recorded_min):
        return {field: f"is more than {window.max_after_recorded_min:g} min in the future"}
    if state.opened and at < state.opened.scheduled_start - timedelta(
        minutes=window.max_before_scheduled_min
    ):
        hours = window.max_before_scheduled_min / 60
        return {field: f"is more than {hours:g} h before the scheduled start"}
    return {}


def _closed_message(pathway: Pathway, entry: Entry) -> str:
    return (
        f"The case is closed ({pathway.step(entry.step).title} at {entry.at:%H:%M}); "
        "only amendments and voids are possible"
    )


def _duplicate(
    pathway: Pathway, step: Step, state: CaseState, *, level: str | None, ignore: str | None = None
) -> str | None:
    existing = [e for e in state.step_entries(step.id) if e.event_id != ignore]
    if step.when == "once" and existing:
        return f"{step.title} is already recorded (at {existing[0].at:%H:%M}); amend it instead"
    if step.when != "per_level" or level is None:
        return None
    abandon = pathway.levels.abandon_step
    if abandon and step.id != abandon and level in state.levels_with(abandon):
        return f"Level {level} was abandoned; {step.title} cannot be recorded for it"
    if any(e.level == level for e in existing):
        return f"{step.title} is already recorded for {level}; amend it instead"
    return None
