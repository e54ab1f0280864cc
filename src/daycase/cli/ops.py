"""`daycase verify`, `anchor`, `backup` and `restore`: proving and keeping history (CLI room).

Exit codes: 0 all holds; 1 a problem was found (each named); 2 nothing could be checked
(no such database, an old schema, no history at all, a bad key or folder).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from daycase.config import Settings, sqlite_url

if TYPE_CHECKING:  # the commands import what they use: `daycase --help` stays quick
    from rich.progress import Progress

    from daycase.services.anchor_checks import AnchorIndex
    from daycase.services.anchors import AnchorKey, AnchorProblem
    from daycase.services.catalog import PathwayCatalog
    from daycase.services.integrity import Report
    from daycase.store.sql import SqlEventStore

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL or SQLite file path (default: $DAYCASE_DB or daycase.db)."
    ),
]
AnchorsOption = Annotated[
    Path | None,
    typer.Option("--anchors", help="Folder of signed checkpoints to check the history against."),
]
KeyOption = Annotated[
    list[Path] | None,
    typer.Option("--key", help="Anchor key file that signed the checkpoints (repeatable)."),
]

PG_BACKUP = (
    "daycase backup and restore copy SQLite files. For PostgreSQL use pg_dump -Fc and "
    "pg_restore (or base backups with WAL archiving), then run daycase verify on the "
    "restored database: see docs/operations.md"
)


def register(app: typer.Typer) -> None:
    """Add these commands to the `daycase` app."""
    app.command("verify")(verify_cmd)
    app.command("anchor")(anchor_cmd)
    app.command("backup")(backup_cmd)
    app.command("restore")(restore_cmd)


def db_url(db: str | None) -> str:
    """The database a command works on: `--db` (a URL or a SQLite file path), else the
    setting."""
    return sqlite_url(db) if db else Settings().db


def _now() -> datetime:
    from daycase.services.cases import shifted_clock

    return shifted_clock(Settings().clock_offset_seconds)()


def _cannot(message: str, *, refusal: str = "cannot verify") -> typer.Exit:
    err.print(f"[red]{refusal}[/]: {message}", highlight=False)
    return typer.Exit(2)


def _open(url: str, *, refusal: str = "cannot verify") -> SqlEventStore:
    """The store at `url`, refusing plainly what cannot be verified (exit 2)."""
    from daycase.store.backup import schema_state, sqlite_file
    from daycase.store.sql import SqlEventStore, make_engine

    try:
        path = sqlite_file(url)
    except Exception as exc:  # not a URL SQLAlchemy can read
        raise _cannot(f"{url} is not a database URL or file path", refusal=refusal) from exc
    if path is not None and not path.is_file():
        raise _cannot(f"there is no database file at {path}", refusal=refusal)
    try:
        store = SqlEventStore(make_engine(url))
    except Exception as exc:  # an unknown dialect, a driver that is not installed
        raise _cannot(
            f"cannot open the database: {exc.__class__.__name__}", refusal=refusal
        ) from exc
    try:
        state = schema_state(store.engine)
    except Exception as exc:
        store.close()
        raise _cannot(
            f"cannot open the database: {exc.__class__.__name__}", refusal=refusal
        ) from exc
    if not state.up_to_date:
        store.close()
        if state.current is None:
            raise _cannot(
                "this is not a daycase database (it has no daycase tables)", refusal=refusal
            )
        raise _cannot(
            f"the database's schema is at revision {state.current}, this daycase needs "
            f"{state.head}: run `daycase migrate` on it first",
            refusal=refusal,
        )
    return store


def _keys(keys: list[Path] | None, *, refusal: str = "cannot verify") -> list[AnchorKey]:
    from daycase.services.anchors import AnchorError, read_key

    found: list[AnchorKey] = []
    for path in keys or []:
        try:
            key = read_key(path)
        except AnchorError as exc:
            raise _cannot(str(exc), refusal=refusal) from exc
        if key.warning:
            err.print(f"[yellow]warning[/]: {key.warning}", highlight=False)
        found.append(key)
    return found


def _checkpoints(
    anchors: Path | None, keys: list[Path] | None, *, refusal: str = "cannot verify"
) -> tuple[AnchorIndex | None, list[AnchorProblem]]:
    from daycase.services.anchor_checks import read_anchors
    from daycase.services.anchors import AnchorError

    if anchors is None:
        if keys:
            raise _cannot("--key needs --anchors DIR (the folder of checkpoints)", refusal=refusal)
        return None, []
    if not keys:
        raise _cannot(
            "--anchors needs --key FILE (the key that signed the checkpoints)", refusal=refusal
        )
    try:
        index, bad = read_anchors(anchors, _keys(keys, refusal=refusal))
    except AnchorError as exc:
        raise _cannot(str(exc), refusal=refusal) from exc
    if not index.checkpoints and not bad:
        raise _cannot(f"there are no checkpoints in {anchors}", refusal=refusal)
    return index, bad


def _catalog(*, refusal: str = "cannot verify") -> PathwayCatalog:
    """The pathway versions to check cases against: the built-ins and the centre's files."""
    from daycase.engine.load import PathwayError
    from daycase.services.catalog import PathwayCatalog

    try:
        return PathwayCatalog.with_files(Settings().pathway_files)
    except PathwayError as exc:
        problems = "; ".join(f"{exc.source}: {problem}" for problem in exc.problems)
        raise _cannot(f"a pathway file does not load: {problems}", refusal=refusal) from exc


