"""The centre's set-up: rooms, bays, opening hours, targets and reason lists (service room).

A set-up is data a centre manager keeps, not code: procedure rooms and IR suites with their
opening hours, pre-op and recovery bays, the turnover target, the grace a first case may
start late and still count as on time, and the lists staff pick delay and cancellation
reasons from. Every change is a new numbered version with who made it, when and why,
kept for ever and written to the audit log; a change made from an older version than the
stored one is refused (two managers editing at once never overwrite each other).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from daycase.engine.validate import has_control_chars
from daycase.services.cases import Clock
from daycase.store.centre_setup import SetupRow, SqlCentreSetups, VersionTaken

ID = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
TURNOVER_DEFAULT_MIN = 15


def _plain(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    if has_control_chars(text):
        raise ValueError("must not hold control characters")
    if len(text) > 80:
        raise ValueError("must be at most 80 characters")
    return text.strip()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Room(_Model):
    """A procedure room or IR suite, open from `opens` to `closes` (centre time)."""

    id: ID
    name: str
    kind: Literal["procedure_room", "ir_suite"] = "procedure_room"
    opens: time = time(7, 0)
    closes: time = time(18, 0)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _plain(value)

    @field_validator("opens", "closes", mode="before")
    @classmethod
    def _clock_time(cls, value: Any) -> Any:
        # YAML reads an unquoted 07:30 as the number 450 (base 60); taken as seconds that
        # would open the room at 00:07:30. Only "HH:MM" text is a time here.
        if isinstance(value, time):
            return value
        if not isinstance(value, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError('a time of day as "HH:MM" in quotes, like "07:30"')
        return value

    @field_serializer("opens", "closes")
    def _as_hh_mm(self, value: time) -> str:
        return f"{value:%H:%M}"

    @model_validator(mode="after")
    def _hours(self) -> Room:
        if self.closes <= self.opens:
            raise ValueError(
                f"closes ({self.closes:%H:%M}) must be after opens ({self.opens:%H:%M})"
            )
        return self


class Bay(_Model):
    id: ID
    name: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _plain(value)


class Reason(_Model):
    code: ID
    label: str

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        return _plain(value)


DELAY_REASONS = (
    ("patient_late", "Patient late"),
    ("consent_paperwork", "Consent or paperwork"),
    ("labs_pending", "Labs pending"),
    ("equipment", "Equipment"),
    ("proceduralist_late", "Proceduralist late"),
    ("anesthesia", "Anesthesia"),
    ("previous_case_overran", "Previous case overran"),
    ("no_recovery_bay", "No recovery bay"),
    ("other", "Other"),
)
CANCELLATION_REASONS = (
    ("patient_unwell", "Patient unwell"),
    ("not_fasted", "Not fasted"),
    ("blood_thinner_not_held", "Blood thinner not held"),
    ("no_ride_home", "No ride home"),
    ("patient_declined", "Patient declined"),
    ("no_show", "Did not come"),
    ("equipment", "Equipment"),
    ("other", "Other"),
)


def _reasons(pairs: Sequence[tuple[str, str]]) -> list[Reason]:
    return [Reason(code=code, label=label) for code, label in pairs]


class CentreSetup(_Model):
    rooms: list[Room] = Field(default_factory=list)
    preop_bays: list[Bay] = Field(default_factory=list)
    recovery_bays: list[Bay] = Field(default_factory=list)
    turnover_target_min: int = Field(default=TURNOVER_DEFAULT_MIN, ge=1, le=240)
    first_case_grace_min: int = Field(default=0, ge=0, le=60)
    delay_reasons: list[Reason] = Field(default_factory=lambda: _reasons(DELAY_REASONS))
    cancellation_reasons: list[Reason] = Field(
        default_factory=lambda: _reasons(CANCELLATION_REASONS)
    )

    @model_validator(mode="after")
    def _unique(self) -> CentreSetup:
        places = [r.id for r in self.rooms]
        places += [b.id for b in (*self.preop_bays, *self.recovery_bays)]
        for field, items in (
            ("rooms, pre-op bays and recovery bays", places),
            ("delay_reasons", [r.code for r in self.delay_reasons]),
            ("cancellation_reasons", [r.code for r in self.cancellation_reasons]),
        ):
            seen: set[str] = set()
            for item in items:
                if item.lower() in seen:
                    raise ValueError(f"{field}: {item} is listed twice")
                seen.add(item.lower())
        return self


class SetupRefused(ValueError):
    """A set-up that cannot be stored; `problems` name each field and what is wrong."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def parse_setup(data: Any) -> CentreSetup:
    """A set-up from plain data (a YAML file, a form), or `SetupRefused` naming each field."""
    if not isinstance(data, dict):
        raise SetupRefused(["the set-up must be a mapping of fields (rooms, preop_bays, …)"])
    try:
        return CentreSetup.model_validate(data)
    except ValidationError as exc:
        raise SetupRefused([_problem(e) for e in exc.errors()]) from exc


