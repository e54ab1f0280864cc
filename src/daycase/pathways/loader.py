"""Load and check pathway files (pathways room).

Errors name the file, the key path (`steps[3] (preop_vitals).fields.heart_rate.min`) and
the problem, so a centre editing its own pathway sees exactly what to fix. Beyond the
schema, the loader checks every cross-reference: steps, roles, phases, fields and rules.
Rule parameters are checked against the shapes it is given (the engine's registry, see
`daycase.engine.load`), and bound to each alert in their typed form.

A loaded pathway carries the SHA-256 of its canonical definition: the file's data as
JSON with sorted keys and no spaces, so comments and layout do not count and any change
of content does. Built-in files are `builtin/<id>-<version>.yaml`, one per released
version; a released version never changes (a test holds their digests).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from daycase.pathways.rules import RuleShapes, step_refs
from daycase.pathways.schema import Condition, Pathway

_BUILTIN_NAME = re.compile(r"^(?P<id>[a-z0-9_]+)-(?P<version>\d+(?:\.\d+)*)\.yaml$")


class PathwayError(Exception):
    """A pathway file that cannot be used; `problems` are 'key.path: problem' lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def load_pathway(path: str | Path, *, rules: RuleShapes) -> Pathway:
    """Read, validate and cross-check one pathway file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PathwayError(source, [f"cannot read file: {exc.strerror}"]) from exc
    return parse_pathway(text, source=source, rules=rules)


def read_definition(text: str, *, source: str) -> dict[str, Any]:
    """The YAML of a pathway file as data (a mapping), or a PathwayError."""
    try:
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise PathwayError(source, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise PathwayError(source, ["the file must be a mapping with keys id, steps, …"])
    return raw


def definition_digest(raw: dict[str, Any]) -> str:
    """SHA-256 of a definition's canonical JSON: what a stored case is pinned to."""
    canonical = json.dumps(
        raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_pathway(text: str, *, source: str, rules: RuleShapes) -> Pathway:
    """Validate pathway YAML text; `source` names it in error messages."""
    raw = read_definition(text, source=source)
    try:
        pathway = Pathway.model_validate(raw)
    except ValidationError as exc:
        raise PathwayError(source, [_describe(err, raw) for err in exc.errors()]) from exc
    problems = cross_check(pathway, rules)
    if problems:
        raise PathwayError(source, problems)
    for alert in pathway.alerts:
        alert.bind(rules[alert.rule].model_validate(alert.params))
    pathway.set_digest(definition_digest(raw))
    return pathway


def builtin_files() -> dict[tuple[str, str], str]:
    """(pathway id, version) → file name of every built-in released version."""
    return dict(_builtin_files())


@functools.cache
def _builtin_files() -> tuple[tuple[tuple[str, str], str], ...]:
    """Listed once per process: the package's files do not change while it runs, and every
    write asks which definition its case was opened on."""
    found: list[tuple[tuple[str, str], str]] = []
    for item in resources.files("daycase.pathways").joinpath("builtin").iterdir():
        match = _BUILTIN_NAME.match(item.name)
        if match:
            found.append(((match["id"], match["version"]), item.name))
    return tuple(sorted(found))


def builtin_text(name: str) -> str:
    """The text of one built-in file, as shipped inside the package."""
    return resources.files("daycase.pathways").joinpath(f"builtin/{name}").read_text("utf-8")


def version_key(version: str) -> tuple[int, ...]:
    """Versions compare as numbers, part by part: 2.0 < 2.1 < 10.0."""
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _describe(err: Any, raw: dict[str, Any]) -> str:
    """Turn a Pydantic error into 'key.path: problem', naming list items by their id."""
    parts: list[str] = []
    node: Any = raw
    for loc in err["loc"]:
        if isinstance(loc, int):
            item = node[loc] if isinstance(node, list) and loc < len(node) else None
            item_id = item.get("code") or item.get("id") if isinstance(item, dict) else None
            parts[-1] += f"[{loc}]" + (f" ({item_id})" if item_id else "")
            node = item
        else:
            parts.append(str(loc))
            node = node.get(loc) if isinstance(node, dict) else None
    path = ".".join(parts) or "(top)"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{path}: {msg}"


def cross_check(p: Pathway, rules: RuleShapes) -> list[str]:
    """Every reference between parts of the file must resolve."""
    problems: list[str] = []
    roles = p.role_ids
    steps = {s.id: s for s in p.steps}
    phases = {ph.id for ph in p.phases}
    for kind, ids in (
        ("role", [r.id for r in p.roles]),
        ("phase", [ph.id for ph in p.phases]),
        ("step", [s.id for s in p.steps]),
        ("alert code", [a.code for a in p.alerts]),
    ):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            problems.append(f"{kind} ids must be unique; repeated: {', '.join(dupes)}")
    for key in ("open_roles", "override_roles", "correction_roles"):
        problems += [f"{key}: unknown role {r!r}" for r in getattr(p, key) if r not in roles]
    if p.levels.abandon_step and p.levels.abandon_step not in steps:
        problems.append(f"levels.abandon_step: unknown step {p.levels.abandon_step!r}")
    if len(p.family.code_alphabet) < 10:
        problems.append("family.code_alphabet: needs at least 10 characters")
    for i, ph in enumerate(p.phases):
        if ph.aftercare and (ph.opened_by or ph.terminal):
            problems.append(f"phases[{i}] ({ph.id}): an aftercare phase opens with no step")
        problems += [
            f"phases[{i}] ({ph.id}).opened_by: unknown step {s!r}"
            for s in ph.opened_by
            if s not in steps
        ]
    for i, s in enumerate(p.steps):
        where = f"steps[{i}] ({s.id})"
        if s.phase not in phases:
            problems.append(f"{where}.phase: unknown phase {s.phase!r}")
        problems += [f"{where}.roles: unknown role {r!r}" for r in s.roles if r not in roles]
        for r, until in s.role_until.items():
            if r not in roles:
                problems.append(f"{where}.role_until: unknown role {r!r}")
            if until not in steps:
                problems.append(f"{where}.role_until.{r}: unknown step {until!r}")
        if s.when == "per_level" and (
            s.fields.get("level") is None or s.fields["level"].type != "level"
        ):
            problems.append(f"{where}.fields: a per_level step needs a `level` field of type level")
        if s.need == "terminal" and not any(
            s.id in ph.opened_by and ph.terminal for ph in p.phases
        ):
            problems.append(f"{where}: a terminal step must open a terminal phase")
        for name, spec in s.fields.items():
            if spec.less_than_field and spec.less_than_field not in s.fields:
                problems.append(f"{where}.fields.{name}.less_than_field: unknown field")
        for j, v in enumerate(s.validations):
            if v.field not in s.fields:
                problems.append(f"{where}.validations[{j}].field: unknown field {v.field!r}")
            if v.with_step not in steps:
                problems.append(f"{where}.validations[{j}].with_step: unknown step {v.with_step!r}")
        for j, rule in enumerate(s.conditional_fields):
            if rule.when not in s.fields:
                problems.append(f"{where}.conditional_fields[{j}].when: unknown field")
            for name in rule.fields:
                if name not in s.fields:
                    problems.append(f"{where}.conditional_fields[{j}]: unknown field {name!r}")
                elif not s.fields[name].optional:
                    problems.append(
                        f"{where}.conditional_fields[{j}]: field {name!r} must be optional"
                    )
        if s.at_within and s.at_within.after_step not in steps:
            problems.append(f"{where}.at_within.after_step: unknown step")
        codes = {a.code for a in p.alerts}
        for j, cond in enumerate(s.gate):
            problems += [
                f"{where}.gate[{j}]: {msg}" for msg in _check_condition(cond, steps, codes)
            ]
    for i, a in enumerate(p.alerts):
        where = f"alerts[{i}] ({a.code})"
        if a.step not in steps:
            problems.append(f"{where}.step: unknown step {a.step!r}")
        if a.ends_at and a.ends_at not in steps:
            problems.append(f"{where}.ends_at: unknown step {a.ends_at!r}")
        model = rules.get(a.rule)
        if model is None:
            problems.append(f"{where}.rule: unknown rule {a.rule!r}; known: {', '.join(rules)}")
            continue
        try:
            params = model.model_validate(a.params)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(x) for x in err["loc"])
                problems.append(f"{where}.params.{loc}: {err['msg']}")
            continue
        problems += [
            f"{where}.params.{key}: unknown step {ref!r}"
            for key, ref in step_refs(params)
            if ref not in steps
        ]
    return problems


def _check_condition(cond: Condition, steps: dict[str, Any], codes: set[str]) -> list[str]:
    refs: list[str] = []
    if cond.done:
        refs += cond.done
    if cond.not_done:
        refs += cond.not_done
    for single in (cond.level_done, cond.all_levels_done):
        if single:
            refs.append(single)
    problems = [f"{cond.kind}: unknown step {r!r}" for r in refs if r not in steps]
    for ref in (cond.field, cond.none_matching):
        if ref is None:
            continue
        if ref.step not in steps:
            problems.append(f"{cond.kind}.step: unknown step {ref.step!r}")
        elif ref.name not in steps[ref.step].fields:
            problems.append(f"{cond.kind}.name: step {ref.step!r} has no field {ref.name!r}")
    for timed in (cond.latest_total_at_least, cond.minutes_since):
        if timed is not None and timed.step not in steps:
            problems.append(f"{cond.kind}.step: unknown step {timed.step!r}")
    if cond.no_active_alert is not None:
        problems += [
            f"no_active_alert.codes: unknown alert code {c!r}"
            for c in cond.no_active_alert.codes or []
            if c not in codes
        ]
    return problems
