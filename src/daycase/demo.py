"""A demo day: realistic cases driven through the pathway via the services (demo room).

`day_script` (`daycase.sim.day`) writes one patient's day as timed actions with varied,
plausible timings; the demo, the benchmarks and tests all replay it through `CaseService`,
so the demo exercises exactly the rules staff will meet (alerts, one override, one
admission).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import Progress

from daycase.config import Settings
from daycase.engine.commands import Actor, OpenCase, RecordStep, Refusal
from daycase.services.board import BoardRow, board
from daycase.services.cases import CaseService
from daycase.sim.day import ScriptClock, day_script
from daycase.store.base import EventStore
from daycase.types import JSONObject

if TYPE_CHECKING:
    from daycase.services.runtime import Runtime

GIVEN = [
    "Ada",
    "Ruth",
    "Walter",
    "Mei",
    "Joseph",
    "Irene",
    "Samuel",
    "Hannah",
    "Omar",
    "Lucia",
    "Frank",
    "Grace",
]
FAMILY = [
    "Lane",
    "Okafor",
    "Brennan",
    "Chen",
    "Novak",
    "Haddad",
    "Silva",
    "Moreau",
    "Kowalski",
    "Ibarra",
]
LEVEL_SETS = [["L1"], ["T12"], ["L2"], ["T12", "L1"], ["T11"], ["L1", "L2"], ["T8"], ["L3"]]


VARIANTS = ["", "late_antibiotic", "override", "admitted", "", "long", "bp_drop", ""]


def seed_day(
    store: EventStore,
    *,
    day: date,
    tz: ZoneInfo,
    patients: int,
    seed: int,
    until: datetime,
    first_start: time = time(7, 30),
    progress: Progress | None = None,
    pathway_version: str | None = None,
    untouched: int = 0,
    starts: Sequence[datetime] | None = None,
) -> CaseService:
    """Open `patients` cases on `day`, 50 min apart from `first_start` (or at `starts`, one
    per patient: a busy centre's rooms run side by side); replay each to `until`.

    The cases are opened on `pathway_version` of kyphoplasty (the latest when None), two
    hours before their start or at `until` if that is sooner. The last `untouched` cases are
    opened and nothing more, whatever the clock says: patients a demo user can take from
    check-in at any hour.
    """
    rng = random.Random(seed)
    clock = ScriptClock(datetime.combine(day, time(6, 0), tz))
    service = CaseService(store, clock=clock, rng=rng)
    version = service.catalog.get("kyphoplasty", pathway_version).version
    task = progress.add_task("Recording the demo day", total=patients) if progress else None
    for i in range(patients):
        if starts is not None:
            start = starts[i]
        else:
            start = datetime.combine(day, first_start, tz) + timedelta(minutes=50 * i)
        levels = LEVEL_SETS[i % len(LEVEL_SETS)]
        clock.now = min(start - timedelta(hours=2), until)
        opened = service.open_case(
            OpenCase(
                actor=Actor("frontdesk", "front_desk"),
                pathway_id="kyphoplasty",
                pathway_version=version,
                mrn=f"H-{100200 + i}",
                given_name=GIVEN[i % len(GIVEN)],
                family_name=FAMILY[(i * 3) % len(FAMILY)],
                birth_date=date(1938 + (i * 7) % 25, 1 + i % 12, 1 + (i * 5) % 28),
                sex=rng.choice(["female", "female", "male"]),
                levels=levels,
                scheduled_start=start,
            )
        )
        if isinstance(opened, Refusal):
            raise RuntimeError(f"demo case refused: {opened.messages}")
        arrival = start - timedelta(minutes=60)
        if i >= patients - untouched:
            if progress is not None and task is not None:
                progress.advance(task)
            continue
        script = day_script(
            levels, arrival, rng, variant=VARIANTS[i % len(VARIANTS)], version=version
        )
        for planned in script:
            at = arrival + timedelta(minutes=planned.minute)
            if at > until:
                break
            clock.now = at
            result = service.record(
                opened.case_id,
                RecordStep(
                    actor=Actor(f"demo-{planned.role}", planned.role),
                    step=planned.step,
                    at=at,
                    data=planned.data,
                    override_reason=planned.override_reason,
                ),
            )
            if isinstance(result, Refusal):
                raise RuntimeError(
                    f"demo step {planned.step} refused: {result.kind}: {result.messages}"
                )
        if progress is not None and task is not None:
            progress.advance(task)
    return service


def run_demo(
    *,
    url: str,
    patients: int,
    seed: int,
    tz_name: str,
    today: date,
    console: Console,
    pathway_version: str | None = None,
) -> list[BoardRow]:
    """Migrate a fresh store, record the demo day up to 13:30 local time, return the board.

    `DemoRefused`, with nothing changed, for a database the demo did not make.
    """
    from daycase.services.runtime import open_runtime
    from daycase.store.factory import migrate

    refuse_unless_demo_database(url)
    tz = ZoneInfo(tz_name)
    day = today
    until = datetime.combine(day, time(13, 30), tz)
    migrate(url)
    runtime = open_runtime(Settings(db=url, timezone=tz_name))
    store = runtime.store
    try:
        _mark_as_demo(runtime)
        if store.cases(on=day):
            console.print(
                f"[yellow]{day} already has cases in this database; showing them as they are[/]"
            )
            service = CaseService(store)
        else:
            with Progress(console=console, transient=True) as progress:
                service = seed_day(
                    store,
                    day=day,
                    tz=tz,
                    patients=patients,
                    seed=seed,
                    until=until,
                    progress=progress,
                    pathway_version=pathway_version,
                )
        console.print(f"Demo day {day}, board as of {until:%H:%M} {tz_name} (demo clock)")
        return board(service, on=day, now=until)
    finally:
        runtime.close()


def seed_calls(store: EventStore, *, day: date, tz: ZoneInfo, now: datetime) -> None:
    """Yesterday's gone-home patients for the board's "calls to make": four whole days,
    one call made that reached the patient, one that found a fever, two still to make."""
    if store.cases(on=day):
        return
    end = datetime.combine(day, time(23, 0), tz)
    service = seed_day(store, day=day, tz=tz, patients=4, seed=11, until=end)
    calls: list[JSONObject] = [
        {"fever": False, "action": "none", "note": "Sore but walking; no concerns"},
        {"fever": True, "action": "clinic_visit", "note": "38.3 °C this morning"},
    ]
    at = min(now, datetime.combine(day + timedelta(days=1), time(9, 30), tz))
    for case_id, answers in zip(_gone_home(service, day=day, tz=tz), calls, strict=False):
        _call(service, case_id, at=at, answers=answers)


def _gone_home(service: CaseService, *, day: date, tz: ZoneInfo) -> list[str]:
    end = datetime.combine(day, time(23, 0), tz)
    return [
        c.case_id
        for c in service.store.cases(on=day)
        if service.evaluate(c.case_id, now=end)[1].phase == "discharged"
    ]


def _call(service: CaseService, case_id: str, *, at: datetime, answers: JSONObject) -> None:
    """A next-day call that reached the patient: no red flag unless `answers` says one."""
    service.clock = lambda: at
    data: JSONObject = {
        "reached": True,
        "new_leg_weakness_or_numbness": False,
        "bladder_or_bowel_problem": False,
        "breathing_problem_or_chest_pain": False,
        "fever": False,
        "wound_problem": False,
        "fall": False,
        "pain_score": 3,
        "antithrombotic_restarted": "not_applicable",
        "action": "none",
        **answers,
    }
    service.record(
        case_id,
        RecordStep(actor=Actor("demo-nurse", "nurse"), step="follow_up_call", at=at, data=data),
    )


HISTORY_DAYS = 28


def seed_history(runtime: Runtime, *, today: date, progress: Progress | None = None) -> None:
    """Four weeks of past weekdays before yesterday, two rooms of four cases each, booked
    into the first two rooms, with next-day calls: what the reports page reads."""
    days = [
        today - timedelta(days=n)
        for n in range(HISTORY_DAYS, 1, -1)
        if (today - timedelta(days=n)).weekday() < 5
    ]
    task = (
        progress.add_task("Recording four weeks of history", total=len(days)) if progress else None
    )
    for day in days:
        if runtime.store.cases(on=day):
            continue
        first = datetime.combine(day, time(7, 30), runtime.tz)
        starts = [first + timedelta(minutes=80 * (i // 2)) for i in range(8)]
        end = datetime.combine(day, time(23, 0), runtime.tz)
        service = seed_day(
            runtime.store,
            day=day,
            tz=runtime.tz,
            patients=8,
            seed=day.toordinal(),
            until=end,
            starts=starts,
        )
        _book_rooms(runtime, day, rooms_used=2)
        _history_calls(service, day=day, tz=runtime.tz, missed=day.toordinal() % 3)
        if progress is not None and task is not None:
            progress.advance(task)


def _history_calls(service: CaseService, *, day: date, tz: ZoneInfo, missed: int) -> None:
    """The next morning's calls: each patient who went home reached, but `missed` of them."""
    at = datetime.combine(day + timedelta(days=1), time(10, 0), tz)
    for case_id in _gone_home(service, day=day, tz=tz)[missed:]:
        _call(service, case_id, at=at, answers={})


DEMO_USERS = [
    ("nurse", "nurse"),
    ("frontdesk", "front_desk"),
    ("anaesthetist", "anesthesia"),
    ("proceduralist", "proceduralist"),
    ("manager", "admin"),
    ("waitingroom", "viewer"),
]

# The audit row that says the demo seeded a database: what lets it seed it again.
DEMO_MARKER = "demo_seeded"


class DemoRefused(Exception):
    """The database holds users or cases the demo did not make; nothing was changed."""


def refuse_unless_demo_database(url: str) -> None:
    """Raise `DemoRefused` unless the demo may seed this database: an empty one (no user,
    no case, at any schema version), or one an earlier demo seeded (its marker row in the
    audit log) whose users are all the demo's own. Reads only; never migrates."""
    from sqlalchemy.engine import make_url

    from daycase.store.contents import CannotRead, holdings

    try:
        held = holdings(url, actions=(DEMO_MARKER,))
    except CannotRead as exc:
        raise DemoRefused(f"{exc}; the demo needs a new file or an empty database") from exc
    if not held.users and not held.cases:
        return
    shown = make_url(url).render_as_string(hide_password=True)
    if DEMO_MARKER not in held.actions:
        raise DemoRefused(
            f"{shown} already holds {len(held.users)} users and {held.cases} cases that the "
            "demo did not create. The demo only seeds an empty database or one it made "
            "itself; give it another --db (a new file) and keep this one as it is."
        )
    strangers = sorted(name for name, role in held.users if (name, role) not in DEMO_USERS)
    if strangers:
        raise DemoRefused(
            f"{shown} was made by the demo but now holds users the demo did not create "
            f"({', '.join(strangers[:5])}{', …' if len(strangers) > 5 else ''}). The demo "
            "would reset passwords there; give it another --db (a new file)."
        )


def _mark_as_demo(runtime: Runtime) -> None:
    """Record in the audit log, before anything else is written, that the demo seeds it."""
    from daycase.services.accounts import User

    runtime.audit_read(User("demo", "demo"), DEMO_MARKER, [None], "seeded by daycase's demo")


def _book_rooms(runtime: Runtime, day: date, *, rooms_used: int | None = None) -> None:
    """The demo day's cases into the example centre's rooms in turn, in booked order."""
    from daycase.services.accounts import User
    from daycase.services.schedule_plan import Place

    rooms = [room.id for room in runtime.setup.current().setup.rooms][:rooms_used]
    if not rooms:  # a demo database whose set-up was emptied by hand: nothing to book into
        return
    front_desk = User("frontdesk", "front_desk")
    for i, row in enumerate(runtime.schedule.plan(day).unplaced):
        runtime.change_schedule(Place(row.case_id, rooms[i % len(rooms)]), by=front_desk)


def seed_server_demo(
    settings: Settings, *, console: Console, history: bool = True
) -> list[tuple[str, str, str]]:
    """Today's demo cases (up to the real clock) and one user per role with a new password;
    with `history`, four weeks of past days too (what the reports read).

    `DemoRefused`, with nothing changed, for a database the demo did not make: the demo
    users' passwords are reset on every run, which must never reach a real account.
    """
    import secrets

    from daycase.services.accounts import AccountError, User
    from daycase.services.centre_setup import example_yaml, setup_from_yaml
    from daycase.services.runtime import open_runtime

    refuse_unless_demo_database(settings.db)
    runtime = open_runtime(settings)
    try:
        _mark_as_demo(runtime)
        day, now = runtime.today(), runtime.now().astimezone(runtime.tz)
        if runtime.store.cases(on=day):
            console.print(f"{day} already has cases; leaving them as they are")
        else:
            # Spread the day around the real clock: some cases done, some under way, and
            # the last ones still to come, all on today's date.
            midnight = datetime.combine(day, time(0, 0), runtime.tz)
            first = now - timedelta(hours=5)
            first = max(midnight + timedelta(hours=1), min(first, midnight + timedelta(hours=16)))
            first = first.replace(minute=first.minute - first.minute % 10, second=0, microsecond=0)
            with Progress(console=console, transient=True) as progress:
                seed_day(
                    runtime.store,
                    day=day,
                    tz=runtime.tz,
                    patients=8,
                    seed=7,
                    until=now,
                    first_start=first.time(),
                    progress=progress,
                    untouched=2,
                )
                seed_calls(runtime.store, day=day - timedelta(days=1), tz=runtime.tz, now=now)
        if runtime.setup.current().version == 0:  # the example centre's rooms and bays
            runtime.change_setup(
                setup_from_yaml(example_yaml()),
                by=User("demo", "admin"),
                expected_version=0,
                note="the example centre",
            )
        if runtime.schedule.plan(day).version == 0:
            _book_rooms(runtime, day)
        if history:
            with Progress(console=console, transient=True) as progress:
                seed_history(runtime, today=day, progress=progress)
        users: list[tuple[str, str, str]] = []
        for name, role in DEMO_USERS:
            password = secrets.token_urlsafe(9)
            try:
                runtime.accounts.add_user(name, role=role, password=password)
            except AccountError:
                runtime.accounts.set_password(name, password)
            users.append((name, role, password))
        return users
    finally:
        runtime.close()
