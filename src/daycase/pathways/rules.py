"""Parameter shapes of the alert rules a pathway file may name (pathways room, pure data).

The engine's rule registry implements one function per id here; a test keeps the two in
step. Validating parameters at load time means a typo in a centre's file fails on
`daycase pathway validate`, not during a case.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator

from daycase.types import JSONScalar


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Check(Params):
    """A comparison of one field against one value; the label says it to a nurse."""

    field: str
    label: str
    lt: float | None = None
    le: float | None = None
    gt: float | None = None
    ge: float | None = None
    eq: JSONScalar = None
    severity: str | None = None

    @model_validator(mode="after")
    def _one_comparison(self) -> Check:
        ops = [o for o in ("lt", "le", "gt", "ge", "eq") if getattr(self, o) is not None]
        if len(ops) != 1:
            raise ValueError("a check needs exactly one of lt, le, gt, ge, eq")
        if self.severity not in (None, "info", "warning", "critical"):
            raise ValueError("severity must be info, warning or critical")
        return self


class StepChecks(Params):
    steps: list[str]
    checks: list[Check]


class AntibioticTiming(Params):
    antibiotic_step: str
    drug_field: str
    max_min: float
    extended_max_min: float
    extended_drugs: list[str]


class AllergyMatch(Params):
    drug_field: str
    allergy_step: str
    allergy_field: str


class FastingLimit(Params):
    field: str
    at_least_min: float
    label: str


class Fasting(Params):
    source_step: str
    limits: list[FastingLimit]


class DropFromBaseline(Params):
    baseline_step: str
    field: str
    more_than_pct: float


class OverdueRepeat(Params):
    since_step: str
    first_window_min: float
    early_every_min: float
    late_every_min: float


class LevelNotPlanned(Params):
    steps: list[str]
    list_step: str | None = None
    list_field: str | None = None


class WorseThanBaseline(Params):
    baseline_step: str
    fields: dict[str, dict[str, list[str]]]
    complication_step: str | None = None
    complication_field: str | None = None
    complication_value: str | None = None


class Overrun(Params):
    start_step: str
    end_step: str
    base_min: float
    per_extra_level_min: float
    grace_min: float


class ScoreLowAfter(Params):
    since_step: str
    after_min: float
    below: int


class LateEntry(Params):
    more_than_min: float


RULE_PARAMS: dict[str, type[Params]] = {
    "latest_check": StepChecks,
    "each_event_check": StepChecks,
    "antibiotic_timing": AntibioticTiming,
    "allergy_match": AllergyMatch,
    "fasting": Fasting,
    "drop_from_baseline": DropFromBaseline,
    "overdue_repeat": OverdueRepeat,
    "level_not_planned": LevelNotPlanned,
    "worse_than_baseline": WorseThanBaseline,
    "overrun": Overrun,
    "score_low_after": ScoreLowAfter,
    "late_entry": LateEntry,
}


def step_refs(params: Params) -> list[tuple[str, str]]:
    """(key, step id) pairs a rule's parameters mention, so the loader can check them."""
    refs: list[tuple[str, str]] = []
    for key, value in params:
        if key.endswith("step") and isinstance(value, str):
            refs.append((key, value))
        elif key == "steps" and isinstance(value, list):
            refs.extend((f"steps[{i}]", v) for i, v in enumerate(value))
    return refs
