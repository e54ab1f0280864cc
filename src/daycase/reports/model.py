"""What a report is made of: measures with their counts, tables and charts (reports room).

Pure values: the CLI prints them, the API serialises them, the pages draw them. A chart
carries its numbers, never pixels, so every renderer can put the same numbers in a table
beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

Cell = str | int | float | None


@dataclass(frozen=True, slots=True)
class Proportion:
    """`numerator` of `denominator` cases, with an exact (Clopper-Pearson) 95 % interval.

    `per` scales the rate for reading: 1,000 for "per 1,000 admissions", 100 for a percent.
    `too_small` says the denominator is too small for the rate to mean anything.
    """

    numerator: int
    denominator: int
    rate: float | None
    low: float | None
    high: float | None
    per: int
    too_small: bool


@dataclass(frozen=True, slots=True)
class Summary:
    """Five numbers of a set of durations in minutes (Tukey's box), and how many."""

    n: int
    low: float
    q1: float
    median: float
    q3: float
    high: float


@dataclass(frozen=True, slots=True)
class Table:
    """Rows under named columns; the first column names the row."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True, slots=True)
class BarChart:
    """One bar per label (reasons, kinds, steps): a count or a rate."""

    title: str
    description: str
    unit: str
    bars: tuple[tuple[str, float], ...]
    kind: str = "bar"


@dataclass(frozen=True, slots=True)
class RunChart:
    """A value per period in time order, with the national or target rate as a line.

    A period with no cases has value None (a gap, not a zero)."""

    title: str
    description: str
    unit: str
    points: tuple[tuple[str, float | None], ...]
    reference: float | None = None
    reference_label: str = ""
    kind: str = "run"


@dataclass(frozen=True, slots=True)
class BoxChart:
    """Durations per group (room, week, number of levels) as box plots."""

    title: str
    description: str
    unit: str
    boxes: tuple[tuple[str, Summary], ...]
    kind: str = "box"


Chart = BarChart | RunChart | BoxChart


@dataclass(frozen=True, slots=True)
class Measure:
    """One measure: its definition in words, its headline proportion (when it is one), the
    cases behind that number, and the tables and charts that break it down."""

    id: str
    group: str
    title: str
    definition: str
    proportion: Proportion | None = None
    reference: float | None = None
    reference_label: str = ""
    cases: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Filters:
    """Which cases a report covers: scheduled days from `start` to `end` (inclusive)."""

    start: date
    end: date
    room: str | None = None
    proceduralist: str | None = None
    pathway_id: str | None = None
    pathway_version: str | None = None
    levels: int | None = None


@dataclass(frozen=True, slots=True)
class Report:
    filters: Filters
    cases: int
    measures: tuple[Measure, ...] = field(default_factory=tuple)
