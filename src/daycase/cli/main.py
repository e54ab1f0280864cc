"""The `daycase` command: pathways, scenarios, storage and the demo (CLI room).

Each command builds what it needs from settings and calls the service layer; nothing
here decides a clinical rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from daycase.cli import ops, render
from daycase.cli.centre import centre_app
from daycase.cli.fhir import fhir_app
from daycase.cli.ops import DbOption, db_url
from daycase.cli.projections import projections_app
from daycase.cli.report import report_cmd
from daycase.cli.simulate import simulate_app
from daycase.config import Settings, sqlite_url
from daycase.engine.load import PathwayError, builtin_pathway, load_pathway
from daycase.pathways.schema import Pathway
from daycase.scenarios.runner import exit_code, run_files

if TYPE_CHECKING:
    from daycase.services.runtime import Runtime

app = typer.Typer(
    help="daycase: the day-of-surgery tracker.", no_args_is_help=True, add_completion=False
)
pathway_app = typer.Typer(help="Check and show pathway files.", no_args_is_help=True)
scenario_app = typer.Typer(
    help="Run scenario files (one patient's day as YAML).", no_args_is_help=True
)
user_app = typer.Typer(help="Manage users (staff and waiting-room screens).", no_args_is_help=True)
app.add_typer(pathway_app, name="pathway")
app.add_typer(scenario_app, name="scenario")
app.add_typer(user_app, name="user")
ops.register(app)  # verify, anchor, backup, restore
app.add_typer(projections_app, name="projections")
app.add_typer(centre_app, name="centre")
app.add_typer(fhir_app, name="fhir")
app.add_typer(simulate_app, name="simulate")
app.command("report")(report_cmd)

console = Console()
err = Console(stderr=True)


def main() -> None:
    """The console script. Settings come from DAYCASE_* variables: one that does not parse
    is named with its problem (exit 2), not shown as a traceback."""
    try:
        app()
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        for problem in exc.errors():
            name = "DAYCASE_" + "_".join(str(part) for part in problem["loc"]).upper()
            err.print(f"[red]setting {name}[/]: {problem['msg']}", highlight=False)
        raise SystemExit(2) from None


@pathway_app.command("validate")
def pathway_validate(file: Annotated[Path, typer.Argument(help="A pathway YAML file.")]) -> None:
    """Check a pathway file; every problem is printed with its key path."""
    try:
        pathway = load_pathway(file)
    except PathwayError as exc:
        for problem in exc.problems:
            err.print(f"[red]{exc.source}[/]: {problem}", highlight=False)
        raise typer.Exit(2) from exc
    console.print(
        f"[green]ok[/] {file}: pathway {pathway.id} {pathway.version}, "
        f"{len(pathway.steps)} steps, {len(pathway.alerts)} alert codes"
    )


def _pathway(ref: str) -> Pathway:
    """A pathway by file path, `id@version`, or id (its latest released version)."""
    if Path(ref).is_file():
        return load_pathway(ref)
    pathway_id, _, version = ref.partition("@")
    return builtin_pathway(pathway_id, version or None)


@pathway_app.command("show")
def pathway_show(
    ref: Annotated[
        str,
        typer.Argument(help="A pathway file, or a built-in id: kyphoplasty or kyphoplasty@1.0."),
    ],
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print a Markdown reference.")
    ] = False,
) -> None:
    """Print a pathway readably: phases, steps with roles, fields and gates, alerts."""
    try:
        pathway = _pathway(ref)
    except PathwayError as exc:
        err.print(str(exc), highlight=False)
        raise typer.Exit(2) from exc
    if markdown:
        typer.echo(render.pathway_markdown(pathway), nl=False)
    else:
        render.pathway(console, pathway)


@pathway_app.command("diff")
def pathway_diff(
    old: Annotated[str, typer.Argument(help="The version in use: kyphoplasty@1.0 or a file.")],
    new: Annotated[str, typer.Argument(help="The version to compare: kyphoplasty@2.0 or a file.")],
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print Markdown instead of formatted text.")
    ] = False,
) -> None:
    """What changed from one pathway version to another: steps, fields, gates, alerts,
    phases, roles and tables added, removed and changed."""
    from rich.markdown import Markdown

    from daycase.pathways.diff import diff

    try:
        before, after = _pathway(old), _pathway(new)
    except PathwayError as exc:
        err.print(str(exc), highlight=False)
        raise typer.Exit(2) from exc
    text = render.diff_markdown(before, after, diff(before, after))
    if markdown:
        typer.echo(text, nl=False)
    else:
        console.print(Markdown(text))


@scenario_app.command("run")
def scenario_run(
    files: Annotated[list[Path], typer.Argument(help="Scenario YAML files.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per file, one per line.")
    ] = False,
    pathway: Annotated[
        Path | None, typer.Option("--pathway", help="Run against this pathway file instead.")
    ] = None,
) -> None:
    """Run scenarios: exit 0 when all hold, 1 when any expectation fails, 2 for a bad file."""
    results = run_files([str(f) for f in files], pathway_path=str(pathway) if pathway else None)
    if as_json:
        for r in results:
            typer.echo(json.dumps(r.to_json(), ensure_ascii=False))
    else:
        render.scenario_results(console, results)
    raise typer.Exit(exit_code(results))


@app.command("migrate")
def migrate_cmd(db: DbOption = None) -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from daycase.store.factory import migrate

    url = db_url(db)
    migrate(url)
    console.print(f"[green]migrated[/] {render.safe_url(url)}")


@app.command("demo")
def demo_cmd(
    db: Annotated[
        str, typer.Option("--db", help="SQLite file (or URL) for the demo day.")
    ] = "daycase.db",
    patients: Annotated[int, typer.Option("--patients", min=1, max=60, help="How many cases.")] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Random seed for the day's timings.")] = 7,
    pathway_version: Annotated[
        str | None,
        typer.Option("--pathway-version", help="Open the cases on this kyphoplasty version."),
    ] = None,
) -> None:
    """Open a day of cases, drive them through the pathway, and print today's board."""
    from zoneinfo import ZoneInfo

    from daycase.demo import run_demo
    from daycase.services.cases import shifted_clock
    from daycase.services.catalog import PathwayCatalog, UnknownPathway

    try:
        PathwayCatalog().get("kyphoplasty", pathway_version)
    except UnknownPathway as exc:
        known = ", ".join(PathwayCatalog().versions("kyphoplasty"))
        err.print(f"[red]--pathway-version[/]: no kyphoplasty {exc.version} (known: {known})")
        raise typer.Exit(2) from exc
    settings = Settings()
    today = shifted_clock(settings.clock_offset_seconds)().astimezone(ZoneInfo(settings.timezone))
    _refuse_unless_demo_database(sqlite_url(db))
    board = run_demo(
        url=sqlite_url(db),
        patients=patients,
        seed=seed,
        tz_name=settings.timezone,
        today=today.date(),
        console=console,
        pathway_version=pathway_version,
    )
    render.board(console, board)


