"""The alert rule registry: each rule id with its typed parameters and its function (engine room).

A pathway file names a rule by id and gives its parameters; the loader validates them
with the shape registered here and the engine calls the function. The built-in rules
register themselves exactly as a centre's own rule would:

    @rule("my_rule", params=MyParams)
    def my_rule(alert: AlertRule, params: MyParams, ctx: RuleContext) -> list[Span]: ...

Nothing in a rule names a kyphoplasty step: the file says which steps a rule watches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from daycase.engine.alerts import RuleContext, Span
from daycase.pathways.rules import RuleParams
from daycase.pathways.schema import AlertRule

RuleFn = Callable[[AlertRule, Any, RuleContext], list[Span]]
F = TypeVar("F", bound=Callable[..., list[Span]])


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One rule: its id, the shape of its parameters, and the function that computes spans.

    `marks_step_overdue`: while the alert is active its step's status is `overdue`.
    `running_long`: while the alert is active the case runs long (the family note).
    `counts_minutes`: while the alert is open its message counts minutes up to now ("no
    vitals for 17 min"), so a board must re-read it every minute.
    """

    id: str
    params: type[RuleParams]
    fn: RuleFn
    marks_step_overdue: bool = False
    running_long: bool = False
    counts_minutes: bool = False


REGISTRY: dict[str, RuleSpec] = {}


def rule(
    rule_id: str,
    *,
    params: type[RuleParams],
    marks_step_overdue: bool = False,
    running_long: bool = False,
    counts_minutes: bool = False,
) -> Callable[[F], F]:
    """Register a rule function under `rule_id` with its parameter shape."""

    def register(fn: F) -> F:
        if rule_id in REGISTRY:
            raise ValueError(f"rule {rule_id!r} is registered twice")
        REGISTRY[rule_id] = RuleSpec(
            id=rule_id,
            params=params,
            fn=fn,
            marks_step_overdue=marks_step_overdue,
            running_long=running_long,
            counts_minutes=counts_minutes,
        )
        return fn

    return register


def rule_shapes() -> dict[str, type[RuleParams]]:
    """Rule id → parameter shape, what the pathway loader checks files against."""
    return {rule_id: spec.params for rule_id, spec in REGISTRY.items()}


def spans(alert: AlertRule, ctx: RuleContext) -> list[Span]:
    """Run the alert's rule with its parameters as the loader bound them."""
    return REGISTRY[alert.rule].fn(alert, alert.bound_params, ctx)


# The built-in rules register on import, like a centre's own module would.
from daycase.engine.rules import (  # noqa: E402
    aftercare,
    levels,
    medicines,
    readings,
    timers,
)

__all__ = [
    "REGISTRY",
    "RuleSpec",
    "aftercare",
    "levels",
    "medicines",
    "readings",
    "rule",
    "rule_shapes",
    "spans",
    "timers",
]
