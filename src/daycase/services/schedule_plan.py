"""The day's schedule and the plan of each room that follows from it (service room).

Pure: a stored `DaySchedule` (which room each case is in and in what order, durations a
proceduralist set, delays and cancellation reasons), the centre's set-up, what is known of
each case and the time come in; the plan of every room comes out, with each case's
expected start. A change to the schedule (`Place`, `SetDuration`, `AddDelay`, `Cancel`) is
applied here too, and refused with words a nurse reads when it would put one patient in two
places or a waiting case ahead of one already in the room.

How a room's day runs (docs/centre.md): cases that have started come first, in the order
they went in; then the waiting cases in the scheduled order. A waiting case is expected to
start when the room is free again (the case before it expected to end, plus the turnover
target), not before the room opens, not before now, and not before its booked time while
the patient has not arrived (once they have checked in, they can go in early).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from daycase.engine.validate import has_control_chars
from daycase.reports.measures import TURNOVER_MAX_MIN
from daycase.services.board import BoardRow, RoomFacts
from daycase.services.centre_setup import CentreSetup, Reason, Room

DURATION_MIN = (15, 480)
NOTE_MAX = 200


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Noted(_Model):
    """A reason from the centre's list, with free text, who gave it and when."""

    reason: str
    note: str = ""
    by: str
    at: datetime


class DaySchedule(_Model):
    """One version of a day's schedule, as stored (JSON)."""

    rooms: dict[str, list[str]] = Field(default_factory=dict)
    durations: dict[str, int] = Field(default_factory=dict)
    delays: dict[str, list[Noted]] = Field(default_factory=dict)
    cancellations: dict[str, Noted] = Field(default_factory=dict)

    def room_of(self, case_id: str) -> str | None:
        return next((room for room, ids in self.rooms.items() if case_id in ids), None)


@dataclass(frozen=True, slots=True)
class Place:
    """Put a case in a room at a 1-based position (the end when None): a booking, a move
    to another room, or a reorder within one."""

    case_id: str
    room: str
    position: int | None = None


@dataclass(frozen=True, slots=True)
class SetDuration:
    """The proceduralist's expected duration; None goes back to the pathway's."""

    case_id: str
    minutes: int | None


@dataclass(frozen=True, slots=True)
class AddDelay:
    case_id: str
    reason: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Cancel:
    """The reason a case was cancelled (the `cancelled` step itself is the case's)."""

    case_id: str
    reason: str
    note: str = ""


Change = Place | SetDuration | AddDelay | Cancel
SlotState = Literal["waiting", "in_room", "done", "cancelled", "ended"]
Pace = Literal["green", "amber", "red"]


RefusedKind = Literal["invalid", "conflict", "role", "not_found", "gate", "duplicate", "closed"]


class ScheduleRefused(ValueError):
    """A change that cannot be made; each problem names the case or field and what is wrong.

    `kind`: invalid (a field), conflict (the day as it stands does not allow it), role,
    not_found, or the case's own refusal of a `cancelled` step (gate, duplicate, closed)."""

    def __init__(self, problems: Sequence[str], *, kind: RefusedKind = "invalid") -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)
        self.kind: RefusedKind = kind


