"""A demo day: realistic cases driven through the pathway via the services (demo room).

`day_script` writes one patient's day as timed actions with varied, plausible timings;
the demo, the benchmarks and tests all replay it through `CaseService`, so the demo
exercises exactly the rules staff will meet (alerts, one override, one admission).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import Progress

from daycase.config import Settings
from daycase.engine.commands import Actor, OpenCase, RecordStep, Refusal
from daycase.services.board import BoardRow, board
from daycase.services.cases import CaseService
from daycase.store.base import EventStore
from daycase.types import JSON, JSONObject

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


@dataclass(frozen=True, slots=True)
class Planned:
    """One action of a scripted day: minutes after arrival, who, which step, with what data."""

    minute: float
    role: str
    step: str
    data: JSONObject = field(default_factory=dict)
    override_reason: str | None = None


def _vitals(
    rng: random.Random, *, pain: bool = True, sedation: bool = False, systolic: int | None = None
) -> JSONObject:
    # 124-150: a drop from the first pre-op reading stays under the 20 % that 2.0 alerts on.
    sys_bp = systolic if systolic is not None else rng.randint(124, 150)
    data: JSONObject = {
        "heart_rate": rng.randint(62, 92),
        "bp_systolic": sys_bp,
        "bp_diastolic": rng.randint(66, min(90, sys_bp - 20)),
        "spo2": rng.randint(95, 99),
        "resp_rate": rng.randint(12, 18),
        "temperature_c": round(rng.uniform(36.4, 37.2), 1),
    }
    if pain:
        data["pain_score"] = rng.randint(1, 6)
    if sedation:
        data["sedation"] = rng.randint(0, 1)
    return data


def _all_true(*names: str) -> JSONObject:
    """A WHO checklist with every item confirmed."""
    return dict.fromkeys(names, True)


def _medication_review(rng: random.Random, arrival: datetime, version: str) -> JSONObject:
    """1.0 asked whether an anticoagulant was held; 2.0 lists each blood thinner's last dose."""
    medications: list[JSON] = [
        {"name": "alendronate", "kind": "prescription"},
        {"name": "vitamin D", "kind": "supplement"},
    ]
    if version == "1.0":
        return {
            "medications": list(medications),
            "allergies": list(rng.choice([[], ["penicillin"], ["latex"]])),
            "anticoagulant": rng.choice(["none", "none", "held"]),
        }
    thinners: list[JSON] = rng.choice(
        [
            [],
            [],
            [{"drug": "apixaban", "last_dose_at": (arrival - timedelta(hours=80)).isoformat()}],
            [
                {
                    "drug": "aspirin_secondary_prevention",
                    "last_dose_at": (arrival - timedelta(hours=14)).isoformat(),
                }
            ],
        ]
    )
    return {
        "medications": list(medications),
        "allergies": list(rng.choice([[], ["penicillin"], ["sulfa"]])),
        "antithrombotics": thinners,
    }


