"""`daycase projections rebuild`: recompute every read model from the events (CLI room).

Exit codes: 0 every read model matches the events (or was corrected to); 1 a case was
left alone because its history needs `daycase verify` first, or, with `--check`, a row
differs; 2 the database could not be opened.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from daycase.cli.ops import DbOption, _open, db_url

console = Console(soft_wrap=True)
projections_app = typer.Typer(
    help="Read models kept beside the events (case index, report facts; boards live in memory).",
    no_args_is_help=True,
)


@projections_app.command("rebuild")
def rebuild_cmd(
    db: DbOption = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only compare with the events; change nothing.")
    ] = False,
) -> None:
    """Recompute each read model from the events and correct every row that differs.

    The case index's chain ends are never rewritten (they are what `verify` checks the
    history against): a case whose chain end disagrees is named and left alone."""
    from daycase.config import Settings
    from daycase.services.catalog import PathwayCatalog
    from daycase.services.reports import ReportFactsProjection
    from daycase.store.projections import PROJECTIONS

    store = _open(db_url(db), refusal="cannot rebuild")
    catalog = PathwayCatalog.with_files(Settings().pathway_files)
    results = []
    try:
        with Progress(console=console, transient=True) as progress:
            for projection in (*PROJECTIONS, ReportFactsProjection(catalog)):
                task = progress.add_task(
                    f"Rebuilding {projection.name}", total=projection.cases(store.engine)
                )
                results.append(
                    projection.rebuild(
                        store.engine, write=not check, progress=partial(progress.advance, task)
                    )
                )
    finally:
        store.close()
    table = Table("read model", "rows read", "rows that differed", "left alone")
    for found in results:
        table.add_row(
            found.name, str(found.checked), str(len(found.corrected)), str(len(found.refused))
        )
    console.print(table)
    verb = "would correct" if check else "corrected"
    for found in results:
        for case_id in found.corrected:
            console.print(f"{found.name}: {verb} case {case_id}", highlight=False)
        if found.filled:
            filled = "would fill" if check else "filled"
            console.print(
                f"{found.name}: {filled} {found.filled} rows no report had read yet",
                highlight=False,
            )
        for case_id, why in found.refused:
            console.print(
                f"[red]{found.name}: left case {case_id} alone[/]: {why}", highlight=False
            )
    console.print(
        "The board read model is kept in each server's memory and rebuilt when it starts."
    )
    differs = any(found.refused or (check and found.corrected) for found in results)
    raise typer.Exit(1 if differs else 0)
