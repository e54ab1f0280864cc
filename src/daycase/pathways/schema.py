"""The pathway file schema (pathways room, pure data).

A pathway file declares roles, phases, steps with typed fields, gates and alert rules in a
small closed vocabulary that the engine interprets. Every model forbids unknown keys so a
typo in a centre's file is an error with a key path, never a silently ignored rule.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from daycase.types import JSONScalar

FieldType = Literal["bool", "int", "number", "text", "time", "enum", "level", "levels", "list"]
Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(Model):
    """One data field of a step. `optional` fields may be left out (`?` in the spec)."""

    type: FieldType
    label: str | None = None
    optional: bool = False
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    values: list[str] | None = None
    must_be: bool | None = None
    less_than_field: str | None = None
    items: FieldSpec | None = None
    fields: dict[str, FieldSpec] | None = None

    @model_validator(mode="after")
    def _shape(self) -> FieldSpec:
        if self.type == "enum" and not self.values:
            raise ValueError("an enum field needs `values`")
        if self.type == "list" and (self.items is None) == (self.fields is None):
            raise ValueError("a list field needs exactly one of `items` or `fields`")
        if self.must_be is not None and self.type != "bool":
            raise ValueError("`must_be` applies to bool fields only")
        if (self.min is not None or self.max is not None) and self.type not in ("int", "number"):
            raise ValueError("`min`/`max` apply to int and number fields only")
        return self


class StepFieldRef(Model):
    step: str
    name: str
    eq: JSONScalar = None


class TotalAtLeast(Model):
    step: str
    at_least: int


class MinutesSince(Model):
    step: str
    at_least: float
    last: bool = False
    skip_if_none: bool = False


class Condition(Model):
    """One gate condition: exactly one of the vocabulary keys, plus an optional message."""

    done: list[str] | None = None
    not_done: list[str] | None = None
    level_done: str | None = None
    all_levels_done: str | None = None
    field: StepFieldRef | None = None
    none_matching: StepFieldRef | None = None
    latest_total_at_least: TotalAtLeast | None = None
    minutes_since: MinutesSince | None = None
    message: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        kinds = [k for k in _CONDITION_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a condition needs exactly one of {', '.join(_CONDITION_KINDS)}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in _CONDITION_KINDS if getattr(self, k) is not None)


_CONDITION_KINDS = (
    "done",
    "not_done",
    "level_done",
    "all_levels_done",
    "field",
    "none_matching",
    "latest_total_at_least",
    "minutes_since",
)


class Validation(Model):
    """A cross-field or cross-step data rule: a 422 when broken, never a gate."""

    rule: Literal["required_if_differs", "true_unless_none"]
    field: str
    compare_field: str | None = None
    with_step: str
    with_field: str | None = None
    message: str

    @model_validator(mode="after")
    def _shape(self) -> Validation:
        if self.rule == "required_if_differs" and (not self.compare_field or not self.with_field):
            raise ValueError("required_if_differs needs `compare_field` and `with_field`")
        return self


class PatientText(Model):
    """Plain-language text for the patient view: what happens now, and why."""

    now: str
    why: str


class Step(Model):
    id: str
    title: str
    phase: str
    roles: list[str]
    when: Literal["once", "repeat", "per_level"]
    need: Literal["required", "optional", "terminal"]
    level_policy: Literal["planned", "any"] = "planned"
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    validations: list[Validation] = Field(default_factory=list)
    gate: list[Condition] = Field(default_factory=list)
    role_until: dict[str, str] = Field(default_factory=dict)
    done_label: str | None = None
    patient: PatientText


class FamilyStatus(Model):
    word: str
    colour: str


class Phase(Model):
    id: str
    title: str
    opened_by: list[str] = Field(default_factory=list)
    terminal: bool = False
    family: FamilyStatus
    patient: str


class Role(Model):
    id: str
    title: str
    clinical: bool = True


class AlertRule(Model):
    """An alert code: its rule id (from the engine's registry), numbers and message."""

    code: str
    severity: Severity
    step: str
    rule: str
    message: str
    params: dict[str, Any] = Field(default_factory=dict)
    per_event: bool = False
    doc: str


class DischargeSheet(Model):
    """The printed sheet a patient takes home: plain words, reading grade 8 or lower."""

    title: str
    ride_home: str
    wound_care: str
    activity: str
    call_if: list[str]
    emergency_if: list[str]
    medicines_reviewed: str
    medicines_not_reviewed: str
    therapy_referred: str
    therapy_not_needed: str
    follow_up: str
    no_follow_up: str


class Levels(Model):
    """Vertebral levels: which exist, how many a case plans, which step abandons one."""

    allowed: list[str]
    abandon_step: str | None = None
    min_planned: int = 1
    max_planned: int = 6


class ClinicalTime(Model):
    """How far clinical time `at` may stray from the server's clock and the schedule."""

    max_after_recorded_min: float = 5
    max_before_scheduled_min: float = 24 * 60
    schedule_past_days: float = 30
    schedule_future_days: float = 730


class Family(Model):
    running_long_note: str
    code_alphabet: str
    code_length: int = 6


class Pathway(Model):
    """A whole pathway. Lookups by id are built once after validation."""

    id: str
    version: str
    title: str
    levels: Levels
    clinical_time: ClinicalTime = ClinicalTime()
    open_roles: list[str]
    override_roles: list[str]
    correction_roles: list[str]
    roles: list[Role]
    phases: list[Phase]
    steps: list[Step]
    alerts: list[AlertRule]
    family: Family
    discharge_sheet: DischargeSheet | None = None

    # Indexes built once on first use; cached properties live in the instance's own
    # __dict__, which is much cheaper to read on the hot path than private attributes.
    @cached_property
    def _steps(self) -> dict[str, Step]:
        return {s.id: s for s in self.steps}

    @cached_property
    def _phases(self) -> dict[str, Phase]:
        return {p.id: p for p in self.phases}

    @cached_property
    def _alerts(self) -> dict[str, AlertRule]:
        return {a.code: a for a in self.alerts}

    @cached_property
    def _milestones(self) -> dict[str, int]:
        return {step: rank for rank, phase in enumerate(self.phases) for step in phase.opened_by}

    def step(self, step_id: str) -> Step:
        return self._steps[step_id]

    def has_step(self, step_id: str) -> bool:
        return step_id in self._steps

    def phase(self, phase_id: str) -> Phase:
        return self._phases[phase_id]

    def alert(self, code: str) -> AlertRule:
        return self._alerts[code]

    def has_alert(self, code: str) -> bool:
        return code in self._alerts

    def milestone_rank(self, step_id: str) -> int | None:
        """Index of the phase this step opens, or None when it opens no phase."""
        return self._milestones.get(step_id)

    @cached_property
    def role_ids(self) -> set[str]:
        return {r.id for r in self.roles}

    @cached_property
    def terminal_steps(self) -> list[Step]:
        return [s for s in self.steps if s.need == "terminal"]