def day_script(
    levels: list[str],
    arrival: datetime,
    rng: random.Random,
    *,
    variant: str = "",
    version: str = "2.0",
) -> list[Planned]:
    """A whole kyphoplasty day for one patient, from check-in to discharge (or admission).

    Variants: `late_antibiotic` (given 70 min before incision), `override` (a proceduralist
    takes the patient out before the cement rest is over), `admitted` (a major complication),
    `long` (a slow procedure that runs long), `bp_drop` (low pressure in recovery). On 2.0
    the day also has what 2.0 asks: blood thinners by drug and last dose, neuro checks
    every 30 min in recovery, and a physician's discharge order.
    """

    def j() -> float:
        """A little jitter, so no two days look alike."""
        return rng.uniform(0, 3)

    def iso(minutes: float) -> str:
        return (arrival + timedelta(minutes=minutes)).isoformat()

    s: list[Planned] = [
        Planned(
            0,
            "front_desk",
            "check_in",
            {
                "identity_confirmed": True,
                "consent_signed": True,
                "last_solids_at": iso(-rng.randint(9, 13) * 60),
                "last_clear_fluids_at": iso(-rng.randint(150, 240)),
                "escort_name": "Family member",
                "escort_phone": "555-0100",
            },
        ),
        Planned(8 + j(), "nurse", "preop_vitals", _vitals(rng)),
        Planned(14 + j(), "nurse", "medication_review", _medication_review(rng, arrival, version)),
        Planned(
            18 + j(),
            "nurse",
            "back_assessment",
            {
                "pain_score": rng.randint(5, 9),
                "leg_strength": "normal",
                "leg_sensation": "normal",
                "bladder_bowel": "normal",
            },
        ),
        Planned(
            22 + j(),
            "nurse",
            "blood_tests",
            {
                "inr": round(rng.uniform(0.9, 1.3), 1),
                "platelets": rng.randint(150, 350),
                "hemoglobin": round(rng.uniform(11.5, 14.5), 1),
                "pregnancy_test": "not_applicable",
            },
        ),
        Planned(
            26 + j(),
            "proceduralist",
            "imaging_review",
            {
                "modality": rng.choice(["xray", "mri"]),
                "levels_confirmed": list(levels),
                "findings": "Compression fracture as planned",
            },
        ),
        Planned(
            32 + j(),
            "anesthesia",
            "anesthesia_consult",
            {
                "plan": "local_sedation",
                "asa_class": rng.randint(2, 3),
                "mallampati": rng.randint(1, 3),
            },
        ),
        Planned(
            20 if variant == "late_antibiotic" else 50,
            "nurse",
            "antibiotic_given",
            {"drug": "cefazolin", "dose_mg": 2000, "route": "iv"},
        ),
        Planned(
            52,
            "nurse",
            "anxiolytic_given",
            {"drug": "midazolam syrup", "dose_mg": 7.5, "route": "oral"},
        ),
        Planned(
            55,
            "nurse",
            "sign_in",
            _all_true(
                "identity_site_procedure_consent_confirmed",
                "site_marked",
                "anesthesia_check_complete",
                "pulse_oximeter_on",
                "allergies_known",
                "airway_risk_assessed",
                "blood_loss_risk_assessed",
            ),
        ),
        Planned(60, "nurse", "in_room"),
        Planned(63, "nurse", "positioned_prone"),
        Planned(65, "anesthesia", "anesthesia_start", {"type": "local_sedation"}),
        Planned(68, "nurse", "site_prepped", {"shaved": True, "draped": True}),
        Planned(
            72,
            "proceduralist",
            "time_out",
            dict.fromkeys(
                (
                    "team_introduced",
                    "patient_procedure_levels_confirmed",
                    "imaging_displayed",
                    "critical_events_reviewed",
                ),
                True,
            ),
        ),
    ]
    s += [
        Planned(74 + i, "proceduralist", "level_confirmed", {"level": lv, "method": "fluoroscopy"})
        for i, lv in enumerate(levels)
    ]
    s.append(Planned(80, "proceduralist", "incision"))
    t = 82.0
    per_level = 25.0 if variant == "long" else 12.0
    for lv in levels:
        s += [
            Planned(
                t,
                "proceduralist",
                "trocar_placed",
                {"level": lv, "approach": rng.choice(["unipedicular", "bipedicular"])},
            ),
            Planned(
                t + 3,
                "proceduralist",
                "balloon_inflated",
                {
                    "level": lv,
                    "max_pressure_psi": rng.randint(150, 300),
                    "volume_ml": round(rng.uniform(2, 4), 1),
                },
            ),
            Planned(t + 6, "proceduralist", "balloon_removed", {"level": lv}),
            Planned(
                t + 8,
                "proceduralist",
                "cement_injected",
                {"level": lv, "volume_ml": round(rng.uniform(3, 6), 1), "leakage": "none"},
            ),
        ]
        t += per_level
    last_cement = t - per_level + 8
    s += [
        Planned(m, "anesthesia", "intraop_vitals", _vitals(rng, pain=False))
        for m in range(70, int(last_cement), 5)
    ]
    s += [
        Planned(
            last_cement + 2,
            "proceduralist",
            "final_imaging",
            {"cement_distribution_ok": True, "leakage": "none"},
        ),
        Planned(
            last_cement + 3,
            "nurse",
            "dressing_applied",
            {"pressure_applied": True, "sutures": False},
        ),
        Planned(
            last_cement + 4,
            "nurse",
            "sign_out",
            _all_true(
                "procedure_and_levels_recorded",
                "counts_correct",
                "specimens_labelled",
                "equipment_issues_addressed",
                "recovery_concerns_handed_over",
            ),
        ),
        Planned(last_cement + 4, "anesthesia", "anesthesia_end"),
    ]
    if variant == "override":
        s.append(
            Planned(
                last_cement + 4,
                "proceduralist",
                "out_of_room",
                override_reason="Patient restless; moving to recovery with the anaesthetist",
            )
        )
    else:
        s.append(Planned(last_cement + 6 + j(), "nurse", "out_of_room"))
    arrive = last_cement + 10
    s.append(Planned(arrive, "nurse", "pacu_arrival"))
    low = variant == "bp_drop"
    s += [
        Planned(
            arrive + m,
            "nurse",
            "pacu_vitals",
            _vitals(rng, sedation=True, systolic=100 if low and m == 15 else None),
        )
        for m in (0, 15, 30, 45, 60)
    ]
    s += [
        Planned(
            arrive + m,
            "nurse",
            "neuro_check",
            {"leg_strength": "normal", "leg_sensation": "normal", "bladder_bowel": "normal"},
        )
        for m in ((5, 45) if version == "1.0" else (5, 33, 60))
    ]
    s += [
        Planned(
            arrive + m,
            "nurse",
            "aldrete_score",
            {
                "activity": 2,
                "respiration": 2,
                "circulation": 2,
                "consciousness": c,
                "oxygen_saturation": 2,
            },
        )
        for m, c in ((10, 1), (40, 2))
    ]
    if variant == "admitted":
        s.append(
            Planned(
                arrive + 25,
                "nurse",
                "complication",
                {"kind": "new_back_pain", "severity": "major", "note": "Severe new pain"},
            )
        )
        s = [p for p in s if p.minute < arrive + 50]
        s.append(
            Planned(
                arrive + 50,
                "proceduralist",
                "admitted",
                {"reason": "Observation overnight for new back pain"},
            )
        )
        return sorted(s, key=lambda p: p.minute)
    s += [
        Planned(
            arrive + 48,
            "nurse",
            "discharge_consult",
            {
                "medications_reviewed": True,
                "physical_therapy": rng.choice(["referred", "not_needed"]),
                "warning_signs_explained": True,
                "instructions_given": True,
                "follow_up_at": (arrival + timedelta(days=14)).isoformat(),
            },
        ),
        Planned(
            arrive + 50,
            "nurse",
            "padss_score",
            {
                "vital_signs": 2,
                "ambulation": 2,
                "nausea_vomiting": 2,
                "pain": rng.randint(1, 2),
                "surgical_bleeding": 2,
            },
        ),
        Planned(
            arrive + 52,
            "nurse",
            "transport_confirmed",
            {
                "escort_name": "Family member",
                "escort_present": True,
                "no_driving_acknowledged": True,
            },
        ),
        Planned(arrive + 62 + j(), "nurse", "discharged"),
    ]
    if version != "1.0":
        s.append(
            Planned(
                arrive + 55,
                "proceduralist",
                "discharge_order",
                {"post_anesthesia_assessed": True},
            )
        )
    return sorted(s, key=lambda p: p.minute)


class ScriptClock:
    """The demo's clock: each entry is recorded at the moment it happens."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


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
