"""Wire schemas of the JSON API, apart from tables and events (API room).

Request models forbid unknown fields and control characters in texts, so a malformed
request is a 422 that names the field before anything reaches the services.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# What `_no_control` accepts, said in the OpenAPI: no control character, not blank.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


def _iso_text(value: Any) -> Any:
    # Pydantic would also take a number (or a numeric text) as a Unix timestamp; on the
    # wire a time or date is ISO 8601 text, anything else is a wrong type.
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("must be ISO 8601 text such as 2026-11-26T07:30:00-05:00")
    return value


def _unicode_only(value: Any) -> Any:
    """Refuse text that cannot be written as UTF-8 anywhere in a free-form object.

    JSON may carry a lone surrogate (`"\\ud800"`); pydantic refuses it in a `str` field but
    not inside `dict[str, Any]`, and it would fail only when hashed, stored or answered.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("must be valid Unicode text (a lone surrogate is not)") from None
    return value


def _text(max_length: int) -> Any:
    return Field(min_length=1, max_length=max_length, json_schema_extra={"pattern": TEXT_PATTERN})


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
Day = Annotated[date, BeforeValidator(_iso_text)]
Name = Annotated[str, _text(100), AfterValidator(_no_control)]
Reason = Annotated[str, _text(2000), AfterValidator(_no_control)]
Data = Annotated[dict[str, Any], AfterValidator(_unicode_only)]
Level = Annotated[str, Field(max_length=8)]  # the pathway decides which levels exist


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatientIn(In):
    mrn: Annotated[str, _text(64), AfterValidator(_no_control)]
    given_name: Name
    family_name: Name
    birth_date: Day
    sex: Literal["female", "male", "other", "unknown"]


class CaseIn(In):
    pathway: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="A pathway id; the centre's default if left out",
    )
    pathway_version: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="A released version such as 2.0; the latest if left out",
    )
    patient: PatientIn
    # How many and which levels, and no repeats, the pathway checks (with plainer messages).
    levels: list[Level] = Field(
        max_length=6, json_schema_extra={"minItems": 1, "uniqueItems": True}
    )
    scheduled_start: Instant


class EventIn(In):
    step: str = Field(max_length=64)
    at: Instant
    data: Data = Field(default_factory=dict)
    override_reason: Reason | None = None


class AmendIn(In):
    at: Instant | None = None
    data: Data | None = None
    reason: Reason
    override_reason: Reason | None = None


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


class CallRowOut(BaseModel):
    case_id: str
    family_code: str
    patient_name: str
    step: str
    went_home_at: str
    status: Literal["red_flag", "missed", "due"]
    detail: str
    calls_made: int


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
