"""Changing the day's schedule: booking a room, moving, reordering, durations, delays and
cancellation reasons (service room).

Each change is made on the newest version of the day and stored as the next version, with
who made it, when and what it was. Two schedulers changing the same day at once never
overwrite each other: the store lets only one of them have version N+1; the other's change
is checked and made again on top of it (a move that no longer fits is refused then, with
the reason). A cancellation records the case's own `cancelled` step first, through the
case service and its rules, and then the reason code beside it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from daycase.engine.commands import Actor, RecordStep, Refusal, RescheduleCase
from daycase.services.board_model import BoardModel
from daycase.services.cases import CaseService, Clock
from daycase.services.centre_setup import CentreSetupService
from daycase.services.schedule_plan import (
    AddDelay,
    Cancel,
    Cases,
    Change,
    DayPlan,
    DaySchedule,
    Place,
    ScheduleRefused,
    SetDuration,
    apply,
    check_noted,
    conflicts,
    plan_day,
)
from daycase.store.schedule import SqlSchedules, VersionTaken

ATTEMPTS = 20
DURATION_ROLES = frozenset({"proceduralist"})
# The shape of a case id (the API's `ID_PATTERN`): a form's text is checked before any
# database is asked (PostgreSQL refuses a NUL byte with an error, not an answer).
CASE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")


@dataclass(frozen=True, slots=True)
class Changed:
    """The day after a change, and what it warns of (a room running past closing)."""

    plan: DayPlan
    warnings: list[str]


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """One stored version of a day's schedule: who changed what, when."""

    version: int
    changed_by: str
    changed_at: datetime
    change: str


