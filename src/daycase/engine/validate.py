"""Field validation of step data against the pathway's field definitions (engine room).

Returns normalised data (texts trimmed, times as ISO 8601 with offset) and a map of
field path → problem. Conditions written with the fields (`must_be`, `less_than_field`,
cross-step `validations`) are validation too: a 422 that no override lifts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from daycase.engine.fold import CaseState
from daycase.engine.text import free_text_problem
from daycase.pathways.schema import FieldSpec, Pathway, Step
from daycase.types import JSON, JSONObject

Problems = dict[str, str]
# Control characters in clinical text: never typed by a person, often a sign of garbage.
# Free text may keep tabs and line breaks; names and codes may not.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_STRICT = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def has_control_chars(value: str, *, allow_breaks: bool = False) -> bool:
    return bool((_CONTROL if allow_breaks else _CONTROL_STRICT).search(value))


def parse_time(value: Any) -> datetime | None:
    """A timezone-aware datetime from a datetime or ISO 8601 text, else None."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str) and "T" in value:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return dt if dt.tzinfo is not None and dt.utcoffset() is not None else None


def validate_fields(
    pathway: Pathway, specs: Mapping[str, FieldSpec], data: Any, *, prefix: str = ""
) -> tuple[JSONObject, Problems]:
    """Check a data object against field specs; unknown and missing fields are problems."""
    problems: Problems = {}
    clean: JSONObject = {}
    if not isinstance(data, Mapping):
        return clean, {prefix.rstrip(".") or "data": "must be an object"}
    for key in data:
        if key not in specs:
            problems[f"{prefix}{key}"] = "is not a field of this step"
    for name, spec in specs.items():
        path = f"{prefix}{name}"
        value = data.get(name)
        if spec.optional and spec.type == "text" and isinstance(value, str) and not value.strip():
            value = None  # an optional text left blank is simply not given
        if value is None:
            if not spec.optional:
                problems[path] = "is required"
            continue
        result, problem = _value(pathway, spec, value, path=path, problems=problems)
        if problem:
            problems[path] = problem
        elif result is not None:
            clean[name] = result
    for name, spec in specs.items():
        other = spec.less_than_field
        if other and name in clean and other in clean:
            mine, theirs = clean[name], clean[other]
            if isinstance(mine, int | float) and isinstance(theirs, int | float) and mine >= theirs:
                said = specs[other].label or other
                problems[f"{prefix}{name}"] = f"must be below {said} ({_fmt(theirs)})"
    return clean, problems


