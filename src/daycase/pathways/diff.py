"""What changed between two pathway versions (pathways room, pure).

`diff(old, new)` lists every step, field, gate, alert, phase, role and table entry added,
removed or changed, each with its before and after as plain data: what a centre's
clinical lead reads before switching new cases to a new version (`daycase pathway diff`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from daycase.pathways.schema import Pathway, Step

ChangeKind = Literal["added", "removed", "changed"]
# Where a change is, in the order a reader goes through a pathway.
SECTIONS = ("settings", "roles", "phases", "steps", "fields", "gates", "alerts", "tables")


@dataclass(frozen=True, slots=True)
class Change:
    section: str
    kind: ChangeKind
    key: str
    before: Any = None
    after: Any = None


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def _keyed(
    section: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    prefix: str = "",
) -> list[Change]:
    """Added, removed and changed entries of two mappings, in the new file's order."""
    changes: list[Change] = []
    for key in [k for k in old if k not in new]:
        changes.append(Change(section, "removed", f"{prefix}{key}", before=_dump(old[key])))
    for key, value in new.items():
        if key not in old:
            changes.append(Change(section, "added", f"{prefix}{key}", after=_dump(value)))
        elif _dump(old[key]) != _dump(value):
            changes.append(
                Change(section, "changed", f"{prefix}{key}", _dump(old[key]), _dump(value))
            )
    return changes


def _by_id(items: Iterable[Any], attr: str = "id") -> dict[str, Any]:
    return {getattr(item, attr): item for item in items}


_SETTINGS = (
    "title",
    "levels",
    "clinical_time",
    "open_roles",
    "override_roles",
    "correction_roles",
    "family",
    "phases_in_order",
    "alert_severity",
    "amendments_check_gates",
    "discharge_sheet",
)
# Step attributes compared as a whole; fields and gates get changes of their own.
_STEP_PARTS = (
    "title",
    "phase",
    "roles",
    "when",
    "need",
    "level_policy",
    "validations",
    "conditional_fields",
    "role_until",
    "at_within",
    "aftercare",
    "patient",
)


def _step_changes(old: Step, new: Step) -> list[Change]:
    changes = _keyed(
        "steps",
        {p: getattr(old, p) for p in _STEP_PARTS},
        {p: getattr(new, p) for p in _STEP_PARTS},
        prefix=f"{new.id}.",
    )
    changes += _keyed("fields", old.fields, new.fields, prefix=f"{new.id}.")
    if _dump(old.gate) != _dump(new.gate):
        changes.append(Change("gates", "changed", new.id, _dump(old.gate), _dump(new.gate)))
    return changes


def diff(old: Pathway, new: Pathway) -> list[Change]:
    """Every difference from `old` to `new`, grouped by section."""
    changes = _keyed(
        "settings",
        {s: getattr(old, s) for s in _SETTINGS},
        {s: getattr(new, s) for s in _SETTINGS},
    )
    changes += _keyed("roles", _by_id(old.roles), _by_id(new.roles))
    changes += _keyed("phases", _by_id(old.phases), _by_id(new.phases))
    old_steps, new_steps = _by_id(old.steps), _by_id(new.steps)
    for step_id, step in old_steps.items():
        if step_id not in new_steps:
            changes.append(Change("steps", "removed", step_id, before=_dump(step)))
    for step_id, step in new_steps.items():
        if step_id not in old_steps:
            changes.append(Change("steps", "added", step_id, after=_dump(step)))
            changes += [
                Change("fields", "added", f"{step_id}.{n}", after=_dump(f))
                for n, f in step.fields.items()
            ]
            if step.gate:
                changes.append(Change("gates", "added", step_id, after=_dump(step.gate)))
        else:
            changes += _step_changes(old_steps[step_id], step)
    changes += _keyed("alerts", _by_id(old.alerts, "code"), _by_id(new.alerts, "code"))
    for table in ("antithrombotics", "drug_classes", "materials"):
        changes += _keyed(
            "tables",
            _by_id(getattr(old.medicines, table)),
            _by_id(getattr(new.medicines, table)),
            prefix=f"{table}.",
        )
    order = {s: i for i, s in enumerate(SECTIONS)}
    return sorted(changes, key=lambda c: order[c.section])
