"""Commands staff give, and the refusal value returned when one is not accepted (engine room)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

RefusalKind = Literal["invalid", "role", "gate", "duplicate", "closed"]


@dataclass(frozen=True, slots=True)
class Actor:
    """An authenticated user: name for attribution, role for permissions."""

    name: str
    role: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenCase:
    actor: Actor
    pathway_id: str
    mrn: str
    given_name: str
    family_name: str
    birth_date: date
    sex: str
    levels: list[str]
    scheduled_start: datetime
    pathway_version: str | None = None  # None: the latest released version


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordStep:
    actor: Actor
    step: str
    at: datetime
    data: Any = field(default_factory=dict)
    override_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AmendEvent:
    actor: Actor
    target_event_id: str
    reason: str
    at: datetime | None = None
    data: Any = None
    override_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VoidEvent:
    actor: Actor
    target_event_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RescheduleCase:
    actor: Actor
    scheduled_start: datetime
    reason: str


Command = RecordStep | AmendEvent | VoidEvent | RescheduleCase


@dataclass(frozen=True, slots=True)
class Refusal:
    """A business refusal is a value, not an exception: kind, messages, and field problems."""

    kind: RefusalKind
    messages: tuple[str, ...]
    fields: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def of_fields(problems: dict[str, str]) -> Refusal:
        return Refusal("invalid", tuple(f"{k}: {v}" for k, v in problems.items()), dict(problems))
