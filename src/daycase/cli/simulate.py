"""`daycase simulate`: the centre's days run forward many times over (CLI room).

With no what-if it prints what the centre as set up and booked today would do over a
year, each figure with its 95 % interval, and what the simulation drew from. A what-if
(`--bays +1`, `--rooms 5`, `--turnover 15`, `--cases-per-room +1`) is run beside it with
the same seed. `--curve` adds the chance of waiting for a recovery bay against
the number of bays. `--json` and `--csv` write the results to files, `--svg` the bays
curve as a chart (drawn as the pages draw theirs).

Exit codes: 0 done; 1 an option was refused or the centre cannot be simulated (named);
2 the database could not be opened.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from daycase.cli.ops import DbOption, db_url

if TYPE_CHECKING:
    from daycase.services.simulation import Fitted
    from daycase.sim.model import Centre, Result

simulate_app = typer.Typer(
    help="Simulate the centre's days, fitted to its own history.", invoke_without_command=True
)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
HISTORY_DAYS = 90
CHANGE = re.compile(r"^([+-]?)(\d{1,3})$")


def _day(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        err.print(f"[red]{name}[/]: {text!r} is not a date (YYYY-MM-DD)", highlight=False)
        raise typer.Exit(1) from None


def _changed(value: int, change: str | None, name: str, low: int, high: int) -> int:
    """`7` sets, `+1` adds, `-1` takes away; the result must lie in [low, high]."""
    if change is None:
        return value
    found = CHANGE.match(change.strip())
    if found is None:
        err.print(f"[red]{name}[/]: {change!r} is not a number, or +N / -N", highlight=False)
        raise typer.Exit(1)
    sign, number = found.groups()
    result = value + int(number) if sign == "+" else value - int(number) if sign else int(number)
    if not low <= result <= high:
        err.print(f"[red]{name}[/]: {result} is outside {low} to {high}", highlight=False)
        raise typer.Exit(1)
    return result


@simulate_app.callback()
def simulate_cmd(
    ctx: typer.Context,
    start: Annotated[
        str | None,
        typer.Option("--from", help="First day of history to fit on; default 90 days ago."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day of history; default yesterday.")
    ] = None,
    days: Annotated[
        int, typer.Option(help="Days simulated per replication.", min=1, max=366)
    ] = 250,
    reps: Annotated[int, typer.Option(help="Replications.", min=2, max=10_000)] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the random numbers.")] = 0,
    bays: Annotated[
        str | None, typer.Option(help="What if: recovery bays (7 sets, +1 adds one).")
    ] = None,
    rooms: Annotated[str | None, typer.Option(help="What if: procedure rooms.")] = None,
    cases_per_room: Annotated[
        str | None, typer.Option("--cases-per-room", help="What if: cases booked per room.")
    ] = None,
    turnover: Annotated[
        int | None, typer.Option(help="What if: the median turnover, minutes.", min=1, max=240)
    ] = None,
    curve: Annotated[
        bool, typer.Option("--curve", help="The chance of waiting for a bay by bays.")
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the results as JSON.")
    ] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the figures as CSV.")] = None,
    svg_out: Annotated[
        Path | None, typer.Option("--svg", help="Write the bays curve as an SVG chart.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Simulate a year of the centre as booked today; compare a what-if beside it."""
    if ctx.invoked_subcommand is not None:
        return
    from daycase.cli.centre import _runtime
    from daycase.services.simulation import CannotSimulate, fitted
    from daycase.sim.model import bays_curve, run

    first, last = _day(start, "--from"), _day(end, "--to")
    for name, change in (
        ("--bays", bays),
        ("--rooms", rooms),
        ("--cases-per-room", cases_per_room),
    ):
        if change is not None and CHANGE.match(change.strip()) is None:  # before any work
            err.print(f"[red]{name}[/]: {change!r} is not a number, or +N / -N", highlight=False)
            raise typer.Exit(1)
    if first is not None and last is not None and first > last:
        err.print("[red]--from[/]: must not be after --to", highlight=False)
        raise typer.Exit(1)
    runtime = _runtime(db_url(db))
    try:
        today = runtime.today()
        last = last or today - timedelta(days=1)
        first = first or last - timedelta(days=HISTORY_DAYS - 1)
        if first > last:
            err.print("[red]--from[/]: must not be after --to", highlight=False)
            raise typer.Exit(1)
        try:
            found = fitted(runtime, first=first, last=last, days=days)
        except CannotSimulate as cannot:
            err.print(f"[red]cannot simulate[/]: {cannot}", highlight=False)
            raise typer.Exit(1) from None
    finally:
        runtime.close()
    centre = found.centre
    what_if = replace(
        centre,
        bays=_changed(centre.bays, bays, "--bays", 1, 200),
        rooms=_changed(centre.rooms, rooms, "--rooms", 1, 50),
        cases_per_room=_changed(centre.cases_per_room, cases_per_room, "--cases-per-room", 1, 30),
    )
    model = found.model
    if turnover is not None:
        durations = replace(model.durations, turnover=model.durations.turnover.scaled_to(turnover))
        model_if = replace(model, durations=durations)
    else:
        model_if = model
    asked = what_if != centre or model_if is not model
    runs = 2 if asked else 1
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("Simulating", total=reps * runs)

        def advance(n: int) -> None:
            progress.advance(task, n)

        today_result = run(centre, model, replications=reps, seed=seed, progress=advance)
        if_result = (
            run(what_if, model_if, replications=reps, seed=seed, progress=advance)
            if asked
            else None
        )
    points = []
    if curve or svg_out is not None:
        counts = list(range(1, max(centre.bays + 2, 2 * centre.rooms) + 1))
        points = bays_curve(centre, model, bays=counts, replications=max(10, reps // 5), seed=seed)
    _print(found, today_result, if_result, what_if if asked else None, points)
    payload = _payload(found, today_result, if_result, points)
    try:
        if json_out is not None:
            json_out.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        if csv_out is not None:
            _write_csv(csv_out, today_result, if_result)
        if svg_out is not None:
            from daycase.services.simulation import curve_chart
            from daycase.web.common import chart_svg

            svg_out.write_text(chart_svg(curve_chart(points, centre.rooms)), encoding="utf-8")
    except OSError as bad:
        err.print(f"[red]output[/]: cannot write ({bad.strerror})", highlight=False)
        raise typer.Exit(1) from None


def _cell(mean: float, low: float, high: float) -> str:
    return f"{mean:.1f} [{low:.1f}, {high:.1f}]"


def _clock(minutes: float) -> str:
    total = round(minutes)
    return f"{total // 60 % 24:02d}:{total % 60:02d}"


def _print(
    found: Fitted,
    today: Result,
    what_if: Result | None,
    centre_if: Centre | None,
    points: list[tuple[int, float, float, float]],
) -> None:
    c = found.centre
    console.print(
        f"Fitted on {found.cases} cases booked {found.first} to {found.last}. "
        f"{today.replications} replications of {c.days} days."
    )
    drawn = Table(title="What the simulation draws from")
    drawn.add_column("stretch")
    drawn.add_column("distribution")
    for d in found.model.durations.all():
        drawn.add_row(d.name, d.describe())
    drawn.add_row(
        "cancelled on the day", f"{100 * found.model.durations.cancel_rate:.1f} % of bookings"
    )
    for k, f in found.floors.items():
        drawn.add_row(
            f"pathway floors, {k} level{'s' if k > 1 else ''}",
            f"in the room at least {f.procedure:g} min; recovery at least {f.recovery:g} min",
        )
    console.print(drawn)
    table = Table(title="A year of the centre (mean [95 % interval])")
    table.add_column("figure")
    table.add_column("unit")
    table.add_column(_describe(c))
    if what_if is not None and centre_if is not None:
        table.add_column(f"what if: {_describe(centre_if)}")
    for n, figure in enumerate(today.figures):
        row = [figure.name, figure.unit, _cell(figure.mean, figure.low, figure.high)]
        if what_if is not None:
            other = what_if.figures[n]
            row.append(_cell(other.mean, other.low, other.high))
        table.add_row(*row)
    console.print(table)
    q = today.last_discharge_quantiles
    console.print(
        f"Last discharge of the day: 5 % of days by {_clock(q['p5'])}, half by "
        f"{_clock(q['p50'])}, 95 % by {_clock(q['p95'])}."
    )
    if points:
        bays = Table(title="Bays and the chance a patient waits for one")
        bays.add_column("recovery bays")
        bays.add_column("patients waiting (%)")
        for count, mean, low, high in points:
            bays.add_row(str(count), _cell(mean, low, high))
        console.print(bays)


def _describe(c: Centre) -> str:
    return f"{c.rooms} rooms, {c.bays} bays, {c.cases_per_room} cases a room"


def _payload(
    found: Fitted,
    today: Result,
    what_if: Result | None,
    points: list[tuple[int, float, float, float]],
) -> dict[str, Any]:
    def result(r: Result) -> dict[str, Any]:
        return {
            "centre": asdict(r.centre),
            "replications": r.replications,
            "figures": [asdict(f) for f in r.figures],
            "last_discharge_quantiles": r.last_discharge_quantiles,
        }

    return {
        "fitted_on": {
            "from": found.first.isoformat(),
            "to": found.last.isoformat(),
            "cases": found.cases,
        },
        "distributions": [asdict(d) for d in found.model.durations.all()],
        "cancel_rate": found.model.durations.cancel_rate,
        "levels_mix": found.model.durations.levels_mix,
        "floors": {
            str(k): {"procedure_min": f.procedure, "recovery_min": f.recovery}
            for k, f in found.floors.items()
        },
        "today": result(today),
        "what_if": result(what_if) if what_if is not None else None,
        "bays_curve": [
            {"bays": b, "waiting_pct": m, "low": lo, "high": hi} for b, m, lo, hi in points
        ],
    }


def _write_csv(path: Path, today: Result, what_if: Result | None) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["scenario", "figure", "unit", "mean", "low", "high"])
        for name, r in (("today", today), ("what_if", what_if)):
            if r is None:
                continue
            for f in r.figures:
                writer.writerow(
                    [name, f.name, f.unit, f"{f.mean:.3f}", f"{f.low:.3f}", f"{f.high:.3f}"]
                )


@simulate_app.command("validate")
def validate_cmd(
    fit_until: Annotated[
        str, typer.Option("--fit-until", help="Fit on history up to this day (YYYY-MM-DD).")
    ],
    predict_month: Annotated[
        str, typer.Option("--predict-month", help="Predict the days of this month (YYYY-MM).")
    ],
    fit_days: Annotated[
        int, typer.Option("--fit-days", help="Days of history to fit on.", min=7, max=3650)
    ] = HISTORY_DAYS,
    reps: Annotated[int, typer.Option(help="Replications per day.", min=20, max=5000)] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the random numbers.")] = 0,
    db: DbOption = None,
) -> None:
    """Fit on history, predict a month day by day as it was booked, and say how often what
    happened fell inside the simulated 5-95 % band (goal: 90 % of days)."""
    from daycase.cli.centre import _runtime
    from daycase.services.simulation import CannotSimulate, validate
    from daycase.sim.check import coverage

    until = _day(fit_until, "--fit-until")
    assert until is not None
    month = re.fullmatch(r"(\d{4})-(\d{2})", predict_month.strip())
    if month is None or not 1 <= int(month.group(2)) <= 12:
        err.print(
            f"[red]--predict-month[/]: {predict_month!r} is not a month (YYYY-MM)", highlight=False
        )
        raise typer.Exit(1)
    first = date(int(month.group(1)), int(month.group(2)), 1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if last <= until:
        err.print("[red]--predict-month[/]: must end after --fit-until", highlight=False)
        raise typer.Exit(1)
    first = max(first, until + timedelta(days=1))  # never predict a day fitted on
    runtime = _runtime(db_url(db))
    try:
        try:
            with Progress(console=err, transient=True) as progress:
                progress.add_task(f"Predicting {predict_month}", total=None)
                checked = validate(
                    runtime,
                    fit_first=until - timedelta(days=fit_days - 1),
                    fit_last=until,
                    first=first,
                    last=last,
                    replications=reps,
                    seed=seed,
                )
        except CannotSimulate as cannot:
            err.print(f"[red]cannot simulate[/]: {cannot}", highlight=False)
            raise typer.Exit(1) from None
    finally:
        runtime.close()
    if not checked.days:
        err.print(
            f"[red]--predict-month[/]: no case was booked into a room in {predict_month}",
            highlight=False,
        )
        raise typer.Exit(1)
    table = Table(title=f"{predict_month} as predicted from history to {until}")
    for column in (
        "day",
        "cases",
        "last out of recovery",
        "simulated 5-95 %",
        "inside",
        "census hours inside",
    ):
        table.add_column(column)
    for d in checked.days:
        table.add_row(
            d.day.isoformat(),
            str(d.cases),
            _clock(d.last_discharge) if d.last_discharge is not None else "—",
            f"{_clock(d.band[0])}-{_clock(d.band[1])}",
            "yes" if d.inside else "no",
            f"{d.census_inside}/{d.census_hours}",
        )
    console.print(table)
    ld, census = coverage(checked.days)
    console.print(
        f"Last discharge inside the band on {ld:.0f} % of days (goal 90 %); "
        f"hourly recovery census inside its band in {census:.0f} % of hours. "
        f"Fitted on {checked.fitted.cases} cases; {checked.replications} replications a day."
        if ld is not None and census is not None
        else "No day had a patient go home to judge."
    )
    c = checked.etas
    if c.coverage is not None:
        console.print(
            f"Likely times (the boards' estimates): the 80 % interval held the real time in "
            f"{c.coverage:.1f} % of {c.predictions} estimates over these days (goal 80 %, "
            "give or take 5)."
        )
