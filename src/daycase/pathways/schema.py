"""The pathway file schema (pathways room, pure data).

A pathway file declares roles, phases, steps with typed fields, gates and alert rules in a
small closed vocabulary that the engine interprets. Every model forbids unknown keys so a
typo in a centre's file is an error with a key path, never a silently ignored rule.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from daycase.types import JSONScalar

FieldType = Literal["bool", "int", "number", "text", "time", "enum", "level", "levels", "list"]
Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


class Model(BaseModel):
    # A number of NaN or infinity in a pathway file (a field's range, a timer) is refused.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    # An enum whose values are the ids of a table of the file (`antithrombotics`).
    values_from: Literal["antithrombotics"] | None = None
    # A time that may not be later than the entry's own clinical time (a last dose).
    not_after_entry: bool = False

    @model_validator(mode="after")
    def _shape(self) -> FieldSpec:
        if self.type == "enum" and not self.values and not self.values_from:
            raise ValueError("an enum field needs `values` or `values_from`")
        if self.values_from and self.type != "enum":
            raise ValueError("`values_from` applies to enum fields only")
        if self.not_after_entry and self.type != "time":
            raise ValueError("`not_after_entry` applies to time fields only")
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


class NoActiveAlert(Model):
    """No alert of these codes, or of this severity or worse, is active at the entry's time."""

    codes: list[str] | None = None
    severity: Severity | None = None

    @model_validator(mode="after")
    def _one(self) -> NoActiveAlert:
        if (self.codes is None) == (self.severity is None):
            raise ValueError("no_active_alert needs exactly one of `codes` or `severity`")
        return self


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
    no_active_alert: NoActiveAlert | None = None
    message: str | None = None
    # A condition no override lifts (a next-day call needs a patient who went home).
    overridable: bool = True

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
    "no_active_alert",
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


class ConditionalFields(Model):
    """Fields required when another field of the step has one of some values, else absent.

    The fields are `optional` in the step's field list; this rule says when. `leakage_site`
    when leakage is minor or major; the answers of a call when the patient was reached.
    """

    when: str
    in_: list[JSONScalar] = Field(alias="in")
    fields: list[str]


class AtWithin(Model):
    """The entry's clinical time must fall within some days after another step's."""

    after_step: str
    max_days: float


class PatientText(Model):
    """Plain-language text for the patient view: what happens now, and why.

    `title` is what a patient reads instead of the staff title; a `hidden` step never
    appears on a patient's screen at all (staff explain it in person).
    """

    now: str
    why: str
    title: str | None = None
    hidden: bool = False


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
    conditional_fields: list[ConditionalFields] = Field(default_factory=list)
    at_within: AtWithin | None = None
    # An aftercare step (the next-day call) is recorded after the case closed: it skips
    # the closed check, opens no phase, and its own gate decides.
    aftercare: bool = False
    patient: PatientText


class FamilyStatus(Model):
    word: str
    colour: str


class Phase(Model):
    id: str
    title: str
    opened_by: list[str] = Field(default_factory=list)
    terminal: bool = False
    # Where aftercare steps are listed; never the case's phase.
    aftercare: bool = False
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
    title: str | None = None
    # Active only until the first entry of this step (pre-procedure safety alerts end at
    # the incision: the decision to start is their resolution).
    ends_at: str | None = None
    # Exists only after the case closed (the next-day call): not cut at the terminal step.
    aftercare: bool = False
    _bound: Any = PrivateAttr(default=None)

    @property
    def bound_params(self) -> Any:
        """The parameters as the rule's own typed shape, bound by the loader."""
        bound = self._bound
        if bound is None:
            raise RuntimeError(
                f"alert {self.code}: parameters not bound; load pathways with daycase.engine.load"
            )
        return bound

    def bind(self, params: Any) -> None:
        self._bound = params


class DischargeSheet(Model):
    """The printed sheet a patient takes home: plain words, reading grade 8 or lower.

    Lines marked optional are 2.0's: each is printed only when the record (or the pathway)
    supports it, so the sheet never says more than the record shows. `{…}` fields are
    filled from the record (`{drug}`, `{when}`) or the centre's settings.
    """

    title: str
    ride_home: str
    wound_care: str
    activity: str
    call_if: list[str]
    emergency_if: list[str]
    medicines_reviewed: str
    medicines_not_reviewed: str
    therapy_referred: str
    therapy_not_needed: str | None = None
    follow_up: str
    no_follow_up: str | None = None
    # 2.0 lines, from the record: dressing_applied.sutures, the blood thinners of the
    # medication review and the consult's restart date, the call step of the pathway.
    no_driving: str | None = None
    no_alcohol: str | None = None
    stitches: str | None = None
    no_stitches: str | None = None
    pain_medicine: str | None = None
    blood_thinner_restart: str | None = None
    blood_thinner_ask: str | None = None
    call_centre: str | None = None
    nurse_will_call: str | None = None
    medicines_step: str = "medication_review"
    consult_step: str = "discharge_consult"
    dressing_step: str = "dressing_applied"
    transport_step: str = "transport_confirmed"
    call_step: str | None = None


class DrugHold(Model):
    """A blood thinner and how long before the scheduled start its last dose must be.

    `hold_h` null means no hold time is known (`other`): it always needs the plan confirmed.
    """

    id: str
    title: str | None = None
    hold_h: float | None


class DrugClass(Model):
    id: str
    names: list[str]


class Material(Model):
    id: str
    title: str
    names: list[str]


class Medicines(Model):
    """Tables a centre may edit: blood-thinner holds, antibiotic classes, procedure materials."""

    antithrombotics: list[DrugHold] = Field(default_factory=list)
    drug_classes: list[DrugClass] = Field(default_factory=list)
    materials: list[Material] = Field(default_factory=list)

    @cached_property
    def names(self) -> frozenset[str]:
        """Every name of the class and material tables (short ones match as whole words)."""
        return frozenset(
            n.strip().lower()
            for names in [c.names for c in self.drug_classes] + [m.names for m in self.materials]
            for n in names
        )

    @cached_property
    def holds(self) -> dict[str, DrugHold]:
        return {d.id: d for d in self.antithrombotics}


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
    medicines: Medicines = Medicines()
    # 2.0 behaviours; each defaults to how 1.0 works so 1.0 cases are judged as before.
    phases_in_order: bool = False
    alert_severity: Literal["current", "highest"] = "current"
    amendments_check_gates: bool = False
    _digest: str = PrivateAttr(default="")

    @property
    def digest(self) -> str:
        """SHA-256 of the file's canonical definition, set by the loader."""
        return self._digest

    def set_digest(self, digest: str) -> None:
        self._digest = digest

    @property
    def ref(self) -> str:
        """`id@version`, how commands and messages name a pathway version."""
        return f"{self.id}@{self.version}"

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

    def enum_values(self, spec: FieldSpec) -> list[str]:
        """An enum field's values, from the field or from the table it names."""
        if spec.values_from == "antithrombotics":
            return [d.id for d in self.medicines.antithrombotics]
        return list(spec.values or [])
