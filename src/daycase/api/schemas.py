"""Wire schemas of the JSON API, apart from tables and events (API room).

Request models forbid unknown fields and control characters in texts, names and
identifiers refuse invisible and direction-changing characters, and free text refuses the
direction-changing ones (`daycase.engine.text`), so a malformed request is a 422 that names
the field before anything reaches the services. The engine checks the same again.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from daycase.engine.text import BIDI_CONTROLS, free_text_problem, identifier_problem

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL_CLASS = r"\x00-\x1f\x7f-\x9f"


def _text_pattern(refused: str) -> str:
    """Not blank, and none of the `refused` characters (a regex class body) anywhere."""
    return f"^[^{refused}]*[^\\s{refused}][^{refused}]*$"


# What `_no_control` accepts, said in the OpenAPI: no control character, not blank.
TEXT_PATTERN = _text_pattern(_CONTROL_CLASS)


def _class_of(code_points: Iterable[int]) -> str:
    """A regex class body for code points, as ranges of escapes."""
    ranges: list[list[int]] = []
    for c in sorted(code_points):
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])

    def esc(c: int) -> str:
        return f"\\u{c:04x}"

    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)


@functools.cache
def _identifier_pattern() -> str:
    """What `_identifier` accepts, built when the OpenAPI is (not at import).

    Only the Basic Multilingual Plane is listed: a JavaScript pattern without the `u` flag
    (Swagger UI's) has no escape for the few format characters above it (tag characters,
    hieroglyph controls), which the validator refuses all the same.
    """
    invisible = (c for c in range(0x10000) if unicodedata.category(chr(c)) in ("Cf", "Zl", "Zp"))
    return _text_pattern(_CONTROL_CLASS + _class_of(invisible))


FREE_TEXT_PATTERN = _text_pattern(_CONTROL_CLASS + _class_of(ord(c) for c in BIDI_CONTROLS))


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


def _identifier(value: str) -> str:
    """A name or an identifier (MRN): no control, invisible or direction-changing character."""
    value = _no_control(value)
    if problem := identifier_problem(value):
        raise ValueError(problem)
    return value


def _free_text(value: str) -> str:
    """A reason: no control character and no direction-changing one."""
    value = _no_control(value)
    if problem := free_text_problem(value):
        raise ValueError(problem)
    return value


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


def _text(max_length: int, pattern: Callable[[], str]) -> Any:
    def documented(schema: dict[str, Any]) -> None:
        schema["pattern"] = pattern()

    return Field(min_length=1, max_length=max_length, json_schema_extra=documented)


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
Day = Annotated[date, BeforeValidator(_iso_text)]
Name = Annotated[str, _text(100, _identifier_pattern), AfterValidator(_identifier)]
Reason = Annotated[str, _text(2000, lambda: FREE_TEXT_PATTERN), AfterValidator(_free_text)]
Data = Annotated[dict[str, Any], AfterValidator(_unicode_only)]
Level = Annotated[str, Field(max_length=8)]  # the pathway decides which levels exist


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatientIn(In):
    mrn: Annotated[str, _text(64, _identifier_pattern), AfterValidator(_identifier)]
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
    withheld: list[str] = Field(
        default_factory=list,
        description="What this sign-in may not read and so is left out: `alerts`, `other_steps`",
    )


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
    withheld: list[str] = Field(
        default_factory=list,
        description="What this sign-in may not read and so is left out: `alerts`, `other_steps`",
    )


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
    id: int | None = Field(
        default=None, description="The audit row's id (a read); none for a write, an event"
    )
    at: str
    user: str
    role: str
    action: str
    case_id: str | None
    detail: str
    case_ids: list[str] = Field(
        default_factory=list,
        description="Every case a read showed when it showed several (a board); `case_id` "
        "then names the case asked for, or is empty for the whole log",
    )


# --- the day's schedule -------------------------------------------------------------------

RoomId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
ScheduleCaseId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
ReasonCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
ScheduleNote = Annotated[str, Field(max_length=200)]


class PlaceIn(BaseModel):
    """Book a case into a room, move it to another, or reorder it within one."""

    model_config = ConfigDict(extra="forbid")
    case_id: ScheduleCaseId
    room: RoomId
    position: int | None = Field(
        default=None, ge=1, le=1000, description="1 = first in the room; default: last"
    )


class DurationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_id: ScheduleCaseId
    minutes: int | None = Field(
        ge=15, le=480, description="Expected minutes in the room; null: the pathway's"
    )


class ReasonIn(BaseModel):
    """A delay or a cancellation: a reason code from the centre's list and free text."""

    model_config = ConfigDict(extra="forbid")
    case_id: ScheduleCaseId
    reason: ReasonCode
    note: ScheduleNote = ""


class NotedOut(BaseModel):
    reason: str
    label: str
    note: str
    by: str
    at: str


class SlotOut(BaseModel):
    case_id: str
    family_code: str
    patient_name: str
    levels: list[str]
    position: int
    state: Literal["waiting", "in_room", "done", "cancelled", "ended"]
    phase: str
    phase_title: str
    booked_start: str
    expected_start: str | None
    expected_end: str | None
    duration_min: int
    duration_set: bool
    late_min: int | None
    not_arrived: bool
    elapsed_min: int | None
    pace: Literal["green", "amber", "red"] | None
    first_case: bool
    on_time: bool | None
    needs_reason: bool
    delays: list[NotedOut]
    cancellation: NotedOut | None


class RoomPlanOut(BaseModel):
    room: str
    name: str
    opens_at: str | None
    closes_at: str | None
    expected_end: str | None
    over_hours: bool
    turnover_min: int | None
    turnover_over: bool
    cases: list[SlotOut]


class UnplacedOut(BaseModel):
    case_id: str
    family_code: str
    patient_name: str
    booked_start: str
    phase: str


class ScheduleOut(BaseModel):
    date: str
    version: int
    rooms: list[RoomPlanOut]
    unplaced: list[UnplacedOut]
    recovery_bays: int
    in_recovery: int
    ready_to_go: list[str] = Field(description="Family codes of patients ready to go home")
    warnings: list[str]


class ScheduleChangeOut(BaseModel):
    version: int
    changed_by: str
    changed_at: str
    change: dict[str, Any]
