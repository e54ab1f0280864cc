"""The four generic event types of a case (engine room).

Steps are not classes: every clinical entry is a `StepRecorded` naming a pathway step id.
Corrections are events too (`EventAmended`, `EventVoided`); nothing is ever overwritten,
and a booking moved in time is `CaseRescheduled`, beside the opening it moves.
Ids, `seq` and `recorded_at` are given by the caller, never made here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from daycase.types import JSONObject


@dataclass(frozen=True, slots=True, kw_only=True)
class Patient:
    """Who the case is for. Only staff views and FHIR export ever see these fields."""

    mrn: str
    given_name: str
    family_name: str
    birth_date: date
    sex: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseOpened:
    """The first event of every case (seq 1)."""

    event_id: str
    case_id: str
    seq: int
    recorded_at: datetime
    actor: str
    role: str
    pathway_id: str
    pathway_version: str
    # SHA-256 of the pathway version's canonical definition: the case is judged by exactly
    # that definition for ever, and a case whose definition is missing or differs is an
    # error, never a silent re-judgement.
    pathway_digest: str
    patient: Patient
    levels: tuple[str, ...]
    scheduled_start: datetime
    family_code: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecorded:
    """One clinical entry: a pathway step that happened at clinical time `at`.

    `override` is true when an anaesthesia or proceduralist user lifted a gate or a role
    list with `override_reason`; when nothing needed lifting the reason is kept as a note.
    """

    event_id: str
    case_id: str
    seq: int
    recorded_at: datetime
    actor: str
    role: str
    step: str
    at: datetime
    data: JSONObject = field(default_factory=dict)
    level: str | None = None
    override: bool = False
    override_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventAmended:
    """Corrects an earlier `StepRecorded`: a new `at` and/or fields merged over its data.

    In `data`, a `None` value removes an optional field. `override` is true when a moved
    `at` did not meet the step's gate and a physician lifted it with `override_reason`.
    """

    event_id: str
    case_id: str
    seq: int
    recorded_at: datetime
    actor: str
    role: str
    target_event_id: str
    reason: str
    at: datetime | None = None
    data: JSONObject | None = None
    override: bool = False
    override_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventVoided:
    """Withdraws an earlier `StepRecorded`; the fold then ignores it."""

    event_id: str
    case_id: str
    seq: int
    recorded_at: datetime
    actor: str
    role: str
    target_event_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseRescheduled:
    """Moves a booked case to another start (another hour or another day) before anything
    has been recorded for it. The opening keeps the first booking; the fold reads this."""

    event_id: str
    case_id: str
    seq: int
    recorded_at: datetime
    actor: str
    role: str
    scheduled_start: datetime
    reason: str


Event = CaseOpened | StepRecorded | EventAmended | EventVoided | CaseRescheduled
