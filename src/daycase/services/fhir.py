"""FHIR R4 export of cases, for the CLI and the API alike (service room).

The mapping itself is `daycase.fhir.export` (pure); this finds the cases, their pathways,
the rooms the schedule placed them in and the reads the audit log holds, and hands each
case to it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from daycase.engine.check import decide_open, decide_record, decide_reschedule
from daycase.engine.commands import Actor, OpenCase, RecordStep, Refusal, RescheduleCase
from daycase.engine.events import CaseOpened
from daycase.engine.fold import CaseState
from daycase.fhir.export import CaseExport, Read, Resource, bundle, case_resources
from daycase.fhir.schedule import Booking, read_bookings
from daycase.pathways.schema import Pathway
from daycase.services.accounts import User
from daycase.services.cases import CaseService
from daycase.services.centre_setup import CentreSetupService
from daycase.services.schedule_plan import DaySchedule, Place, ScheduleRefused
from daycase.store.accounts import AuditRow, SqlAccounts
from daycase.store.fhir_bookings import SqlFhirBookings
from daycase.store.schedule import SqlSchedules

if TYPE_CHECKING:
    from daycase.services.runtime import Runtime

# Where the bundles' full URLs live when no server names its own (the CLI's files).
DEFAULT_BASE = "urn:daycase:fhir"


@dataclass(slots=True)
class FhirService:
    cases: CaseService
    schedules: SqlSchedules
    setup: CentreSetupService
    accounts: SqlAccounts
    bookings: SqlFhirBookings
    tz: ZoneInfo
    importing: threading.Lock = field(default_factory=threading.Lock)

    def case(self, case_id: str) -> list[Resource]:
        """Every resource of one case (`CaseNotFound`, `PathwayUnavailable` as named)."""
        state = self.cases.state(case_id)
        assert state.opened is not None
        day = state.opened.scheduled_start.astimezone(self.tz).date()
        return self._export(state, self._rooms(day), self.accounts.own_reads([case_id]))

    def case_bundle(self, case_id: str, *, base: str = DEFAULT_BASE) -> Resource:
        """The case's resources as a searchset Bundle (`Encounter/{id}/$everything`)."""
        return bundle(self.case(case_id), base=base, kind="searchset")

    def day(self, day: date) -> Iterator[tuple[str, list[Resource]]]:
        """Each case booked on `day`, with its resources, in booked order."""
        rooms = self._rooms(day)
        summaries = self.cases.store.cases(on=day)
        reads = self.accounts.own_reads([s.case_id for s in summaries])
        for summary in summaries:
            yield summary.case_id, self._export(self.cases.state(summary.case_id), rooms, reads)

    def since(self, since: datetime) -> Iterator[tuple[str, list[Resource]]]:
        """Each case with an event recorded at or after `since`, with all its resources
        (a receiver replaces what it holds by resource id), in booked order."""
        states = [self.cases.state(case_id) for case_id in self.cases.store.changed_since(since)]
        states.sort(key=lambda s: (s.opened.scheduled_start if s.opened else since, s.case_id))
        reads = self.accounts.own_reads([s.case_id for s in states])
        rooms: dict[date, dict[str, str]] = {}
        for state in states:
            assert state.opened is not None
            day = state.opened.scheduled_start.astimezone(self.tz).date()
            if day not in rooms:
                rooms[day] = self._rooms(day)
            yield state.case_id, self._export(state, rooms[day], reads)

    def _export(
        self, state: CaseState, rooms: dict[str, str], reads: dict[str, list[AuditRow]]
    ) -> list[Resource]:
        assert state.opened is not None
        case_id = state.opened.case_id
        return case_resources(
            CaseExport(
                state=state,
                pathway=self.cases.pathway_of(state),
                room=rooms.get(case_id),
                reads=tuple(
                    Read(datetime.fromisoformat(row.at), row.user_name, row.role, row.action)
                    for row in reads.get(case_id, [])
                ),
            )
        )

    def room_of(self, case_id: str) -> str | None:
        """The room id the case is placed in on its day's schedule, if any."""
        state = self.cases.state(case_id)
        assert state.opened is not None
        row = self.schedules.latest(state.opened.scheduled_start.astimezone(self.tz).date())
        if row is None:
            return None
        schedule = DaySchedule.model_validate_json(row.body)
        return next((r for r, ids in schedule.rooms.items() if case_id in ids), None)

    def _rooms(self, day: date) -> dict[str, str]:
        """Each case's room name on the day's schedule."""
        row = self.schedules.latest(day)
        if row is None:
            return {}
        names = {room.id: room.name for room in self.setup.current().setup.rooms}
        schedule = DaySchedule.model_validate_json(row.body)
        return {
            case_id: names.get(room, room)
            for room, case_ids in schedule.rooms.items()
            for case_id in case_ids
        }


