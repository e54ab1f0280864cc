"""Recording forms generated from the pathway's field definitions (web room).

`widgets(step)` describes the inputs a step needs; `parse(step, form)` turns the posted
form back into step data. Parsing only converts types: every clinical rule (ranges,
enums, must-be-true, cross-field conditions) stays in the engine, whose refusal fields
are then shown beside the inputs they name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from daycase.pathways.schema import FieldSpec, Pathway, Step
from daycase.types import JSON, JSONObject

ROWS = 4  # empty rows a new list-of-objects form offers (an amend form adds its stored rows)


@dataclass(frozen=True, slots=True)
class Widget:
    """One input (or group) on a form; `kind` picks the template macro."""

    name: str
    label: str
    kind: str
    required: bool
    min: float | None = None
    max: float | None = None
    step: str = "any"
    unit: str | None = None
    values: list[str] = field(default_factory=list)
    sub: list[Widget] = field(default_factory=list)
    rows: int = 0


# Words for enum values where "replace _ and capitalise" reads wrong; the pathway file keeps
# the ids (a released version's file cannot change), the pages show these.
VALUE_WORDS = {
    "local_sedation": "Local with sedation",
    "not_applicable": "Not applicable",
    "not_needed": "Not needed",
    "ct": "CT",
    "mri": "MRI",
    "xray": "X-ray",
    "iv": "IV (into a vein)",
    "otc": "Over the counter",
    "reduced_both": "Reduced on both sides",
    "reduced_left": "Reduced on the left",
    "reduced_right": "Reduced on the right",
    "new_back_pain": "New back pain",
    "dyspnea": "Shortness of breath (dyspnea)",
    "emergency_department": "Emergency department",
}


def value_words(value: str) -> str:
    """An enum value as staff read it: "Local with sedation", not `local_sedation`."""
    return VALUE_WORDS.get(value) or value.replace("_", " ").capitalize()


def field_words(step: Step, path: str) -> str:
    """A field's name as the form labels it ("Diastolic BP"); a nested one keeps its row
    ("Medications, row 2: name")."""
    spec = step.fields.get(path)
    if spec is not None:
        return spec.label or path.replace("_", " ").capitalize()
    head, _, rest = path.partition("[")
    outer = step.fields.get(head)
    if outer is not None and rest:
        number, _, inner = rest.partition("]")
        row = f", row {int(number) + 1}" if number.isdigit() else ""
        return (
            f"{outer.label or head.replace('_', ' ').capitalize()}{row}{inner.replace('.', ': ')}"
        )
    return path.replace("_", " ").capitalize()


def worded_problems(step: Step, problems: Mapping[str, str]) -> list[str]:
    """Field problems as sentences: "Diastolic BP must be below Systolic BP (120)"."""
    return [f"{field_words(step, path)} {problem}" for path, problem in problems.items()]


def widgets(pathway: Pathway, step: Step) -> list[Widget]:
    """The inputs of a step's form, in the pathway's field order (`level` handled apart)."""
    return [_widget(pathway, name, spec) for name, spec in step.fields.items() if name != "level"]


def _widget(pathway: Pathway, name: str, spec: FieldSpec) -> Widget:
    label = spec.label or name.replace("_", " ").capitalize()
    base = Widget(name=name, label=label, kind="text", required=not spec.optional)
    if spec.type in ("int", "number"):
        return replace(
            base,
            kind="number",
            min=spec.min,
            max=spec.max,
            step="1" if spec.type == "int" else "any",
            unit=spec.unit,
        )
    if spec.type == "bool":
        return replace(base, kind="confirm" if spec.must_be else "yesno")
    if spec.type == "enum":
        return replace(base, kind="select", values=pathway.enum_values(spec))
    if spec.type == "time":
        return replace(base, kind="time")
    if spec.type == "levels":
        return replace(base, kind="levels", values=list(pathway.levels.allowed))
    if spec.type == "list" and spec.fields:
        sub = [_widget(pathway, n, s) for n, s in spec.fields.items()]
        return replace(base, kind="rows", sub=sub, rows=ROWS)
    if spec.type == "list":
        return replace(base, kind="textlist")
    return base


def form_values(step: Step, data: Mapping[str, JSON], *, tz: ZoneInfo) -> dict[str, JSON]:
    """Stored step data as the form shows it, so a field left alone reads back unchanged.

    Times are in the centre's timezone to the minute (a datetime-local value), lists of
    text are one per line, and rows keep their columns with times shown the same way.
    """
    return {name: _shown(step.fields.get(name), value, tz) for name, value in data.items()}


def _shown(spec: FieldSpec | None, value: JSON, tz: ZoneInfo) -> JSON:
    if spec is None:
        return value
    if spec.type == "time" and isinstance(value, str):
        return local_minute(value, tz)
    if spec.type == "list" and isinstance(value, list) and spec.fields is None:
        # One item per line: an item may hold a comma ("penicillin (rash, hives)").
        return "\n".join(str(v) for v in value)
    if spec.type == "list" and isinstance(value, list) and spec.fields is not None:
        columns = spec.fields
        return [
            {k: _shown(columns.get(k), v, tz) for k, v in row.items()}
            if isinstance(row, dict)
            else row
            for row in value
        ]
    return value


def local_minute(value: str, tz: ZoneInfo) -> str:
    """An ISO 8601 instant as a datetime-local value in the centre's timezone."""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz)
    return at.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