def _problem(error: Any) -> str:
    where = ".".join(
        f"[{part + 1}]" if isinstance(part, int) else str(part) for part in error["loc"]
    ).replace(".[", "[")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "string_pattern_mismatch":
        message = "use letters, digits, - and _ only (up to 32, starting with a letter or digit)"
    return f"{where}: {message}" if where else message


def setup_from_yaml(text: str) -> CentreSetup:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SetupRefused([f"not readable as YAML: {exc}"]) from exc
    return parse_setup(data if data is not None else {})


def example_yaml() -> str:
    """The example set-up shipped with daycase (four rooms), to edit for a new centre."""
    return resources.files("daycase.services").joinpath("data/example-centre.yaml").read_text()


def setup_to_yaml(setup: CentreSetup) -> str:
    return yaml.safe_dump(setup.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


@dataclass(frozen=True, slots=True)
class SetupVersion:
    version: int
    setup: CentreSetup
    changed_by: str
    changed_at: datetime
    note: str


class SetupConflict(Exception):
    """Someone stored a newer version first: reload it and make the change again."""


_NOTE = re.compile(r"^[^\x00-\x1f\x7f]{0,200}$")


class CentreSetupService:
    def __init__(self, store: SqlCentreSetups, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def current(self) -> SetupVersion:
        """The newest version; version 0 (no rooms, the default lists) before any change."""
        row = self._store.latest()
        return _version(row) if row else SetupVersion(0, CentreSetup(), "", self._clock(), "")

    def history(self) -> list[SetupVersion]:
        return [_version(row) for row in self._store.versions()]

    def change(
        self, setup: CentreSetup, *, by: str, expected_version: int, note: str = ""
    ) -> SetupVersion:
        """Store `setup` as the version after `expected_version`; `SetupConflict` when that
        is no longer the newest. The caller writes the audit row."""
        if not _NOTE.match(note):
            raise SetupRefused(["note: at most 200 characters, no control characters"])
        if not by.strip() or has_control_chars(by) or len(by) > 80:
            raise SetupRefused(["by: name who makes the change (up to 80 characters)"])
        now = self._store.latest_version()
        if expected_version != now:
            # Only the newest version may be changed: a stale or made-up number would
            # otherwise skip versions or store a version 0 beside the real ones.
            raise SetupConflict(
                f"the set-up was changed by someone else (now version {now}); "
                "reload it and make your change again"
            )
        at = self._clock()
        body = setup.model_dump_json()
        try:
            row = self._store.append(
                version=expected_version + 1, body=body, changed_by=by, changed_at=at, note=note
            )
        except VersionTaken as exc:
            now = self._store.latest_version()
            raise SetupConflict(
                f"the set-up was changed by someone else (now version {now}); "
                "reload it and make your change again"
            ) from exc
        return _version(row)


def _version(row: SetupRow) -> SetupVersion:
    return SetupVersion(
        version=row.version,
        setup=CentreSetup.model_validate_json(row.body),
        changed_by=row.changed_by,
        changed_at=datetime.fromisoformat(row.changed_at),
        note=row.note,
    )