# --- the schedule from the hospital -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Imported:
    """What an import did, per Appointment entry: `booked` (a new case), `moved` (to
    another time or room), `cancelled`, or `unchanged`; and the case it names."""

    outcomes: list[tuple[int, str, str | None]]  # (entry, what happened, case id)
    entries: int


class ImportRefused(ValueError):
    """A bundle that cannot be taken, every problem named. Refused by the checks, nothing
    of it was stored; refused by a write after them (the case changed in between), the
    bookings written before that one stand."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def import_schedule(runtime: Runtime, bundle: Any, *, by: User) -> Imported:
    """Book, move and cancel cases from a transaction Bundle, all or nothing.

    Every booking is read and checked first: the patient and levels as the pathway's
    rules check a new case (the same decision the write makes), the room against the
    centre's set-up, a cancellation as the case's own rules allow it now. With any problem
    the bundle is refused and nothing is written. A booking made before names its case
    (`fhir_bookings`), so sending the same bundle again changes nothing; a new time or
    room moves the case (a new time only while nothing is recorded for it, as the case's
    rules allow); a new patient or set of levels is refused, named."""
    with runtime.fhir.importing:  # one import at a time: a booking is made once
        return _import(runtime, bundle, by)


def _import(runtime: Runtime, bundle: Any, by: User) -> Imported:
    pathway = runtime.centre.pathway()
    bookings, problems = read_bookings(bundle, pathway.levels.allowed)
    setup = runtime.setup.current().setup
    rooms = {r.id.lower(): r.id for r in setup.rooms} | {r.name.lower(): r.id for r in setup.rooms}
    known = runtime.fhir.bookings.cases([b.key for b in bookings])
    actor = Actor(name=by.name, role=by.role)
    now = runtime.now()
    plan: list[tuple[Booking, str | None]] = []  # each booking with its room id
    claimed: dict[date, set[str]] = {}  # family codes this bundle moves onto each day
    for b in bookings:
        where = f"entry[{b.entry}] Appointment"
        room_id = None
        if b.room is not None:
            room_id = rooms.get(b.room.lower())
            if room_id is None:
                problems.append(
                    f"{where}.participant: no room named {b.room!r} in the centre's set-up "
                    f"({', '.join(r.name for r in setup.rooms) or 'none yet'})"
                )
        case_id = known.get(b.key)
        if case_id is None and not b.cancelled:
            opening = _open_problems(pathway, _open_command(b, actor, pathway), now)
            problems += [f"{where}: {m}" for m in opening]
        elif case_id is not None:
            state = runtime.cases.state(case_id)
            assert state.opened is not None
            if b.cancelled:
                problems += _cancel_problems(runtime, state, b, actor, now)
            else:
                problems += _changed_problems(where, state, b)
                problems += _move_problems(runtime, state, b, actor, now, claimed, room_id)
        plan.append((b, room_id))
    if problems:
        raise ImportRefused(problems)
    # Bookings of cases already here first (moves, cancellations), then new cases: a new
    # case's family code is then drawn clear of every code moved onto its day.
    plan.sort(key=lambda item: known.get(item[0].key) is None)
    outcomes = sorted(
        (_apply(runtime, b, room_id, known.get(b.key), actor, now, by) for b, room_id in plan),
        key=lambda outcome: outcome[0],
    )
    entries = len(bundle.get("entry", [])) if isinstance(bundle, dict) else 0
    return Imported(outcomes, entries)


def _changed_problems(where: str, state: CaseState, b: Booking) -> list[str]:
    """What a booking sent again may not change of its case: the patient, the planned
    levels (daycase's record of them is corrected in daycase, by its own rules, never
    overwritten from outside)."""
    opened = state.opened
    assert opened is not None
    problems: list[str] = []
    if b.patient is not None and b.patient.mrn != opened.patient.mrn:
        problems.append(
            f"{where}'s Patient: the case is booked for MRN {opened.patient.mrn}, not "
            f"{b.patient.mrn}; a booking cannot change its patient"
        )
    if b.levels and tuple(b.levels) != tuple(opened.levels):
        problems.append(
            f"{where}.basedOn: the case is booked for {', '.join(opened.levels)}, not "
            f"{', '.join(b.levels)}; change planned levels in daycase"
        )
    return problems


def _move_command(b: Booking, actor: Actor) -> RescheduleCase:
    assert b.start is not None
    return RescheduleCase(actor=actor, scheduled_start=b.start, reason=b.reason)


def _moves(state: CaseState, b: Booking) -> bool:
    return (
        state.opened is not None and b.start is not None and b.start != state.opened.scheduled_start
    )


def _move_problems(
    runtime: Runtime,
    state: CaseState,
    b: Booking,
    actor: Actor,
    now: datetime,
    claimed: dict[date, set[str]],
    room_id: str | None,
) -> list[str]:
    """The case's own decision on moving to the booking's new start, made without writing
    it; the new day's schedule, tried (the patient expected in two places); and the
    family code's clash on another day: with a case booked there, or with another case
    this bundle moves there."""
    if not _moves(state, b):
        return []
    decided = decide_reschedule(
        runtime.cases.pathway_of(state), state, _move_command(b, actor), event_id="check", now=now
    )
    where = f"entry[{b.entry}] Appointment.start"
    if isinstance(decided, Refusal):
        return [f"{where}: {m}" for m in decided.messages]
    try:
        runtime.schedule.check_move(
            state.case_id, decided.scheduled_start, actor=actor, room=room_id
        )
    except ScheduleRefused as refused:
        return [f"{where}: {p}" for p in refused.problems]
    opened = state.opened
    assert opened is not None
    day = decided.scheduled_start.date()
    if day == opened.scheduled_start.date():
        return []
    taken = claimed.setdefault(day, set())
    if opened.family_code in taken or opened.family_code in runtime.store.family_codes(on=day):
        return [
            f"{where}: another case on {day} already has this case's family code "
            f"{opened.family_code}; cancel this booking and book the patient again for that day"
        ]
    taken.add(opened.family_code)
    return []


def _open_command(b: Booking, actor: Actor, pathway: Pathway) -> OpenCase:
    assert b.patient is not None
    assert b.start is not None
    p = b.patient
    return OpenCase(
        actor=actor,
        pathway_id=pathway.id,
        pathway_version=pathway.version,
        mrn=p.mrn,
        given_name=p.given_name,
        family_name=p.family_name,
        birth_date=p.birth_date,
        sex=p.sex,
        levels=list(b.levels),
        scheduled_start=b.start,
    )


def _open_problems(pathway: Pathway, cmd: OpenCase, now: datetime) -> list[str]:
    """The pathway's own decision on opening this case, made without writing it."""
    decided = decide_open(pathway, cmd, case_id="check", event_id="check", now=now, family_code="")
    return list(decided.messages) if isinstance(decided, Refusal) else []


