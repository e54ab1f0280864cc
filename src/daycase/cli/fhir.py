"""`daycase fhir export` and `fhir import`: FHIR R4 with the hospital record (CLI room).

Export: one case prints (or writes) its bundle; a day, or every case changed `--since` a
moment, writes one bundle per case into `--out`, or with `--ndjson` one file per resource
type (FHIR Bulk Data's NDJSON) and a manifest whose `transactionTime` is the next
`--since`. `--validate` checks every bundle against the R4 models and our own rules before
writing, and refuses (exit 1, each problem named) when one fails.

Import: the hospital's schedule as a transaction Bundle books, moves or cancels cases,
all or nothing, as the user `--by` (who must be allowed to book cases).

Exit codes: 0 done; 1 nothing to export, a bundle failed validation, or an import was
refused (each problem named; nothing stored); 2 the database could not be opened.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress

from daycase.cli.ops import DbOption, db_url

COMMIT_MARGIN = timedelta(minutes=1)
fhir_app = typer.Typer(help="FHIR R4 exchange with the hospital record.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)


@fhir_app.command("export")
def export_cmd(
    case_id: Annotated[str | None, typer.Argument(help="One case's id.")] = None,
    day: Annotated[
        str | None, typer.Option("--day", help="Every case booked on this day (YYYY-MM-DD).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Every case with an entry recorded at or after this moment "
            "(ISO 8601 with its offset, e.g. 2026-12-01T18:00:00-05:00).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="A folder: one `<case id>.json` bundle per case. Default: print."),
    ] = None,
    validate: Annotated[
        bool, typer.Option("--validate", help="Check each bundle (R4 models, our rules) first.")
    ] = False,
    ndjson: Annotated[
        bool,
        typer.Option(
            "--ndjson",
            help="A day as Bulk Data files: one `<type>.ndjson` per resource type, and a manifest.",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Export a case, a day's cases or the cases changed since a moment as FHIR R4
    Bundles, or as Bulk Data NDJSON."""
    from daycase.cli.centre import _runtime
    from daycase.fhir.export import bundle
    from daycase.services.cases import CaseNotFound
    from daycase.services.catalog import PathwayUnavailable
    from daycase.services.fhir import DEFAULT_BASE

    if sum(x is not None for x in (case_id, day, since)) != 1:
        err.print("[red]export[/]: give one of a case id, --day or --since", highlight=False)
        raise typer.Exit(1)
    moment: datetime | None = None
    if since is not None:
        try:
            moment = datetime.fromisoformat(since)
        except ValueError:
            moment = None
        if moment is None or moment.utcoffset() is None:
            err.print(
                f"[red]--since[/]: {since!r} is not a moment with its offset "
                "(e.g. 2026-12-01T18:00:00-05:00)",
                highlight=False,
            )
            raise typer.Exit(1)
    on: date | None = None
    if day is not None:
        try:
            on = date.fromisoformat(day)
        except ValueError:
            err.print(f"[red]--day[/]: {day!r} is not a date (YYYY-MM-DD)", highlight=False)
            raise typer.Exit(1) from None
    if case_id is None and out is None:
        err.print("[red]--out[/]: exporting many cases needs a folder", highlight=False)
        raise typer.Exit(1)
    if ndjson and case_id is not None:
        err.print(
            "[red]--ndjson[/]: Bulk Data files are written for --day or --since", highlight=False
        )
        raise typer.Exit(1)
    runtime = _runtime(db_url(db))
    # Before any read, by the clock writes are stamped with, less the time a write may
    # take from its stamp to its commit: the next export `--since` it may repeat a case
    # (receivers replace by id), never miss one.
    started = runtime.now() - COMMIT_MARGIN
    bundles: list[tuple[str, dict[str, Any]]] = []
    try:
        try:
            if case_id is not None:
                bundles.append((case_id, runtime.fhir.case_bundle(case_id)))
            else:
                if on is not None:
                    count, found = len(runtime.store.cases(on=on)), runtime.fhir.day(on)
                else:
                    assert moment is not None
                    count = len(runtime.store.changed_since(moment))
                    found = runtime.fhir.since(moment)
                with Progress(console=err, transient=True, disable=count < 50) as progress:
                    task = progress.add_task(f"Exporting {on or since}", total=count)
                    for found_id, resources in found:
                        bundles.append((found_id, bundle(resources, base=DEFAULT_BASE)))
                        progress.advance(task)
        except CaseNotFound:
            err.print(f"[red]case[/]: no case with id {case_id}", highlight=False)
            raise typer.Exit(1) from None
        except PathwayUnavailable as missing:
            err.print(f"[red]cannot export[/]: {missing}", highlight=False)
            raise typer.Exit(1) from None
    finally:
        runtime.close()
    if not bundles and on is not None:
        err.print(f"[red]--day[/]: no case is booked on {on}", highlight=False)
        raise typer.Exit(1)
    if validate:
        from daycase.fhir.validate import bundle_problems

        failed = [(cid, p) for cid, b in bundles for p in bundle_problems(b)]
        for cid, problem in failed:
            err.print(f"[red]{cid}[/]: {problem}", highlight=False)
        if failed:
            raise typer.Exit(1)
    if out is None:
        typer.echo(json.dumps(bundles[0][1], indent=2))
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        if ndjson:
            request = "daycase fhir export --ndjson " + (
                f"--since {since}" if since else f"--day {on}"
            )
            resources = [e["resource"] for _, b in bundles for e in b["entry"]]
            _write_ndjson(out, resources, request=request, at=started)
            err.print(f"{len(bundles)} case(s) written to {out} as NDJSON", highlight=False)
            return
        for cid, b in bundles:
            (out / f"{cid}.json").write_text(json.dumps(b, indent=2), encoding="utf-8")
    except OSError as bad:
        err.print(f"[red]--out[/]: cannot write into {out} ({bad.strerror})", highlight=False)
        raise typer.Exit(1) from None
    err.print(f"{len(bundles)} bundle(s) written to {out}", highlight=False)


