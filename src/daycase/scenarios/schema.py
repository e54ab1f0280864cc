"""The scenario file format (scenario room); see docs/scenarios.md.

Unknown keys, times without a timezone and actions that are not exactly one of record,
amend, void or expect are file errors (exit 2), reported with the action index.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

RefusalName = Literal["gate", "role", "invalid", "duplicate", "closed"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PatientSpec(Strict):
    mrn: str
    given_name: str
    family_name: str
    birth_date: date
    sex: str


class CaseSpec(Strict):
    patient: PatientSpec
    levels: list[str]
    scheduled_start: AwareDatetime


class Expect(Strict):
    phase: str | None = None
    alerts: list[str] = Field(default_factory=list)
    no_alerts: list[str] = Field(default_factory=list)
    done: list[str] = Field(default_factory=list)
    due: list[str] = Field(default_factory=list)
    blocked: list[str] = Field(default_factory=list)
    overdue: list[str] = Field(default_factory=list)
    not_needed: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    family_status: str | None = None

    def statuses(self) -> dict[str, list[str]]:
        return {
            "done": self.done,
            "due": self.due,
            "blocked": self.blocked,
            "overdue": self.overdue,
            "not_needed": self.not_needed,
            "skipped": self.skipped,
        }


class Action(Strict):
    at: AwareDatetime
    as_: str | None = Field(default=None, alias="as")
    record: str | None = None
    data: dict[str, Any] | None = None
    occurred_at: AwareDatetime | None = None
    override_reason: str | None = None
    amend: int | None = None
    corrected_at: AwareDatetime | None = None
    void: int | None = None
    reason: str | None = None
    expect: Expect | None = None
    expect_refused: RefusalName | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Action:
        kinds = [k for k in ("record", "amend", "void", "expect") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("an action needs exactly one of record, amend, void or expect")
        kind = kinds[0]
        allowed = {
            "record": {"data", "occurred_at", "override_reason", "expect_refused", "as_"},
            "amend": {"data", "corrected_at", "reason", "override_reason", "expect_refused", "as_"},
            "void": {"reason", "expect_refused", "as_"},
            "expect": set(),
        }[kind]
        extras = [
            name
            for name in (
                "data",
                "occurred_at",
                "override_reason",
                "corrected_at",
                "reason",
                "expect_refused",
                "as_",
            )
            if getattr(self, name) is not None and name not in allowed
        ]
        if extras:
            shown = ", ".join("as" if e == "as_" else e for e in extras)
            raise ValueError(f"{shown} cannot go with {kind}")
        if kind != "expect" and self.as_ is None:
            raise ValueError(f"{kind} needs `as` (the role of the acting user)")
        if kind in ("amend", "void") and self.reason is None:
            raise ValueError(f"{kind} needs a `reason`")
        return self

    @property
    def kind(self) -> str:
        return next(
            k for k in ("record", "amend", "void", "expect") if getattr(self, k) is not None
        )


class Scenario(Strict):
    pathway: str | None = None
    pathway_version: str | None = None  # a released version; the latest when left out

    @field_validator("pathway_version", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError('write the version as text in quotes, e.g. "2.0"')
        return value

    now: AwareDatetime | None = None
    case: CaseSpec
    actions: list[Action]