class ScheduleService:
    def __init__(
        self,
        store: SqlSchedules,
        *,
        boards: BoardModel,
        cases: CaseService,
        setup: CentreSetupService,
        clock: Clock,
        tz: ZoneInfo,
        is_staff: Callable[[str], bool],
    ) -> None:
        self._store = store
        self._is_staff = is_staff
        self._boards = boards
        self._cases = cases
        self._setup = setup
        self._clock = clock
        self._tz = tz

    def plan(self, on: date) -> DayPlan:
        schedule, version = self._latest(on)
        return self._plan(on, schedule, version, self._clock())

    def history(self, on: date) -> list[ScheduleEntry]:
        return [
            ScheduleEntry(
                row.version, row.changed_by, datetime.fromisoformat(row.changed_at), row.change
            )
            for row in self._store.versions(on)
        ]

    def day_of(self, case_id: str) -> date | None:
        """The day a case is booked for (its booked start's own date), None if no case."""
        head = self._cases.store.case(case_id)
        return datetime.fromisoformat(head.scheduled_start_iso).date() if head else None

    def change(self, change: Change, *, actor: Actor) -> Changed:
        """Make `change` on the newest version of its case's day, or `ScheduleRefused`."""
        if not self._is_staff(actor.role):
            raise ScheduleRefused(["Only staff change the schedule"], kind="role")
        if isinstance(change, SetDuration) and actor.role not in DURATION_ROLES:
            raise ScheduleRefused(
                ["Only the proceduralist sets a case's expected duration"], kind="role"
            )
        on = self._day(change.case_id)
        if isinstance(change, Cancel):
            self._cancel_case(change, actor=actor, on=on)

        def make(schedule: DaySchedule, before: DayPlan, now: datetime) -> DaySchedule:
            setup = self._setup.current().setup
            return apply(schedule, change, by=actor.name, at=now, setup=setup, plan=before)

        return self._commit(on, make, actor=actor, describe=lambda after: describe(change, after))

    def move(
        self, case_id: str, start: datetime, *, reason: str, actor: Actor, room: str | None = None
    ) -> Changed:
        """Move a booking to another start, and its place on the schedule with it.

        The case's own rules decide whether it may move (`CaseRescheduled`: only before
        anything is recorded). It then takes its place among the waiting cases of its room
        (or of `room`) by booked time; on another day it leaves the old day's schedule, and
        a duration the proceduralist set goes with it. Its place on the new day is tried
        first, without storing anything: a move the schedule would refuse (the patient
        expected in two places) is refused before the case is moved."""
        before, on, room, minutes, arrive = self._try_move(case_id, start, actor, room)
        moved = self._cases.reschedule(
            case_id, RescheduleCase(actor=actor, scheduled_start=start, reason=reason)
        )
        if isinstance(moved, Refusal):
            raise ScheduleRefused(list(moved.messages), kind=moved.kind)
        note = {"kind": "move", "case_id": case_id, "start": start.isoformat()}
        if on != before and (room is not None or minutes is not None):

            def leave(schedule: DaySchedule, plan: DayPlan, now: datetime) -> DaySchedule:
                return schedule.model_copy(
                    update={
                        "rooms": {
                            r: [c for c in ids if c != case_id]
                            for r, ids in schedule.rooms.items()
                            if [c for c in ids if c != case_id]
                        },
                        "durations": {c: m for c, m in schedule.durations.items() if c != case_id},
                    }
                )

            to = {**note, "to": on.isoformat()}
            self._commit(before, leave, actor=actor, describe=lambda _: json.dumps(to))
        if arrive is None:
            return Changed(self.plan(on), self.plan(on).warnings)

        def said(after: DayPlan) -> str:
            slot = after.slot(case_id)
            where = {"room": room, "position": slot.position if slot else None}
            return json.dumps({**note, **where}, sort_keys=True)

        return self._commit(on, arrive, actor=actor, describe=said)

    def check_move(
        self, case_id: str, start: datetime, *, actor: Actor, room: str | None = None
    ) -> None:
        """Would the schedule take the case at `start` (in `room`)? `ScheduleRefused` if
        not; nothing is stored either way (an import checks every booking first)."""
        self._try_move(case_id, start, actor, room)

    def _try_move(
        self, case_id: str, start: datetime, actor: Actor, room: str | None
    ) -> tuple[
        date,
        date,
        str | None,
        int | None,
        Callable[[DaySchedule, DayPlan, datetime], DaySchedule] | None,
    ]:
        """(old day, new day, room, duration, the new day's change) of a move, its place
        on the new day tried without storing it."""
        if not self._is_staff(actor.role):
            raise ScheduleRefused(["Only staff change the schedule"], kind="role")
        before = self._day(case_id)
        on = start.date()
        old, _ = self._latest(before)
        room = room or old.room_of(case_id)
        minutes = old.durations.get(case_id)
        arrive = self._arrival(case_id, start, room, minutes, actor)
        if arrive is not None:
            now = self._clock()
            kept = next(
                (p for p in self._boards.day_facts(before, now=now) if p[0].case_id == case_id),
                None,
            )
            if kept is not None:  # as it would stand on the new day, at its new start
                coming = {case_id: (replace(kept[0], scheduled_start=start), kept[1])}
                self._commit(
                    on, arrive, actor=actor, describe=lambda _: "", extra=coming, store=False
                )
        return before, on, room, minutes, arrive

    def _arrival(
        self,
        case_id: str,
        start: datetime,
        room: str | None,
        minutes: int | None,
        actor: Actor,
    ) -> Callable[[DaySchedule, DayPlan, datetime], DaySchedule] | None:
        """The new day's schedule with the moved case in it: in `room` among its waiting
        cases by booked time, with its duration; None when it has neither room nor
        duration to take along."""
        if room is None and minutes is None:
            return None

        def arrive(schedule: DaySchedule, plan: DayPlan, now: datetime) -> DaySchedule:
            placed = schedule
            if room is not None:
                target = next((r for r in plan.rooms if r.room_id == room), None)
                others = [s for s in target.slots if s.case_id != case_id] if target else []
                position = 1 + sum(
                    1 for s in others if s.state != "waiting" or s.row.scheduled_start <= start
                )
                setup = self._setup.current().setup
                change = Place(case_id, room, position)
                placed = apply(schedule, change, by=actor.name, at=now, setup=setup, plan=plan)
            if minutes is not None and case_id not in placed.durations:
                placed = placed.model_copy(
                    update={"durations": {**placed.durations, case_id: minutes}}
                )
            return placed

        return arrive

    def _day(self, case_id: str) -> date:
        on = self.day_of(case_id) if CASE_ID.match(case_id) else None
        if on is None:
            raise ScheduleRefused([f"case_id: no case {case_id}"], kind="not_found")
        return on

    def _commit(
        self,
        on: date,
        make: Callable[[DaySchedule, DayPlan, datetime], DaySchedule],
        *,
        actor: Actor,
        describe: Callable[[DayPlan], str],
        extra: Cases | None = None,
        store: bool = True,
    ) -> Changed:
        """Store `make`'s schedule as the day's next version, made again on top of any
        version another scheduler stored first; refused when it would clash. With
        `store=False` only tried: the day as it would be, with `extra` cases on it."""
        for _ in range(ATTEMPTS):
            schedule, version = self._latest(on)
            now = self._clock()
            before = self._plan(on, schedule, version, now, extra)
            after_schedule = make(schedule, before, now)
            after = self._plan(on, after_schedule, version + 1, now, extra)
            clashes = conflicts(after)
            if new := [text for pair, text in clashes.items() if pair not in conflicts(before)]:
                raise ScheduleRefused(new, kind="conflict")
            if not store:
                return Changed(after, after.warnings)
            try:
                self._store.append(
                    day=on,
                    version=version + 1,
                    body=after_schedule.model_dump_json(),
                    changed_by=actor.name,
                    changed_at=now,
                    change=describe(after),
                )
            except VersionTaken:
                continue
            return Changed(after, after.warnings)
        raise ScheduleRefused(
            ["the schedule is being changed by others right now; try again in a moment"],
            kind="conflict",
        )

    def _cancel_case(self, change: Cancel, *, actor: Actor, on: date) -> None:
        """Record the case's `cancelled` step (unless it already ended that way): the
        engine's rules decide whether it may be cancelled now and by whom."""
        rows = self._boards.case(change.case_id, now=self._clock())
        if rows is not None and rows[0].phase == "cancelled":
            return
        setup = self._setup.current().setup
        check_noted(change, by=actor.name, at=self._clock(), setup=setup)
        labels = {r.code: r.label for r in setup.cancellation_reasons}
        text = labels[change.reason] + (f": {change.note.strip()}" if change.note.strip() else "")
        outcome = self._cases.record(
            change.case_id,
            RecordStep(actor=actor, step="cancelled", at=self._clock(), data={"reason": text}),
        )
        if isinstance(outcome, Refusal):
            raise ScheduleRefused(outcome.messages, kind=outcome.kind)

    def _latest(self, on: date) -> tuple[DaySchedule, int]:
        row = self._store.latest(on)
        if row is None:
            return DaySchedule(), 0
        return DaySchedule.model_validate_json(row.body), row.version

    def _plan(
        self,
        on: date,
        schedule: DaySchedule,
        version: int,
        now: datetime,
        extra: Cases | None = None,
    ) -> DayPlan:
        cases = {row.case_id: (row, facts) for row, facts in self._boards.day_facts(on, now=now)}
        cases |= extra or {}
        return plan_day(
            schedule,
            day=on,
            version=version,
            setup=self._setup.current().setup,
            cases=cases,
            now=now,
            tz=self._tz,
        )


def describe(change: Change, plan: DayPlan) -> str:
    """The change in one line for the schedule's history (JSON: kind and fields)."""
    body: dict[str, object] = {"kind": type(change).__name__.lower(), "case_id": change.case_id}
    if isinstance(change, Place):
        slot = plan.slot(change.case_id)
        body |= {"room": change.room, "position": slot.position if slot else change.position}
    elif isinstance(change, SetDuration):
        body["minutes"] = change.minutes
    elif isinstance(change, AddDelay | Cancel):
        body |= {"reason": change.reason, "note": change.note}
    return json.dumps(body, sort_keys=True)