def _write_ndjson(
    out: Path, resources: list[dict[str, Any]], *, request: str, at: datetime
) -> None:
    """One file per resource type, one resource per line (FHIR Bulk Data's format), and
    the manifest a Bulk Data export would answer, with each file's count. `at` is when the
    export began: changes from then on are in the next export `--since` it."""
    by_type: dict[str, list[str]] = {}
    for r in resources:
        by_type.setdefault(str(r["resourceType"]), []).append(json.dumps(r, separators=(",", ":")))
    for kind, lines in by_type.items():
        (out / f"{kind}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    manifest = {
        "transactionTime": at.isoformat(),
        "request": request,
        "requiresAccessToken": False,
        "output": [
            {"type": kind, "url": f"{kind}.ndjson", "count": len(lines)}
            for kind, lines in sorted(by_type.items())
        ],
        "error": [],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


@fhir_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="A FHIR transaction Bundle (JSON).")],
    by: Annotated[str, typer.Option("--by", help="The daycase user booking the cases.")],
    db: DbOption = None,
) -> None:
    """Book, move or cancel cases from the hospital's schedule (a transaction Bundle)."""
    from daycase.cli.centre import _runtime
    from daycase.services.accounts import User
    from daycase.services.fhir import ImportRefused, import_schedule

    try:
        bundle = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as bad:
        err.print(f"[red]{file}[/]: cannot read it as JSON ({bad})", highlight=False)
        raise typer.Exit(1) from None
    runtime = _runtime(db_url(db))
    try:
        row = runtime.accounts.accounts.user(by)
        if row is None or row.disabled:
            err.print(f"[red]--by[/]: no active user {by!r}", highlight=False)
            raise typer.Exit(1)
        if not runtime.centre.may_open_cases(row.role):
            err.print(f"[red]--by[/]: {by} ({row.role}) may not book cases", highlight=False)
            raise typer.Exit(1)
        try:
            imported = import_schedule(runtime, bundle, by=User(row.name, row.role))
        except ImportRefused as refused:
            for problem in refused.problems:
                err.print(f"[red]refused[/]: {problem}", highlight=False)
            err.print("Nothing of the bundle was stored.", highlight=False)
            raise typer.Exit(1) from None
    finally:
        runtime.close()
    for entry, what, case_id in imported.outcomes:
        typer.echo(f"entry[{entry}]: {what}" + (f" (case {case_id})" if case_id else ""))