def _settings(db: str | None) -> Settings:
    settings = Settings()
    return settings.model_copy(update={"db": db_url(db)})


def _user_runtime(db: str | None) -> Runtime:
    """User commands bring the schema up to date first, like `serve` does."""
    from daycase.services.runtime import open_runtime
    from daycase.store.factory import migrate

    settings = _settings(db)
    migrate(settings.db)
    return open_runtime(settings)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[
        str,
        typer.Option(
            "--role", help="front_desk, nurse, anesthesia, proceduralist, admin or viewer."
        ),
    ],
    db: DbOption = None,
) -> None:
    """Add a user; the password is read from standard input, or prompted for at a terminal."""
    import sys

    from daycase.services.accounts import AccountError

    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    runtime = _user_runtime(db)
    try:
        runtime.accounts.add_user(name, role=role, password=password)
    except AccountError as exc:
        err.print(f"[red]not added[/]: {exc}", highlight=False)
        raise typer.Exit(2) from exc
    finally:
        runtime.close()
    console.print(f"[green]added[/] {name} ({role})")


@user_app.command("list")
def user_list(db: DbOption = None) -> None:
    """List users with their role and whether they are disabled."""
    runtime = _user_runtime(db)
    try:
        users = runtime.accounts.users()
    finally:
        runtime.close()
    render.users(console, users)


