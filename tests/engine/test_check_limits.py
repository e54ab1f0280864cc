"""A reading's limit compares as the decimals a nurse reads, whatever the number's type.

`Check.matches` compares floats and small whole numbers directly (their order is the
order of their shortest decimals); this holds it equal to the decimal comparison.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from daycase.engine.rules.readings import Check

OPS = ("lt", "le", "gt", "ge")
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.decimals(min_value=-1000, max_value=1000, places=3).map(float),
)


def by_decimals(op: str, value: float, bound: float) -> bool:
    v, b = Decimal(str(value)), Decimal(str(bound))
    return {"lt": v < b, "le": v <= b, "gt": v > b, "ge": v >= b}[op]


@settings(max_examples=3000, deadline=None)
@given(op=st.sampled_from(OPS), value=numbers, bound=numbers)
def test_a_limit_compares_as_the_decimals_written_out(op: str, value: float, bound: float) -> None:
    check = Check.model_validate({"field": "x", op: bound})
    assert check.matches({"x": value}) == by_decimals(op, value, check.model_dump()[op])


def test_limits_at_the_edges() -> None:
    assert Check(field="x", ge=0.3).matches({"x": 0.1 + 0.2})
    assert not Check(field="x", gt=0.30000000000000004).matches({"x": 0.3})
    assert Check(field="x", lt=2.0**60).matches({"x": 2**60 - 1})
    assert not Check(field="x", lt=1.0).matches({"x": True})
