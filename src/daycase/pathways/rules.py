"""What every alert rule's parameters have in common (pathways room, pure data).

The rules themselves, each with its typed parameters, live in the engine's registry
(`daycase.engine.rules`); the loader is handed the registry's parameter shapes, so a
typo in a centre's file fails on `daycase pathway validate`, not during a case.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict


class RuleParams(BaseModel):
    """Base of every rule's parameters: frozen, unknown keys are errors, and a limit of
    NaN or infinity is refused (a check against it would never fire, silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


RuleShapes = Mapping[str, type[RuleParams]]


def step_refs(params: RuleParams) -> list[tuple[str, str]]:
    """(key, step id) pairs a rule's parameters mention, so the loader can check them."""
    refs: list[tuple[str, str]] = []
    for key, value in params:
        if key.endswith("step") and isinstance(value, str):
            refs.append((key, value))
        elif key.endswith("steps") and isinstance(value, list):
            refs.extend((f"{key}[{i}]", v) for i, v in enumerate(value))
    return refs