@dataclass(frozen=True, slots=True, kw_only=True)
class Slot:
    """One case in a room's day."""

    row: BoardRow
    facts: RoomFacts
    position: int
    state: SlotState
    duration_min: int
    duration_set: bool
    expected_start: datetime | None
    expected_end: datetime | None
    # Minutes past the booked time for a case not yet in the room (None when not late).
    late_min: int | None
    not_arrived: bool
    elapsed_min: int | None
    pace: Pace | None
    pace_pct: int | None
    delays: tuple[Noted, ...]
    cancellation: Noted | None
    first: bool = False
    on_time: bool | None = None

    @property
    def case_id(self) -> str:
        return self.row.case_id

    @property
    def needs_reason(self) -> bool:
        """A late first case asks for a delay reason until one is given."""
        return self.first and self.on_time is False and not self.delays


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomPlan:
    room_id: str
    name: str
    opens_at: datetime | None
    closes_at: datetime | None
    slots: list[Slot]
    turnover_since: datetime | None = None
    turnover_min: int | None = None
    turnover_over: bool = False
    ends_at: datetime | None = None

    @property
    def current(self) -> Slot | None:
        return next((s for s in self.slots if s.state == "in_room"), None)

    @property
    def next(self) -> Slot | None:
        return next((s for s in self.slots if s.state == "waiting"), None)

    @property
    def over_hours(self) -> bool:
        return (
            self.ends_at is not None
            and self.closes_at is not None
            and (self.ends_at > self.closes_at)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DayPlan:
    day: date
    version: int
    tz: ZoneInfo
    rooms: list[RoomPlan]
    unplaced: list[BoardRow]
    recovery_bays: int
    in_recovery: list[BoardRow] = field(default_factory=list)
    ready_to_go: list[BoardRow] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [
            f"{room.name}: the last case is expected to end at {self.hm(room.ends_at)}, "
            f"after the room closes at {self.hm(room.closes_at)}"
            for room in self.rooms
            if room.over_hours and room.ends_at and room.closes_at
        ]

    def hm(self, at: datetime) -> str:
        """A time of day as the centre's clocks show it."""
        return f"{at.astimezone(self.tz):%H:%M}"

    def slot(self, case_id: str) -> Slot | None:
        return next((s for r in self.rooms for s in r.slots if s.case_id == case_id), None)


Cases = Mapping[str, tuple[BoardRow, RoomFacts]]


def plan_day(
    schedule: DaySchedule,
    *,
    day: date,
    version: int,
    setup: CentreSetup,
    cases: Cases,
    now: datetime,
    tz: ZoneInfo,
) -> DayPlan:
    """Every room's plan for `day`: the rooms of the set-up in their order, then any room
    the schedule still names that the set-up no longer has (so no case drops out of sight)."""
    turnover = timedelta(minutes=setup.turnover_target_min)
    grace = timedelta(minutes=setup.first_case_grace_min)
    known = {room.id: room for room in setup.rooms}
    room_ids = [room.id for room in setup.rooms]
    room_ids += [rid for rid in schedule.rooms if rid not in known and schedule.rooms[rid]]
    rooms = [
        _room_plan(
            known.get(rid),
            rid,
            [cid for cid in schedule.rooms.get(rid, []) if cid in cases],
            schedule=schedule,
            day=day,
            cases=cases,
            now=now,
            tz=tz,
            turnover=turnover,
            grace=grace,
        )
        for rid in room_ids
    ]
    placed = {cid for ids in schedule.rooms.values() for cid in ids}
    rows = [row for row, _ in cases.values()]
    rows.sort(key=lambda r: (r.scheduled_start, r.family_code))
    return DayPlan(
        day=day,
        version=version,
        tz=tz,
        rooms=rooms,
        unplaced=[r for r in rows if r.case_id not in placed],
        recovery_bays=len(setup.recovery_bays),
        in_recovery=[r for r in rows if r.phase in ("recovery", "discharge")],
        ready_to_go=[r for r in rows if r.phase == "discharge"],
    )


def _room_plan(
    room: Room | None,
    room_id: str,
    order: list[str],
    *,
    schedule: DaySchedule,
    day: date,
    cases: Cases,
    now: datetime,
    tz: ZoneInfo,
    turnover: timedelta,
    grace: timedelta,
) -> RoomPlan:
    opens = datetime.combine(day, room.opens, tz) if room else None
    closes = datetime.combine(day, room.closes, tz) if room else None
    started = sorted(
        (cid for cid in order if cases[cid][1].in_room_at is not None),
        key=lambda cid: cases[cid][1].in_room_at or now,
    )
    ordered = started + [cid for cid in order if cid not in started]
    free_at = opens or now
    slots: list[Slot] = []
    last_out: datetime | None = None
    first_done = False
    for position, cid in enumerate(ordered, start=1):
        row, facts = cases[cid]
        slot = _slot(
            row,
            facts,
            position=position,
            schedule=schedule,
            free_at=free_at,
            now=now,
        )
        if slot.state in ("waiting", "in_room", "done") and not first_done:
            first_done = True
            slot = _first_case(slot, grace=grace, now=now)
        if slot.expected_end is not None:
            free_at = slot.expected_end + turnover
        if slot.state == "done":
            last_out = facts.out_of_room_at
        slots.append(slot)
    current = any(s.state == "in_room" for s in slots)
    waiting = any(s.state == "waiting" for s in slots)
    since = last_out if last_out and not current and waiting and last_out <= now else None
    minutes = _minutes(since, now) if since else None
    if minutes is not None and minutes > TURNOVER_MAX_MIN:
        # A gap this long is an idle room, not a turnover (reports leave such gaps out).
        since = minutes = None
    ends = max((s.expected_end for s in slots if s.expected_end), default=None)
    return RoomPlan(
        room_id=room_id,
        name=room.name if room else f"{room_id} (no longer in the set-up)",
        opens_at=opens,
        closes_at=closes,
        slots=slots,
        turnover_since=since,
        turnover_min=minutes,
        turnover_over=minutes is not None and minutes > turnover.total_seconds() / 60,
        ends_at=ends,
    )


def _slot(
    row: BoardRow,
    facts: RoomFacts,
    *,
    position: int,
    schedule: DaySchedule,
    free_at: datetime,
    now: datetime,
) -> Slot:
    set_min = schedule.durations.get(row.case_id)
    duration = set_min or facts.expected_min
    span = timedelta(minutes=duration)
    start: datetime | None
    end: datetime | None
    elapsed: int | None = None
    pct: int | None = None
    late: int | None = None
    pace: Pace | None = None
    if facts.in_room_at is not None:
        start = facts.in_room_at
        if facts.out_of_room_at is not None:
            state: SlotState = "done"
            end = facts.out_of_room_at
        else:
            state = "in_room"
            end = max(start + span, now)
            elapsed = _minutes(start, now)
            pct = min(100, math.floor(elapsed * 100 / duration))
            pace = (
                "green"
                if elapsed <= duration
                else "amber"
                if elapsed <= duration + facts.grace_min
                else "red"
            )
    elif facts.closed:
        state = "cancelled" if facts.cancelled else "ended"
        start = end = None
    else:
        state = "waiting"
        start = max(free_at, now)
        if facts.checked_in_at is None:
            start = max(start, row.scheduled_start)
        end = start + span
        if now > row.scheduled_start:
            late = _minutes(row.scheduled_start, now)
    return Slot(
        row=row,
        facts=facts,
        position=position,
        state=state,
        duration_min=duration,
        duration_set=set_min is not None,
        expected_start=start,
        expected_end=end,
        late_min=late,
        not_arrived=state == "waiting" and facts.checked_in_at is None and late is not None,
        elapsed_min=elapsed,
        pace=pace,
        pace_pct=pct,
        delays=tuple(schedule.delays.get(row.case_id, ())),
        cancellation=schedule.cancellations.get(row.case_id),
    )


def _first_case(slot: Slot, *, grace: timedelta, now: datetime) -> Slot:
    """On time: in the room at or before the booked start plus the centre's grace."""
    due = slot.row.scheduled_start + grace
    if slot.facts.in_room_at is not None:
        on_time: bool | None = slot.facts.in_room_at <= due
    else:
        on_time = False if now > due else None
    return replace(slot, first=True, on_time=on_time)


def _minutes(since: datetime, now: datetime) -> int:
    return max(0, math.floor((now - since).total_seconds() / 60))


# --- changes ------------------------------------------------------------------------------


def apply(
    schedule: DaySchedule,
    change: Change,
    *,
    by: str,
    at: datetime,
    setup: CentreSetup,
    plan: DayPlan,
) -> DaySchedule:
    """The schedule after `change`, or `ScheduleRefused` naming what stands in the way.

    `plan` is the day as it stands (before the change): it says which cases have started."""
    slot = plan.slot(change.case_id)
    row = (
        slot.row if slot else next((r for r in plan.unplaced if r.case_id == change.case_id), None)
    )
    if row is None:
        raise ScheduleRefused(
            [f"case {change.case_id}: not a case of {plan.day.isoformat()}"], kind="not_found"
        )
    who = row.patient_name
    if isinstance(change, Place):
        return _place(schedule, change, who=who, setup=setup, plan=plan)
    if isinstance(change, SetDuration):
        if slot is not None and slot.state in ("done", "cancelled", "ended"):
            raise ScheduleRefused(
                [f"{who}: the procedure is over; its duration is what it was"], kind="conflict"
            )
        durations = dict(schedule.durations)
        if change.minutes is None:
            durations.pop(change.case_id, None)
        else:
            low, high = DURATION_MIN
            if not low <= change.minutes <= high:
                raise ScheduleRefused([f"minutes: between {low} and {high}"])
            durations[change.case_id] = change.minutes
        return schedule.model_copy(update={"durations": durations})
    noted = check_noted(change, by=by, at=at, setup=setup)
    if isinstance(change, AddDelay):
        delays = {k: list(v) for k, v in schedule.delays.items()}
        delays.setdefault(change.case_id, []).append(noted)
        return schedule.model_copy(update={"delays": delays})
    cancellations = dict(schedule.cancellations)
    cancellations[change.case_id] = noted
    return schedule.model_copy(update={"cancellations": cancellations})


def check_noted(change: AddDelay | Cancel, *, by: str, at: datetime, setup: CentreSetup) -> Noted:
    reasons: list[Reason] = (
        setup.delay_reasons if isinstance(change, AddDelay) else setup.cancellation_reasons
    )
    codes = {r.code for r in reasons}
    problems = []
    if change.reason not in codes:
        problems.append(f"reason: choose one of the centre's reasons ({', '.join(sorted(codes))})")
    note = change.note.strip()
    if len(note) > NOTE_MAX or has_control_chars(note):
        problems.append(f"note: at most {NOTE_MAX} characters on one line")
    if change.reason == "other" and not note:
        problems.append("note: say what the reason was when it is 'Other'")
    if problems:
        raise ScheduleRefused(problems)
    return Noted(reason=change.reason, note=note, by=by, at=at)


def _place(
    schedule: DaySchedule, change: Place, *, who: str, setup: CentreSetup, plan: DayPlan
) -> DaySchedule:
    if change.room not in {room.id for room in setup.rooms}:
        raise ScheduleRefused([f"room: {change.room} is not a room of the centre's set-up"])
    slot = plan.slot(change.case_id)
    if slot is not None and slot.state != "waiting":
        where = next(r.name for r in plan.rooms if slot in r.slots)
        raise ScheduleRefused([_not_movable(who, slot.state, where)], kind="conflict")
    target = next(r for r in plan.rooms if r.room_id == change.room)
    others = [s for s in target.slots if s.case_id != change.case_id]
    fixed = sum(1 for s in others if s.state != "waiting")
    last = len(others) + 1
    position = last if change.position is None else change.position
    if not 1 <= position <= last:
        raise ScheduleRefused([f"position: between 1 and {last} in {target.name}"])
    if position <= fixed:
        raise ScheduleRefused(
            [
                f"position: {target.name} has {fixed} case(s) that have started or ended; "
                f"{who} can go at position {fixed + 1} or later"
            ],
            kind="conflict",
        )
    order = [s.case_id for s in others]
    order.insert(position - 1, change.case_id)
    rooms = {rid: [c for c in ids if c != change.case_id] for rid, ids in schedule.rooms.items()}
    rooms[change.room] = order
    return schedule.model_copy(update={"rooms": {k: v for k, v in rooms.items() if v}})


def _not_movable(who: str, state: SlotState, where: str) -> str:
    if state == "in_room":
        return f"{who} is in {where} now; a case that has started stays where it is"
    if state == "done":
        return f"{who} has had the procedure in {where}; it stays there in the record"
    return f"{who}'s case has ended ({state}); it cannot be moved"


def conflicts(plan: DayPlan) -> dict[tuple[str, str], str]:
    """One patient in two places: pairs of cases of the same patient (by MRN), neither
    cancelled, whose expected times overlap, in any rooms; each with words for a nurse.

    A change is refused when it makes a pair that was not there before: moving one case
    can push another into overlap, so every pair is checked, not only the moved case's."""
    by_patient: dict[str, list[tuple[RoomPlan, Slot]]] = {}
    for room in plan.rooms:
        for slot in room.slots:
            if slot.expected_start is not None and slot.expected_end is not None:
                by_patient.setdefault(slot.facts.patient_key, []).append((room, slot))
    found: dict[tuple[str, str], str] = {}
    for placed in by_patient.values():
        for i, (room, slot) in enumerate(placed):
            for other_room, other in placed[i + 1 :]:
                assert slot.expected_start
                assert slot.expected_end
                assert other.expected_start
                assert other.expected_end
                if (
                    other.expected_start < slot.expected_end
                    and slot.expected_start < other.expected_end
                ):
                    pair = tuple(sorted((slot.case_id, other.case_id)))
                    found[(pair[0], pair[1])] = (
                        f"{slot.row.patient_name} would be expected in {room.name} from "
                        f"{plan.hm(slot.expected_start)} to {plan.hm(slot.expected_end)} and in "
                        f"{other_room.name} from {plan.hm(other.expected_start)} to "
                        f"{plan.hm(other.expected_end)}; one patient cannot be in two places "
                        "at once"
                    )
    return found
