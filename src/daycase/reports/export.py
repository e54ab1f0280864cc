"""Reports as JSON and CSV: the same numbers the pages draw (reports room).

Exports carry case ids (random, never a name or a record number) and no patient detail:
de-identified by construction, since the facts rows hold none.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import date
from typing import Any

from daycase.reports.model import Cell, Measure, Proportion, Report, Table

SUMMARY_COLUMNS = (
    "measure",
    "group",
    "title",
    "numerator",
    "denominator",
    "rate",
    "low_95",
    "high_95",
    "per",
    "too_few_cases",
    "reference",
)


def report_json(report: Report) -> dict[str, Any]:
    """The whole report as plain JSON values (dates in ISO 8601)."""
    raw = asdict(report)
    raw["filters"] = {
        k: (v.isoformat() if isinstance(v, date) else v) for k, v in raw["filters"].items()
    }
    return raw


def summary_rows(report: Report) -> list[tuple[Cell, ...]]:
    return [_summary_row(m) for m in report.measures]


def _summary_row(m: Measure) -> tuple[Cell, ...]:
    p: Proportion | None = m.proportion
    if p is None:
        return (m.id, m.group, m.title, None, None, None, None, None, None, None, m.reference)
    return (
        m.id,
        m.group,
        m.title,
        p.numerator,
        p.denominator,
        _round(p.rate),
        _round(p.low),
        _round(p.high),
        p.per,
        "yes" if p.too_small else "no",
        m.reference,
    )


def rate_words(p: Proportion, value: float | None) -> str:
    """ "0.81 per 1,000" or "95.2 %": how people read a rate."""
    if value is None:
        return "no cases"
    return f"{value:.2f} per 1,000" if p.per == 1000 else f"{value:.1f} %"


def headline_words(m: Measure) -> str:
    """The rate and its interval in words, for the command line."""
    p = m.proportion
    if p is None:
        return "see the tables"
    if p.denominator == 0:
        return "no cases"
    return f"{rate_words(p, p.rate)} ({rate_words(p, p.low)} to {rate_words(p, p.high)})"


def table_csv(table: Table) -> str:
    return _csv([table.columns, *table.rows])


def summary_csv(report: Report) -> str:
    return _csv([SUMMARY_COLUMNS, *summary_rows(report)])


def measure_csv(measure: Measure) -> str:
    """A measure's headline row, then each of its tables after a blank line."""
    parts = [_csv([SUMMARY_COLUMNS, _summary_row(measure)])]
    parts.extend(_csv([(t.title,), t.columns, *t.rows]) for t in measure.tables)
    return "\r\n".join(parts)


def _csv(rows: list[tuple[Cell, ...]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([_safe(cell) for cell in row])
    return out.getvalue()


def _safe(cell: Cell) -> Cell:
    """A spreadsheet reads `=`, `+`, `-`, `@` at the start of text as a formula: a reason
    typed by staff must stay text (OWASP's CSV injection advice)."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
