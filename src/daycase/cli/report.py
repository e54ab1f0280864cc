"""`daycase report MEASURE|all`: the quality reports on the command line (CLI room).

Exit codes: 0 printed; 1 a filter or measure was refused (named); 2 the database could
not be opened.
"""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from daycase.cli.ops import DbOption, db_url

if TYPE_CHECKING:
    from daycase.reports.model import Report

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _day(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        err.print(f"[red]{name}[/]: {text!r} is not a date (YYYY-MM-DD)", highlight=False)
        raise typer.Exit(1) from None


def report_cmd(
    measure: Annotated[str, typer.Argument(help="A measure id, or `all`.")] = "all",
    start: Annotated[
        str | None, typer.Option("--from", help="First day (YYYY-MM-DD); default 90 days ago.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day; default today.")] = None,
    room: Annotated[str | None, typer.Option(help="Only cases placed in this room.")] = None,
    proceduralist: Annotated[
        str | None, typer.Option(help="Only cases this user led (time-out).")
    ] = None,
    pathway: Annotated[str | None, typer.Option(help="Only this pathway id.")] = None,
    version: Annotated[str | None, typer.Option(help="Only this pathway version.")] = None,
    levels: Annotated[
        int | None, typer.Option(help="Only cases with this many planned levels.")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json.")] = Format.table,
    db: DbOption = None,
) -> None:
    """Print quality measures over the cases booked from --from to --to (inclusive)."""
    from daycase.cli.centre import _runtime
    from daycase.reports.export import measure_csv, report_json, summary_csv
    from daycase.reports.measures import MEASURES
    from daycase.services.catalog import PathwayUnavailable
    from daycase.services.reports import BadFilter, report_filters

    if measure != "all" and measure not in MEASURES:
        err.print(
            f"[red]measure[/]: no measure {measure!r}; the measures are: {', '.join(MEASURES)}",
            highlight=False,
        )
        raise typer.Exit(1)
    first, last = _day(start, "--from"), _day(end, "--to")
    runtime = _runtime(db_url(db))
    try:
        try:
            filters = report_filters(
                today=runtime.today(),
                start=first,
                end=last,
                room=room,
                proceduralist=proceduralist,
                pathway_id=pathway,
                pathway_version=version,
                levels=levels,
            )
        except BadFilter as bad:
            err.print(f"[red]--{bad.field}[/]: {bad.problem}", highlight=False)
            raise typer.Exit(1) from None
        stale = len(runtime.reports.facts.stale(filters.start, filters.end))
        with Progress(console=err, transient=True, disable=stale < 200) as progress:
            task = progress.add_task("Bringing the report facts up to date", total=stale)
            try:
                report = runtime.reports.report(
                    filters,
                    measure=None if measure == "all" else measure,
                    progress=lambda n: progress.advance(task, n),
                )
            except PathwayUnavailable as missing:
                err.print(f"[red]cannot report[/]: {missing}", highlight=False)
                raise typer.Exit(1) from None
    finally:
        runtime.close()
    if fmt is Format.json:
        typer.echo(json.dumps(report_json(report), indent=2))
    elif fmt is Format.csv:
        text = summary_csv(report) if measure == "all" else measure_csv(report.measures[0])
        typer.echo(text, nl=False)
    else:
        _print(report)


def _print(report: Report) -> None:
    from daycase.reports.export import headline_words

    f = report.filters
    console.print(f"{report.cases} cases booked {f.start} to {f.end}", highlight=False)
    table = Table("measure", "count", "rate (95 % interval)", "national", "")
    for m in report.measures:
        p = m.proportion
        count = "" if p is None else f"{p.numerator} / {p.denominator}"
        national = "" if m.reference is None else str(m.reference)
        note = "too few cases" if p is not None and p.too_small and p.denominator else ""
        table.add_row(m.id, count, headline_words(m), national, note)
    console.print(table)
    if len(report.measures) == 1:
        for t in report.measures[0].tables:
            out = Table(*t.columns, title=t.title)
            for r in t.rows:
                out.add_row(*("" if c is None else str(c) for c in r))
            console.print(out)
