"""`daycase centre`: the centre's rooms, bays, targets and reason lists (CLI room).

`show` prints the set-up in force as YAML (the file format `load` reads), `example` the
one shipped with daycase, `load FILE --by NAME` stores a file as the next version (every
problem named, nothing stored when there is one), `history` lists every version.
Exit codes: 0 done; 1 the file was refused or someone changed the set-up meanwhile;
2 the database could not be opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from daycase.cli.ops import DbOption, db_url

if TYPE_CHECKING:
    from daycase.services.runtime import Runtime

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
centre_app = typer.Typer(
    help="The centre's set-up: rooms, bays, opening hours, targets, reason lists.",
    no_args_is_help=True,
)


@centre_app.command("example")
def example_cmd() -> None:
    """Print the example set-up (four rooms and their bays) to save, edit and load."""
    from daycase.services.centre_setup import example_yaml

    typer.echo(example_yaml(), nl=False)


@centre_app.command("show")
def show_cmd(db: DbOption = None) -> None:
    """Print the set-up in force, as the YAML `load` reads."""
    from daycase.services.centre_setup import setup_to_yaml

    runtime = _runtime(db)
    try:
        current = runtime.setup.current()
    finally:
        runtime.close()
    who = f" by {current.changed_by}" if current.version else " (nothing loaded yet)"
    typer.echo(f"# version {current.version}{who}")
    typer.echo(setup_to_yaml(current.setup), nl=False)


@centre_app.command("load")
def load_cmd(
    file: Annotated[Path, typer.Argument(help="A set-up file (see `daycase centre example`).")],
    by: Annotated[str, typer.Option("--by", help="Who is making the change (for the audit log).")],
    note: Annotated[str, typer.Option("--note", help="Why, in a few words.")] = "",
    db: DbOption = None,
) -> None:
    """Store FILE as the next version of the set-up; nothing is stored if any field is wrong."""
    from daycase.services.accounts import User
    from daycase.services.centre_setup import SetupConflict, SetupRefused, setup_from_yaml

    try:
        setup = setup_from_yaml(file.read_text(encoding="utf-8"))
    except OSError as exc:
        err.print(f"[red]not loaded[/]: cannot read {file}: {exc.strerror}", highlight=False)
        raise typer.Exit(1) from exc
    except SetupRefused as exc:
        for problem in exc.problems:
            err.print(f"[red]not loaded[/]: {file}: {problem}", highlight=False)
        raise typer.Exit(1) from exc
    runtime = _runtime(db)
    try:
        current = runtime.setup.current()
        stored = runtime.change_setup(
            setup,
            by=User(by, "operator"),
            expected_version=current.version,
            note=note,
        )
    except (SetupConflict, SetupRefused) as exc:
        err.print(f"[red]not loaded[/]: {exc}", highlight=False)
        raise typer.Exit(1) from exc
    finally:
        runtime.close()
    console.print(
        f"Loaded {file} as version {stored.version}: {len(setup.rooms)} rooms, "
        f"{len(setup.preop_bays)} pre-op bays, {len(setup.recovery_bays)} recovery bays",
        highlight=False,
    )


@centre_app.command("history")
def history_cmd(db: DbOption = None) -> None:
    """Every version of the set-up: when, by whom and why, newest first."""
    runtime = _runtime(db)
    try:
        versions = runtime.setup.history()
        tz = runtime.tz
    finally:
        runtime.close()
    table = Table("version", "when", "by", "rooms", "note")
    for v in versions:
        when = v.changed_at.astimezone(tz).strftime("%d %b %Y %H:%M")
        table.add_row(str(v.version), when, v.changed_by, str(len(v.setup.rooms)), v.note)
    console.print(table)


def _runtime(db: str | None) -> Runtime:
    from daycase.cli.ops import _open
    from daycase.config import Settings
    from daycase.services.runtime import open_runtime

    url = db_url(db)
    _open(url, refusal="cannot open the set-up").close()  # refuses plainly, exit 2
    return open_runtime(Settings(db=url))