def _verify(
    store: SqlEventStore,
    catalog: PathwayCatalog,
    anchors: AnchorIndex | None,
    untrusted: list[AnchorProblem],
) -> Report:
    from daycase.services.integrity import verify_all

    return verify_all(store, catalog, anchors=anchors, untrusted=untrusted)


def _print_report(report: Report, *, what: str = "this database") -> int:
    """Print what verification found in plain words; the exit code it means."""
    for p in report.problems:
        err.print(f"[red]case {p.case_id}[/] (seq {p.seq}): {p.problem}", highlight=False)
    for a in report.audit_problems:
        err.print(f"[red]audit log[/] (row {a.seq}): {a.problem}", highlight=False)
    for x in report.anchor_problems:
        at = "" if x.seq is None else f" (seq {x.seq})"
        subject = f"anchor file {x.subject}" if x.kind == "checkpoint" else x.subject
        err.print(f"[red]{subject}[/]{at}: {x.problem}", highlight=False)
    failing = {p.case_id for p in report.problems} | {
        x.subject.removeprefix("case ") for x in report.anchor_problems if x.kind == "case"
    }
    if failing:
        err.print(f"[red]{len(failing)} of {report.cases} cases fail verification[/]")
    if report.audit_problems or any(x.kind == "audit" for x in report.anchor_problems):
        err.print("[red]the audit log fails verification[/]")
    untrusted = [x for x in report.anchor_problems if x.kind == "checkpoint"]
    if untrusted:
        err.print(f"[red]{len(untrusted)} files in the anchor folder cannot be trusted[/]")
    if not report.ok:
        return 1
    if report.empty:
        err.print(
            f"[yellow]nothing to verify[/]: {what} holds 0 cases and 0 events. Is this the "
            "right file? (A copy of a live SQLite file taken without its -wal file holds "
            "nothing: take copies with `daycase backup`.)",
            highlight=False,
        )
        return 2
    console.print(
        f"[green]ok[/] {report.cases} cases, every hash chain intact, every pathway "
        "definition available and matching"
    )
    console.print(
        f"   {report.events} events; the audit log's chain is intact ({report.audit_rows} rows)"
    )
    if not report.checkpoints:
        console.print(
            "   not checked against anchors: without them verify cannot see a history that "
            "someone with write access to the database rewrote and re-sealed "
            "(daycase verify --anchors DIR --key FILE)",
            highlight=False,
        )
        return 0
    newest = max(report.checkpoints, key=lambda c: c.written_at)
    age_min = max(0, int((_now() - newest.written_at).total_seconds() // 60))
    newer = report.cases - report.anchored_cases
    console.print(
        f"   every anchored case and the audit log still pass through what "
        f"{len(report.checkpoints)} checkpoints anchored; the newest, {newest.name}, was "
        f"written {age_min} minutes ago"
        + (f"; {newer} cases are newer than every checkpoint" if newer > 0 else ""),
        highlight=False,
    )
    return 0


def verify_cmd(db: DbOption = None, anchors: AnchorsOption = None, key: KeyOption = None) -> None:
    """Re-compute every case's hash chain and the audit log's, check each case's pathway
    definition and, given --anchors and --key, that no history was re-sealed or deleted
    since a checkpoint; name each case that fails. Exit 0 ok, 1 problems, 2 cannot verify."""
    checkpoints, untrusted = _checkpoints(anchors, key)
    catalog = _catalog()
    store = _open(db_url(db))
    try:
        report = _verify(store, catalog, checkpoints, untrusted)
    finally:
        store.close()
    raise typer.Exit(_print_report(report))


def anchor_cmd(
    new_key_file: Annotated[
        Path | None,
        typer.Option("--new-key", help="Make a new anchor key in this file (owner-only)."),
    ] = None,
    key: Annotated[
        Path | None, typer.Option("--key", help="The anchor key to sign the checkpoint with.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder to write the checkpoint file to.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Make an anchor key (--new-key FILE), or write a signed checkpoint of every chain head
    (--key FILE --out DIR). Chains that moved since the folder's newest checkpoint are
    checked first; a broken one is named and keeps its last good anchor."""
    from daycase.services.anchors import AnchorError, anchor_now, new_key, report_scan

    if new_key_file is not None:
        if key is not None or out is not None:
            raise _cannot(
                "--new-key makes a key only; anchor with --key FILE --out DIR after",
                refusal="not anchored",
            )
        try:
            made = new_key(new_key_file)
        except (AnchorError, OSError) as exc:
            raise _cannot(str(exc), refusal="not anchored") from exc
        console.print(
            f"[green]made[/] anchor key {new_key_file} (key id {made.key_id}, readable by you "
            "only). Keep a copy away from the database: without it checkpoints cannot be "
            "checked, and anyone who holds it can sign them.",
            highlight=False,
        )
        return
    if key is None or out is None:
        raise _cannot(
            "give --key FILE and --out DIR (or --new-key FILE to make a key)",
            refusal="not anchored",
        )
    (anchor_key,) = _keys([key], refusal="not anchored")
    store = _open(db_url(db), refusal="not anchored")
    try:
        path, scan = anchor_now(store.engine, key=anchor_key, out_dir=out, written_at=_now())
    except AnchorError as exc:
        raise _cannot(str(exc), refusal="not anchored") from exc
    finally:
        store.close()
    problems = list(report_scan(scan))
    for x in problems:
        err.print(f"[red]{x.subject}[/] (seq {x.seq}): {x.problem}", highlight=False)
    console.print(
        f"[green]wrote[/] {path}: {len(scan.cases)} cases and the audit log (row "
        f"{scan.audit.seq}) anchored",
        highlight=False,
    )
    if problems:
        err.print(f"[red]{len(problems)} chains were not anchored again: run daycase verify[/]")
        raise typer.Exit(1)


def _progress() -> Progress:
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=err,
    )


def backup_cmd(
    dest: Annotated[Path, typer.Argument(help="The backup file to write.")],
    db: DbOption = None,
    anchors: AnchorsOption = None,
    key: KeyOption = None,
    force: Annotated[bool, typer.Option("--force", help="Replace DEST if it exists.")] = False,
    step_pages: Annotated[
        int, typer.Option("--step-pages", min=1, help="Pages copied per step (4 KiB each).")
    ] = 1024,
) -> None:
    """Copy the SQLite database while it serves (SQLite's online backup), then verify the
    copy and say what it holds. PostgreSQL: use pg_dump (see docs/operations.md)."""
    from daycase.store.backup import copy_sqlite, sqlite_file, to_single_file

    url = db_url(db)
    source = sqlite_file(url)
    if source is None:
        err.print(f"[red]not backed up[/]: {PG_BACKUP}", highlight=False)
        raise typer.Exit(2)
    checkpoints, untrusted = _checkpoints(anchors, key, refusal="not backed up")
    catalog = _catalog(refusal="not backed up")
    _open(url, refusal="not backed up").close()  # no such file, an old schema
    live = {source.resolve(), *(Path(f"{source.resolve()}{x}") for x in ("-wal", "-shm"))}
    if dest.resolve() in live:
        raise _cannot(f"{dest} is the database itself", refusal="not backed up")
    if dest.exists() and not force:
        err.print(f"[red]not backed up[/]: {dest} exists (use --force to replace it)")
        raise typer.Exit(2)
    partial = dest.with_name(dest.name + ".partial")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)
        with _progress() as progress:
            task = progress.add_task(f"backing up {source.name}", total=None)
            copy_sqlite(
                source,
                partial,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
                pages_per_step=step_pages,
            )
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise _cannot(
            f"cannot write {dest}: {exc.strerror or exc}", refusal="not backed up"
        ) from exc
    store = _open(sqlite_url(str(partial)))
    try:
        report = _verify(store, catalog, checkpoints, untrusted)
    finally:
        store.close()
    if not report.ok:
        kept = dest.with_name(dest.name + ".unverified")
        partial.replace(kept)
        _print_report(report, what="the backup")
        err.print(f"[red]the backup fails verification[/]; kept as {kept} for inspection")
        raise typer.Exit(1)
    to_single_file(partial)  # verifying opened it in WAL mode
    try:
        partial.replace(dest)
    except OSError as exc:
        raise _cannot(
            f"cannot replace {dest}: {exc.strerror or exc}; the verified copy is {partial}",
            refusal="not backed up",
        ) from exc
    console.print(
        f"[green]backed up[/] to {dest}: {report.cases} cases, {report.events} events, "
        f"{report.audit_rows} audit rows",
        highlight=False,
    )
    raise typer.Exit(_print_report(report, what="the backup"))


def restore_cmd(
    src: Annotated[Path, typer.Argument(help="A backup file made by `daycase backup`.")],
    db: DbOption = None,
    anchors: AnchorsOption = None,
    key: KeyOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a database that already holds data.")
    ] = False,
) -> None:
    """Restore a backup into the configured SQLite database: the backup is verified first,
    a database holding data is only replaced with --force, and the result is verified.
    Stop the server first. PostgreSQL: use pg_restore (see docs/operations.md)."""
    import sqlite3

    from daycase.store.backup import copy_into_live, copy_sqlite, sqlite_file
    from daycase.store.contents import CannotRead, holdings
    from daycase.store.factory import migrate

    url = db_url(db)
    try:
        target = sqlite_file(url)
    except Exception as exc:
        raise _cannot(f"{url} is not a database URL or file path", refusal="not restored") from exc
    if target is None:
        err.print(f"[red]not restored[/]: {PG_BACKUP}", highlight=False)
        raise typer.Exit(2)
    if not src.is_file():
        raise _cannot(f"there is no backup file at {src}", refusal="not restored")
    checkpoints, untrusted = _checkpoints(anchors, key, refusal="not restored")
    catalog = _catalog(refusal="not restored")
    if target.exists():
        try:
            held = holdings(url)
        except CannotRead as exc:
            raise _cannot(
                f"{target} is not a database this can replace", refusal="not restored"
            ) from exc
        if held.anything and not force:
            err.print(
                f"[red]not restored[/]: {target} already holds {held.cases} cases, "
                f"{held.events} events, {held.audit_rows} audit rows and {len(held.users)} users; "
                "restoring would replace them. Take a backup of it first, stop the server, "
                "then use --force if that is what you mean.",
                highlight=False,
            )
            raise typer.Exit(1)
    staging = target.with_name(f".{target.name}.restoring")
    try:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging.unlink(missing_ok=True)
            copy_sqlite(src, staging)
            migrate(sqlite_url(str(staging)))  # a backup from an older daycase, brought up to date
        except (OSError, sqlite3.DatabaseError) as exc:
            raise _cannot(
                f"{src} cannot be read as a daycase backup ({exc})", refusal="not restored"
            ) from exc
        store = _open(sqlite_url(str(staging)), refusal="not restored")
        try:
            # Checked against the anchors too before anything is replaced: a backup that
            # lost anchored history is refused here, not found out after the restore.
            before = _verify(store, catalog, checkpoints, untrusted)
        finally:
            store.close()
        if not before.ok:
            _print_report(before, what="the backup")
            err.print(
                f"[red]not restored[/]: {src} fails verification; {target} is unchanged",
                highlight=False,
            )
            raise typer.Exit(1)
        copy_into_live(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    store = _open(url)
    try:
        after = _verify(store, catalog, checkpoints, untrusted)
    finally:
        store.close()
    console.print(
        f"[green]restored[/] {src} into {target}: {after.cases} cases, {after.events} events, "
        f"{after.audit_rows} audit rows",
        highlight=False,
    )
    raise typer.Exit(_print_report(after, what="the restored database"))
