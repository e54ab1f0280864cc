"""Wire schemas of the JSON API, apart from tables and events (API room).

Request models forbid unknown fields and control characters in texts, so a malformed
request is a 422 that names the field before anything reaches the services.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


Name = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_no_control)]
Reason = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_no_control)]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatientIn(In):
    mrn: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_control)]
    given_name: Name
    family_name: Name
    birth_date: date
    sex: Literal["female", "male", "other", "unknown"]


class CaseIn(In):
    pathway: str = Field(default="kyphoplasty", max_length=64)
    patient: PatientIn
    levels: list[str] = Field(max_length=6)
    scheduled_start: AwareDatetime


class EventIn(In):
    step: str = Field(max_length=64)
    at: AwareDatetime
    data: dict[str, Any] = Field(default_factory=dict)
    override_reason: Reason | None = None


class AmendIn(In):
    at: AwareDatetime | None = None
    data: dict[str, Any] | None = None
    reason: Reason


class VoidIn(In):
    reason: Reason


class RefusalOut(BaseModel):
    kind: str
    messages: list[str]
    fields: dict[str, str] = Field(default_factory=dict)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: str
    role: str


class CaseCreatedOut(BaseModel):
    id: str
    family_code: str
    phase: str


class AlertOut(BaseModel):
    code: str
    severity: str
    step: str
    active: bool
    message: str
    started_at: str
    ended_at: str | None


class PatientOut(BaseModel):
    mrn: str
    given_name: str
    family_name: str
    birth_date: str
    sex: str


class CaseOut(BaseModel):
    id: str
    pathway: str
    pathway_version: str
    family_code: str
    patient: PatientOut
    levels: list[str]
    scheduled_start: str
    phase: str
    steps: dict[str, str]
    alerts: list[AlertOut]
    family_status: str
    events: int


class CaseSummaryOut(BaseModel):
    id: str
    family_code: str
    patient_name: str
    levels: list[str]
    scheduled_start: str
    phase: str


class EventOut(BaseModel):
    """A stored event as `daycase.store.codec` writes it; fields vary by `kind`."""

    model_config = ConfigDict(extra="allow")
    kind: str
    event_id: str
    case_id: str
    seq: int
    recorded_at: str
    actor: str
    role: str


class BoardAlertOut(BaseModel):
    code: str
    severity: str
    message: str


class BoardRowOut(BaseModel):
    case_id: str
    family_code: str
    patient_name: str
    levels: list[str]
    scheduled_start: str
    phase: str
    phase_title: str
    minutes_in_phase: int | None
    next_due: list[str]
    alerts: list[BoardAlertOut]
    override: bool
    family_status: str
    family_colour: str
    running_long: bool


class FamilyRowOut(BaseModel):
    family_code: str
    status: str
    colour: str
    minutes_in_status: int | None
    note: str | None


class AuditOut(BaseModel):
    at: str
    user: str
    role: str
    action: str
    case_id: str | None
    detail: str