def _cancel_command(b: Booking, actor: Actor, now: datetime) -> RecordStep:
    return RecordStep(actor=actor, step="cancelled", at=now, data={"reason": b.reason})


def _cancel_problems(
    runtime: Runtime, state: CaseState, b: Booking, actor: Actor, now: datetime
) -> list[str]:
    if "cancelled" in state.by_step:
        return []
    decided = decide_record(
        runtime.cases.pathway_of(state),
        state,
        _cancel_command(b, actor, now),
        event_id="check",
        now=now,
    )
    if isinstance(decided, Refusal):
        return [f"entry[{b.entry}] Appointment.status cancelled: {m}" for m in decided.messages]
    return []


def _apply(
    runtime: Runtime,
    b: Booking,
    room_id: str | None,
    case_id: str | None,
    actor: Actor,
    now: datetime,
    by: User,
) -> tuple[int, str, str | None]:
    if b.cancelled:
        if case_id is None:
            return b.entry, "unchanged", None
        state = runtime.cases.state(case_id)
        if "cancelled" in state.by_step:
            return b.entry, "unchanged", case_id
        _written(runtime.cases.record(case_id, _cancel_command(b, actor, now)), b)
        return b.entry, "cancelled", case_id
    what = "unchanged"
    if case_id is not None and _moves(runtime.cases.state(case_id), b):
        assert b.start is not None
        try:
            runtime.move_booking(case_id, b.start, reason=b.reason, by=by, room=room_id)
        except ScheduleRefused as refused:  # the case or the day changed since the checks
            raise ImportRefused(
                [f"entry[{b.entry}] Appointment.start: {p}" for p in refused.problems]
            ) from None
        return b.entry, "moved", case_id
    if case_id is None:
        opened = _written(
            runtime.cases.open_case(_open_command(b, actor, runtime.centre.pathway())), b
        )
        assert isinstance(opened, CaseOpened)
        case_id = opened.case_id
        runtime.fhir.bookings.add(b.key, case_id, now)
        what = "booked"
    if room_id is not None and runtime.fhir.room_of(case_id) != room_id:
        try:
            runtime.change_schedule(Place(case_id, room_id), by=by)
        except ScheduleRefused as refused:  # the day as it stands: a room in use, say
            raise ImportRefused(
                [f"entry[{b.entry}] Appointment.participant: {p}" for p in refused.problems]
            ) from None
        what = "booked" if what == "booked" else "moved"
    return b.entry, what, case_id


def _written(result: object, b: Booking) -> object:
    """A write the checks passed that was refused all the same (someone changed the case
    in between): named, and the bookings written before it stand."""
    if isinstance(result, Refusal):
        raise ImportRefused([f"entry[{b.entry}] Appointment: {m}" for m in result.messages])
    return result