def _value(
    pathway: Pathway, spec: FieldSpec, value: Any, *, path: str, problems: Problems
) -> tuple[JSON, str | None]:
    t = spec.type
    if t == "bool":
        if not isinstance(value, bool):
            return None, "must be true or false"
        if spec.must_be is not None and value is not spec.must_be:
            return None, f"must be {str(spec.must_be).lower()}"
        return value, None
    if t in ("int", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, "must be a whole number" if t == "int" else "must be a number"
        if t == "int" and not isinstance(value, int):
            return None, "must be a whole number"
        if isinstance(value, float) and not math.isfinite(value):
            return None, "must be a finite number"
        if (spec.min is not None and value < spec.min) or (
            spec.max is not None and value > spec.max
        ):
            return (
                None,
                f"must be between {_fmt(spec.min)} and {_fmt(spec.max)} (got {_fmt(value)})",
            )
        return value, None
    if t == "text":
        if not isinstance(value, str):
            return None, "must be text"
        if not value.strip():
            return None, "must not be empty"
        if has_control_chars(value, allow_breaks=True):
            return None, "must not contain control characters"
        if problem := free_text_problem(value):
            return None, problem
        return value.strip(), None
    if t == "time":
        dt = parse_time(value)
        if dt is None:
            return None, "must be a date and time with a timezone, e.g. 2026-11-26T07:30:00-05:00"
        return dt.isoformat(), None
    if t == "enum":
        allowed = pathway.enum_values(spec)
        if not isinstance(value, str) or value not in allowed:
            return None, f"must be one of {', '.join(allowed)}"
        return value, None
    if t == "level":
        if not isinstance(value, str) or value not in pathway.levels.allowed:
            return None, "must be a vertebral level such as T12 or L1"
        return value, None
    if t == "levels":
        return _levels(pathway, value)
    return _list(pathway, spec, value, path=path, problems=problems)


def _levels(pathway: Pathway, value: Any) -> tuple[JSON, str | None]:
    if not isinstance(value, list) or not value:
        return None, "must be a non-empty list of vertebral levels"
    bad = [v for v in value if not isinstance(v, str) or v not in pathway.levels.allowed]
    if bad:
        return None, f"{', '.join(map(str, bad))}: not a vertebral level"
    if len(set(value)) != len(value):
        return None, "must not repeat a level"
    return list(value), None


def _list(
    pathway: Pathway, spec: FieldSpec, value: Any, *, path: str, problems: Problems
) -> tuple[JSON, str | None]:
    if not isinstance(value, list):
        return None, "must be a list"
    out: list[JSON] = []
    for i, item in enumerate(value):
        item_path = f"{path}[{i}]"
        if spec.fields is not None:
            clean, item_problems = validate_fields(
                pathway, spec.fields, item, prefix=f"{item_path}."
            )
            problems.update(item_problems)
            out.append(clean)
        elif spec.items is not None and spec.items.type == "text" and isinstance(item, str):
            if has_control_chars(item, allow_breaks=True):
                problems[item_path] = "must not contain control characters"
            elif problem := free_text_problem(item):
                problems[item_path] = problem
            out.append(item.strip())  # blank entries are kept and ignored by the rules
        elif spec.items is not None:
            result, problem = _value(pathway, spec.items, item, path=item_path, problems=problems)
            if problem:
                problems[item_path] = problem
            out.append(result)
    return out, None


def validate_step_data(
    pathway: Pathway,
    step: Step,
    data: Any,
    *,
    state: CaseState,
    at: datetime | None = None,
    ignore: str | None = None,
) -> tuple[JSONObject, Problems]:
    """Fields plus the step's cross-field and cross-step validations.

    `at` is the entry's clinical time (a last dose may not be later); `ignore` leaves one
    entry out (the one an amendment corrects).
    """
    clean, problems = validate_fields(pathway, step.fields, data)
    if problems:
        return clean, problems
    problems.update(_conditional(pathway, step, clean))
    if at is not None:
        problems.update(_not_after(step.fields, clean, at=at))
    if problems:
        return clean, problems
    level = clean.get("level")
    if (
        step.when == "per_level"
        and step.level_policy == "planned"
        and level not in state.planned_levels
    ):
        problems["level"] = f"{level} is not a planned level ({', '.join(state.planned_levels)})"
    for v in step.validations:
        others = [e for e in state.step_entries(v.with_step) if e.event_id != ignore]
        if v.rule == "required_if_differs" and v.compare_field and v.with_field and others:
            planned = others[-1].data.get(v.with_field)
            if clean.get(v.compare_field) != planned and not clean.get(v.field):
                problems[v.field] = v.message
        elif v.rule == "true_unless_none" and others and clean.get(v.field) is not True:
            problems[v.field] = v.message
    return clean, problems


def _fmt(value: float | int | JSON | None) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _conditional(pathway: Pathway, step: Step, clean: JSONObject) -> Problems:
    """Fields required when another field has some values, and left out otherwise."""
    problems: Problems = {}
    for rule in step.conditional_fields:
        spec = step.fields[rule.when]
        label = (spec.label or rule.when).lower() if spec.type != "bool" else rule.when
        value = clean.get(rule.when)
        shown = " or ".join(_said(v) for v in rule.in_)
        for name in rule.fields:
            if value in rule.in_ and name not in clean:
                problems[name] = f"is required when {label} is {shown}"
            elif value not in rule.in_ and name in clean:
                problems[name] = f"must be left out when {label} is {_said(value)}"
    return problems


def _said(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "not given" if value is None else str(value)


def _not_after(
    specs: Mapping[str, FieldSpec], data: Mapping[str, JSON], *, at: datetime, prefix: str = ""
) -> Problems:
    """Times marked `not_after_entry` (a last dose) may not be later than the entry itself."""
    problems: Problems = {}
    for name, spec in specs.items():
        value = data.get(name)
        path = f"{prefix}{name}"
        if spec.not_after_entry and isinstance(value, str):
            when = parse_time(value)
            if when is not None and when > at:
                problems[path] = "must not be later than the time of this entry"
        elif spec.type == "list" and spec.fields and isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    problems.update(_not_after(spec.fields, item, at=at, prefix=f"{path}[{i}]."))
    return problems