class FormProblem(ValueError):
    """A value that could not even be read as its type; shown beside its field."""


def parse_time(text: str, tz: ZoneInfo) -> str:
    """A `datetime-local` value (no zone) read in the centre's timezone, as ISO 8601.

    Years outside 1900 to 2199 are refused here: no clinical time lies there, and a year such
    as 9999 cannot even be moved to another timezone.
    """
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise FormProblem("must be a date and time") from exc
    if not 1900 <= dt.year <= 2199:
        raise FormProblem("must be a real date and time (years 1900 to 2199)")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.isoformat()


def parse(step: Step, form: FormData, *, tz: ZoneInfo) -> tuple[JSONObject, dict[str, str]]:
    """Step data from a posted form, and the fields whose text could not be read."""
    data: JSONObject = {}
    problems: dict[str, str] = {}
    level = form.get("level")
    if step.when == "per_level" and isinstance(level, str) and level:
        data["level"] = level
    for name, spec in step.fields.items():
        if name == "level":
            continue
        try:
            value = _value(name, spec, form, tz)
        except FormProblem as exc:
            problems[name] = str(exc)
            continue
        if value is not None:
            data[name] = value
    return data, problems


def _text(form: FormData, key: str) -> str:
    raw = form.get(key)
    return raw.strip() if isinstance(raw, str) else ""


def _value(name: str, spec: FieldSpec, form: FormData, tz: ZoneInfo) -> JSON:
    key = f"f.{name}"
    if spec.type == "bool":
        raw = _text(form, key)
        if spec.must_be is not None:
            return raw == "on"
        return {"yes": True, "no": False}.get(raw)
    if spec.type == "levels":
        return [v for v in form.getlist(key) if isinstance(v, str)] or None
    if spec.type == "list" and spec.fields:
        return _rows(name, spec, form, tz)
    if spec.type == "list":
        return [part.strip() for part in _text(form, key).splitlines() if part.strip()]
    raw = _text(form, key)
    if raw == "":
        return None
    if spec.type == "int":
        try:
            return int(raw)
        except ValueError as exc:
            raise FormProblem("must be a whole number") from exc
    if spec.type == "number":
        try:
            number = float(raw)
        except ValueError as exc:
            raise FormProblem("must be a number") from exc
        return int(number) if number.is_integer() and "." not in raw else number
    if spec.type == "time":
        return parse_time(raw, tz)
    return raw


def _rows(name: str, spec: FieldSpec, form: FormData, tz: ZoneInfo) -> list[JSON]:
    """Every posted row, however many the form had (an amend form shows all stored rows)."""
    assert spec.fields is not None
    prefix = f"f.{name}."
    indices = {
        int(key[len(prefix) :].split(".", 1)[0])
        for key in form
        if key.startswith(prefix) and key[len(prefix) :].split(".", 1)[0].isdigit()
    }
    rows: list[JSON] = []
    for i in sorted(indices):
        row: dict[str, Any] = {}
        for sub_name, sub_spec in spec.fields.items():
            raw = _text(form, f"f.{name}.{i}.{sub_name}")
            if raw:
                row[sub_name] = parse_time(raw, tz) if sub_spec.type == "time" else raw
        if row:
            rows.append(row)
    return rows