@user_app.command("disable")
def user_disable(
    name: Annotated[str, typer.Argument(help="Sign-in name.")], db: DbOption = None
) -> None:
    """Disable a user and end every sign-in they have."""
    from daycase.services.accounts import AccountError

    runtime = _user_runtime(db)
    try:
        runtime.accounts.disable(name)
    except AccountError as exc:
        err.print(f"[red]not disabled[/]: {exc}", highlight=False)
        raise typer.Exit(2) from exc
    finally:
        runtime.close()
    console.print(f"[green]disabled[/] {name}")


@user_app.command("unlock")
def user_unlock(
    name: Annotated[str, typer.Argument(help="Sign-in name.")], db: DbOption = None
) -> None:
    """Let a user sign in again at once from any computer, after too many failed sign-ins."""
    import getpass

    from daycase.services.accounts import AccountError

    try:
        operator = getpass.getuser()
    except (OSError, KeyError):
        operator = "an operator"
    runtime = _user_runtime(db)
    try:
        was_locked = runtime.accounts.unlock(name, by=f"{operator} (command line)")
    except AccountError as exc:
        err.print(f"[red]not unlocked[/]: {exc}", highlight=False)
        raise typer.Exit(2) from exc
    finally:
        runtime.close()
    state = "" if was_locked else " (no failed sign-ins were counted)"
    console.print(f"[green]unlocked[/] {name}{state}")


@app.command("serve")
def serve_cmd(
    db: DbOption = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on.")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Seed today's demo cases and users.")
    ] = False,
    pathway: Annotated[
        list[Path] | None,
        typer.Option("--pathway", help="A pathway file to serve besides the built-in ones."),
    ] = None,
) -> None:
    """Serve the API (and pages) with uvicorn; the database is migrated first."""
    from daycase.api.app import create_app
    from daycase.cli.serving import limits_from, serve
    from daycase.store.factory import migrate
    from daycase.web import install_web

    settings = _settings(db)
    updates: dict[str, object] = {}
    if host:
        updates["host"] = host
    if port:
        updates["port"] = port
    if pathway:
        updates["pathway_files"] = [*settings.pathway_files, *map(str, pathway)]
    settings = settings.model_copy(update=updates)
    for file in settings.pathway_files:
        try:
            load_pathway(file)
        except PathwayError as exc:
            for problem in exc.problems:
                err.print(f"[red]{exc.source}[/]: {problem}", highlight=False)
            raise typer.Exit(2) from exc
    from daycase.services.catalog import PathwayCatalog
    from daycase.services.centre import CentreError, centre_from

    try:
        centre_from(settings, PathwayCatalog.with_files(settings.pathway_files))
    except CentreError as exc:
        err.print(f"[red]not served[/]: {exc}", highlight=False)
        raise typer.Exit(2) from exc
    if demo:
        _refuse_unless_demo_database(settings.db)  # before the migration: nothing changes
    migrate(settings.db)
    if demo:
        from daycase.demo import DemoRefused, seed_server_demo

        try:
            users = seed_server_demo(settings, console=console)
        except DemoRefused as exc:
            err.print(f"[red]--demo refused[/]: {exc}", highlight=False)
            raise typer.Exit(1) from exc
        render.demo_users(console, users)
    address = f"http://{settings.host}:{settings.port}"
    console.print(f"daycase on {address}  (API at {address}/api/v1, OpenAPI at /openapi.json)")
    app = create_app(settings, extensions=[install_web])
    limits = limits_from(settings)
    if limits.max_connections < settings.max_connections:
        err.print(
            f"[yellow]file descriptors allow only {limits.max_connections} connections[/] "
            f"(DAYCASE_MAX_CONNECTIONS is {settings.max_connections}; raise `ulimit -n`)",
            highlight=False,
        )
    serve(app, settings, limits)


def _refuse_unless_demo_database(url: str) -> None:
    """Exit 1 with the reason when the demo may not seed this database."""
    from daycase.demo import DemoRefused, refuse_unless_demo_database

    try:
        refuse_unless_demo_database(url)
    except DemoRefused as exc:
        err.print(f"[red]demo refused[/]: {exc}", highlight=False)
        raise typer.Exit(1) from exc
