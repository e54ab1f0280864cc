"""The arithmetic of reports: exact intervals, quartiles, periods (reports room)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import cache

from daycase.reports.model import Proportion, Summary

CONFIDENCE = 0.95
# Fewer cases than this and a rate is noise whatever it says (see docs/reports.md).
MIN_DENOMINATOR = 30


def proportion(
    numerator: int, denominator: int, *, per: int = 100, expected_rate: float | None = None
) -> Proportion:
    """`numerator` of `denominator` with its Clopper-Pearson interval, scaled by `per`.

    Too small to mean anything: under 30 cases, or, for a rare event with a national rate
    (`expected_rate`, as a fraction), so few cases that an average centre would expect less
    than one event (no event and one event are then equally ordinary).
    """
    if not 0 <= numerator <= max(denominator, 0):
        raise ValueError(f"a share of {numerator} in {denominator} cases")
    if denominator <= 0:
        return Proportion(numerator, denominator, None, None, None, per, True)
    low, high = clopper_pearson(numerator, denominator)
    too_small = denominator < MIN_DENOMINATOR or (
        expected_rate is not None and denominator * expected_rate < 1
    )
    return Proportion(
        numerator,
        denominator,
        numerator / denominator * per,
        low * per,
        high * per,
        per,
        too_small,
    )


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """The exact two-sided 95 % interval of a binomial proportion k/n: quantiles of the beta
    distribution, the inverse of the regularized incomplete beta function."""
    # Imported here: scipy takes a while to load, and only a report needs it.
    from scipy.special import betaincinv

    alpha = 1 - CONFIDENCE
    low = 0.0 if k == 0 else float(betaincinv(k, n - k + 1, alpha / 2))
    high = 1.0 if k == n else float(betaincinv(k + 1, n - k, 1 - alpha / 2))
    return low, high


def summary(values: Sequence[float]) -> Summary | None:
    """Median and quartiles (inclusive method: the quartiles of the values themselves)."""
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)
    if n == 1:
        only = ordered[0]
        return Summary(1, only, only, only, only, only)
    # statistics.quantiles(ordered, n=4, method="inclusive"), without its second sort of
    # a year's durations: the point i/4 of the way from the first value to the last,
    # between the two values either side.
    quartiles: list[float] = []
    for i in (1, 2, 3):
        j, delta = divmod(i * (n - 1), 4)
        low, high = ordered[j], ordered[j + 1]  # j < n - 1: i < 4
        quartiles.append((low * (4 - delta) + high * delta) / 4)
    q1, median, q3 = quartiles
    return Summary(n, ordered[0], q1, median, q3, ordered[-1])


@cache
def month(day: date) -> str:
    """2026-03: kept per day, since a year's report asks it of every case."""
    return f"{day.year:04d}-{day.month:02d}"


@cache
def week(day: date) -> str:
    """ISO week, e.g. 2026-W49: weeks start on Monday."""
    year, number, _ = day.isocalendar()
    return f"{year:04d}-W{number:02d}"


def months(first: date, last: date) -> list[str]:
    found: list[str] = []
    year, mon = first.year, first.month
    while (year, mon) <= (last.year, last.month):
        found.append(f"{year:04d}-{mon:02d}")
        year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return found
